"""Transfer validation on a real local Ray: a multi-trial Tune run, and ``rsa-ray validate --smoke-test``
(one target and the leave-one-out replication) on temporary stores."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cluster.tune_validation import (
    CandidateEncoder,
    TrialPlan,
    TuneValidationOptions,
    run_validation,
)
from jobs.cli import build_parser
from jobs.validate import SUBCOMMAND
from rsa_ray.datasets import TargetSplits, split_indices
from rsa_ray.datasets.labelled import load_labelled_task
from rsa_ray.models import build_zoo_model, read_shipped_zoo
from rsa_ray.training import CONTROL, FinetuneSettings, encoder_state, finetune_and_evaluate
from storage import Store

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("local_ray")]

CANDIDATES = ("depth-small", "edges_2d-small")


@pytest.fixture(scope="module")
def digits():
    labelled = load_labelled_task("sklearn-digits", "digits", size=16)
    train, held_out = split_indices(len(labelled.images), 0.2, seed=0)
    inputs = labelled.images.astype(np.float32).transpose(0, 3, 1, 2) / 255.0
    return TargetSplits(labelled.task, (inputs[train[:64]], labelled.targets[train[:64]]),
                        (inputs[held_out[:48]], labelled.targets[held_out[:48]]))


@pytest.fixture(scope="module")
def encoders():
    entries = {entry.model_id: entry for entry in read_shipped_zoo().models}
    return {
        model_id: CandidateEncoder(model_id, 1, {k: v.float().numpy() for k, v in encoder_state(build_zoo_model(entries[model_id]).state_dict()).items()})
        for model_id in CANDIDATES
    }


def test_tune_runs_one_trial_per_candidate_and_seed_with_the_control(digits, encoders, tmp_path):
    options = TuneValidationOptions(steps=4, seeds=2, batch_size=8, experiment_name="digits-test")
    table = run_validation(digits, [TrialPlan("digits", CANDIDATES)], encoders, options, str(tmp_path / "tune"))
    assert len(table) == (len(CANDIDATES) + 1) * 2  # (candidates + control) × seeds
    assert set(zip(table["candidate"], table["seed"])) == {(c, s) for c in (*CANDIDATES, CONTROL) for s in (0, 1)}
    assert table["is_control"].sum() == 2 and (table["error"] == "").all()
    assert all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in table["metric"])  # held-out accuracy
    assert (table["metric_name"] == "accuracy").all() and (table["step"] == 4).all()
    assert (tmp_path / "tune" / "digits-test").is_dir()  # Tune's experiment folder where it was told
    # A trial computes what the same finetuning computes in this process (CPU, one thread, same seed).
    torch.set_num_threads(1)
    expected = finetune_and_evaluate(digits, encoders["depth-small"].weights, FinetuneSettings(steps=4, batch_size=8, seed=1))
    measured = table[(table["candidate"] == "depth-small") & (table["seed"] == 1)]["metric"].item()
    assert measured == pytest.approx(expected, abs=1e-9)


def _run_cli(arguments):
    args = build_parser([SUBCOMMAND]).parse_args(["validate", *arguments])
    return args.run(args)


def test_validate_smoke_test_writes_tables_plot_and_report(tmp_path):
    store_dir, out = tmp_path / "store", tmp_path / "out"
    assert _run_cli(["--target", "depth", "--smoke-test", "--store", str(store_dir), "--out", str(out)]) == 0
    store = Store.open(str(store_dir))
    trials = store.read_table("validation.depth.trials")
    assert len(trials) == 4 and set(trials["candidate"]) == {"autoencoding-small", "semantic_segmentation-small", "camera_pose-small", CONTROL}
    assert np.isfinite(trials["metric"]).all() and (trials["metric_name"] == "negative_l1").all()
    candidates = store.read_table("validation.depth.candidates")
    assert candidates["rsa_rank"].tolist() == [1, 2, 3]
    similarity = store.read_similarity(store.shared_probe_set_ids()[0], "encoder.output")
    row = similarity.model_ids.index("depth-small")
    for _, candidate in candidates.iterrows():  # the ranking is the stored RSA similarity
        assert candidate["similarity"] == pytest.approx(similarity.matrix[row, similarity.model_ids.index(candidate["candidate"])])
    agreement = store.read_table("validation.depth.agreement")
    # One row per (measured transfer, estimator): every estimator against Tune finetuning and the linear probe.
    assert set(agreement["transfer"]) == {"finetune", "linear-probe"} and "top3_hit" in agreement
    assert {"rsa", "rsa-probe", "logme", "knn", "linear-probe"} <= set(agreement["score"])
    rsa_probe = agreement[(agreement["transfer"] == "finetune") & (agreement["score"] == "rsa-probe")]
    assert math.isfinite(rsa_probe["spearman"].item())
    scores = store.read_table("validation.depth.scores").set_index("candidate")
    assert set(scores.index) == set(candidates["candidate"])
    for name, metric in zip(candidates["candidate"], candidates["metric_mean"]):
        assert scores.loc[name, "transfer.finetune"] == pytest.approx(metric)
    assert scores["transfer.linear-probe"].notna().all()
    assert (out / "validation.depth.png").stat().st_size > 0
    assert "Transfer validation: depth" in (out / "validation.html").read_text()
    assert (store_dir / "tune" / "validate-depth").is_dir()


def test_replicate_smoke_test_scores_every_zoo_task_leave_one_out(tmp_path):
    store_dir = tmp_path / "store"
    assert _run_cli(["--replicate", "--smoke-test", "--store", str(store_dir), "--out", str(tmp_path / "out")]) == 0
    store = Store.open(str(store_dir))
    trials = store.read_table("replication.trials")
    assert len(trials) == 4 * 4  # 4 targets × (3 other tasks + control)
    for target, rows in trials.groupby("target"):
        assert not any(name.startswith(f"{target}-") for name in rows["candidate"])  # leave-one-out
    table1 = store.read_table("replication.table1")
    assert table1["targets"].item() == 4 and 0 <= table1["top1_hits"].item() <= table1["top3_hits"].item() <= 4


def test_asha_trials_report_at_each_evaluation(digits, encoders, tmp_path):
    options = TuneValidationOptions(steps=4, seeds=1, batch_size=8, evaluations=2, asha=True, experiment_name="asha-test")
    table = run_validation(digits, [TrialPlan("digits", CANDIDATES)], encoders, options, str(tmp_path / "tune"))
    assert len(table) == len(CANDIDATES) + 1 and (table["error"] == "").all()
    assert set(table["step"]) <= {2, 4} and np.isfinite(table["metric"]).all()  # stopped trials keep their last report


def test_validate_registered_candidates_against_the_held_out_linear_probe(tmp_path):
    """`--candidates-from registered --transfer linear-probe`: the store's own models (here three shipped
    encoders registered by hand), no finetuning; every estimator scored against the held-out linear probe."""
    import dataclasses

    from rsa_ray.linear_probe import held_out_score
    from rsa_ray.models import read_manifest, shipped_zoo_dir
    from rsa_ray.models.manifest import ZooManifest, write_manifest
    from storage import EntryKey

    shipped = shipped_zoo_dir()
    chosen = ("depth-small", "edges_2d-small", "autoencoding-small")
    entries = [dataclasses.replace(e, weights=dataclasses.replace(e.weights, path=str(shipped / e.weights.path)))
               for e in read_manifest(shipped / "manifest.yaml").models if e.model_id in chosen]
    write_manifest(ZooManifest(tuple(entries)), tmp_path / "zoo.yaml")
    store_dir = tmp_path / "store"
    Store.open(str(store_dir)).register_models(entries)
    assert _run_cli(["--target", "sklearn-digits", "--smoke-test", "--candidates-from", "registered", "--transfer",
                     "linear-probe", "--store", str(store_dir), "--out", str(tmp_path / "out")]) == 0
    store = Store.open(str(store_dir))
    assert "validation.digits.trials" not in store.table_names()  # nothing finetuned
    agreement = store.read_table("validation.digits.agreement")
    assert set(agreement["transfer"]) == {"linear-probe"} and "sfda" in set(agreement["score"])
    scores = store.read_table("validation.digits.scores").set_index("candidate")
    assert set(scores.index) == set(chosen)
    # The measured transfer is the held-out linear probe on the stored features of the transfer examples.
    transfer = next(p for p in store.probe_set_ids() if store.probe_set(p).source == "transfer examples of digits")
    labels = store.read_probe_labels(transfer)
    n_train = sum(i.startswith("digits-train-") for i in store.probe_set(transfer).image_ids)
    train, held = np.arange(n_train), np.arange(n_train, labels.n_images)
    for candidate in chosen:
        features = store.read_activations(EntryKey(transfer, candidate, "encoder.output"))
        expected = held_out_score(features[train], labels.subset(train), features[held], labels.subset(held))
        assert scores.loc[candidate, "transfer.linear-probe"] == pytest.approx(expected)
