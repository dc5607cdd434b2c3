"""Taskonomy's published results: safe loading and the source × target matrix."""

import pickle

import numpy as np
import pytest

from rsa_ray import column_agreement
from rsa_ray.taskonomy import DATA_DIR, RESULT_FILES, TASKONOMY_NAMES, TASKS_17, TASKS_18, load_results, transfer_matrix


def plain_load(name):
    # Trusted here: the test reads the shipped copy with a plain unpickler to get reference values.
    with open(DATA_DIR / f"{name}.pkl", "rb") as handle:
        return pickle.load(handle, encoding="latin1")


@pytest.mark.parametrize("name", RESULT_FILES)
def test_restricted_loader_reads_every_file_like_a_plain_unpickler(name):
    reference = plain_load(name)
    loaded = load_results(name)
    assert loaded.keys() == reference.keys()
    assert all(loaded[key] == float(reference[key]) for key in reference)


def test_matrix_holds_the_files_values_in_source_target_order():
    reference = plain_load("all_affinities")
    matrix = transfer_matrix(load_results("all_affinities"), TASKS_17)
    assert matrix.shape == (17, 17) and "class_scene" not in TASKS_17 and len(TASKS_18) == 18
    depth, normal = TASKS_17.index("depth"), TASKS_17.index("normal")
    assert matrix[depth, normal] == float(reference["rgb2depth__rgb2sfnorm"])
    assert matrix[normal, depth] == float(reference["rgb2sfnorm__rgb2depth"])
    assert matrix[depth, depth] == float(reference["rgb2depth__rgb2depth"])
    for i, source in enumerate(TASKS_17):
        for j, target in enumerate(TASKS_17):
            assert matrix[i, j] == float(reference[f"{TASKONOMY_NAMES[source]}__{TASKONOMY_NAMES[target]}"])
    assert column_agreement(matrix, matrix).mean == pytest.approx(1.0)
    assert 0 < column_agreement(matrix, transfer_matrix(load_results("wins_vs_task"), TASKS_17)).mean < 1


class Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickle_that_runs_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"a__b": Exploit(str(marker))}))
    with pytest.raises(pickle.UnpicklingError, match="refusing to load global .*open"):
        load_results(path)
    assert not marker.exists()


def test_bad_names_are_named():
    with pytest.raises(ValueError, match="unknown Taskonomy results 'affinities'"):
        load_results("affinities")
    with pytest.raises(ValueError, match=r"unknown Taskonomy tasks \['jigsaw'\]"):
        transfer_matrix(load_results(), ["depth", "jigsaw"])
    with pytest.raises(ValueError, match="no transfer 'rgb2depth__rgb2sfnorm'"):
        transfer_matrix({"rgb2depth__rgb2depth": 1.0}, ["depth", "normal"])
    # The 1k/16k measurements have no scene-classification target: 17 tasks only.
    assert np.isfinite(transfer_matrix(load_results("all_affinities_16k"), TASKS_17)).all()
    with pytest.raises(ValueError, match="no transfer 'autoencoder__class_selected'"):
        transfer_matrix(load_results("all_affinities_16k"), TASKS_18)
