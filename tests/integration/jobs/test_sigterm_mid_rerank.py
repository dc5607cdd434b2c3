"""SIGTERM while a scheduled ``rsa-ray rerank --every`` is computing on its own local Ray.

``ray.init`` replaces the process's SIGTERM handler with ``sys.exit(15)``; the command's own handler
(exit 143, the rerank lock released) must still be the one that answers once Ray is up. Where the
signal lands while the main thread waits inside Ray's core worker (``ray.wait``), Ray ends that call
with its own ``SystemExit(1)``: the command must still say it was stopped and exit 143 (before that
was handled, two runs in three under load exited 1 with no line at all).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from jobs.cli import main
from rsa_ray.models.manifest import ZooManifest, write_manifest
from storage import Store
from storage.locks import holder
from tests.integration.cluster.helpers import write_random_zoo

pytestmark = [pytest.mark.ray, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[3]
STARTED = "extraction: 0/"  # the extraction stage's first progress line: Ray is connected, the round is computing


def _store_with_models(tmp_path: Path) -> str:
    store_url = str(tmp_path / "store")
    images = np.random.default_rng(5).integers(0, 255, size=(12, 32, 32, 3), dtype=np.uint8)
    np.savez(tmp_path / "probes.npz", images=images)
    entries, _ = write_random_zoo(tmp_path, ["s0", "s1", "s2"])
    write_manifest(ZooManifest(entries), tmp_path / "manifest.yaml")
    assert main(["probes", "add", str(tmp_path / "probes.npz"), "--store", store_url]) == 0
    assert main(["models", "add", str(tmp_path / "manifest.yaml"), "--store", store_url]) == 0
    return store_url


def _collect(stream, lines: list[str], seen: threading.Event) -> None:
    for line in stream:
        lines.append(line)
        if STARTED in line:
            seen.set()


def test_sigterm_after_ray_is_up_exits_143_and_releases_the_lock(tmp_path):
    store_url = _store_with_models(tmp_path)
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "jobs.cli", "rerank", "--store", store_url, "--every", "1h"]
    rerank = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
    lines: list[str] = []
    seen = threading.Event()
    reader = threading.Thread(target=_collect, args=(rerank.stdout, lines, seen), daemon=True)
    reader.start()
    try:
        assert seen.wait(timeout=300), "".join(lines)[-3000:]
        assert holder(Store.open(store_url)._backend, "rerank") is not None
        rerank.send_signal(signal.SIGTERM)
        started = time.monotonic()
        rerank.wait(timeout=60)
        waited = time.monotonic() - started
    finally:
        rerank.kill()
    reader.join(timeout=10)
    output = "".join(lines)
    assert rerank.returncode == 143, output[-3000:]
    assert "stopped by SIGTERM" in output
    assert waited < 30, output[-3000:]
    assert holder(Store.open(store_url)._backend, "rerank") is None
