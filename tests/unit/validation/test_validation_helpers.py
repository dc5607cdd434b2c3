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
    assert model.head.out_features == 4  # a fresh pooled head for the 4-way target
    with pytest.raises(ValueError, match="width-2"):
        build_transfer_model(task_by_name("depth"), weights, width=2)


@pytest.fixture(scope="module")
def scenes():
    config = RendererConfig(image_size=32)
    labels = ["depth", "object_count"]
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
    from jobs.validate_options import options_from

    parse = lambda *flags: build_parser([SUBCOMMAND]).parse_args(["validate", *flags])
    with pytest.raises(ValueError, match="--target 'nosuch'"):
        options_from(parse("--target", "nosuch"))
    with pytest.raises(ValueError, match="top:x"):
        options_from(parse("--target", "depth", "--candidates", "top:x"))
    smoke = options_from(parse("--replicate", "--smoke-test"))
    assert smoke.steps == 3 and smoke.seeds == 1 and len(smoke.tasks) == 4
    assert options_from(parse("--target", "depth", "--asha")).evaluations == 4
