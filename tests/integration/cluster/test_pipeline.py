"""The RDM and similarity stages on real Ray, against an in-memory computation."""

import numpy as np
import pytest

from cluster.options import SimilarityOptions
from cluster.pipeline import FAILURES_TABLE, run_similarity
from cluster.plan import similarity_work
from rsa_ray import compute_rdms, similarity_matrix
from storage import EntryKey
from tests.integration.cluster.helpers import add_models, make_store

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("local_ray")]


def expected_similarity(features, model_ids, layer="out", method="spearman"):
    # Rank vectors come from the float64 RDM (no ties from float32 rounding); the other methods read
    # the RDMs as stored, in float32.
    rdms = compute_rdms([features[(m, layer)] for m in model_ids])
    return similarity_matrix(rdms if method == "spearman" else rdms.astype(np.float32), method=method)


def test_full_run_then_incremental_then_no_op(tmp_path):
    models = [f"m{i}" for i in range(5)]
    store, probe_id, features = make_store(str(tmp_path / "store"), models, layers=("out", "early"))
    options = SimilarityOptions(block_size=2)

    first = run_similarity(store, probe_id, models, ["out", "early"], options)
    assert sorted(first.computed_rdms) == sorted((m, l) for m in models for l in ("out", "early"))
    assert first.failures == () and dict(first.versions) == {"out": 1, "early": 1}
    for layer in ("out", "early"):
        stored = store.read_similarity(probe_id, layer)
        assert stored.model_ids == tuple(models)
        np.testing.assert_allclose(stored.matrix, expected_similarity(features, models, layer), atol=1e-6)

    new = ["n0", "n1", "n2"]
    features.update(add_models(store, probe_id, new, layers=("out", "early"), seed=7))
    second = run_similarity(store, probe_id, models + new, ["out", "early"], options)
    assert sorted(second.computed_rdms) == sorted((m, l) for m in new for l in ("out", "early"))
    # Only the new rows and columns: with blocks of 2, 5 old × 3 new needs 3 × 2 tiles, 3 new × 3 new needs 3.
    assert second.similarity_tasks == 2 * (6 + 3)
    stored = store.read_similarity(probe_id, "out")
    assert stored.version == 2 and stored.model_ids == tuple(models + new)
    np.testing.assert_allclose(stored.matrix, expected_similarity(features, models + new), atol=1e-6)
    assert store.read_similarity(probe_id, "out", version=1).model_ids == tuple(models)  # history kept

    third = run_similarity(store, probe_id, models + new, ["out", "early"], options)
    assert third.computed_rdms == () and third.similarity_tasks == 0
    assert dict(third.versions) == {"out": None, "early": None}


@pytest.mark.parametrize("method", ["pearson", "kendall_tau_a"])
def test_other_methods_from_stored_rdms(tmp_path, method):
    models = ["a", "b", "c", "d"]
    store, probe_id, features = make_store(str(tmp_path / "store"), models, n_images=12)
    run_similarity(store, probe_id, models, ["out"], SimilarityOptions(method=method, block_size=3))
    stored = store.read_similarity(probe_id, "out")
    assert stored.method == method
    np.testing.assert_allclose(stored.matrix, expected_similarity(features, models, method=method), atol=1e-6)


def test_a_failing_model_is_recorded_and_the_others_finish(tmp_path):
    models = ["good0", "flat", "good1", "good2"]
    store, probe_id, features = make_store(str(tmp_path / "store"), models)
    flat = features[("flat", "out")].copy()
    flat[3] = 1.0  # image 3 has a constant feature vector: its correlation distance is undefined
    store.write_activations(EntryKey(probe_id, "flat", "out"), flat, overwrite=True)

    summary = run_similarity(store, probe_id, models + ["unextracted"], ["out"], SimilarityOptions(center_features=False))
    failed = {f.model_id: f.error for f in summary.failures}
    assert set(failed) == {"flat", "unextracted"}
    assert "images 3" in failed["flat"] and "not registered" in failed["unextracted"]
    stored = store.read_similarity(probe_id, "out")
    good = ["good0", "good1", "good2"]
    assert stored.model_ids == tuple(good)
    expected = similarity_matrix(compute_rdms([features[(m, "out")] for m in good], center_features=False))
    np.testing.assert_allclose(stored.matrix, expected, atol=1e-6)
    table = store.read_table(FAILURES_TABLE)
    assert set(table["model_id"]) == {"flat", "unextracted"}
    assert "FAILED flat / out" in summary.describe()


def test_segmented_similarity_sums_partial_products_over_chunk_aligned_segments(tmp_path, monkeypatch):
    """Rank vectors stored in chunks of 64 terms (L = 435): tasks are tiles x segments, summed in order."""
    import storage.store_vectors
    from cluster.tasks import compute_and_store_rdm

    monkeypatch.setattr(storage.store_vectors, "VECTOR_CHUNK_TERMS", 64)
    models = [f"m{i}" for i in range(6)]
    store, probe_id, features = make_store(str(tmp_path / "store"), models)
    for model in models:  # written here, with the small chunks; the run then only computes similarity
        assert compute_and_store_rdm(store, EntryKey(probe_id, model, "out"), SimilarityOptions()).error is None
    assert store.vector_chunk_terms(probe_id) == 64
    # A budget of two chunks (one multiplied, one read ahead) of 7 models and their product: one block,
    # streamed chunk by chunk; as many segments as chunks (fewer than four tasks per worker).
    options = SimilarityOptions(tile_memory_bytes=2 * 7 * 64 * 4 + 7 * 7 * 12)
    work = similarity_work(options, len(models), 435, 64, workers=2)
    assert work.block_size == 6 and work.segments[:2] == ((0, 64), (64, 128)) and len(work.segments) == 7

    summary = run_similarity(store, probe_id, models, ["out"], options)
    assert summary.computed_rdms == () and summary.similarity_tasks == 7
    np.testing.assert_allclose(store.read_similarity(probe_id, "out").matrix, expected_similarity(features, models),
                               atol=1e-6)
    # Adding a model computes its row and column, still per segment: 2 tiles (old x new, new x new) x 7.
    features.update(add_models(store, probe_id, ["late"], seed=3))
    second = run_similarity(store, probe_id, models + ["late"], ["out"], options)
    assert second.computed_rdms == (("late", "out"),) and second.similarity_tasks == 2 * len(work.segments)
    np.testing.assert_allclose(store.read_similarity(probe_id, "out").matrix,
                               expected_similarity(features, models + ["late"]), atol=1e-6)


@pytest.mark.parametrize("method", ["spearman", "pearson"])
def test_the_torch_backend_gives_the_numpy_pipelines_matrix(tmp_path, method):
    models = [f"m{i}" for i in range(5)]
    numpy_store, probe_id, features = make_store(str(tmp_path / "numpy"), models)
    torch_store, torch_probe_id, _ = make_store(str(tmp_path / "torch"), models)
    run_similarity(numpy_store, probe_id, models, ["out"], SimilarityOptions(method=method, backend="numpy"))
    run_similarity(torch_store, torch_probe_id, models, ["out"], SimilarityOptions(method=method, backend="torch"))
    reference = numpy_store.read_similarity(probe_id, "out").matrix
    # float64 Gram and products on the device (here the CPU): within the backend's stated tolerances.
    np.testing.assert_allclose(torch_store.read_similarity(torch_probe_id, "out").matrix, reference, atol=1e-6)
