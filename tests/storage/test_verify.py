"""``Store.verify`` / ``rsa-ray verify [--repair]`` on a real local store: every damage found, exactly it repaired."""

import os

import numpy as np
import pytest

from jobs.cli import main
from storage import EntryKind, Store, parse_manifest
from storage.entry_documents import chunk_key
from tests.storage.builders import features_for, flip_byte, key, model_manifest, probe_images, unit_vector


def _snapshot(root) -> dict[str, int]:
    return {os.path.join(folder, name): os.stat(os.path.join(folder, name)).st_mtime_ns
            for folder, _, names in os.walk(root) for name in names}


@pytest.fixture
def filled(tmp_path):
    """A local store with a probe set, 3 models, and every kind of entry for each."""
    store = Store.open(str(tmp_path / "store"))
    probe_id = store.add_probe_set(probe_images(), [f"img{i}" for i in range(10)], "random test images")
    store.register_models(parse_manifest(model_manifest("m1", "m2", "m3")))
    for index, model_id in enumerate(["m1", "m2", "m3"]):
        store.write_activations(key(probe_id, model_id), features_for(model_id, 10), rows_per_chunk=4)
        store.write_rdm(key(probe_id, model_id), np.abs(unit_vector(index)) + 0.1)
        store.write_rank_vector(key(probe_id, model_id), unit_vector(index))
    store.write_similarity(probe_id, "out", ["m1", "m2", "m3"], np.eye(3), "spearman")
    store.create_activations(key(probe_id, "m1", "block4"), 6)  # one incomplete entry
    return store, probe_id, tmp_path / "store"


def _damage(store, probe_id):
    """Damages an activation chunk, an RDM chunk (deleted) and a rank vector; returns their paths."""
    activations = key(probe_id, "m1").path(EntryKind.ACTIVATIONS)
    rdm = key(probe_id, "m2").path(EntryKind.RDMS)
    ranks = key(probe_id, "m3").path(EntryKind.RANKS)
    flip_byte(store, chunk_key(activations, 2, 2), offset=12)
    store._backend.remove([chunk_key(rdm, 0, 1)])
    flip_byte(store, chunk_key(ranks, 0, 1), offset=20)
    return activations, rdm, ranks


def test_a_sound_store_verifies_clean_and_writes_nothing(filled):
    store, probe_id, root = filled
    before = _snapshot(root)
    found = store.verify()
    assert found.problems == ()
    assert found.entries == 11 and found.incomplete == (key(probe_id, "m1", "block4").path(EntryKind.ACTIVATIONS),)
    assert _snapshot(root) == before


def test_verify_finds_each_damage_and_repair_withdraws_exactly_those(filled):
    store, probe_id, root = filled
    activations, rdm, ranks = _damage(store, probe_id)
    store._backend.put_bytes("models/m3/zarr.json", b"")
    before = _snapshot(root)
    found = store.verify()
    assert _snapshot(root) == before  # scanning writes nothing
    assert sorted(problem.path for problem in found.problems) == sorted([activations, rdm, ranks, "models/m3/zarr.json"])
    by_path = {problem.path: problem for problem in found.problems}
    assert by_path[activations].chunks == (2,) and "rows 8:10" in by_path[activations].what
    assert "is missing (chunk 0)" in by_path[rdm].what
    assert "fail their CRC-32C checksum" in by_path[ranks].what
    assert "is damaged: it is empty" in by_path["models/m3/zarr.json"].what
    outcomes = dict((problem.path, outcome) for problem, outcome in store.repair(found))
    assert outcomes[activations] == "marked incomplete: the next run extracts model 'm1', layer 'out' again"
    assert outcomes["models/m3/zarr.json"].startswith("removed: model 'm3' is no longer registered")
    models = ["m1", "m2"]
    assert store.missing(probe_id, models, ["out"]) == (key(probe_id, "m1"),)
    assert store.missing(probe_id, models, ["out"], EntryKind.RDMS) == (key(probe_id, "m2"),)
    assert store.missing(probe_id, models, ["out"], EntryKind.RANKS) == (key(probe_id, "m2"),)
    assert store.missing(probe_id, ["m3"], ["out"], EntryKind.RANKS) == (key(probe_id, "m3"),)
    assert store.layout(key(probe_id, "m1")).pending == ((8, 10),)
    assert sorted(record["path"] for record in store.damage_records()) == sorted([activations, rdm, ranks])
    assert store.model_ids() == ("m1", "m2")
    again = store.verify()
    assert again.problems == () and set(again.incomplete) >= {activations, rdm, ranks}


def test_the_verify_command_reports_one_line_per_problem_and_what_the_next_run_recomputes(filled, capsys):
    store, probe_id, root = filled
    activations, rdm, ranks = _damage(store, probe_id)
    assert main(["verify", "--store", str(root)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert sorted(line.split(":")[0] for line in lines[:3]) == sorted(f"DAMAGED {path}" for path in (activations, rdm, ranks))
    assert lines[3].endswith("checked 11 complete entries and 10 documents: 3 damaged, 1 incomplete")
    assert lines[4].startswith("run `rsa-ray verify --repair`")
    assert store.missing(probe_id, ["m1", "m2", "m3"], ["out"], EntryKind.RANKS) == ()  # nothing withdrawn yet
    assert main(["verify", "--store", str(root), "--repair"]) == 0
    output = capsys.readouterr().out
    assert f"REPAIRED {activations}: marked incomplete: the next run extracts model 'm1', layer 'out' again" in output
    assert "the next `rsa-ray similarity` / `rsa-ray taxonomy` recomputes 3 entries:" in output
    assert f"  the RDM and rank vector of model 'm2', layer 'out' on probe set '{probe_id}'" in output
    assert main(["verify", "--store", str(root)]) == 0
    assert ": checked 7 complete entries and 10 documents: 0 damaged, 5 incomplete" in capsys.readouterr().out


def test_the_verify_command_reports_a_damaged_root_document(filled, capsys):
    store, _, root = filled
    payload = store._backend.get_many(["zarr.json"])["zarr.json"]
    store._backend.put_bytes("zarr.json", payload[:10])
    assert main(["verify", "--store", str(root), "--repair"]) == 1
    output = capsys.readouterr().out
    assert "DAMAGED zarr.json: zarr.json in store" in output and "it is not valid JSON" in output
    assert "TO DO zarr.json: not changed (it holds the operator's settings)" in output


def test_commands_name_a_damaged_document_in_one_line(filled, capsys):
    store, _, root = filled
    store._backend.put_bytes("models/m2/zarr.json", b"")
    assert main(["models", "list", "--store", str(root)]) == 1
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and error.startswith("rsa-ray models: error: models/m2/zarr.json in store")
    assert "is damaged: it is empty" in error and "not registered" not in error
    payload = store._backend.get_many(["zarr.json"])["zarr.json"]
    store._backend.put_bytes("zarr.json", payload[: len(payload) - 5])
    assert main(["models", "list", "--store", str(root)]) == 1
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and error.startswith("rsa-ray models: error: zarr.json in store")
