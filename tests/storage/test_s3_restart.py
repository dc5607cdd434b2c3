"""The S3 server stops in the middle of a write and comes back.

The server here is durable (it replays its request log on restart, as a real S3
service keeps its objects), and is this module's own, so restarting it disturbs no
other test.
"""

import time
import uuid

import numpy as np
import pytest

from storage import Store, StoreUnavailableError, parse_manifest
from tests.storage.builders import features_for, key, model_manifest, probe_images
from tests.support.s3_server import MotoServer, create_bucket


@pytest.fixture
def durable_server(tmp_path):
    with MotoServer(durable=True, workdir=tmp_path) as server:
        yield server


@pytest.mark.s3
@pytest.mark.slow
def test_server_restart_mid_write_fails_clearly_and_a_rerun_completes(durable_server):
    bucket = f"rsa-{uuid.uuid4().hex[:16]}"
    create_bucket(durable_server.endpoint_url, bucket)
    store = Store.open(f"s3://{bucket}/store", durable_server.storage_options())
    probe_id = store.add_probe_set(probe_images(), [f"img{i}" for i in range(10)], "random")
    store.register_models(parse_manifest(model_manifest("m1", "m2")))
    done = features_for("m1", 10)
    store.write_activations(key(probe_id, "m1"), done, rows_per_chunk=5)
    store.write_rdm(key(probe_id, "m1"), np.linspace(0, 1, 45))

    features = features_for("m2", 10)
    layout = store.create_activations(key(probe_id, "m2"), 6, rows_per_chunk=2)
    store.write_activation_rows(key(probe_id, "m2"), 0, features[0:2])
    durable_server.stop()
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError, match=r"rows 2:4 of 'activations/.*/m2/out' in store s3://") as error:
        store.write_activation_rows(key(probe_id, "m2"), 2, features[2:4])
    assert time.monotonic() - started < 60
    assert "rsa-ray-test-secret" not in str(error.value)
    with pytest.raises(StoreUnavailableError):  # an outage is an error, never "not complete"
        store.is_complete(key(probe_id, "m1"))

    durable_server.start()
    assert store.layout(key(probe_id, "m2")).pending == layout.pending[1:]
    store.write_activations(key(probe_id, "m2"), features, rows_per_chunk=2)  # the rerun
    np.testing.assert_array_equal(store.read_activations(key(probe_id, "m2")), features)
    assert store.missing(probe_id, ["m1", "m2"], ["out"]) == ()
    np.testing.assert_array_equal(store.read_activations(key(probe_id, "m1")), done)  # nothing complete lost
    np.testing.assert_array_equal(store.read_rdm(key(probe_id, "m1")), np.linspace(0, 1, 45).astype(np.float32))
