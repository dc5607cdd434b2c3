"""A multi-node Ray cluster on loopback for the scale benchmark: a head and K-1 worker nodes.

Each node gets its own ports, ``--num-cpus`` and a custom resource (``node0``, ``node1``...),
and all share one fresh ``--temp-dir``, so its processes are found by that path (and by each
raylet's descendants) and only they are ended: other Ray instances on the machine are left alone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.s3_server import free_port


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(parent, []).append(int(entry.name))
    return tree


def descendants(roots: list[int]) -> list[int]:
    """The roots and every process below them."""
    tree, found, stack = _children(), [], list(roots)
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(tree.get(pid, []))
    return found


def pids_with(marker: str) -> list[int]:
    """Processes whose command line holds ``marker`` (this process excluded)."""
    return [int(e.name) for e in Path("/proc").iterdir()
            if e.name.isdigit() and int(e.name) != os.getpid() and marker in _cmdline(int(e.name))]


def peak_rss_mib(pid: int) -> float | None:
    """VmHWM (peak resident set) of a live process, in MiB."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return None


@dataclass
class LoopbackCluster:
    """``ray start`` processes on 127.0.0.1; ``cpus[i]`` logical CPUs on node i (node 0 is the head)."""

    cpus: tuple[int, ...]
    memory_mib: int = 3072
    temp_dir: str = field(default_factory=lambda: tempfile.mkdtemp(prefix="rscale", dir="/tmp"))
    gcs_port: int = field(default_factory=free_port)
    dashboard_port: int = field(default_factory=free_port)
    node_manager_ports: dict[int, int] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.gcs_port}"

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    def _node_flags(self, index: int) -> list[str]:
        node_manager = free_port()
        self.node_manager_ports[index] = node_manager  # a replacement node takes the index over
        low = 20000 + 2000 * index + (os.getpid() % 50) * 40  # worker port ranges never overlap between nodes
        return [f"--num-cpus={self.cpus[index]}", f"--resources={{\"node{index}\": 1}}",
                f"--memory={self.memory_mib * 2**20}", f"--object-store-memory={200 * 2**20}",
                f"--node-manager-port={node_manager}", f"--object-manager-port={free_port()}",
                f"--min-worker-port={low}", f"--max-worker-port={low + 39}",
                f"--metrics-export-port={free_port()}", f"--dashboard-agent-listen-port={free_port()}",
                f"--dashboard-agent-grpc-port={free_port()}", f"--runtime-env-agent-port={free_port()}",
                "--node-ip-address=127.0.0.1", "--disable-usage-stats"]

    def environment(self, **extra: str) -> dict[str, str]:
        """This interpreter's environment for the nodes and commands, with ``extra`` (e.g. store credentials)."""
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        return {**os.environ, "RAY_ADDRESS": "", "RAY_AUTH_MODE": "disabled", "PATH": path, **extra}

    def start(self, env: dict[str, str]) -> None:
        """Starts the head, then each worker node (their workers inherit ``env``), and waits until all are alive."""
        ray = str(Path(sys.executable).parent / "ray")
        head = [ray, "start", "--head", f"--port={self.gcs_port}", "--dashboard-host=127.0.0.1",
                f"--dashboard-port={self.dashboard_port}", f"--ray-client-server-port={free_port()}",
                f"--temp-dir={self.temp_dir}", "--include-dashboard=true", *self._node_flags(0)]
        subprocess.run(head, check=True, capture_output=True, text=True, timeout=240, env=env)
        for index in range(1, len(self.cpus)):
            self.add_node(index, env)
        self._wait_for_nodes(len(self.cpus))

    def add_node(self, index: int, env: dict[str, str]) -> None:
        """Starts a worker node with node ``index``'s CPUs and resource (also a replacement for a killed one)."""
        ray = str(Path(sys.executable).parent / "ray")
        worker = [ray, "start", f"--address={self.address}", f"--temp-dir={self.temp_dir}", *self._node_flags(index)]
        subprocess.run(worker, check=True, capture_output=True, text=True, timeout=240, env=env)

    def _wait_for_nodes(self, count: int, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.alive_nodes()) >= count:
                return
            time.sleep(2.0)
        raise TimeoutError(f"only {len(self.alive_nodes())} of {count} Ray nodes came up")

    def alive_nodes(self) -> list[dict]:
        from ray.util.state import list_nodes

        with contextlib.suppress(Exception):
            return [n for n in list_nodes(address=self.dashboard_url, timeout=20) if n.state == "ALIVE"]
        return []

    def actors(self) -> list:
        """The cluster's live actors (class name, pid, node id), from the Ray state API."""
        from ray.util.state import list_actors

        with contextlib.suppress(Exception):
            return [a for a in list_actors(address=self.dashboard_url, timeout=20, limit=1000) if a.state == "ALIVE"]
        return []

    def raylet_pid(self, index: int) -> int | None:
        marker = f"--node_manager_port={self.node_manager_ports[index]} "
        pids = [pid for pid in pids_with(marker) if "raylet" in _cmdline(pid)]
        return pids[0] if pids else None

    def kill_node(self, index: int) -> list[int]:
        """SIGKILLs worker node ``index``: its raylet (found by its node-manager port) and every process below it."""
        raylet = self.raylet_pid(index)
        if raylet is None:
            return []
        marker = f"={self.node_manager_ports[index]} "
        victims = descendants([raylet]) + [pid for pid in pids_with(marker) if pid != raylet]
        for pid in dict.fromkeys(victims):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return victims

    def stop(self) -> None:
        """Ends every process of this cluster (and its descendants) only: TERM, then KILL."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in dict.fromkeys(descendants(pids_with(self.temp_dir))):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            time.sleep(2.0)
