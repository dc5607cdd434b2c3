"""A real S3 API server on loopback for tests: moto's standalone server as a subprocess.

Clients reach it through s3fs/boto with ``endpoint_url`` (the way s3fs's own test
suite does), never through an in-process mock. Typical use::

    with moto_server() as endpoint_url:
        fs = s3fs.S3FileSystem(**s3_storage_options(endpoint_url))

:class:`MotoServer` can also be stopped and started again on the same port. With
``durable=True`` the server records every request and, when started again,
replays the recording, so objects survive a restart the way they do on a real
S3 service (moto itself keeps everything in memory). Multipart uploads do not
replay (their upload ids are random): keep objects under s3fs's 50 MB part size.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ACCESS_KEY = "rsa-ray-test-key"
SECRET_KEY = "rsa-ray-test-secret-do-not-log"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def s3_storage_options(endpoint_url: str, **overrides: Any) -> dict[str, Any]:
    """s3fs storage options for the test server: dummy credentials, quick failure when it is down."""
    options: dict[str, Any] = {
        "key": ACCESS_KEY,
        "secret": SECRET_KEY,
        "endpoint_url": endpoint_url,
        "config_kwargs": {"connect_timeout": 2, "read_timeout": 20, "retries": {"max_attempts": 2}},
    }
    options.update(overrides)
    return options


class MotoServer:
    """One ``python -m moto.server`` subprocess on a fixed loopback port.

    Args:
        port: The port (default: a free one, kept across restarts).
        durable: Replay the request recording on every start after the first.
        workdir: Where the recording and the server log go (default: a new temp folder).
    """

    def __init__(self, port: int | None = None, durable: bool = False, workdir: str | os.PathLike | None = None):
        self.port = port or free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self.durable = durable
        self._owns_workdir = workdir is None
        self._workdir = Path(workdir or tempfile.mkdtemp(prefix="moto-server-"))
        self._recording = self._workdir / "recording.jsonl"
        self._process: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> None:
        """Starts the server and returns once it answers (restoring recorded state if durable).

        A durable server starts with its recorder off, gets the recorded requests replayed
        one by one from here (a failed one raises with the server's log), and only then
        records again, so neither the readiness probes nor the replay land in the recording.
        """
        if self._process is not None and self._process.poll() is None:
            return
        environment = dict(os.environ)
        environment.pop("MOTO_ENABLE_RECORDING", None)
        if self.durable:
            self._repair_recording()
            environment["MOTO_RECORDER_FILEPATH"] = str(self._recording)
        log = open(self._workdir / "server.log", "ab")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=log, stderr=subprocess.STDOUT, env=environment, preexec_fn=_die_with_parent,
        )
        log.close()
        atexit.register(self.stop)  # in case the caller never reaches stop()
        self._wait_until_up(timeout)
        if self.durable:
            self._replay_recording()
            self._post("/moto-api/recorder/start-recording")

    def _replay_recording(self) -> None:
        """Sends every recorded request again, in order, to the fresh server."""
        import base64

        import requests

        if not self._recording.exists():
            return
        for number, line in enumerate(self._recording.read_text().splitlines(), start=1):
            entry = json.loads(line)
            body = base64.b64decode(entry["body"]) if entry.get("body_encoded") else entry.get("body") or b""
            headers = {name: value for name, value in entry["headers"].items()
                       if name.lower() != "transfer-encoding"}
            for attempt in range(3):
                try:
                    response = requests.request(entry["method"], entry["url"], headers=headers,
                                                data=body, timeout=120)
                    break
                except requests.ConnectionError:
                    if attempt == 2:
                        raise
                    time.sleep(1.0)
            if response.status_code >= 500:
                log = (self._workdir / "server.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"replaying recorded request {number} ({entry['method']} {entry['url']}) "
                                   f"got {response.status_code}:\n{log}")

    def _repair_recording(self) -> None:
        """Rewrites the recording as one complete request per line, so it replays.

        moto's recorder writes a request and its newline in two writes, so requests recorded at
        once by its threads can share a line; and a server killed while recording leaves half a
        request at the end, one S3 would never have stored (its upload was cut off). Whole
        requests are kept in order, the torn one dropped.
        """
        if not self._recording.exists():
            return
        decoder = json.JSONDecoder()
        requests = []
        for line in self._recording.read_text(errors="replace").splitlines():
            position = 0
            while position < len(line):
                try:
                    request, position = decoder.raw_decode(line, position)
                except json.JSONDecodeError:
                    break  # the torn end of a request cut off by a kill
                requests.append(request)
        self._recording.write_text("".join(json.dumps(request) + "\n" for request in requests))

    def _wait_until_up(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                log = (self._workdir / "server.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"moto server exited with {self._process.returncode}:\n{log}")
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"{self.endpoint_url}/moto-api/", timeout=1).close()
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"moto server did not answer on {self.endpoint_url} within {timeout} s")

    def _post(self, path: str) -> None:
        request = urllib.request.Request(f"{self.endpoint_url}{path}", data=b"", method="POST")
        urllib.request.urlopen(request, timeout=60).close()

    def stop(self) -> None:
        """Stops the server (terminate, then kill) and waits for it to exit."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def kill(self) -> None:
        """Kills the server at once (SIGKILL), as a crashed host would: requests in flight are cut off."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def restart(self) -> None:
        """Stops and starts the server on the same port."""
        self.stop()
        self.start()

    def storage_options(self, **overrides: Any) -> dict[str, Any]:
        """s3fs storage options that reach this server."""
        return s3_storage_options(self.endpoint_url, **overrides)

    def __enter__(self) -> "MotoServer":
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
        if self._owns_workdir:
            shutil.rmtree(self._workdir, ignore_errors=True)


def _die_with_parent() -> None:
    """In the child, before exec: on Linux, ask for SIGTERM when the test process dies, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@contextlib.contextmanager
def moto_server(port: int | None = None, durable: bool = False) -> Iterator[str]:
    """Runs a moto S3 server for the duration of the block and yields its endpoint URL."""
    with MotoServer(port=port, durable=durable) as server:
        yield server.endpoint_url


def create_bucket(endpoint_url: str, bucket: str) -> None:
    """Creates a bucket on the test server (names: 3-63 lowercase letters, digits, '-')."""
    import s3fs

    s3fs.S3FileSystem(**s3_storage_options(endpoint_url)).mkdir(bucket)
