"""The Ray a command runs on is stopped from outside mid-run: one line, exit 69, and a rerun completes.

A real ``ray start --head`` on loopback (its own temp dir and ports), ``rsa-ray similarity --address``
on it, and the head's processes killed once a few RDMs are stored. The command must end in one line
naming the Ray failure (no traceback) with the documented exit code; the same command on a new head
then completes the similarity, computing only the models the first run had not finished.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobs.ray_failures import RAY_FAILURE_EXIT_CODE
from storage import EntryKind
from tests.integration.cluster.helpers import make_store
from tests.support.ray_head import _pids_with
from tests.support.s3_server import free_port

pytestmark = [pytest.mark.ray, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]
RAY = str(Path(sys.executable).with_name("ray"))
# Token authentication would need the command to carry the head's token; on a loopback test head it is off.
ENV = {**os.environ, "RAY_ADDRESS": "", "RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(ROOT)}


@contextlib.contextmanager
def gcs_head() -> Iterator[tuple[str, str]]:
    """A head on 127.0.0.1 with free ports; yields (its GCS address, its temp dir) and ends its processes."""
    temp_dir = tempfile.mkdtemp(prefix="rs", dir="/tmp")  # short: Ray's socket paths are length-limited
    port = free_port()
    command = [RAY, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2",
               f"--temp-dir={temp_dir}", "--disable-usage-stats", "--include-dashboard=false",
               f"--dashboard-agent-listen-port={free_port()}", f"--runtime-env-agent-port={free_port()}",
               f"--node-manager-port={free_port()}", f"--object-manager-port={free_port()}"]
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=300, env=ENV)
    try:
        yield f"127.0.0.1:{port}", temp_dir
    finally:
        stop(temp_dir)


def stop(temp_dir: str) -> None:
    """Kills every process of the head started with ``temp_dir`` (and only those)."""
    for pid in _pids_with(temp_dir):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def similarity(url: str, address: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "jobs.cli", "similarity", "--store", url, "--address", address,
                             "--layer", "out"], cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def complete(store, probe_id, models) -> set[str]:
    missing = {key.model_id for key in store.missing(probe_id, models, ["out"], EntryKind.RDMS)}
    return set(models) - missing


def test_ray_stopped_mid_run_is_one_line_and_a_rerun_completes(tmp_path):
    models = [f"m{i:02d}" for i in range(40)]
    url = str(tmp_path / "store")
    store, probe_id, _ = make_store(url, models, n_images=400)
    with gcs_head() as (address, temp_dir):
        run = similarity(url, address)
        deadline = time.monotonic() + 600
        while len(complete(store, probe_id, models)) < 3:
            assert run.poll() is None, f"the command ended before Ray could be stopped: {run.communicate()}"
            assert time.monotonic() < deadline, "no RDM was stored in time"
            time.sleep(0.05)
        stop(temp_dir)
        _, err = run.communicate(timeout=600)
    done_before = complete(store, probe_id, models)
    errors = [line for line in err.splitlines() if line.startswith("rsa-ray similarity: error:")]
    assert run.returncode == RAY_FAILURE_EXIT_CODE, err[-3000:]
    assert len(errors) == 1 and "Traceback" not in err, err[-3000:]
    assert "rerun the same command to resume" in errors[0]
    print(errors[0])  # shown with -s: the line a user sees
    assert len(done_before) < len(models), "Ray must be stopped mid-run for this test to mean anything"

    recorded = len(store.work_records("rdm"))
    with gcs_head() as (address, _):
        rerun = similarity(url, address)
        _, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err[-3000:]
    assert complete(store, probe_id, models) == set(models)
    redone = {record["model_id"] for record in store.work_records("rdm")[recorded:]}
    assert redone.isdisjoint(done_before), "a model stored before Ray stopped was computed again"
