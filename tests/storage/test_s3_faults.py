"""Faults of the S3 server at the worst moments: killed during a PUT, gone while a similarity version is written.

The server is durable (it replays its request log on restart, as a real S3 service keeps
its objects) and this module's own, so killing it disturbs no other test.
"""

import threading
import time
import uuid

import numpy as np
import pytest

from storage import EntryKey, Store, StoreUnavailableError, parse_manifest
from tests.storage.builders import model_manifest
from tests.support.s3_server import MotoServer, create_bucket

pytestmark = [pytest.mark.s3, pytest.mark.slow]


@pytest.fixture
def durable_server(tmp_path):
    with MotoServer(durable=True, workdir=tmp_path) as server:
        yield server


def _store(server, n_images):
    bucket = f"rsa-{uuid.uuid4().hex[:16]}"
    create_bucket(server.endpoint_url, bucket)
    store = Store.open(f"s3://{bucket}/store", server.storage_options())
    images = np.random.default_rng(0).integers(0, 255, size=(n_images, 4, 4, 3), dtype=np.uint8)
    probe_id = store.add_probe_set(images, [f"img{i}" for i in range(n_images)], "random")
    store.register_models(parse_manifest(model_manifest("m1", "m2", "m3")))
    return store, probe_id


def test_server_killed_during_a_put_leaves_nothing_complete_and_a_rerun_completes(durable_server):
    store, probe_id = _store(durable_server, n_images=40)
    key = EntryKey(probe_id, "m1", "out")
    features = np.random.default_rng(1).normal(size=(40, 400_000)).astype(np.float32)  # 64 MB in 8 MB chunks
    outcome = {}

    def write():
        try:
            outcome["checksum"] = store.write_activations(key, features, rows_per_chunk=5)
        except Exception as error:
            outcome["error"] = error

    writer = threading.Thread(target=write)
    writer.start()
    time.sleep(0.8)
    durable_server.kill()  # mid-upload: the chunk PUTs in flight are cut off
    writer.join(timeout=300)
    assert "error" in outcome, "the write finished before the kill, so nothing was tested"
    assert isinstance(outcome["error"], StoreUnavailableError), outcome["error"]

    durable_server.start()
    assert not store.is_complete(key)
    assert store.missing(probe_id, ["m1"], ["out"]) == (key,)
    store.write_activations(key, features, rows_per_chunk=5)  # the rerun writes what is not marked
    np.testing.assert_array_equal(store.read_activations(key), features)


def test_server_gone_while_a_similarity_version_is_written_keeps_the_last_complete_version(durable_server):
    store, probe_id = _store(durable_server, n_images=6)
    models = ["m1", "m2", "m3"]
    assert store.write_similarity(probe_id, "out", models, np.eye(3), "spearman") == 1
    new = np.full((3, 3), 0.5)
    np.fill_diagonal(new, 1.0)

    with pytest.raises(StoreUnavailableError):
        # The outage begins after the version's data, right before its completion marker.
        store.write_similarity(probe_id, "out", models, new, "spearman", fence=durable_server.stop)

    durable_server.start()
    assert store.similarity_versions(probe_id, "out") == (1,)  # the interrupted version is never read
    np.testing.assert_array_equal(store.read_similarity(probe_id, "out").matrix, np.eye(3))
    assert store.write_similarity(probe_id, "out", models, new, "spearman") == 3  # its number is not reused
    np.testing.assert_array_equal(store.read_similarity(probe_id, "out").matrix, new)
