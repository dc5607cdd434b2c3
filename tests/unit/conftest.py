"""Unit tests never start Ray: ``ray.init`` raises anywhere under this folder.

Integration tests (tests/integration) share one real ``ray.init(num_cpus=2)`` per module.
"""

import pytest


@pytest.fixture(autouse=True)
def _forbid_ray_init(monkeypatch):
    try:
        import ray
    except ImportError:  # pragma: no cover - ray is a dependency
        return

    def refuse(*args, **kwargs):
        raise RuntimeError("unit tests must not start Ray; move this test to tests/integration")

    monkeypatch.setattr(ray, "init", refuse)
