"""Interrupted writes, corruption and bad input, on both backends.

A reader must never take a half-written entry for complete; a rerun must complete it.
"""

import signal

import numpy as np
import pytest
import zarr

from storage import (
    CorruptEntryError,
    EntryShapeError,
    IncompleteEntryError,
    StoreUnavailableError,
)
from storage.backend import Backend
from tests.storage.builders import features_for, key, run_writer


def _assert_incomplete(store, entry_key, pending_rows):
    assert not store.is_complete(entry_key)
    assert entry_key in store.missing(entry_key.probe_id, [entry_key.model_id], [entry_key.layer])
    assert store.layout(entry_key).pending == pending_rows
    with pytest.raises(IncompleteEntryError, match=entry_key.path("activations")):
        store.read_activations(entry_key)
    with pytest.raises(IncompleteEntryError, match="rows .* are not written"):
        store.finalize(entry_key)


@pytest.mark.slow
def test_writer_process_killed_between_chunks(target, populated):
    store, probe_id = populated
    entry_key = key(probe_id, "m1")
    store.create_activations(entry_key, 6, rows_per_chunk=2)
    writer = run_writer(target, {"probe_id": probe_id, "model_id": "m1", "pause_after": 2})
    try:
        lines = [writer.stdout.readline().strip() for _ in range(3)]
        assert lines == ["WROTE 0:2", "WROTE 2:4", "PAUSED"], writer.stderr.read() if not lines[-1] else lines
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    _assert_incomplete(store, entry_key, ((4, 6), (6, 8), (8, 10)))
    features = features_for("m1", 10)
    store.write_activations(entry_key, features, rows_per_chunk=2)  # the rerun: resumes, then completes
    assert store.is_complete(entry_key) and store.missing(probe_id, ["m1"], ["out"]) == ()
    np.testing.assert_array_equal(store.read_activations(entry_key), features)


def test_exception_in_the_writer_loop_between_chunks(populated):
    store, probe_id = populated
    entry_key = key(probe_id, "m2")
    features = features_for("m2", 10)
    layout = store.create_activations(entry_key, 6, rows_per_chunk=3)

    def extract(start, stop):
        if start >= 6:
            raise RuntimeError("the encoder fell over")
        return features[start:stop]

    with pytest.raises(RuntimeError, match="fell over"):
        for start, stop in layout.pending:
            store.write_activation_rows(entry_key, start, extract(start, stop))
        store.finalize(entry_key)
    _assert_incomplete(store, entry_key, ((6, 9), (9, 10)))
    store.write_activations(entry_key, features, rows_per_chunk=3)
    np.testing.assert_array_equal(store.read_activations(entry_key), features)


def test_failed_chunk_rewrite_unmarks_the_chunk(populated, monkeypatch):
    """A chunk is rewritten with new data but its marker write fails: the old marker must not vouch for it."""
    store, probe_id = populated
    entry_key = key(probe_id, "m3")
    features = features_for("m3", 10)
    store.create_activations(entry_key, 6, rows_per_chunk=5)
    store.write_activation_rows(entry_key, 0, features[:5])
    assert store.layout(entry_key).pending == ((5, 10),)

    def refuse(self, payloads):
        raise ConnectionResetError("connection reset by peer")

    monkeypatch.setattr(Backend, "put_many", refuse)
    with pytest.raises(StoreUnavailableError, match=r"rows 0:5 of 'activations/.*/m3/out'"):
        store.write_activation_rows(entry_key, 0, features[:5] + 1)
    monkeypatch.undo()
    _assert_incomplete(store, entry_key, ((0, 5), (5, 10)))
    store.write_activations(entry_key, features, rows_per_chunk=5)
    np.testing.assert_array_equal(store.read_activations(entry_key), features)


def test_rewriting_a_complete_entry_unmarks_it_first(populated):
    store, probe_id = populated
    entry_key = key(probe_id)
    store.write_activations(entry_key, features_for("m1", 10))
    store.create_activations(entry_key, 4, overwrite=True)
    _assert_incomplete(store, entry_key, ((0, 10),))


def test_an_overwrite_interrupted_midway_never_looks_complete(populated, monkeypatch):
    """The recreate deletes the old chunks and then dies: the old marker must already be gone."""
    store, probe_id = populated
    entry_key = key(probe_id)
    store.write_activations(entry_key, features_for("m1", 10), rows_per_chunk=5)

    remove_tree = Backend.remove_tree

    def dies_after_deleting_a_chunk(self, relative):
        if relative.endswith("/_chunks"):
            return remove_tree(self, relative)
        self.fs.rm(_chunk_path(store, entry_key, 0))
        raise ConnectionResetError("connection reset by peer")

    monkeypatch.setattr(Backend, "remove_tree", dies_after_deleting_a_chunk)
    with pytest.raises(StoreUnavailableError, match="creating 'activations/"):
        store.create_activations(entry_key, 4, overwrite=True)
    monkeypatch.undo()
    assert not store.is_complete(entry_key) and store.missing(probe_id, ["m1"], ["out"]) == (entry_key,)
    store.write_activations(entry_key, features_for("m1", 10), rows_per_chunk=5)
    np.testing.assert_array_equal(store.read_activations(entry_key), features_for("m1", 10))


