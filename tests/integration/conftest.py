"""Fixtures for the integration tests, which run on real Ray."""

import pytest
import ray

from cluster.connect import connect


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray with 2 CPUs for the module's tests (as the commands start it), shut down after them."""
    connect(num_cpus=2)
    yield
    ray.shutdown()
