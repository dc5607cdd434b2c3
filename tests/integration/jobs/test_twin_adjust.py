"""``rank --twin-adjust`` on real Ray: each candidate's score minus that of its seeded random-init twin,
the twins built from the candidates' entries, registered hidden, extracted once and reused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jobs.cli import main
from rsa_ray.models import read_manifest
from rsa_ray.models.manifest import ZooManifest, write_manifest
from storage import Store

pytest.importorskip("torchvision")
pytest.importorskip("facenet_pytorch.models.mtcnn")
pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.usefixtures("local_ray")]


def _rank(store_url, data, out, *extra):
    assert main(["rank", "--store", store_url, "--target", "bright", "--data", data, "--score", "knn,logme",
                 "--bootstrap", "20", "--target-images", "40", "--image-size", "32", "--out", str(out), *extra]) == 0
    return pd.read_csv(out / "scores.bright.csv").set_index("candidate")


def test_twin_adjusted_scores_are_differences_from_the_twin_and_a_random_net_scores_zero(tmp_path):
    store_url, zoo = str(tmp_path / "store"), tmp_path / "zoo"
    images = np.random.default_rng(3).integers(0, 255, size=(60, 32, 32, 3), dtype=np.uint8)
    data = str(tmp_path / "bright.npz")
    np.savez(data, images=images, labels=(images.mean(axis=(1, 2, 3)) > 127).astype(np.int64))
    assert main(["example-zoo", "--out", str(zoo), "--random-seeds", "0"]) == 0
    mobilenets = [e for e in read_manifest(zoo / "manifest.yaml").models if e.model_id.startswith("mobilenet_v2")]
    write_manifest(ZooManifest(tuple(mobilenets)), zoo / "mobilenets.yaml")
    assert main(["models", "add", str(zoo / "mobilenets.yaml"), "--store", store_url]) == 0
    raw = _rank(store_url, data, tmp_path / "raw")
    adjusted = _rank(store_url, data, tmp_path / "adjusted", "--twin-adjust")
    store = Store.open(store_url)
    twins = sorted(m for m in store.model_ids() if ".twin-" in m)
    # Both candidates are MobileNetV2s with the same modules and preprocessing: they share one twin.
    assert twins == ["mobilenet_v2-imagenet.twin-0"]
    assert set(adjusted.index) == {"mobilenet_v2-imagenet", "mobilenet_v2-random-0"}
    for score in ("knn", "logme"):
        # mobilenet_v2-random-0 is its own twin's entry (seed 0): it scores exactly 0.
        assert adjusted.loc["mobilenet_v2-random-0", score] == 0.0
        expected = raw.loc["mobilenet_v2-imagenet", score] - raw.loc["mobilenet_v2-random-0", score]
        assert adjusted.loc["mobilenet_v2-imagenet", score] == pytest.approx(expected, abs=1e-9)
    # A later rank reuses the twins: nothing registered again, and the same table.
    again = _rank(store_url, data, tmp_path / "again", "--twin-adjust")
    assert sorted(m for m in Store.open(store_url).model_ids() if ".twin-" in m) == twins
    pd.testing.assert_frame_equal(again[["knn", "logme"]], adjusted[["knn", "logme"]])
