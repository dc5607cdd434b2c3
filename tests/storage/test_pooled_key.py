"""A layer's pooled features are addressed by ``EntryKey.pooled``, stored under the same name as before:
``{layer}.pooled``, so a store written when the key spelled it in the layer's name reads unchanged."""

import numpy as np
import pytest

from storage import EntryKey, EntryKind, InvalidIdError, Provenance, Store


@pytest.fixture
def store_and_probe(tmp_path):
    store = Store.open(str(tmp_path / "store"))
    return store, store.add_probe_set(np.zeros((3, 2, 2, 3), np.uint8), ["a", "b", "c"], "zeros")


def test_pooled_features_are_stored_beside_the_layer_under_its_old_name(store_and_probe):
    store, probe_id = store_and_probe
    layer, pooled = EntryKey(probe_id, "m1", "out"), EntryKey(probe_id, "m1", "out", pooled=True)
    assert pooled == layer.pooled_features() and pooled != layer
    assert pooled.path(EntryKind.ACTIVATIONS) == f"activations/{probe_id}/m1/out.pooled"
    store.write_activations(layer, np.ones((3, 6), np.float32), provenance=Provenance())
    store.write_activations(pooled, np.full((3, 2), 2.0, np.float32), provenance=Provenance())
    assert store.read_activations(layer).shape == (3, 6)
    np.testing.assert_array_equal(store.read_activations(pooled), np.full((3, 2), 2.0, np.float32))
    assert store.entry_attributes(pooled)["layer"] == "out.pooled"  # the stored attribute as before
    store.record_work("extract", pooled)
    assert [record["layer"] for record in store.work_records("extract")] == ["out.pooled"]


def test_a_store_written_with_the_name_in_the_layer_reads_through_the_pooled_key(store_and_probe):
    store, probe_id = store_and_probe
    features = np.arange(6, dtype=np.float32).reshape(3, 2)
    old_spelling = EntryKey(probe_id, "m1", "block4.pooled")  # how the previous release addressed them
    store.write_activations(old_spelling, features, provenance=Provenance())
    pooled = EntryKey(probe_id, "m1", "block4", pooled=True)
    assert store.is_complete(pooled)
    np.testing.assert_array_equal(store.read_activations(pooled), features)
    assert store.entry_attributes(pooled) == store.entry_attributes(old_spelling)
    assert store.missing(probe_id, ["m1"], ["block4.pooled"]) == ()


def test_a_pooled_key_whose_folder_name_would_be_too_long_is_refused():
    EntryKey("p", "m", "x" * 128)
    with pytest.raises(InvalidIdError, match="layer"):
        EntryKey("p", "m", "x" * 128, pooled=True)
