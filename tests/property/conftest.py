"""Property tests never start Ray: ``ray.init`` raises anywhere under this folder (as under tests/unit)."""

import pytest

from tests.property.answers import RAY_STARTS


@pytest.fixture(autouse=True)
def _forbid_ray_init(monkeypatch):
    import ray

    def refuse(*args, **kwargs):
        RAY_STARTS.append(args)
        raise RuntimeError("property tests must not start Ray; the commands they run stop before any compute")

    monkeypatch.setattr(ray, "init", refuse)
