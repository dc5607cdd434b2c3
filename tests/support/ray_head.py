"""A real Ray head on loopback for job-submission tests, stopped without touching other Ray instances."""

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

from tests.support.s3_server import free_port


def _pids_with(marker: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


@contextlib.contextmanager
def ray_head(num_cpus: int = 2) -> Iterator[str]:
    """Starts ``ray start --head`` on 127.0.0.1 with free ports; yields the dashboard URL.

    Its processes are found by the unique temp dir in their command lines and ended
    on exit, so other Ray instances on the machine are left alone.
    """
    temp_dir = tempfile.mkdtemp(prefix="rh", dir="/tmp")  # short: Ray's socket paths are length-limited
    port, dashboard_port = free_port(), free_port()
    ray_binary = str(Path(sys.executable).parent / "ray")
    command = [
        ray_binary, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}",
        "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard_port}", f"--num-cpus={num_cpus}",
        f"--temp-dir={temp_dir}", "--disable-usage-stats", "--include-dashboard=true",
        f"--dashboard-agent-listen-port={free_port()}",  # not the fixed default: another head may hold it
    ]
    # Token authentication would need the client to carry the head's token; on a loopback test head it is off.
    # Jobs run `python` from PATH, as on a cluster image: put this interpreter's environment first.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    environment = {**os.environ, "RAY_ADDRESS": "", "RAY_AUTH_MODE": "disabled", "PATH": path}
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=180, env=environment)
    url = f"http://127.0.0.1:{dashboard_port}"
    try:
        _wait_for_dashboard(url)
        yield url
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in _pids_with(temp_dir):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            time.sleep(2.0)


def _wait_for_dashboard(url: str, timeout: float = 90.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{url}/api/version", timeout=5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the Ray dashboard at {url} did not answer within {timeout:.0f} s") from None
            time.sleep(1.0)
