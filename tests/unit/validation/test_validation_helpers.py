"""Transfer-validation helpers without Ray: metrics against obvious loops, splits, candidate choice,
encoder transplant, finetuning determinism, Table 1 sums, consistency, and the job's scoring tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from jobs.validate_options import parse_candidates
from rsa_ray import (
    CandidateSelection,
    consistency_of_target_swap,
    consistency_vs_probe_count,
    consistency_vs_variant,
    select_candidates,
    table1_counts,
    transfer_agreement,
)
from rsa_ray.datasets import (
    MINI_TASKONOMY_TASKS,
    RendererConfig,
    RenderedTargets,
    TargetSplits,
    render_mini_taskonomy,
    split_indices,
    task_by_name,
)
from rsa_ray.datasets.labelled import LabelledTask
from rsa_ray.models import build_encoder_decoder
from rsa_ray.scoring import accuracy, mean_iou, negative_bce, negative_l1, negative_mse, score_predictions
from rsa_ray.training import (
    CONTROL,
    FinetuneSettings,
    build_transfer_model,
    encoder_state,
    finetune_and_evaluate,
    metric_for_task,
)

RNG = np.random.default_rng(7)


# Metrics ------------------------------------------------------------------------------------


def test_accuracy_matches_a_loop():
    logits, labels = RNG.normal(size=(50, 4)), RNG.integers(0, 4, 50)
    expected = sum(int(np.argmax(row) == label) for row, label in zip(logits, labels)) / 50
    assert accuracy(logits, labels) == pytest.approx(expected)


def test_mean_iou_matches_per_class_sets():
    logits, labels = RNG.normal(size=(3, 5, 6, 6)), RNG.integers(0, 5, (3, 6, 6))
    predicted = logits.argmax(axis=1)
    ious = []
    for c in range(5):
        inter = np.logical_and(predicted == c, labels == c).sum()
        union = np.logical_or(predicted == c, labels == c).sum()
        if union:
            ious.append(inter / union)
    assert mean_iou(logits, labels) == pytest.approx(np.mean(ious))


def test_regression_and_bce_metrics_are_minus_the_losses():
    outputs, targets = RNG.normal(size=(4, 2, 3, 3)), RNG.random((4, 2, 3, 3))
    assert negative_l1(outputs, targets) == pytest.approx(-float(torch.nn.functional.l1_loss(torch.tensor(outputs), torch.tensor(targets))))
    assert negative_mse(outputs, targets) == pytest.approx(-float(torch.nn.functional.mse_loss(torch.tensor(outputs), torch.tensor(targets))))
    binary = (targets > 0.5).astype(np.float64)
    torch_bce = torch.nn.functional.binary_cross_entropy_with_logits(torch.tensor(outputs * 30), torch.tensor(binary))
    assert negative_bce(outputs * 30, binary) == pytest.approx(-float(torch_bce))  # large logits stay finite


def test_every_zoo_task_has_a_higher_is_better_metric():
    names = {task.name: metric_for_task(task) for task in MINI_TASKONOMY_TASKS}
    assert names["object_count"] == "accuracy" and names["semantic_segmentation"] == "mean_iou"
    assert names["occlusion_edges"] == "negative_bce" and names["camera_pose"] == "negative_mse"
    assert names["depth"] == "negative_l1"
    with pytest.raises(ValueError, match="unknown metric 'iou'"):
        score_predictions("iou", np.zeros(1), np.zeros(1))


# Splits and candidates ----------------------------------------------------------------------


@pytest.mark.parametrize("n, fraction, seed", [(10, 0.2, 0), (1797, 0.2, 0), (33, 0.5, 4)])
def test_split_is_disjoint_complete_and_equals_the_train_target_split(n, fraction, seed):
    train, held_out = split_indices(n, fraction, seed)
    assert not set(train) & set(held_out) and len(train) + len(held_out) == n
    images = np.arange(n, dtype=np.uint8).reshape(n, 1, 1, 1).repeat(3, axis=3)
    labelled = LabelledTask(images, np.arange(n), task_by_name("object_count"), "test")
    (_, train_labels), (_, val_labels) = labelled.split(fraction, seed)
    assert sorted(train_labels) == train.tolist() and sorted(val_labels) == held_out.tolist()


@pytest.mark.parametrize("bad", [0.0, 1.0, 0.01])
def test_split_refuses_an_empty_part(bad):
    with pytest.raises(ValueError):
        split_indices(10, bad)


def test_candidate_specs():
    ranked = ["a", "b", "c"]
    assert select_candidates(parse_candidates("all"), ranked) == ("a", "b", "c")
    assert select_candidates(parse_candidates("top:2"), ranked) == ("a", "b")
    assert select_candidates(parse_candidates("top:9"), ranked) == ("a", "b", "c")
    assert select_candidates(parse_candidates("c, a"), ranked) == ("c", "a")
    assert parse_candidates("x") == CandidateSelection(ids=("x",))
    for bad in ("top:0", "top:k", " , "):
        with pytest.raises(ValueError, match="--candidates"):
            parse_candidates(bad)
    with pytest.raises(ValueError, match=r"\['z'\]"):
        select_candidates(parse_candidates("a,z"), ranked)


# Finetuning ---------------------------------------------------------------------------------


def test_transfer_model_takes_only_the_encoder_weights():
    source = build_encoder_decoder(3, head="dense")
    weights = {k: v.numpy() for k, v in encoder_state(source.state_dict()).items()}
    model = build_transfer_model(task_by_name("object_count"), weights, seed=1)
    for name, tensor in model.encoder.state_dict().items():
        assert torch.equal(tensor, source.encoder.state_dict()[name])
    assert model.head[-1].out_features == 4  # a fresh pooled head (one hidden layer) for the 4-way target
    with pytest.raises(ValueError, match="width-2"):
        build_transfer_model(task_by_name("depth"), weights, width=2)


@pytest.fixture(scope="module")
def scenes():
    config = RendererConfig(image_size=32)
    labels = ["depth", "object_count", "camera_pose"]
    return RenderedTargets(render_mini_taskonomy(16, 5, config, labels), render_mini_taskonomy(8, 5, config, labels, first_index=16))


def test_finetuning_is_deterministic_and_reports_each_evaluation(scenes):
    splits = scenes.splits("depth")
    reports = []
    settings = FinetuneSettings(steps=4, batch_size=4, evaluations=2)
    first = finetune_and_evaluate(splits, None, settings, report=lambda step, value: reports.append((step, value)))
    assert [step for step, _ in reports] == [2, 4] and reports[-1][1] == first
    assert math.isfinite(first) and first < 0  # minus an L1 loss
    assert finetune_and_evaluate(splits, None, settings) == first
    assert finetune_and_evaluate(splits, None, FinetuneSettings(steps=4, batch_size=4, seed=1)) != first


def test_a_frozen_encoder_stays_as_loaded_and_the_head_still_learns(scenes, monkeypatch):
    import rsa_ray.training.finetuning as finetuning

    built = []
    monkeypatch.setattr(finetuning, "build_transfer_model",
                        lambda *args: built.append(build_transfer_model(*args)) or built[-1])
    source = build_encoder_decoder(1, head="dense")
    weights = {k: v.numpy() for k, v in encoder_state(source.state_dict()).items()}
    splits = scenes.splits("depth")
    frozen = finetune_and_evaluate(splits, weights, FinetuneSettings(steps=6, batch_size=4, freeze_encoder=True))
    for name, tensor in built[-1].encoder.state_dict().items():
        assert torch.equal(tensor, source.encoder.state_dict()[name]), name
    fresh_head = build_transfer_model(splits.task, weights, 1, 0)
    assert not torch.equal(built[-1].head.weight, fresh_head.head.weight)  # the head did train
    whole = finetune_and_evaluate(splits, weights, FinetuneSettings(steps=6, batch_size=4))
    assert not torch.equal(built[-1].encoder.block1[0].weight, source.encoder.block1[0].weight)
    assert math.isfinite(frozen) and frozen != whole


@pytest.mark.parametrize("task_name", ["depth", "camera_pose"])
def test_a_frozen_readout_on_cached_codes_matches_running_the_encoder_every_step(scenes, task_name):
    from rsa_ray.training.evaluation import held_out_score
    from rsa_ray.training.loop import as_tensors, optimise, sampled_batches

    splits = scenes.splits(task_name)
    source = build_encoder_decoder(splits.task.channels, head="dense" if splits.task.target_kind.is_dense else "pooled")
    weights = {k: v.numpy() for k, v in encoder_state(source.state_dict()).items()}
    settings = FinetuneSettings(steps=8, batch_size=4, seed=3, freeze_encoder=True)
    cached = finetune_and_evaluate(splits, weights, settings)

    # The slow, obviously right version: the whole network on images at every step, its encoder untrainable.
    model = build_transfer_model(splits.task, weights, 1, settings.seed)
    model.encoder.requires_grad_(False)
    optimise(model, splits.task, as_tensors(splits.train, splits.task), settings.steps, settings.learning_rate,
             sampled_batches(len(splits.train[0]), settings.batch_size, np.random.default_rng(settings.seed)), lambda step: None)
    slow = held_out_score(model, splits.task, splits.held_out)
    assert math.isfinite(cached) and cached == pytest.approx(slow, rel=1e-4, abs=1e-6)
    assert finetune_and_evaluate(splits, weights, FinetuneSettings(steps=8, batch_size=4, seed=4, freeze_encoder=True)) != cached


def test_target_splits_name_their_task(scenes):
    splits = scenes.splits("object_count")
    assert splits.splits("object_count") is splits
    with pytest.raises(ValueError, match="not 'depth'"):
        splits.splits("depth")
    assert isinstance(splits, TargetSplits) and splits.train[1].dtype == np.int64


# Summaries ---------------------------------------------------------------------------------


def test_table1_counts_sum_the_per_target_agreements():
    similarity = [[0.9, 0.5, 0.1, 0.3], [0.1, 0.2, 0.3, 0.4]]
    performance = [[0.8, 0.6, 0.2, 0.7], [0.9, 0.1, 0.2, 0.3]]
    agreements = [transfer_agreement(s, p, ks=(1, 3)) for s, p in zip(similarity, performance)]
    counts = table1_counts([a.top_k_hit for a in agreements], [a.pearson for a in agreements], [a.spearman for a in agreements])
    assert counts.top_k_hits == {1: 1, 3: 2} and counts.n_targets == 2  # the second top-1 is 2nd by transfer
    assert counts.mean_spearman == pytest.approx(np.mean([a.spearman for a in agreements]))
    with pytest.raises(ValueError, match="same ks"):
        table1_counts([{1: True}, {3: True}], [0.0, 0.0], [0.0, 0.0])


def _features(n_models=5, n_images=80):
    shared = RNG.normal(size=(n_images, 12))
    return {f"m{i}": shared * (i + 1) + RNG.normal(scale=2.0 + i, size=(n_images, 12)) for i in range(n_models)}


def test_consistency_is_one_for_identical_settings_and_checks_inputs():
    features = _features()
    by_count = consistency_vs_probe_count(features, [80, 40])
    assert by_count[80].mean == pytest.approx(1.0) and -1.0 <= by_count[40].mean <= 1.0
    assert consistency_vs_variant(features, dict(reversed(list(features.items())))).mean == pytest.approx(1.0)
    assert consistency_of_target_swap(features, {"m1": features["m1"] * 3.0}).mean == pytest.approx(1.0)
    with pytest.raises(ValueError, match="outside 3..80"):
        consistency_vs_probe_count(features, [200])
    with pytest.raises(ValueError, match="not among the models"):
        consistency_of_target_swap(features, {"zz": features["m0"]})


def test_job_scoring_tables_follow_the_trials():
    from jobs.validate_scoring import agreement_row, candidate_summary

    trials = pd.DataFrame({
        "target": "t", "candidate": ["a", "a", "b", "b", "c", "c", CONTROL, CONTROL],
        "seed": [0, 1] * 4, "learning_rate": 1e-3, "metric_name": "accuracy",
        "metric": [0.9, 0.7, 0.5, 0.5, 0.2, float("nan"), 0.4, 0.4],
    })
    summary = candidate_summary(trials, {"a": 0.8, "b": 0.1, "c": 0.5})
    assert summary["candidate"].tolist() == ["a", "c", "b"]  # by similarity
    assert summary["metric_mean"].tolist() == pytest.approx([0.8, 0.2, 0.5])
    assert summary["seeds"].tolist() == [2, 1, 2]  # the failed trial is left out
    assert summary["beats_control"].tolist() == [True, False, True]
    row = agreement_row(summary, "t")
    assert row["top1_hit"] and row["rsa_top1"] == "a" and row["regret"] == 0.0
    assert row["spearman"] == pytest.approx(transfer_agreement([0.8, 0.5, 0.1], [0.8, 0.2, 0.5], ks=(1, 3)).spearman)


def test_tune_storage_path_lives_in_the_store():
    from cluster.tune_validation import tune_storage_path

    assert tune_storage_path("file:///tmp/store") == "/tmp/store/tune"
    with pytest.raises(ValueError, match="memory://x"):
        tune_storage_path("memory://x")


def test_tune_options_refuse_asha_without_intermediate_evaluations():
    from cluster.tune_validation import TuneValidationOptions

    with pytest.raises(ValueError, match="evaluations=1"):
        TuneValidationOptions(asha=True)
    with pytest.raises(ValueError, match="learning_rates"):
        TuneValidationOptions(learning_rates=())


def test_cli_options_fail_on_bad_input_before_any_work():
    from jobs.cli import build_parser
    from jobs.validate import SUBCOMMAND
    from jobs.validate_options import options_from_args

    parse = lambda *flags: build_parser([SUBCOMMAND]).parse_args(["validate", *flags])
    with pytest.raises(ValueError, match="--target 'nosuch'"):
        options_from_args(parse("--target", "nosuch"))
    with pytest.raises(ValueError, match="top:x"):
        options_from_args(parse("--target", "depth", "--candidates", "top:x"))
    smoke = options_from_args(parse("--replicate", "--smoke-test"))
    assert smoke.steps == 3 and smoke.seeds == 1 and len(smoke.tasks) == 4
    assert options_from_args(parse("--target", "depth", "--asha")).evaluations == 4


# Noise, transfer affinity, model size and task structure in the job's tables ------------------


def _noise_trials():
    """Target t: a and b at two rates (the better one is 1e-3), seeds 0..2 (one failed); target u: one seed each."""
    rows = []
    for candidate, base in (("a", 0.5), ("b", 0.7), ("c", 0.9), (CONTROL, 0.1)):
        for seed, offset in enumerate((0.0, 0.02, 0.01)):
            rows.append({"target": "t", "candidate": candidate, "seed": seed, "learning_rate": 1e-3, "metric": base + offset})
            rows.append({"target": "t", "candidate": candidate, "seed": seed, "learning_rate": 1e-2, "metric": base - 0.3})
        rows.append({"target": "u", "candidate": candidate, "seed": 0, "learning_rate": 1e-3, "metric": base})
    frame = pd.DataFrame(rows)
    frame.loc[(frame["candidate"] == "c") & (frame["seed"] == 2) & (frame["learning_rate"] == 1e-3), "metric"] = np.nan
    return frame


def test_noise_table_uses_the_best_rate_and_leaves_out_the_control():
    import statistics

    from jobs.validate_scoring import best_learning_rates, candidate_summary, noise_table

    trials = _noise_trials()
    noise = noise_table(trials).set_index("target")
    per_candidate = {"a": [0.5, 0.52, 0.51], "b": [0.7, 0.72, 0.71], "c": [0.9, 0.92]}  # rate 1e-3, NaN seed dropped
    seed_std = statistics.median(statistics.stdev(v) for v in per_candidate.values())
    spread = statistics.stdev(statistics.fmean(v) for v in per_candidate.values())
    assert noise.loc["t", "seed_std"] == pytest.approx(seed_std) and noise.loc["t", "spread"] == pytest.approx(spread)
    assert noise.loc["t", "noise_ratio"] == pytest.approx(seed_std / spread) and bool(noise.loc["t", "noise_ok"])
    assert math.isnan(noise.loc["u", "noise_ratio"]) and not noise.loc["u", "noise_ok"]  # one seed: unknown noise
    best = best_learning_rates(trials)
    assert set(best["learning_rate"]) == {1e-3}
    summary = candidate_summary(trials[trials["target"] == "t"], {"a": 0.1, "b": 0.2, "c": 0.3})
    assert (summary["learning_rate"] == 1e-3).all() and summary["seeds"].tolist() == [2, 3, 3]


def test_table1_counts_the_low_noise_targets_apart():
    from jobs.validate_scoring import table1_frame

    per_target = pd.DataFrame([
        {"target": "t", "pearson": 0.5, "spearman": 0.4, "top1_hit": True, "top3_hit": True, "noise_ok": True},
        {"target": "u", "pearson": 0.1, "spearman": -0.2, "top1_hit": False, "top3_hit": True, "noise_ok": False},
        {"target": "v", "pearson": 0.3, "spearman": 0.6, "top1_hit": True, "top3_hit": True, "noise_ok": np.nan},
        {"target": "w", "pearson": np.nan, "spearman": np.nan, "top1_hit": np.nan, "top3_hit": np.nan, "noise_ok": True},
    ])
    row = table1_frame(per_target, [pd.DataFrame({"beats_control": [True, False]})], {"steps": 3}).iloc[0]
    assert (row["targets_scored"], row["targets"], row["top1_hits"], row["top3_hits"]) == (3, 4, 2, 3)
    assert (row["targets_low_noise"], row["top1_hits_low_noise"], row["top3_hits_low_noise"]) == (1, 1, 1)
    assert row["mean_spearman_low_noise"] == pytest.approx(0.4) and row["mean_pearson_low_noise"] == pytest.approx(0.5)
    assert row["mean_spearman"] == pytest.approx(np.mean([0.4, -0.2, 0.6])) and row["steps"] == 3
    assert "targets_low_noise" not in table1_frame(per_target.drop(columns="noise_ok"), [pd.DataFrame({"beats_control": [True]})], {})


def test_affinity_matrix_and_its_agreement_with_the_rsa_matrix():
    from jobs.validate_scoring import affinity_agreement, affinity_matrix, similarity_by_task
    from rsa_ray import off_diagonal_column_agreement

    rng = np.random.default_rng(3)
    tasks = ["a", "b", "c", "d", "e"]
    task_of = {f"{t}-small": t for t in tasks}
    rows = [{"target": target, "candidate": f"{source}-small", "metric_mean": float(rng.normal())}
            for target in tasks for source in tasks if source != target and (target, source) != ("a", "e")]
    rows.append({"target": "a", "candidate": "stranger", "metric_mean": 9.0})  # not a zoo task: left out
    affinity = affinity_matrix(pd.DataFrame(rows), task_of, tasks)
    assert list(affinity.index) == tasks and list(affinity.columns) == tasks
    for row in rows[:-1]:
        assert affinity.loc[row["target"], task_of[row["candidate"]]] == row["metric_mean"]
    assert np.isnan(np.diag(affinity.to_numpy())).all() and np.isnan(affinity.loc["a", "e"])
    models = [f"{t}-small" for t in reversed(tasks)] + ["other-model"]  # stored order differs from the task order
    stored = rng.uniform(-1, 1, (6, 6))
    stored = (stored + stored.T) / 2
    rsa = similarity_by_task(stored, models, task_of, tasks)
    assert rsa.loc["a", "b"] == stored[models.index("a-small"), models.index("b-small")]
    result = affinity_agreement(affinity, rsa)
    expected = off_diagonal_column_agreement(affinity.to_numpy().T, rsa.to_numpy())  # columns = targets
    assert result["affinity_spearman"] == pytest.approx(expected.mean_spearman)
    assert result["affinity_pearson"] == pytest.approx(expected.mean_pearson) and result["affinity_targets"] == 5
    # Column "a" (target a) correlates a's transfers from b, c, d with their RSA similarity to a.
    per_target_a = stats_spearman([affinity.loc["a", s] for s in "bcd"], [rsa.loc[s, "a"] for s in "bcd"])
    assert expected.per_column_spearman[0] == pytest.approx(per_target_a)
    with pytest.raises(ValueError, match="same tasks"):
        affinity_agreement(affinity.iloc[:, ::-1], rsa)


def stats_spearman(values_a, values_b):
    from scipy import stats

    return float(stats.spearmanr(values_a, values_b).statistic)


def _zoo_entries(large_tasks):
    from types import SimpleNamespace

    entries = []
    for task in ("a", "b", "c", "d"):
        for fraction in (0.1, 0.25, 0.5, 1.0):
            suffix = "" if fraction == 1.0 else f"-ckpt{round(fraction * 100):03d}"
            entries.append(SimpleNamespace(model_id=f"{task}-small{suffix}", task=task, training=SimpleNamespace(
                variant="small", checkpoint_fraction=fraction, base_model_id=f"{task}-small")))
    for task in large_tasks:
        for fraction in (0.5, 1.0):
            suffix = "" if fraction == 1.0 else "-ckpt050"
            entries.append(SimpleNamespace(model_id=f"{task}-large{suffix}", task=task, training=SimpleNamespace(
                variant="large", checkpoint_fraction=fraction, base_model_id=f"{task}-large")))
    entries.append(SimpleNamespace(model_id="c-wide", task="c", training=SimpleNamespace(
        variant="wide", checkpoint_fraction=1.0, base_model_id="c-wide")))
    return entries


def test_consistency_table_compares_the_large_models_with_the_small_ones():
    from jobs.validate_scoring import consistency_entries, consistency_table

    entries = _zoo_entries(["b", "a"])
    assert {e.model_id for e in entries} - {e.model_id for e in consistency_entries(entries)} == {"a-large-ckpt050", "b-large-ckpt050", "c-wide"}
    features = {e.model_id: RNG.normal(size=(40, 6)) for e in entries}
    finals = {f"{t}-small": features[f"{t}-small"] for t in "abcd"}
    table = consistency_table(entries, features, finals, [20], 40)
    sizes = table[table["analysis"] == "model_size"]
    assert sizes["setting"].tolist() == ["b-large vs small", "a-large vs small"]
    expected = consistency_of_target_swap(finals, {"b-small": features["b-large"], "a-small": features["a-large"]})
    assert sizes["mean"].tolist() == pytest.approx(expected.per_row.tolist())
    assert table["analysis"].value_counts().to_dict() == {"training_stage": 3, "model_size": 2, "probe_images": 1}
    old_zoo = consistency_table(_zoo_entries([]), features, finals, [20], 40)  # wide variants only: no model-size rows
    assert "model_size" not in set(old_zoo["analysis"]) and len(old_zoo) == 4


def test_task_structure_table_reports_type_clustering_and_the_depth_trend():
    from jobs.validate_scoring import task_structure_table
    from rsa_ray import depth_trend, type_clustering

    groups = np.repeat(np.arange(4), [2, 3, 2, 2])
    types = np.array(["2d", "3d", "semantic", "geometric"])[groups].tolist()
    names = [f"m{i}" for i in range(groups.size)]
    similarities = {}
    for depth, layer in enumerate(("encoder.block1", "encoder.block2", "encoder.output")):
        within, between = 0.9 - 0.2 * depth, 0.6 - 0.25 * depth
        matrix = np.where(groups[:, None] == groups[None, :], within, between) + RNG.uniform(-0.02, 0.02, (groups.size,) * 2)
        matrix = (matrix + matrix.T) / 2
        np.fill_diagonal(matrix, 1.0)
        similarities[layer] = matrix
    table = task_structure_table(similarities, names, types, "encoder.output")
    clustering = table[table["analysis"] == "type_clustering"].iloc[0]
    assert clustering["value"] == type_clustering(similarities["encoder.output"], names, types).ari == 1.0
    assert clustering["x"] == 4
    trend = table[table["analysis"] == "depth_trend"]
    assert trend["setting"].tolist() == list(similarities) and trend["x"].tolist() == [0.0, 1.0, 2.0]
    assert trend["value"].tolist() == pytest.approx(list(depth_trend(similarities).mean_similarity))
    summary = table[table["analysis"] == "depth_trend_summary"].set_index("setting")["value"]
    assert summary["spearman vs depth"] == pytest.approx(-1.0) and summary["falls"] == 1.0
    small = task_structure_table({"encoder.output": similarities["encoder.output"][:3, :3]}, names[:3], types[:3], "encoder.output")
    assert small["analysis"].tolist() == ["type_clustering"] and small["x"].item() == 3  # 3 models: a 3-cluster cut
    assert task_structure_table({}, [], [], "encoder.output").empty
