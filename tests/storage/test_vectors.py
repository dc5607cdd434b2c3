"""RDMs and rank vectors: written whole as raw chunks, read in batches, verified, compatible with Zarr."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import zarr

import storage.reading
import storage.store_vectors
from storage import CorruptEntryError, EntryKey, EntryKind, IncompleteEntryError, Provenance
from storage import entries, entry_documents
from storage.checksums import chunk_sha256
from storage.entries import write_rows
from tests.storage.builders import features_for, key

N_IMAGES = 10
LENGTH = N_IMAGES * (N_IMAGES - 1) // 2  # 45 terms


@pytest.fixture
def small_chunks(monkeypatch):
    """Vectors of 45 terms in chunks of 8: six whole chunks and a padded edge chunk."""
    monkeypatch.setattr(storage.store_vectors, "VECTOR_CHUNK_TERMS", 8)


def _vectors(n_models: int) -> np.ndarray:
    return np.random.default_rng(n_models).standard_normal((n_models, LENGTH)).astype(np.float32)


def _write(store, probe_id, vectors, layer="out"):
    for index, vector in enumerate(vectors):
        store.write_rank_vector(EntryKey(probe_id, f"m{index}", layer), vector, provenance=Provenance())
    return [f"m{index}" for index in range(len(vectors))]


def _chunk(store, probe_id, model, index):
    return f"{EntryKey(probe_id, model, 'out').path(EntryKind.RANKS)}/c/{index}"


def test_whole_vectors_and_term_slices_read_back_exactly(populated, small_chunks):
    store, probe_id = populated
    vectors = _vectors(5)
    models = _write(store, probe_id, vectors)
    np.testing.assert_array_equal(store.read_rank_vectors(probe_id, "out", models), vectors)
    for terms in [slice(0, 8), slice(8, 24), slice(40, 45), slice(3, 30), slice(44, 45), slice(7, 7)]:
        np.testing.assert_array_equal(store.read_rank_vectors(probe_id, "out", models[::-1], terms),
                                      vectors[::-1, terms])
    assert store.vector_chunk_terms(probe_id) == 8


def test_many_small_batches_give_the_same_result(populated, small_chunks, monkeypatch):
    store, probe_id = populated
    vectors = _vectors(6)
    models = _write(store, probe_id, vectors)
    monkeypatch.setattr(storage.reading, "_BATCH_BYTES", 40)  # a batch per one or two entries
    np.testing.assert_array_equal(store.read_rank_vectors(probe_id, "out", models, slice(5, 37)), vectors[:, 5:37])


def test_raw_vectors_are_ordinary_zarr_arrays(populated, small_chunks):
    store, probe_id = populated
    vectors = _vectors(1)
    _write(store, probe_id, vectors)
    array = zarr.open_array(store=store._backend.zarr_store, path=EntryKey(probe_id, "m0", "out").path("ranks"), mode="r")
    assert array.chunks == (8,) and array.compressors == ()
    np.testing.assert_array_equal(array[:], vectors[0])
    edge = store._backend.get_many([_chunk(store, probe_id, "m0", 5)])[_chunk(store, probe_id, "m0", 5)]
    assert len(edge) == 8 * 4 and np.isnan(np.frombuffer(edge, "<f4")[5:]).all()  # padded like Zarr's


@pytest.mark.parametrize("damage", ["flipped", "truncated", "deleted"])
def test_a_damaged_raw_chunk_names_the_entry_and_rows(populated, small_chunks, damage):
    store, probe_id = populated
    vectors = _vectors(3)
    models = _write(store, probe_id, vectors)
    name = _chunk(store, probe_id, "m1", 2)
    payload = bytearray(store._backend.get_many([name])[name])
    if damage == "flipped":
        payload[5] ^= 0x01
        store._backend.put_bytes(name, bytes(payload))
    elif damage == "truncated":
        store._backend.put_bytes(name, bytes(payload[:12]))
    else:
        store._backend.remove([name])
    expected = {"flipped": "fail their CRC-32C checksum", "truncated": "holds 12 bytes, not 32", "deleted": "is missing"}
    with pytest.raises(CorruptEntryError, match=rf"ranks/{probe_id}/m1/out'.*16:24 {expected[damage]} \(chunk 2\)"):
        store.read_rank_vectors(probe_id, "out", models)
    # The damaged entry is withdrawn (the next run recomputes it); the other models still read.
    assert store.missing(probe_id, models, ["out"], EntryKind.RANKS) == (EntryKey(probe_id, "m1", "out"),)
    np.testing.assert_array_equal(store.read_rank_vectors(probe_id, "out", ["m0", "m2"]), vectors[[0, 2]])


def test_an_incomplete_or_mismatched_entry_is_named(populated):
    store, probe_id = populated
    models = _write(store, probe_id, _vectors(2))
    with pytest.raises(IncompleteEntryError, match=rf"ranks/{probe_id}/nope/out"):
        store.read_rank_vectors(probe_id, "out", [*models, "nope"])
    other = store.add_probe_set(np.zeros((4, 2, 2, 3), np.uint8), list("abcd"), "zeros")
    store.write_rank_vector(EntryKey(other, "m0", "out"), np.ones(6, np.float32), provenance=Provenance())
    paths = [EntryKey(probe_id, "m0", "out").path("ranks"), EntryKey(other, "m0", "out").path("ranks")]
    with pytest.raises(ValueError, match=r"entries differ: .*\(45,\).*\(6,\)"):
        storage.reading.read_many(store._backend, paths)


def test_a_complete_vector_from_a_zarr_writer_is_kept_and_read(populated):
    """An RDM completed through the chunked protocol (compressed, larger chunks) stays valid."""
    store, probe_id = populated
    entry_key = key(probe_id, "m1")
    rdm = np.linspace(0, 1, LENGTH, dtype=np.float32)
    store.write_rdm(entry_key, rdm, provenance=Provenance(), overwrite=True)
    path = entry_key.path(EntryKind.RDMS)
    attributes = store._backend.get_many([f"{path}/zarr.json"])[f"{path}/zarr.json"]
    document = json.loads(attributes)["attributes"]
    entries.create(store._backend, path, (LENGTH,), "float32", document, rows_per_chunk=LENGTH, overwrite=True)
    write_rows(store._backend, path, 0, rdm)
    entries.finalize(store._backend, path)
    assert not entry_documents.stored_many(store._backend, [path])[path].raw
    before = entry_documents.read_marker(store._backend, path)
    store.write_rdm(entry_key, rdm, provenance=Provenance())  # same values: kept, no conflict
    assert entry_documents.read_marker(store._backend, path) == before
    np.testing.assert_array_equal(store.read_rdm(entry_key), rdm)


def test_entries_completed_with_sha256_checksums_stay_readable(populated):
    store, probe_id = populated
    entry_key = key(probe_id, "m2")
    features = features_for("m2", N_IMAGES)
    store.write_activations(entry_key, features, rows_per_chunk=4)
    path = entry_key.path("activations")
    marker = json.loads(store._backend.get_many([f"{path}/_complete.json"])[f"{path}/_complete.json"])
    marker["format"] = 1
    marker["chunk_sha256"] = [chunk_sha256(features[start:start + 4]) for start in range(0, N_IMAGES, 4)]
    del marker["chunk_crc32c"]
    store._backend.put_bytes(f"{path}/_complete.json", json.dumps(marker).encode())
    np.testing.assert_array_equal(store.read_activations(entry_key), features)
    marker["chunk_sha256"][1] = hashlib.sha256(b"other").hexdigest()
    store._backend.put_bytes(f"{path}/_complete.json", json.dumps(marker).encode())
    with pytest.raises(CorruptEntryError, match="rows 4:8 fail their sha256 checksum"):
        store.read_activations(entry_key)


def test_a_chunk_marker_of_the_sha256_format_is_rewritten(populated):
    store, probe_id = populated
    entry_key = key(probe_id, "m3")
    features = features_for("m3", N_IMAGES)
    store.create_activations(entry_key, features.shape[1], rows_per_chunk=4, provenance=Provenance())
    store.write_activation_rows(entry_key, 0, features[:8])
    path = entry_key.path("activations")
    store._backend.put_bytes(f"{path}/_chunks/1.json", json.dumps({"rows": [4, 8], "sha256": "0" * 64}).encode())
    assert store.layout(entry_key).pending == ((4, 8), (8, 10))
    store.write_activations(entry_key, features)
    np.testing.assert_array_equal(store.read_activations(entry_key), features)


def test_an_entry_of_another_zarr_encoding_is_read_through_zarr(populated):
    """Chunks this package does not decode itself (here gzip) are still read and verified, via Zarr."""
    store, probe_id = populated
    path = key(probe_id, "m1").path("activations")
    features = features_for("m1", N_IMAGES)
    zarr.create_array(store=store._backend.zarr_store, name=path, shape=features.shape, dtype="float32",
                      chunks=(4, features.shape[1]), compressors=zarr.codecs.GzipCodec(), fill_value=np.nan)
    assert entry_documents.stored_many(store._backend, [path])[path].codec is None
    write_rows(store._backend, path, 0, features)
    entries.finalize(store._backend, path)
    np.testing.assert_array_equal(store.read_activations(key(probe_id, "m1")), features)
    np.testing.assert_array_equal(store.read_activations(key(probe_id, "m1"), [9, 0, 5]), features[[9, 0, 5]])
    np.testing.assert_array_equal(storage.reading.read_many(store._backend, [path, path], slice(2, 7)),
                                  np.stack([features[2:7]] * 2))