def test_a_torn_marker_is_not_complete_and_a_rerun_repairs_it(populated):
    store, probe_id = populated
    entry_key = key(probe_id)
    features = features_for("m1", 10)
    store.write_activations(entry_key, features)
    store._backend.put_bytes(f"{entry_key.path('activations')}/_complete.json", b'{"format": 1, "chunk_')
    assert not store.is_complete(entry_key) and store.missing(probe_id, ["m1"], ["out"]) == (entry_key,)
    store.write_activations(entry_key, features)
    np.testing.assert_array_equal(store.read_activations(entry_key), features)


def _chunk_path(store, entry_key, chunk):
    return store._backend.full_path(f"{entry_key.path('activations')}/c/{chunk}/0")


def test_undecodable_chunk_names_the_entry(populated):
    store, probe_id = populated
    entry_key = key(probe_id, "m2")
    store.write_activations(entry_key, features_for("m2", 10), rows_per_chunk=4)
    store._backend.fs.pipe_file(_chunk_path(store, entry_key, 1), b"\x00 not zstd at all")
    with pytest.raises(CorruptEntryError, match=f"entry '{entry_key.path('activations')}'.*cannot be decoded"):
        store.read_activations(entry_key)


@pytest.mark.parametrize("damage", ["overwritten", "deleted"])
def test_checksum_mismatch_names_the_entry_and_rows(populated, damage):
    store, probe_id = populated
    entry_key = key(probe_id, "m2")
    features = features_for("m2", 10)
    store.write_activations(entry_key, features, rows_per_chunk=4)
    if damage == "overwritten":  # valid Zarr data, written behind the protocol's back
        array = zarr.open_array(store=store._backend.zarr_store, path=entry_key.path("activations"), mode="r+")
        array[4:8] = features[4:8] * 2
    else:
        store._backend.fs.rm(_chunk_path(store, entry_key, 1))
    expected = "rows 4:8 fail their CRC-32C checksum" if damage == "overwritten" else "the chunk of rows 4:8 is missing"
    with pytest.raises(CorruptEntryError, match=rf"'activations/.*/m2/out': {expected}"):
        store.read_activations(entry_key)
    # the damaged entry is withdrawn: missing now, and a rerun rewrites only the damaged chunk
    assert store.missing(probe_id, ["m2"], ["out"]) == (entry_key,)
    assert store.layout(entry_key).pending == ((4, 8),)
    store.write_activations(entry_key, features, rows_per_chunk=4)
    np.testing.assert_array_equal(store.read_activations(entry_key), features)


def test_wrong_shape_or_dtype_is_rejected_naming_entry_and_expected_shape(populated):
    store, probe_id = populated
    entry_key = key(probe_id)
    path = entry_key.path("activations")
    with pytest.raises(EntryShapeError, match=rf"'{path}'.*\(10, 6\).*\(9, 6\)"):
        store.write_activations(entry_key, features_for("m1", 9))
    with pytest.raises(EntryShapeError, match=rf"'{path}'.*\(M, D\) = \(10, D\)"):
        store.write_activations(entry_key, np.zeros((10, 2, 3), np.float32))
    with pytest.raises(EntryShapeError, match=rf"'{path}': expected shape \(10, 6\).*float16.*float64"):
        store.write_activations(entry_key, np.zeros((10, 6), np.float64))
    store.create_activations(entry_key, 6, rows_per_chunk=5)
    with pytest.raises(EntryShapeError, match=rf"'{path}'.*dtype float32 \(shape \(10, 6\)\)"):
        store.write_activation_rows(entry_key, 0, np.zeros((5, 6), np.float64))
    with pytest.raises(EntryShapeError, match=rf"'{path}'.*\(n, 6\).*\(10, 6\)"):
        store.write_activation_rows(entry_key, 0, np.zeros((5, 7), np.float32))
    with pytest.raises(EntryShapeError, match=rf"'{path}'.*whole chunks of 5 rows"):
        store.write_activation_rows(entry_key, 2, np.zeros((5, 6), np.float32))
    with pytest.raises(EntryShapeError, match="outside 0:10"):
        store.write_activation_rows(entry_key, 5, np.zeros((10, 6), np.float32))
    with pytest.raises(EntryShapeError, match=r"rdms/.*/m1/out.*\(45,\)"):
        store.write_rdm(entry_key, np.zeros(44))
    with pytest.raises(ValueError, match=r"ranks/.*/m1/out.*NaN"):
        store.write_rank_vector(entry_key, np.full(45, np.nan))
    with pytest.raises(EntryShapeError, match=r"\(2, 2\) for 2 model ids"):
        store.write_similarity(probe_id, "out", ["m1", "m2"], np.eye(3), "spearman")
    with pytest.raises(EntryShapeError, match=r"\(M, H, W, 3\)"):
        store.add_probe_set(np.zeros((2, 4, 4), np.uint8), ["a", "b"], "grey")
    with pytest.raises(EntryShapeError, match="uint8"):
        store.add_probe_set(np.zeros((2, 4, 4, 3), np.float32), ["a", "b"], "floats")
    assert store.layout(entry_key).pending == ((0, 5), (5, 10))  # nothing was written by the rejected calls


def test_bad_ids_are_rejected_by_the_store(populated):
    store, probe_id = populated
    from storage import EntryKey, InvalidIdError

    for bad in ["../x", "a/b", "", "x" * 300, "ñ"]:
        with pytest.raises(InvalidIdError):
            store.read_activations(EntryKey(probe_id, bad, "out"))
        with pytest.raises(InvalidIdError):
            store.read_table(bad)
        with pytest.raises(InvalidIdError):
            store.probe_set(bad)
