"""On real Ray: a rerun over an unchanged store computes nothing; a damaged rank vector fails its run in one line
and the next run recomputes exactly it (counted from the work log)."""

import numpy as np
import pytest

from cluster.pipeline import run_similarity
from storage import EntryKey, EntryKind
from storage.entry_documents import chunk_key
from tests.integration.cluster.helpers import add_models, make_store

pytestmark = [pytest.mark.ray]

MODELS = ["m0", "m1", "m2"]


def _rdm_models(store, since=None):
    return [record["model_id"] for record in store.work_records("rdm", since=since)]


def test_a_damaged_rank_vector_is_recomputed_alone_and_an_unchanged_rerun_writes_nothing(tmp_path, local_ray):
    store, probe_id, _ = make_store(str(tmp_path / "store"), MODELS)
    first = run_similarity(store, probe_id, MODELS, ["out"])
    assert first.versions == (("out", 1),) and sorted(_rdm_models(store)) == MODELS
    matrix = store.read_similarity(probe_id, "out").matrix
    records = len(store.work_records())

    again = run_similarity(store, probe_id, MODELS, ["out"])
    assert again.versions == (("out", None),) and again.similarity_tasks == 0
    assert len(store.work_records()) == records and store.similarity_versions(probe_id, "out") == (1,)

    name = chunk_key(EntryKey(probe_id, "m1", "out").path(EntryKind.RANKS), 0, 1)
    payload = bytearray(store._backend.get_many([name])[name])
    payload[9] ^= 0x10
    store._backend.put_bytes(name, bytes(payload))
    add_models(store, probe_id, ["m3"], seed=1)  # its tiles read the others' rank vectors
    since = store.work_records()[-1]["time"]
    with pytest.raises(RuntimeError) as failed:
        run_similarity(store, probe_id, MODELS + ["m3"], ["out"])
    message = str(failed.value)
    assert "\n" not in message and "the rank vector of model 'm1', layer 'out'" in message
    assert store.missing(probe_id, MODELS + ["m3"], ["out"], EntryKind.RANKS) == (EntryKey(probe_id, "m1", "out"),)

    repaired = run_similarity(store, probe_id, MODELS + ["m3"], ["out"])
    assert _rdm_models(store, since) == ["m3", "m1"] and repaired.failures == ()
    assert repaired.versions == (("out", 2),)
    latest = store.read_similarity(probe_id, "out")
    assert latest.model_ids == ("m0", "m1", "m2", "m3")
    np.testing.assert_allclose(latest.matrix[:3, :3], matrix)
    assert [record["model_id"] for record in store.damage_records()] == ["m1"]
