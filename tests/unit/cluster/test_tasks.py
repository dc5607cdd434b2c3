"""The CPU tasks as plain functions (no Ray started): what a retried RDM task redoes."""

import numpy as np
from scipy import stats

import cluster.tasks
from cluster.options import SimilarityOptions
from cluster.tasks import compute_and_store_rdms
from storage import EntryKey, EntryKind, Provenance, Store, parse_manifest
from tests.storage.builders import model_manifest


def test_a_retried_rdm_batch_skips_the_models_it_already_stored(tmp_path, monkeypatch):
    store = Store.open(str(tmp_path / "store"))
    probe_id = store.add_probe_set(np.zeros((6, 2, 2, 3), np.uint8), [f"i{i}" for i in range(6)], "zeros")
    store.register_models(parse_manifest(model_manifest("m0", "m1", "m2", layers=("out",))))
    keys = [EntryKey(probe_id, f"m{i}", "out") for i in range(3)]
    generator = np.random.default_rng(0)
    for key in keys:
        store.write_activations(key, generator.standard_normal((6, 5)).astype(np.float32))
    computed = []
    original = cluster.tasks.compute_and_store_rdm

    def counting(store_, key, *args):
        computed.append(key.model_id)
        return original(store_, key, *args)

    monkeypatch.setattr(cluster.tasks, "compute_and_store_rdm", counting)
    first = compute_and_store_rdms(store, keys[:2], SimilarityOptions())  # an attempt that stored two models
    assert [o.error for o in first] == [None, None] and computed == ["m0", "m1"]
    again = compute_and_store_rdms(store, keys, SimilarityOptions())  # the retry of the whole batch
    assert [o.model_id for o in again] == ["m0", "m1", "m2"] and all(o.error is None for o in again)
    assert computed == ["m0", "m1", "m2"]  # m0 and m1 were not recomputed
    assert all(store.is_complete(key, EntryKind.RANKS) for key in keys)


def test_a_tile_streamed_over_many_chunks_equals_the_in_memory_product(tmp_path, monkeypatch):
    """Segments spanning several stored chunks, starting and ending off the chunk grid, both tile shapes."""
    import storage.store_vectors
    from cluster.tasks import compute_similarity_tile
    from rsa_ray import standardized_ranks

    monkeypatch.setattr(storage.store_vectors, "VECTOR_CHUNK_TERMS", 8)
    store = Store.open(str(tmp_path / "store"))
    probe_id = store.add_probe_set(np.zeros((12, 2, 2, 3), np.uint8), [f"i{i}" for i in range(12)], "zeros")
    generator = np.random.default_rng(3)
    rdms = generator.random((5, 66))
    rdms[:, ::7] = 0.5  # ties
    vectors = standardized_ranks(rdms).astype(np.float32)
    models = [f"m{i}" for i in range(5)]
    for model, vector in zip(models, vectors):
        store.write_rank_vector(EntryKey(probe_id, model, "out"), vector, provenance=Provenance())
    as64 = vectors.astype(np.float64)
    for terms in [None, (0, 66), (3, 61), (8, 16), (60, 66), (5, 6)]:
        start, stop = terms or (0, 66)
        square = compute_similarity_tile(store, probe_id, "out", models, models, "spearman", terms)
        np.testing.assert_allclose(square, as64[:, start:stop] @ as64[:, start:stop].T, atol=1e-6)
        block = compute_similarity_tile(store, probe_id, "out", models[:2], models[2:], "spearman", terms)
        np.testing.assert_allclose(block, as64[:2, start:stop] @ as64[2:, start:stop].T, atol=1e-6)
    whole = compute_similarity_tile(store, probe_id, "out", models, models, "spearman")
    np.testing.assert_allclose(whole, stats.spearmanr(rdms, axis=1).statistic, atol=1e-6)  # Spearman, ties averaged
