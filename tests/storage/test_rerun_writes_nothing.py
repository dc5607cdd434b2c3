"""A rerun over an unchanged store writes no entry, version or table; after damage it redoes exactly the damaged entry.

The pipeline's own task functions run in this process (no Ray): the RDM task over every model, the
similarity tile, and the version write, twice; the work log and the store's files are counted.
"""

import os

import numpy as np
import pytest

from cluster.options import SimilarityOptions
from cluster.tasks import compute_and_store_rdms, compute_similarity_tile
from storage import CorruptEntryError, EntryKind, Store, parse_manifest
from storage.entry_documents import chunk_key
from storage.identity import ComputeSettings
from tests.storage.builders import features_for, key, model_manifest, probe_images

MODELS = ["m1", "m2", "m3"]
SETTINGS = ComputeSettings()


def _files(root) -> dict[str, int]:
    """Every file but the claims' lock records, with its modification time."""
    found = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            if not os.path.relpath(path, root).startswith("locks"):
                found[path] = os.stat(path).st_mtime_ns
    return found


@pytest.fixture
def extracted(tmp_path):
    """A local store with every model's activations extracted (with the identity the RDM task expects)."""
    store = Store.open(str(tmp_path / "store"))
    probe_id = store.add_probe_set(probe_images(), [f"img{i}" for i in range(10)], "random test images")
    store.register_models(parse_manifest(model_manifest(*MODELS)))
    expected = store.expected_identities(probe_id, MODELS, ["out"], EntryKind.ACTIVATIONS, SETTINGS)
    for model_id in MODELS:
        entry_key = key(probe_id, model_id)
        store.create_activations(entry_key, 6, identity=expected[entry_key])
        store.write_activation_rows(entry_key, 0, features_for(model_id, 10))
        store.finalize(entry_key)
    return store, probe_id, tmp_path / "store"


def _run(store: Store, probe_id: str) -> int:
    """One similarity run's RDM stage, tile and version write, as the pipeline's tasks do them."""
    outcomes = compute_and_store_rdms(store, [key(probe_id, m) for m in MODELS], SimilarityOptions(), SETTINGS)
    assert [outcome.error for outcome in outcomes] == [None] * len(MODELS)
    block = compute_similarity_tile(store, probe_id, "out", MODELS, MODELS, "spearman")
    return store.write_similarity(probe_id, "out", MODELS, np.clip(block, -1, 1), "spearman")


def test_a_second_run_over_an_unchanged_store_writes_nothing(extracted):
    store, probe_id, root = extracted
    assert _run(store, probe_id) == 1
    assert len(store.work_records("rdm")) == 3
    before, records = _files(root), len(store.work_records())
    # the rerun: the RDM task skips every model; the same matrix of the same inputs is no new version
    outcomes = compute_and_store_rdms(store, [key(probe_id, m) for m in MODELS], SimilarityOptions(), SETTINGS)
    assert [outcome.error for outcome in outcomes] == [None] * 3
    latest = store.read_similarity(probe_id, "out")
    assert store.write_similarity(probe_id, "out", MODELS, latest.matrix.copy(), "spearman") == 1
    assert _files(root) == before and len(store.work_records()) == records
    assert store.similarity_versions(probe_id, "out") == (1,)


def test_a_changed_matrix_or_input_is_a_new_version(extracted):
    store, probe_id, _ = extracted
    assert _run(store, probe_id) == 1
    latest = store.read_similarity(probe_id, "out")
    assert store.write_similarity(probe_id, "out", MODELS, latest.matrix * 0.5, "spearman") == 2
    assert store.write_similarity(probe_id, "out", MODELS[:2], latest.matrix[:2, :2], "spearman") == 3


def test_after_damage_the_rerun_recomputes_exactly_the_damaged_entry(extracted):
    store, probe_id, root = extracted
    assert _run(store, probe_id) == 1
    since = store.work_records()[-1]["time"]
    name = chunk_key(key(probe_id, "m2").path(EntryKind.RANKS), 0, 1)
    payload = bytearray(store._backend.get_many([name])[name])
    payload[7] ^= 0x01
    store._backend.put_bytes(name, bytes(payload))
    with pytest.raises(CorruptEntryError, match="the rank vector of model 'm2'"):
        compute_similarity_tile(store, probe_id, "out", MODELS, MODELS, "spearman")
    assert store.missing(probe_id, MODELS, ["out"], EntryKind.RANKS, SETTINGS) == (key(probe_id, "m2"),)
    assert _run(store, probe_id) == 1  # the recomputed rank vector is the same: the version stands
    recomputed = [(record["stage"], record["model_id"]) for record in store.work_records(since=since)
                  if record["stage"] in ("rdm", "damage")]
    assert recomputed == [("damage", "m2"), ("rdm", "m2")]
    assert store.similarity_versions(probe_id, "out") == (1,)
    assert store.verify().problems == ()
