"""The real example zoo end to end: `example-zoo`, `probes add skimage`, `models add`, `similarity`, `taxonomy`.

The families read their layers from modules of different names, under the same roles. Each family
is compared on its own (at its shared default role, ``output``), then the whole mixed zoo (zoo
encoders and every example model) in one `taxonomy` with no --layer: every model at its own
default layer, keyed by the reserved role ``default``. The stored similarities equal an in-memory
computation on the same photos.
"""

from __future__ import annotations

import numpy as np
import pytest

from jobs.cli import main
from rsa_ray import compute_rdms, similarity_matrix
from rsa_ray.datasets import load_skimage_images
from rsa_ray.models import InferenceOptions, build_model, extract_layer_features, read_manifest, shipped_zoo_dir
from rsa_ray.models.real_zoo import family_model_ids
from storage import Store

pytest.importorskip("torchvision")
pytest.importorskip("facenet_pytorch.models.mtcnn")
pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.usefixtures("local_ray")]
PROBE_SIDE = 96


def _in_memory_similarity(zoo, entries, model_ids, layer) -> np.ndarray:
    images = load_skimage_images(PROBE_SIDE).images
    specs = {m: entries[m].layer(layer) for m in model_ids}
    features = [extract_layer_features(build_model(entries[m], base_dir=zoo), images, [specs[m]], entries[m].preprocessing,
                                       InferenceOptions())[specs[m].role] for m in model_ids]
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
    store = Store.open(store_url)
    probe_id = store.shared_probe_set_ids()[0]
    version_of = {}  # each family's similarity version of its default role, "output"
    for family, model_ids in families.items():
        if family != "mobilenet_v2":
            assert main(["similarity", "--store", store_url, "--models", *model_ids]) == 0
            version_of[family] = store.similarity_versions(probe_id, "output")[-1]
    mobilenets = families["mobilenet_v2"]
    assert main(["taxonomy", "--store", store_url, "--models", *mobilenets, "--out", str(tmp_path / "report")]) == 0
    version_of["mobilenet_v2"] = store.similarity_versions(probe_id, "output")[-1]

    for family in ("mobilenet_v2", "mtcnn-rnet"):
        layer = entries[families[family][0]].default_layer
        assert layer == "output"
        stored = store.read_similarity(probe_id, layer, version_of[family])
        assert set(stored.model_ids) == set(families[family])
        expected = _in_memory_similarity(zoo, entries, stored.model_ids, layer)
        np.testing.assert_allclose(stored.matrix, expected, atol=1e-4)
    assert (tmp_path / "report" / "report.html").is_file()

    # The whole mixed zoo at once, no --layer: two encoders of the shipped zoo and every example model.
    assert main(["models", "add", str(shipped_zoo_dir() / "manifest.yaml"), "--store", store_url]) == 0
    zoo_encoders = ["depth-small", "autoencoding-small"]
    example_ids = [m for ids in families.values() for m in ids]
    assert main(["taxonomy", "--store", store_url, "--models", *zoo_encoders, *example_ids,
                 "--out", str(tmp_path / "mixed")]) == 0
    mixed = store.read_similarity(probe_id, "default")
    assert set(mixed.model_ids) == {*zoo_encoders, *example_ids}
    family = store.read_similarity(probe_id, "output")  # the last family compared at its default
    rows = [mixed.model_ids.index(m) for m in family.model_ids]
    np.testing.assert_allclose(mixed.matrix[np.ix_(rows, rows)], family.matrix, atol=1e-6)
    assert (tmp_path / "mixed" / "report.html").is_file()
