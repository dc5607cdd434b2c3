"""A pickled store carries no credentials; the process that unpickles it resolves its own."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from storage import Store
from storage.redaction import without_secrets
from tests.storage.builders import probe_images
from tests.support.s3_server import ACCESS_KEY, SECRET_KEY


def test_secret_storage_options_are_not_pickled_and_the_rest_are():
    options = {"key": "AKIA-test", "secret": "do-not-ship", "token": "session", "endpoint_url": "http://minio:9000",
               "anon": False, "client_kwargs": {"region_name": "eu-west-1", "aws_secret_access_key": "nested-secret"}}
    state = pickle.dumps(Store("memory://credentials", options))
    for secret in (b"AKIA-test", b"do-not-ship", b"session", b"nested-secret"):
        assert secret not in state
    assert pickle.loads(state).storage_options == {"endpoint_url": "http://minio:9000", "anon": False,
                                                   "client_kwargs": {"region_name": "eu-west-1"}}
    assert without_secrets(options)["client_kwargs"] == {"region_name": "eu-west-1"}


@pytest.mark.s3
def test_an_unpickled_s3_store_reads_with_the_credentials_of_its_environment(s3_target, monkeypatch):
    store = s3_target.open()
    assert store.storage_options["secret"] == SECRET_KEY  # the driver was given them explicitly
    probe_id = store.add_probe_set(probe_images(3), ["a", "b", "c"], "pickled")
    shipped = pickle.dumps(store)
    assert SECRET_KEY.encode() not in shipped and ACCESS_KEY.encode() not in shipped
    worker_store = pickle.loads(shipped)
    assert "endpoint_url" in worker_store.storage_options and "key" not in worker_store.storage_options
    np.testing.assert_array_equal(worker_store.read_probe_images(probe_id), probe_images(3))  # env credentials


@pytest.mark.s3
def test_without_credentials_in_its_environment_an_unpickled_store_is_refused(s3_target, monkeypatch, tmp_path):
    store = s3_target.open()
    store.add_probe_set(probe_images(3), ["a", "b", "c"], "pickled")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()  # a process resolves credentials once per filesystem instance
    try:
        worker_store = pickle.loads(pickle.dumps(store))
        with pytest.raises(Exception) as raised:
            worker_store.probe_set_ids()
        assert SECRET_KEY not in str(raised.value)
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
