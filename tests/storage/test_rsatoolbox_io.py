"""Stored RDMs and similarity versions, exported to rsatoolbox and its HDF5 file, and read back exactly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.distance import squareform

import rsa_ray
from storage import EntryKey, EntryKind, EntryNotFoundError, Provenance, entries, parse_manifest
from storage.rsatoolbox_io import (
    rdms_to_rsatoolbox,
    read_rsatoolbox_file,
    rsatoolbox_to_arrays,
    similarity_to_rsatoolbox,
    write_rsatoolbox_file,
)
from tests.storage.builders import features_for, model_manifest, probe_images

rsatoolbox = pytest.importorskip("rsatoolbox")

N_IMAGES = 10
# Not sorted, so that keeping the probe set's order is seen.
IMAGE_IDS = [f"img-{name}" for name in ("k", "c", "x", "a", "q", "m", "b", "z", "e", "h")]


@pytest.fixture
def zoo(store):
    """A probe set of 10 images and RDMs of m1, m2, m3 at ``out`` (registered; m4 is registered without one)."""
    probe_id = store.add_probe_set(probe_images(N_IMAGES), IMAGE_IDS, "random test images")
    store.register_models(parse_manifest(model_manifest("m1", "m2", "m3", "m4")))
    condensed = {}
    for model_id in ("m1", "m2", "m3"):
        condensed[model_id] = rsa_ray.compute_rdm(features_for(model_id, N_IMAGES, n_features=8))
        store.write_rdm(EntryKey(probe_id, model_id, "out"), condensed[model_id], provenance=Provenance())
    return store, probe_id


@pytest.fixture
def out(tmp_path) -> Path:
    """An empty folder for the exported files (the local store lives beside it)."""
    folder = tmp_path / "export"
    folder.mkdir()
    return folder


def _stored(store, probe_id, model_ids, layer="out"):
    return np.stack([store.read_rdm(EntryKey(probe_id, model_id, layer)).astype(np.float64) for model_id in model_ids])


def test_rsatoolbox_sees_the_stored_dissimilarities_and_descriptors(zoo):
    store, probe_id = zoo
    rdms = rdms_to_rsatoolbox(store, probe_id, "out", ["m2", "m1"])
    stored = _stored(store, probe_id, ["m2", "m1"])
    matrices = rdms.get_matrices()
    assert matrices.shape == (2, N_IMAGES, N_IMAGES)
    for matrix, condensed in zip(matrices, stored):
        assert np.array_equal(matrix, squareform(condensed))
    assert list(rdms.pattern_descriptors["image_id"]) == IMAGE_IDS
    assert rdms.rdm_descriptors["model_id"] == ["m2", "m1"]
    assert rdms.rdm_descriptors["layer"] == ["out", "out"]
    assert rdms.rdm_descriptors["task"] == ["task-m2", "task-m1"]
    assert rdms.rdm_descriptors["task_type"] == ["2d", "2d"]
    assert rdms.dissimilarity_measure == "correlation"
    assert rdms.descriptors == {"probe_id": probe_id, "layer": "out", "distance": "correlation",
                                "center_features": True}


def test_rsatoolbox_spearman_between_exported_rdms_is_the_projects(zoo):
    store, probe_id = zoo
    rdms = rdms_to_rsatoolbox(store, probe_id, "out", ["m1", "m2", "m3"])
    ours = rsa_ray.similarity_matrix(_stored(store, probe_id, ["m1", "m2", "m3"]), "spearman")
    for i, j in ((0, 1), (0, 2), (1, 2)):
        theirs = rsatoolbox.rdm.compare(rdms[i], rdms[j], method="spearman")
        assert theirs.shape == (1, 1)
        assert theirs[0, 0] == pytest.approx(ours[i, j], abs=1e-12)


def test_the_round_trip_through_the_hdf5_file_is_exact(zoo, out):
    store, probe_id = zoo
    path = write_rsatoolbox_file(rdms_to_rsatoolbox(store, probe_id, "out", ["m3", "m1"]), out / "rdms.hdf5")
    assert path == out / "rdms.hdf5"
    assert sorted(p.name for p in out.iterdir()) == ["rdms.hdf5"]  # no temporary file left beside it
    condensed, image_ids, descriptors = rsatoolbox_to_arrays(read_rsatoolbox_file(path))
    assert condensed.dtype == np.float64
    assert np.array_equal(condensed, _stored(store, probe_id, ["m3", "m1"]))
    assert image_ids == tuple(IMAGE_IDS)
    assert descriptors["model_id"] == ("m3", "m1")
    assert descriptors["task"] == ("task-m3", "task-m1")
    assert rsatoolbox.rdm.load_rdm(str(path)).dissimilarity_measure == "correlation"  # rsatoolbox reads it unaided


def test_by_default_every_registered_model_with_a_complete_rdm_is_exported(zoo):
    store, probe_id = zoo
    rdms = rdms_to_rsatoolbox(store, probe_id, "out")
    assert rdms.rdm_descriptors["model_id"] == ["m1", "m2", "m3"]  # m4 has no RDM


def test_an_unregistered_model_named_explicitly_has_no_task(zoo):
    store, probe_id = zoo
    store.write_rdm(EntryKey(probe_id, "loose", "out"), rsa_ray.compute_rdm(features_for("loose", N_IMAGES)),
                    provenance=Provenance())
    rdms = rdms_to_rsatoolbox(store, probe_id, "out", ["loose", "m1"])
    assert rdms.rdm_descriptors["task"] == ["", "task-m1"]
    assert rdms.rdm_descriptors["task_type"] == ["", "2d"]


def test_a_missing_or_incomplete_rdm_is_refused_naming_the_model_and_the_command(zoo):
    store, probe_id = zoo
    with pytest.raises(EntryNotFoundError) as missing:
        rdms_to_rsatoolbox(store, probe_id, "out", ["m1", "m4"])
    assert str(missing.value) == (f"model 'm4' has no complete RDM for layer 'out' of probe set {probe_id!r}; "
                                  "compute it with `rsa-ray similarity --layer out`")
    path = EntryKey(probe_id, "m4", "block4").path(EntryKind.RDMS)
    entries.create(store._backend, path, (store.vector_terms(probe_id),), "float32", {"kind": "rdms"})  # interrupted
    with pytest.raises(EntryNotFoundError, match="model 'm4' has no complete RDM for layer 'block4'"):
        rdms_to_rsatoolbox(store, probe_id, "block4", ["m4"])
    with pytest.raises(EntryNotFoundError, match="no registered model has a complete RDM for layer 'block4'"):
        rdms_to_rsatoolbox(store, probe_id, "block4")


def test_rdms_of_different_distances_are_refused(zoo):
    store, probe_id = zoo
    store.write_rdm(EntryKey(probe_id, "m4", "out"), rsa_ray.compute_rdm(features_for("m4", N_IMAGES), "cosine"),
                    distance="cosine", provenance=Provenance())
    with pytest.raises(ValueError, match="different distances"):
        rdms_to_rsatoolbox(store, probe_id, "out")
    assert rdms_to_rsatoolbox(store, probe_id, "out", ["m4"]).dissimilarity_measure == "cosine"


def test_a_similarity_version_is_one_rdm_of_one_minus_r_between_models(zoo, out):
    store, probe_id = zoo
    model_ids = ["m3", "m1", "m2"]
    similarity = rsa_ray.similarity_matrix(_stored(store, probe_id, model_ids), "spearman")
    store.write_similarity(probe_id, "out", model_ids[:2], similarity[:2, :2], "spearman")
    assert store.write_similarity(probe_id, "out", model_ids, similarity, "spearman") == 2
    rdms = similarity_to_rsatoolbox(store, probe_id, "out")
    expected = 1.0 - similarity
    np.fill_diagonal(expected, 0.0)
    assert rdms.n_rdm == 1
    assert np.array_equal(rdms.get_matrices()[0], expected)
    assert rdms.pattern_descriptors["model_id"] == model_ids
    assert rdms.pattern_descriptors["task"] == ["task-m3", "task-m1", "task-m2"]
    assert rdms.dissimilarity_measure == "1 - spearman"
    assert rdms.descriptors["similarity_version"] == 2 and rdms.descriptors["similarity_method"] == "spearman"
    assert similarity_to_rsatoolbox(store, probe_id, "out", version=1).pattern_descriptors["model_id"] == ["m3", "m1"]

    back = read_rsatoolbox_file(write_rsatoolbox_file(rdms, out / "similarity.h5"))
    condensed, ids, _ = rsatoolbox_to_arrays(back)
    assert np.array_equal(condensed, rsa_ray.condense(1.0 - similarity)[None])
    assert ids == tuple(model_ids)
    assert int(back.descriptors["similarity_version"]) == 2


def test_a_missing_similarity_or_version_is_refused(zoo):
    store, probe_id = zoo
    with pytest.raises(EntryNotFoundError, match="no similarity for layer 'out' of probe set .* yet; compute it with "
                                                 "`rsa-ray similarity --layer out`"):
        similarity_to_rsatoolbox(store, probe_id, "out")
    store.write_similarity(probe_id, "out", ["m1", "m2"], np.eye(2), "spearman")
    with pytest.raises(EntryNotFoundError, match="no similarity version 7 for layer 'out'.*complete versions: 1"):
        similarity_to_rsatoolbox(store, probe_id, "out", version=7)


def test_an_existing_file_is_kept_unless_overwrite(zoo, out):
    store, probe_id = zoo
    path = out / "rdms.hdf5"
    path.write_bytes(b"earlier")
    rdms = rdms_to_rsatoolbox(store, probe_id, "out", ["m1"])
    with pytest.raises(FileExistsError, match="already exists"):
        write_rsatoolbox_file(rdms, path)
    assert path.read_bytes() == b"earlier"
    write_rsatoolbox_file(rdms, path, overwrite=True)
    assert rsatoolbox_to_arrays(read_rsatoolbox_file(path)).rdm_descriptors["model_id"] == ("m1",)
    assert sorted(p.name for p in out.iterdir()) == ["rdms.hdf5"]


def test_a_failed_write_leaves_no_file_under_the_final_name(zoo, out, monkeypatch):
    store, probe_id = zoo
    rdms = rdms_to_rsatoolbox(store, probe_id, "out", ["m1"])

    def save_half(self, filename, file_type="hdf5", overwrite=False):
        Path(filename).write_bytes(b"half an HDF5 file")
        raise OSError("disk full")

    monkeypatch.setattr(rsatoolbox.rdm.RDMs, "save", save_half)
    with pytest.raises(OSError, match="disk full"):
        write_rsatoolbox_file(rdms, out / "rdms.hdf5")
    assert list(out.iterdir()) == []


def test_non_ascii_descriptors_are_refused_before_anything_is_written(tmp_path):
    rdms = rsatoolbox.rdm.RDMs(np.ones((1, 3)), pattern_descriptors={"image_id": ["a", "café", "c"]})
    with pytest.raises(ValueError, match="pattern descriptor 'image_id' holds 'café', which is not ASCII"):
        write_rsatoolbox_file(rdms, tmp_path / "rdms.hdf5")
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_is_not_rsatoolboxs_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="no rsatoolbox file at"):
        read_rsatoolbox_file(tmp_path / "none.hdf5")
    (tmp_path / "text.hdf5").write_text("not HDF5")
    with pytest.raises(ValueError, match="is not an rsatoolbox HDF5 file of RDMs"):
        read_rsatoolbox_file(tmp_path / "text.hdf5")


def test_arrays_need_an_id_pattern_descriptor():
    rdms = rsatoolbox.rdm.RDMs(np.ones((1, 3)), pattern_descriptors={"stimulus": ["a", "b", "c"]})
    with pytest.raises(ValueError, match="no 'image_id' or 'model_id' pattern descriptor"):
        rsatoolbox_to_arrays(rdms)
    assert rsatoolbox_to_arrays(rdms, "stimulus").pattern_ids == ("a", "b", "c")


def test_importing_storage_loads_neither_rsatoolbox_nor_h5py():
    code = ("import sys, storage, storage.rsatoolbox_io; "
            "print(sorted({'rsatoolbox', 'h5py'} & {name.split('.')[0] for name in sys.modules}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
