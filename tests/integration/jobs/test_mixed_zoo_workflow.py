"""A mixed zoo of real architectures through the whole workflow, with no renaming and no --layer.

Two encoders of the shipped zoo (layers named ``encoder.*``), the real example zoo (MobileNetV2 and
MTCNN nets with roles over their own module names) and a target trained with `train-target` go
through `probes add`, `models add`, `taxonomy`, `train-target`, `rank`, `rerank` and `report`. Their
default layers differ, so every command compares each model at its own default (the reserved role
``default``).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from jobs.cli import main
from rsa_ray.models import read_manifest
from rsa_ray.models.manifest import ZooManifest, write_manifest
from storage import Store
from tests.support.shipped_manifest import shipped_models_manifest

pytest.importorskip("torchvision")
pytest.importorskip("facenet_pytorch.models.mtcnn")
pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.usefixtures("local_ray")]


def test_a_mixed_zoo_goes_through_every_command_with_no_layer_flag(tmp_path, capsys):
    store_url, out = str(tmp_path / "store"), str(tmp_path / "report")
    zoo, landed = tmp_path / "example-zoo", tmp_path / "landed"
    assert main(["example-zoo", "--out", str(zoo), "--random-seeds", "0"]) == 0
    encoders = shipped_models_manifest(tmp_path / "encoders", ["depth-small", "autoencoding-small"])
    assert main(["probes", "add", "skimage", "--size", "96", "--store", store_url]) == 0
    assert main(["models", "add", str(zoo / "manifest.yaml"), "--store", store_url]) == 0
    assert main(["models", "add", str(encoders), "--store", store_url]) == 0
    store = Store.open(store_url)
    probe_id = store.shared_probe_set_ids()[0]
    zoo_ids = set(store.model_ids())

    assert main(["taxonomy", "--store", store_url, "--out", out]) == 0
    assert set(store.read_similarity(probe_id, "default").model_ids) == zoo_ids

    images = np.random.default_rng(3).integers(0, 255, size=(40, 32, 32, 3), dtype=np.uint8)
    np.savez(tmp_path / "bright.npz", images=images, labels=(images.mean(axis=(1, 2, 3)) > 127).astype(np.int64))
    assert main(["train-target", "--store", store_url, "--data", str(tmp_path / "bright.npz"), "--name", "bright",
                 "--steps", "5", "--image-size", "32", "--out", out]) == 0
    ranking = store.read_table("ranking.bright.default")
    assert set(ranking["candidate"]) == zoo_ids and sorted(ranking["rank"]) == list(range(1, len(zoo_ids) + 1))

    capsys.readouterr()
    assert main(["rank", "--store", store_url, "--target", "bright", "--out", out]) == 0
    assert "best sources to finetune bright from" in capsys.readouterr().out

    # A new model lands: another seeded random twin of MobileNetV2, under a new id.
    twin = next(e for e in read_manifest(zoo / "manifest.yaml").models if e.model_id == "mobilenet_v2-random-0")
    landed.mkdir()
    write_manifest(ZooManifest((dataclasses.replace(twin, model_id="mobilenet_v2-random-7", seed=7),)),
                   landed / "batch-1.yaml")
    assert main(["rerank", "--store", store_url, "--models-from", str(landed), "--out", out]) == 0
    latest = store.read_similarity(probe_id, "default")
    assert set(latest.model_ids) == zoo_ids | {"bright", "mobilenet_v2-random-7"}
    assert f"ranking_diff.default.v{latest.version}" in store.table_names()

    assert main(["report", "--store", store_url, "--out", str(tmp_path / "final")]) == 0
    page = (tmp_path / "final" / "report.html").read_text()
    assert "Which model to finetune from for bright" in page
