"""``rsa-ray export-rdms`` end to end, in-process: the file rsatoolbox reads holds what the store holds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import rsa_ray
from jobs.cli import main
from storage import EntryKey, Provenance, Store, parse_manifest
from tests.storage.builders import features_for, model_manifest, probe_images

rsatoolbox = pytest.importorskip("rsatoolbox")

ROOT = Path(__file__).resolve().parents[3]
N_IMAGES = 10
IMAGE_IDS = [f"img{index}" for index in (3, 1, 4, 0, 5, 9, 2, 6, 8, 7)]


@pytest.fixture
def zoo(tmp_path):
    """A store with a probe set; m1, m2 have RDMs at ``out``, m3 has none, m4 has no ``out`` layer.

    Returns the store, the probe set id and the RDMs computed in memory from the same features.
    """
    store = Store.open(str(tmp_path / "store"))
    probe_id = store.add_probe_set(probe_images(N_IMAGES), IMAGE_IDS, "random test images")
    store.register_models(parse_manifest(model_manifest("m1", "m2", "m3") + model_manifest("m4", layers=("block4",))))
    in_memory = {}
    for model_id in ("m1", "m2"):
        in_memory[model_id] = rsa_ray.compute_rdm(features_for(model_id, N_IMAGES, n_features=8))
        store.write_rdm(EntryKey(probe_id, model_id, "out"), in_memory[model_id], provenance=Provenance())
    return store, probe_id, in_memory


def _export(store, *flags, capsys):
    code = main(["export-rdms", "--store", store.url, *flags])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_exported_file_holds_the_stored_rdms_with_their_image_ids(zoo, tmp_path, capsys):
    store, probe_id, in_memory = zoo
    path = tmp_path / "rdms.hdf5"
    code, out, err = _export(store, "--layer", "out", "--out", str(path), capsys=capsys)
    assert code == 0, err
    assert out.strip() == (f"wrote 2 RDM(s) of layer 'out' (m1, m2) over 10 probe images of probe set {probe_id} "
                           f"to {path}")
    assert err.strip() == ("left out 1 model(s) with no complete RDM for layer 'out': m3; "
                           "compute them with `rsa-ray similarity --layer out`")
    rdms = rsatoolbox.rdm.load_rdm(str(path))
    expected = np.stack([in_memory["m1"], in_memory["m2"]]).astype(np.float32).astype(np.float64)
    assert np.array_equal(rdms.dissimilarities, expected)
    assert list(rdms.pattern_descriptors["image_id"]) == IMAGE_IDS
    assert list(rdms.rdm_descriptors["model_id"]) == ["m1", "m2"]
    assert list(rdms.rdm_descriptors["task"]) == ["task-m1", "task-m2"]
    assert rdms.dissimilarity_measure == "correlation"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rdms.hdf5", "store"]


@pytest.mark.parametrize("models", [["m2,m1"], ["m2", "m1"]])
def test_models_are_exported_in_the_order_named(zoo, tmp_path, capsys, models):
    store, _, _ = zoo
    path = tmp_path / "two.h5"
    code, _, err = _export(store, "--layer", "out", "--models", *models, "--out", str(path), capsys=capsys)
    assert code == 0, err
    assert err == ""
    assert list(rsatoolbox.rdm.load_rdm(str(path)).rdm_descriptors["model_id"]) == ["m2", "m1"]


def test_the_similarity_is_exported_as_one_rdm_between_models(zoo, tmp_path, capsys):
    store, probe_id, in_memory = zoo
    similarity = rsa_ray.similarity_matrix(np.stack([in_memory["m2"], in_memory["m1"]]), "spearman")
    store.write_similarity(probe_id, "out", ["m2", "m1"], similarity, "spearman")
    store.write_similarity(probe_id, "out", ["m2", "m1"], np.eye(2), "pearson")
    path = tmp_path / "similarity.hdf5"
    code, out, err = _export(store, "--layer", "out", "--similarity-version", "1", "--out", str(path), capsys=capsys)
    assert code == 0, err
    assert out.strip() == (f"wrote similarity version 1 of layer 'out' as one RDM (1 - spearman) between 2 models of "
                           f"probe set {probe_id} to {path}")
    rdms = rsatoolbox.rdm.load_rdm(str(path))
    assert np.array_equal(rdms.dissimilarities, [[1.0 - similarity[0, 1]]])
    assert list(rdms.pattern_descriptors["model_id"]) == ["m2", "m1"]
    code, _, err = _export(store, "--layer", "out", "--similarity", "--out", str(path), "--overwrite", capsys=capsys)
    assert code == 0, err
    assert rsatoolbox.rdm.load_rdm(str(path)).dissimilarity_measure == "1 - pearson"


def test_overwrite_replaces_an_existing_file(zoo, tmp_path, capsys):
    store, _, _ = zoo
    path = tmp_path / "rdms.hdf5"
    path.write_bytes(b"earlier")
    code, _, err = _export(store, "--layer", "out", "--models", "m1", "--out", str(path), "--overwrite", capsys=capsys)
    assert code == 0, err
    assert list(rsatoolbox.rdm.load_rdm(str(path)).rdm_descriptors["model_id"]) == ["m1"]


# Each bad input: its flags ({out} is the file asked for) and the one error line, exactly ({probe} is the probe set).
BAD_INPUTS = {
    "unknown-model": (["--layer", "out", "--models", "m1,zz"], "unknown model id 'zz'; known: m1, m2, m3, m4"),
    "unknown-layer": (["--layer", "outt"],
                      "unknown layer 'outt' for model 'm1' (no registered model has it); did you mean out?"),
    "model-without-the-layer": (["--layer", "out", "--models", "m1", "m4"],
                                "unknown layer 'out' for model 'm4'; its layers: block4"),
    "missing-rdm": (["--layer", "out", "--models", "m3"],
                    "model 'm3' has no complete RDM for layer 'out' of probe set '{probe}'; "
                    "compute it with `rsa-ray similarity --layer out`"),
    "no-rdm-at-the-layer": (["--layer", "block4"],
                            "no registered model has a complete RDM for layer 'block4' of probe set '{probe}'; "
                            "compute them with `rsa-ray similarity --layer block4`"),
    "unknown-probe": (["--layer", "out", "--probe", "nope"], "unknown probe set 'nope'; known: {probe}"),
    "no-similarity": (["--layer", "out", "--similarity"],
                      "no similarity for layer 'out' of probe set '{probe}' yet; "
                      "compute it with `rsa-ray similarity --layer out`"),
    "models-with-similarity": (["--layer", "out", "--similarity", "--models", "m1"],
                               "--models chooses RDMs to export; --similarity exports a similarity version whole "
                               "(leave out --models)"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_a_bad_input_is_one_line_and_writes_nothing(zoo, tmp_path, capsys, case):
    store, probe_id, _ = zoo
    flags, message = BAD_INPUTS[case]
    path = tmp_path / "rdms.hdf5"
    code, out, err = _export(store, *flags, "--out", str(path), capsys=capsys)
    assert code == 1
    assert out == ""
    assert err.splitlines() == [f"rsa-ray export-rdms: error: {message.format(probe=probe_id)}"]
    assert not path.exists()


def test_an_existing_file_or_a_bad_suffix_is_refused_before_the_store_is_read(tmp_path, capsys):
    path = tmp_path / "rdms.hdf5"
    path.write_bytes(b"earlier")
    nowhere = str(tmp_path / "no-store")
    assert main(["export-rdms", "--store", nowhere, "--layer", "out", "--out", str(path)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"rsa-ray export-rdms: error: {str(path)!r} already exists; pass --overwrite to replace it"]
    assert path.read_bytes() == b"earlier"
    assert main(["export-rdms", "--store", nowhere, "--layer", "out", "--out", str(tmp_path / "rdms.csv")]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"rsa-ray export-rdms: error: --out {str(tmp_path / 'rdms.csv')!r} must end in .hdf5 or .h5 "
        "(rsatoolbox tells its file types by suffix)"]
    assert not (tmp_path / "no-store").exists()


def test_help_imports_neither_rsatoolbox_nor_torch_nor_ray():
    code = ("import runpy, sys; sys.argv = ['rsa-ray', 'export-rdms', '--help']\n"
            "try:\n    runpy.run_module('jobs.cli', run_name='__main__')\n"
            "except SystemExit:\n    pass\n"
            "print('LOADED', sorted({'rsatoolbox', 'h5py', 'torch', 'ray'} & {m.split('.')[0] for m in sys.modules}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "usage: rsa-ray export-rdms" in result.stdout
    assert result.stdout.splitlines()[-1] == "LOADED []"
