"""Damaged entries are withdrawn when read, so the next run recomputes exactly them; damaged documents are named.

On real stores (a local folder and the loopback S3 server): bytes flipped or chunks deleted
behind the protocol's back, then read the way the pipeline reads them.
"""

import errno
import os

import numpy as np
import pytest

from storage import CorruptEntryError, EntryKind, IncompleteEntryError, Store, StoreUnavailableError
from storage import damage
from storage.backend import Backend
from storage.entry_documents import chunk_key
from tests.storage.builders import features_for, flip_byte, key, probe_images, unit_vector


def _one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def test_a_flipped_byte_in_a_rank_vector_withdraws_exactly_that_entry(populated):
    store, probe_id = populated
    for index, model_id in enumerate(["m1", "m2", "m3"]):
        store.write_rank_vector(key(probe_id, model_id), unit_vector(index))
    damaged = key(probe_id, "m2")
    flip_byte(store, chunk_key(damaged.path(EntryKind.RANKS), 0, 1), offset=40)
    with pytest.raises(CorruptEntryError) as error:
        store.read_rank_vectors(probe_id, "out", ["m1", "m2", "m3"])
    message = _one_line(error)
    assert "rows 0:45 fail their CRC-32C checksum (chunk 0)" in message
    assert f"the rank vector of model 'm2', layer 'out' on probe set '{probe_id}'" in message
    assert "the next run recomputes the RDM and rank vector of model 'm2'" in message
    assert store.missing(probe_id, ["m1", "m2", "m3"], ["out"], EntryKind.RANKS) == (damaged,)
    records = store.damage_records()
    assert [(r["model_id"], r["layer"], r["kind"], r["chunks"]) for r in records] == [("m2", "out", "ranks", [0])]
    failures = store.read_table("failures")
    assert failures[["model_id", "layer", "stage"]].values.tolist() == [["m2", "out", "damage"]]
    with pytest.raises(IncompleteEntryError, match="ranks/.*/m2/out"):
        store.read_rank_vectors(probe_id, "out", ["m2"])
    store.write_rank_vector(damaged, unit_vector(1))  # the rerun
    np.testing.assert_array_equal(store.read_rank_vectors(probe_id, "out", ["m2"])[0], unit_vector(1))
    assert len(store.damage_records()) == 1


def test_a_damaged_activation_chunk_is_rewritten_alone(populated):
    store, probe_id = populated
    entry_key = key(probe_id, "m1")
    features = features_for("m1", 10)
    store.write_activations(entry_key, features, rows_per_chunk=4)
    path = entry_key.path(EntryKind.ACTIVATIONS)
    flip_byte(store, chunk_key(path, 1, 2), offset=10)  # a compressed chunk: undecodable or a wrong checksum
    with pytest.raises(CorruptEntryError, match=rf"'{path}': .*rows 4:8 .*\(chunk 1\); marked incomplete: the "
                                                rf"activations of model 'm1', layer 'out' on probe set '{probe_id}' "
                                                r"\(the next run extracts model 'm1', layer 'out' again\)"):
        store.read_activations(entry_key)
    assert store.missing(probe_id, ["m1", "m2"], ["out"]) == (entry_key, key(probe_id, "m2"))
    assert store.layout(entry_key).pending == ((4, 8),)  # only the damaged chunk is extracted again
    kept = {index: store._backend.get_many([chunk_key(path, index, 2)])[chunk_key(path, index, 2)] for index in (0, 2)}
    store.write_activations(entry_key, features, rows_per_chunk=4)
    np.testing.assert_array_equal(store.read_activations(entry_key), features)
    assert {index: store._backend.get_many([chunk_key(path, index, 2)])[chunk_key(path, index, 2)]
            for index in (0, 2)} == kept


def test_a_deleted_rdm_chunk_withdraws_the_rdm_and_its_rank_vector(populated):
    store, probe_id = populated
    for index, model_id in enumerate(["m1", "m2"]):
        store.write_rdm(key(probe_id, model_id), np.abs(unit_vector(index)) + 0.1)
        store.write_rank_vector(key(probe_id, model_id), unit_vector(index))
    damaged = key(probe_id, "m1")
    store._backend.remove([chunk_key(damaged.path(EntryKind.RDMS), 0, 1)])
    with pytest.raises(CorruptEntryError) as error:
        store.read_rdm(damaged)
    message = _one_line(error)
    assert "the chunk of rows 0:45 is missing (chunk 0)" in message and "the RDM of model 'm1'" in message
    for kind in (EntryKind.RDMS, EntryKind.RANKS):  # the rank vector marks the RDM stage done: both are redone
        assert store.missing(probe_id, ["m1", "m2"], ["out"], kind) == (damaged,)


def test_a_damaged_similarity_version_is_not_read_again(populated):
    store, probe_id = populated
    assert store.write_similarity(probe_id, "out", ["m1", "m2"], np.eye(2), "spearman") == 1
    flip_byte(store, f"similarity/{probe_id}/out/v00001/c/0/0", offset=1)
    with pytest.raises(CorruptEntryError, match="similarity version 1 of layer 'out'.*writes a new version"):
        store.read_similarity(probe_id, "out")
    assert store.similarity_versions(probe_id, "out") == ()
    assert store.write_similarity(probe_id, "out", ["m1", "m2"], np.eye(2), "spearman") == 2


