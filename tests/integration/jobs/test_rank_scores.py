"""``rank --target T --data D --score ...`` on real Ray: every candidate extracted and scored on the
target's own images, the table against direct computations, bootstrap intervals, incremental
when a model lands, ``train-target`` adding ``rsa``, and the report showing the scores."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from jobs.cli import main
from rsa_ray.estimators import score_features
from storage import EntryKey, Store
from tests.support.shipped_manifest import shipped_models_manifest

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("local_ray")]

LAYER = "encoder.output"


def _bright_npz(path, n=80):
    rng = np.random.default_rng(5)
    images = rng.integers(0, 255, size=(n, 32, 32, 3), dtype=np.uint8)
    images[: n // 2] //= 2  # a dark half and a bright half
    labels = (images.mean(axis=(1, 2, 3)) > images.mean()).astype(np.int64)
    np.savez(path, images=images, labels=labels)
    return str(path)


def test_rank_scores_every_candidate_on_the_targets_images(tmp_path, capsys):
    store_url, out = str(tmp_path / "store"), tmp_path / "out"
    data = _bright_npz(tmp_path / "bright.npz")
    first = ["depth-small", "autoencoding-small", "edges_2d-small", "camera_pose-small"]
    assert main(["models", "add", str(shipped_models_manifest(tmp_path / "zoo", first)), "--store", store_url]) == 0
    capsys.readouterr()
    assert main(["rank", "--store", store_url, "--target", "bright", "--data", data, "--score", "all",
                 "--bootstrap", "20", "--target-images", "40", "--image-size", "32", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert ("score rsa absent: the target has no trained model (`rsa-ray train-target` trains one)" in printed
            and "best sources to finetune bright from (40 target images" in printed)
    assert printed.splitlines()[-2].startswith("decided: ")  # then the line naming the table

    store = Store.open(store_url)
    record = store.target("bright")
    assert record.model_id is None and record.n_images == 40 and record.label_kind == "classes"
    labels = store.read_probe_labels(record.probe_id)
    table = store.read_table(f"scores.bright.{LAYER}").set_index("candidate")
    assert set(table.index) == set(first)
    label_scores = ["rsa-labels", "logme", "hscore", "hscore-shrinkage", "knn", "linear-probe", "sfda"]
    for name in label_scores:
        assert (table[f"{name}.low"] <= table[f"{name}.high"]).all()
        if table[f"{name}.check"].iloc[0] != "ok":  # found uninformative: said so, no ranks, no best claim
            assert f"score {name}: uninformative (" in printed
            assert table[f"{name}.rank"].isna().all() and table[f"{name}.p_best"].isna().all()
            continue
        assert table[f"{name}.rank"].notna().all()  # defined for every candidate
        assert table[f"{name}.p_best"].sum() == pytest.approx(1.0)
        top = table[f"{name}.rank"].astype(int).idxmin()
        assert bool(table.loc[top, f"{name}.top_tie"])
        assert table[f"{name}.top_set"].iloc[0] == table[f"{name}.top_tie"].sum()
    # Each value is the estimator run here on the stored features of the target's images.
    for candidate in first:
        features = store.read_activations(EntryKey(record.probe_id, candidate, LAYER)).reshape(40, -1)
        for name in ("knn", "logme", "rsa-labels"):
            assert table.loc[candidate, name] == pytest.approx(score_features(name, features, labels, model=candidate),
                                                               rel=1e-9, abs=1e-12)
    assert (out / "scores.bright.csv").is_file()

    # A model lands: only it is extracted on the target's images; the others' work is reused.
    before = len(store.work_records())
    assert main(["models", "add", str(shipped_models_manifest(tmp_path / "more", ["reshading-small"])), "--store", store_url]) == 0
    assert main(["rank", "--store", store_url, "--target", "bright", "--score", "knn,logme", "--bootstrap", "0",
                 "--out", str(out)]) == 0
    extracted = [r["model_id"] for r in store.work_records()[before:] if r["stage"] == "extract"]
    assert extracted == ["reshading-small"]
    assert "reshading-small" in set(store.read_table(f"scores.bright.{LAYER}")["candidate"])

    # train-target adds the target's own model (ranked on the shared probe set as well), so rsa is scored too:
    # the Spearman of the two RDMs on the target's images.
    assert main(["probes", "add", "mini-taskonomy", "--count", "20", "--store", store_url]) == 0
    assert main(["train-target", "--store", store_url, "--data", data, "--name", "bright", "--steps", "5",
                 "--image-size", "32", "--target-images", "40", "--bootstrap", "20", "--out", str(out)]) == 0
    record = store.target("bright")
    assert record.model_id == "bright"
    table = store.read_table(f"scores.bright.{LAYER}").set_index("candidate")
    assert "bright" not in table.index
    target_rdm = store.read_rdm(EntryKey(record.probe_id, "bright", LAYER))
    for candidate in table.index:
        expected = spearmanr(store.read_rdm(EntryKey(record.probe_id, candidate, LAYER)), target_rdm).statistic
        assert table.loc[candidate, "rsa"] == pytest.approx(expected, abs=1e-5)
        assert table.loc[candidate, "rsa.low"] <= table.loc[candidate, "rsa.high"]

    assert main(["taxonomy", "--store", store_url, "--out", str(tmp_path / "tax")]) == 0
    assert main(["report", "--store", store_url, "--out", str(tmp_path / "final")]) == 0
    page = (tmp_path / "final" / "report.html").read_text()
    assert "Which model to finetune from for bright: every score" in page and "OUTDATED" not in page

    # rerank after a model lands re-scores the target on its images, extracting only the newcomer there.
    before = len(store.work_records())
    assert main(["models", "add", str(shipped_models_manifest(tmp_path / "late", ["denoising-small"])), "--store", store_url]) == 0
    assert main(["rerank", "--store", store_url, "--out", str(out)]) == 0
    extracted = [r for r in store.work_records()[before:] if r["stage"] == "extract"]
    new = [(r["probe_id"], r["model_id"]) for r in extracted]
    assert sorted(new) == sorted([(store.shared_probe_set_ids()[0], "denoising-small"), (record.probe_id, "denoising-small")])
    # Both probe sets in one extraction stage: the newcomer built once, kept by its actor for the other set.
    assert sorted(r["reused_model"] for r in extracted) == [False, True]
    assert "denoising-small" in set(store.read_table(f"scores.bright.{LAYER}")["candidate"])


def test_a_label_score_for_a_target_without_labelled_images_is_refused(tmp_path, capsys):
    store_url = str(tmp_path / "store")
    assert main(["models", "add", str(shipped_models_manifest(tmp_path / "zoo", ["depth-small", "edges_2d-small"])), "--store", store_url]) == 0
    capsys.readouterr()
    assert main(["rank", "--store", store_url, "--target", "depth-small", "--score", "logme"]) == 1
    error = capsys.readouterr().err
    assert "target 'depth-small' has no labelled images for --score logme; pass them with --data" in error
    assert Store.open(store_url).target_names() == ()
