"""Fixtures for the integration tests, which run on real Ray."""

import os

import pytest
import ray

# Ray's own patience sized for a loaded machine: a worker (so an actor) that takes half a minute or more to
# start is slow, not broken. Ray kills a worker that has not registered within this many seconds (60 by
# default), which failed actor starts on a busy machine. Set before any Ray starts; commands run by the
# tests inherit it.
os.environ.setdefault("RAY_worker_register_timeout_seconds", "600")

from cluster.connect import connect


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray with 2 CPUs for the module's tests (as the commands start it), shut down after them."""
    connect(num_cpus=2)
    yield
    ray.shutdown()
