"""The rsa-ray commands end to end on a temporary store and real local Ray, against in-memory computations."""

import numpy as np
import pandas as pd
import pytest

from jobs.cli import main
from jobs.rerank import LOCKED_EXIT_CODE
from rsa_ray import compute_rdms, rank_candidates, similarity_matrix
from rsa_ray.models import InferenceOptions, extract_features
from rsa_ray.models.manifest import ZooManifest, write_manifest
from storage import Store
from tests.integration.cluster.helpers import write_random_zoo

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.usefixtures("local_ray")]
LAYERS = ("encoder.output", "encoder.block2")


def expected(images, modules, entries, model_ids, layer):
    spec = entries[0].preprocessing
    features = [extract_features(modules[m], images, [layer], spec, InferenceOptions())[layer] for m in model_ids]
    return similarity_matrix(compute_rdms(features))


def test_probes_models_taxonomy_rank_rerank_report(tmp_path, capsys):
    store_url, out = str(tmp_path / "store"), str(tmp_path / "report")
    images = np.random.default_rng(3).integers(0, 255, size=(36, 64, 64, 3), dtype=np.uint8)
    np.savez(tmp_path / "probes.npz", images=images)
    zoo, incoming = tmp_path / "zoo", tmp_path / "incoming"
    zoo.mkdir(), incoming.mkdir()
    entries, modules = write_random_zoo(zoo, ["m0", "m1", "m2", "m3"])
    write_manifest(ZooManifest(entries), zoo / "manifest.yaml")
    new_entries, new_modules = write_random_zoo(incoming, ["n0", "n1"])
    modules.update(new_modules)

    assert main(["probes", "add", str(tmp_path / "probes.npz"), "--store", store_url]) == 0
    assert main(["models", "add", str(zoo / "manifest.yaml"), "--store", store_url]) == 0
    assert main(["taxonomy", "--store", store_url, "--layer", LAYERS[0], "--layer", LAYERS[1], "--out", out]) == 0
    store = Store.open(store_url)
    probe_id = store.shared_probe_set_ids()[0]
    for layer in LAYERS:
        stored = store.read_similarity(probe_id, layer)
        np.testing.assert_allclose(stored.matrix, expected(images, modules, entries, stored.model_ids, layer), atol=1e-5)
        long_form = pd.read_csv(tmp_path / "report" / f"similarity.{layer}.csv")
        assert len(long_form) == 16 and set(long_form["model_a"]) == {"m0", "m1", "m2", "m3"}
    assert (tmp_path / "report" / "report.html").is_file() and (tmp_path / "report" / "layers.png").is_file()

    assert main(["rank", "--store", store_url, "--target", "m2", "--out", out]) == 0
    stored = store.read_similarity(probe_id, LAYERS[0])
    row = stored.model_ids.index("m2")
    others = [i for i in range(4) if i != row]
    in_memory = rank_candidates(stored.matrix[row, others], [stored.model_ids[i] for i in others])
    table = store.read_table(f"ranking.m2.{LAYERS[0]}")
    assert list(table["candidate"]) == [c.name for c in in_memory]

    write_manifest(ZooManifest(new_entries), incoming / "batch-1.yaml")
    with store.lock("rerank"):
        assert main(["rerank", "--store", store_url, "--models-from", str(incoming), "--out", out]) == LOCKED_EXIT_CODE
    assert "n0" not in store.model_ids()  # the skipped run wrote nothing
    assert main(["rerank", "--store", store_url, "--models-from", str(incoming), "--out", out]) == 0
    assert {"n0", "n1"} <= set(store.model_ids())
    latest = store.read_similarity(probe_id, LAYERS[0])
    assert latest.version == 2 and latest.model_ids[-2:] == ("n0", "n1")
    np.testing.assert_allclose(latest.matrix, expected(images, modules, entries, latest.model_ids, LAYERS[0]), atol=1e-5)
    diff = store.read_table(f"ranking_diff.{LAYERS[0]}.v2")
    assert len(diff) == 6 * 5 and diff["old_rank"].isna().sum() == 6 * 5 - 4 * 3
    capsys.readouterr()
    assert main(["rerank", "--store", store_url, "--models-from", str(incoming), "--out", out]) == 0
    assert "nothing new" in capsys.readouterr().out

    assert main(["report", "--store", store_url, "--out", str(tmp_path / "again")]) == 0
    page = (tmp_path / "again" / "report.html").read_text()
    assert "Which model to finetune from for m2" in page and page.count("data:image/png;base64,") >= 3


def test_train_target_registers_and_ranks(tmp_path):
    store_url = str(tmp_path / "store")
    generator = np.random.default_rng(5)
    probe_images = generator.integers(0, 255, size=(24, 32, 32, 3), dtype=np.uint8)
    np.savez(tmp_path / "probes.npz", images=probe_images)
    entries, _ = write_random_zoo(tmp_path, ["z0", "z1", "z2"])
    write_manifest(ZooManifest(entries), tmp_path / "manifest.yaml")
    labelled_images = generator.integers(0, 255, size=(40, 32, 32, 3), dtype=np.uint8)
    labels = (labelled_images.mean(axis=(1, 2, 3)) > 127).astype(np.int64)
    np.savez(tmp_path / "task.npz", images=labelled_images, labels=labels)

    assert main(["probes", "add", str(tmp_path / "probes.npz"), "--store", store_url]) == 0
    assert main(["models", "add", str(tmp_path / "manifest.yaml"), "--store", store_url]) == 0
    code = main(["train-target", "--store", store_url, "--data", str(tmp_path / "task.npz"), "--name", "bright",
                 "--steps", "5", "--image-size", "32", "--out", str(tmp_path / "report")])
    assert code == 0
    store = Store.open(store_url)
    assert store.model("bright").task_type == "semantic"
    table = store.read_table("ranking.bright.encoder.output")
    assert sorted(table["candidate"]) == ["z0", "z1", "z2"] and table["rank"].tolist() == [1, 2, 3]
