"""The real example zoo end to end: `example-zoo`, `probes add skimage`, `models add`, `similarity`, `taxonomy`.

The families have different layer names, and the commands compare every selected model at one
layer name, so each family is compared on its own, at its default layer (see README, "A real
example zoo"). The stored similarities equal an in-memory computation on the same photos.
"""

from __future__ import annotations

import numpy as np
import pytest

from jobs.cli import main
from rsa_ray import compute_rdms, similarity_matrix
from rsa_ray.datasets import load_skimage_images
from rsa_ray.models import InferenceOptions, build_model, extract_features, read_manifest
from rsa_ray.models.real_zoo import family_model_ids
from storage import Store

pytest.importorskip("torchvision")
pytest.importorskip("facenet_pytorch.models.mtcnn")
pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.usefixtures("local_ray")]
PROBE_SIDE = 96


def _in_memory_similarity(zoo, entries, model_ids, layer) -> np.ndarray:
    images = load_skimage_images(PROBE_SIDE).images
    features = [extract_features(build_model(entries[m], base_dir=zoo), images, [layer], entries[m].preprocessing,
                                 InferenceOptions())[layer] for m in model_ids]
    return similarity_matrix(compute_rdms(features))


def test_example_zoo_goes_through_probes_models_similarity_and_taxonomy(tmp_path):
    zoo, store_url = tmp_path / "zoo", str(tmp_path / "store")
    assert main(["example-zoo", "--out", str(zoo), "--random-seeds", "0", "1"]) == 0
    manifest = read_manifest(zoo / "manifest.yaml")
    entries = {entry.model_id: entry for entry in manifest.models}
    families = family_model_ids(manifest)
    assert set(families) == {"mobilenet_v2", "mtcnn-pnet", "mtcnn-rnet", "mtcnn-onet"}
    assert all(len(ids) == 3 for ids in families.values())

    assert main(["probes", "add", "skimage", "--size", str(PROBE_SIDE), "--store", store_url]) == 0
    assert main(["models", "add", str(zoo / "manifest.yaml"), "--store", store_url]) == 0
    for family, model_ids in families.items():
        if family != "mobilenet_v2":
            assert main(["similarity", "--store", store_url, "--models", *model_ids]) == 0
    mobilenets = families["mobilenet_v2"]
    assert main(["taxonomy", "--store", store_url, "--models", *mobilenets, "--out", str(tmp_path / "report")]) == 0

    store = Store.open(store_url)
    probe_id = store.probe_set_ids()[0]
    for family in ("mobilenet_v2", "mtcnn-rnet"):
        layer = entries[families[family][0]].default_layer
        stored = store.read_similarity(probe_id, layer)
        assert set(stored.model_ids) == set(families[family])
        expected = _in_memory_similarity(zoo, entries, stored.model_ids, layer)
        np.testing.assert_allclose(stored.matrix, expected, atol=1e-4)
    assert (tmp_path / "report" / "report.html").is_file()