def test_a_store_that_cannot_be_written_still_reports_the_damage(populated, monkeypatch):
    store, probe_id = populated
    entry_key = key(probe_id, "m1")
    store.write_rank_vector(entry_key, unit_vector(0))
    flip_byte(store, chunk_key(entry_key.path(EntryKind.RANKS), 0, 1))

    def refuse(self, relatives):
        raise PermissionError("read-only credentials")

    monkeypatch.setattr(Backend, "remove", refuse)
    with pytest.raises(CorruptEntryError, match=r"fail their CRC-32C checksum \(chunk 0\); it could not be marked "
                                                r"incomplete \(PermissionError: read-only credentials\); `rsa-ray verify "
                                                "--repair` with write access does"):
        store.read_rank_vectors(probe_id, "out", ["m1"])
    monkeypatch.undo()
    assert store.is_complete(entry_key, EntryKind.RANKS)


def test_an_entry_completed_again_since_is_not_withdrawn(populated):
    store, probe_id = populated
    entry_key = key(probe_id, "m1")
    store.write_rank_vector(entry_key, unit_vector(0))
    path = entry_key.path(EntryKind.RANKS)
    assert not damage.withdraw(store._backend, path, [0], "stale report", {"checksum": "not-the-current-one"})
    assert store.is_complete(entry_key, EntryKind.RANKS) and store.damage_records() == []
    assert damage.withdraw(store._backend, path, [0], "damaged")
    assert not store.is_complete(entry_key, EntryKind.RANKS)
    assert not damage.withdraw(store._backend, path, [0], "damaged")  # already withdrawn: recorded once
    assert len(store.damage_records()) == 1


def test_a_damaged_registry_document_is_reported_as_damaged_not_missing(populated):
    store, _ = populated
    store._backend.put_bytes("models/m2/zarr.json", b"")
    for read in (lambda: store.model("m2"), lambda: store.model_documents(["m1", "m2"]), lambda: store.layer_shapes(["m2"])):
        with pytest.raises(CorruptEntryError, match=r"^models/m2/zarr.json in store .* is damaged: it is empty; "
                                                    r"`rsa-ray verify --repair` removes it"):
            read()
    store._backend.put_bytes("models/m2/zarr.json", b'{"zarr_format": 3, "node_type": "gro')
    with pytest.raises(CorruptEntryError, match="models/m2/zarr.json .* is not valid JSON"):
        store.model("m2")
    assert store.model("m1").model_id == "m1"


def test_a_truncated_root_document_names_the_file(target):
    store = target.open()
    payload = store._backend.get_many(["zarr.json"])["zarr.json"]
    store._backend.put_bytes("zarr.json", payload[: len(payload) // 2])
    with pytest.raises(CorruptEntryError, match=r"^zarr.json in store .* is damaged: it is not valid JSON \(.*\); "
                                                "restore it from a backup, or delete it"):
        target.open()
    store._backend.remove(["zarr.json"])
    assert target.open().settings().allow_torchscript is False  # deleted: written anew with the default settings


def _files(root) -> set[str]:
    return {os.path.relpath(os.path.join(folder, name), root) for folder, _, names in os.walk(root) for name in names}


@pytest.mark.parametrize("labelled", [False, True])
def test_a_full_disk_during_probes_add_leaves_nothing_behind(tmp_path, monkeypatch, labelled):
    from rsa_ray.target_labels import TargetLabels

    store = Store.open(str(tmp_path / "store"))
    before = _files(tmp_path / "store")
    put_many = Backend.put_many

    def disk_full_at_chunk_markers(self, payloads):
        if any("/_chunks/" in name for name in payloads):
            raise OSError(errno.ENOSPC, "No space left on device")
        return put_many(self, payloads)

    monkeypatch.setattr(Backend, "put_many", disk_full_at_chunk_markers)
    labels = TargetLabels.from_array(np.arange(10) % 3) if labelled else None
    with pytest.raises(StoreUnavailableError, match="No space left on device"):
        store.add_probe_set(probe_images(), [f"img{i}" for i in range(10)], "test", labels=labels)
    assert _files(tmp_path / "store") == before
    assert not [name for name in os.listdir(tmp_path / "store" / "probes") if name != "zarr.json"]
    monkeypatch.undo()
    probe_id = store.add_probe_set(probe_images(), [f"img{i}" for i in range(10)], "test", labels=labels)
    assert store.probe_set_ids() == (probe_id,)


def test_a_failed_local_write_leaves_no_partial_file(tmp_path, monkeypatch):
    backend = Backend.open(f"file://{tmp_path}", {})

    def disk_full(source, destination):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(OSError, match="No space left"):
        backend.put_bytes("work/x.json", b"{}")
    monkeypatch.undo()
    assert os.listdir(tmp_path / "work") == []
