"""Fixtures for the storage tests: every store test runs on a local folder and on a real S3 server.

The S3 backend is moto's standalone server (a subprocess on loopback, one per test
session), reached through s3fs with ``endpoint_url``; each test gets a fresh bucket.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from storage import Store, parse_manifest
from tests.storage.builders import model_manifest, probe_images
from tests.support.s3_server import ACCESS_KEY, SECRET_KEY, MotoServer, create_bucket


@dataclass(frozen=True)
class StoreTarget:
    """Where a test's store lives: its URL and storage options (what a worker process needs)."""

    backend: str
    url: str
    storage_options: dict[str, Any]

    def open(self) -> Store:
        return Store.open(self.url, self.storage_options)


@pytest.fixture(scope="session")
def s3_server():
    """One moto server for the session, stopped at the end."""
    with MotoServer() as server:
        yield server


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def target(request, tmp_path, monkeypatch) -> StoreTarget:
    """A fresh, empty store location on each backend.

    On S3 the test server's credentials are also in the environment, as a cluster supplies
    them to its workers: a pickled store carries none, so the processes it is shipped to
    (the writer subprocesses here) resolve them the standard way.
    """
    if request.param == "local":
        return StoreTarget("local", str(tmp_path / "store"), {})
    return _s3_target(request.getfixturevalue("s3_server"), monkeypatch)


@pytest.fixture
def s3_target(s3_server, monkeypatch) -> StoreTarget:
    """A fresh, empty store on the S3 server only (for what only S3 has, such as credentials)."""
    return _s3_target(s3_server, monkeypatch)


def _s3_target(server, monkeypatch) -> StoreTarget:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    bucket = f"rsa-{uuid.uuid4().hex[:16]}"
    create_bucket(server.endpoint_url, bucket)
    return StoreTarget("s3", f"s3://{bucket}/store", server.storage_options())


@pytest.fixture
def store(target) -> Store:
    return target.open()


@pytest.fixture
def populated(store):
    """A store with a 10-image probe set and models m1, m2, m3 registered; returns (store, probe_id)."""
    probe_id = store.add_probe_set(probe_images(), [f"img{i}" for i in range(10)], "random test images")
    store.register_models(parse_manifest(model_manifest("m1", "m2", "m3")))
    return store, probe_id
