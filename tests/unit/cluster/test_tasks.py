"""The CPU tasks as plain functions (no Ray started): what a retried RDM task redoes."""

import numpy as np

import cluster.tasks
from cluster.options import SimilarityOptions
from cluster.tasks import compute_and_store_rdms
from storage import EntryKey, EntryKind, Provenance, Store


def test_a_retried_rdm_batch_skips_the_models_it_already_stored(tmp_path, monkeypatch):
    store = Store.open(str(tmp_path / "store"))
    probe_id = store.add_probe_set(np.zeros((6, 2, 2, 3), np.uint8), [f"i{i}" for i in range(6)], "zeros")
    keys = [EntryKey(probe_id, f"m{i}", "out") for i in range(3)]
    generator = np.random.default_rng(0)
    for key in keys:
        store.write_activations(key, generator.standard_normal((6, 5)).astype(np.float32), provenance=Provenance())
    computed = []
    original = cluster.tasks.compute_and_store_rdm

    def counting(store_, key, options):
        computed.append(key.model_id)
        return original(store_, key, options)

    monkeypatch.setattr(cluster.tasks, "compute_and_store_rdm", counting)
    monkeypatch.setattr(Store, "provenance", lambda self, key: Provenance())
    first = compute_and_store_rdms(store, keys[:2], SimilarityOptions())  # an attempt that stored two models
    assert [o.error for o in first] == [None, None] and computed == ["m0", "m1"]
    again = compute_and_store_rdms(store, keys, SimilarityOptions())  # the retry of the whole batch
    assert [o.model_id for o in again] == ["m0", "m1", "m2"] and all(o.error is None for o in again)
    assert computed == ["m0", "m1", "m2"]  # m0 and m1 were not recomputed
    assert all(store.is_complete(key, EntryKind.RANKS) for key in keys)
