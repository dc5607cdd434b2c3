"""Writers at once: different models from threads and from separate processes, and one entry split by chunks."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from tests.storage.builders import features_for, key, run_writer


def test_threads_writing_different_models_both_complete(populated):
    store, probe_id = populated

    def write(model_id):
        store.write_activations(key(probe_id, model_id), features_for(model_id, 10), rows_per_chunk=2)

    with ThreadPoolExecutor(3) as pool:
        list(pool.map(write, ["m1", "m2", "m3"]))
    assert store.missing(probe_id, ["m1", "m2", "m3"], ["out"]) == ()
    for model_id in ("m1", "m2", "m3"):
        np.testing.assert_array_equal(store.read_activations(key(probe_id, model_id)), features_for(model_id, 10))


def test_threads_filling_disjoint_chunks_of_one_entry(populated):
    store, probe_id = populated
    features = features_for("m1", 10)
    layout = store.create_activations(key(probe_id), 6, rows_per_chunk=1)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda rows: store.write_activation_rows(key(probe_id), rows[0], features[rows[0]:rows[1]]),
                      layout.pending))
    store.finalize(key(probe_id))
    np.testing.assert_array_equal(store.read_activations(key(probe_id)), features)


@pytest.mark.slow
def test_processes_writing_different_models_both_complete(target, populated):
    store, probe_id = populated
    writers = [run_writer(target, {"probe_id": probe_id, "model_id": model_id, "whole": True, "rows_per_chunk": 3})
               for model_id in ("m1", "m2")]
    outcomes = [writer.communicate(timeout=120) for writer in writers]
    for writer, (stdout, stderr) in zip(writers, outcomes):
        assert writer.returncode == 0 and stdout.strip() == "DONE", stderr
    assert store.missing(probe_id, ["m1", "m2"], ["out"]) == ()
    for model_id in ("m1", "m2"):
        np.testing.assert_array_equal(store.read_activations(key(probe_id, model_id)), features_for(model_id, 10))


def test_runs_writing_similarity_versions_at_once_get_distinct_versions(target, populated):
    """Each writer (its own Store, as separate runs) claims its version number exclusively: none is lost."""
    _, probe_id = populated
    models = ["m1", "m2", "m3"]

    def write(index):
        matrix = np.full((3, 3), index / 10.0)
        np.fill_diagonal(matrix, 1.0)
        return target.open().write_similarity(probe_id, "out", models, matrix, "spearman")

    with ThreadPoolExecutor(6) as pool:
        versions = list(pool.map(write, range(6)))
    assert sorted(versions) == [1, 2, 3, 4, 5, 6]
    store = target.open()
    assert store.similarity_versions(probe_id, "out") == (1, 2, 3, 4, 5, 6)
    for index, version in enumerate(versions):
        assert store.read_similarity(probe_id, "out", version).matrix[0, 1] == pytest.approx(index / 10.0)
