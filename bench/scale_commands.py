"""Runs the real ``rsa-ray`` command as a subprocess and measures it: wall time, the driver's peak
resident memory (from ``wait4``), the first progress line's time, and the store traffic it caused."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

RSA_RAY = str(Path(sys.executable).with_name("rsa-ray"))
ROOT = Path(__file__).resolve().parents[1]
PROGRESS = re.compile(r"\b\d+/\d+\b")


@dataclass
class CommandRun:
    """One command's measured outcome."""

    name: str
    returncode: int | None = None
    seconds: float = 0.0
    first_progress_s: float | None = None
    driver_peak_mib: float = 0.0
    s3: dict = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)


class Command:
    """A started ``rsa-ray`` process whose output lines are collected as they come (``on_line`` sees each)."""

    def __init__(self, name: str, args: list[str], env: dict, counts, on_line=None):
        self.run = CommandRun(name)
        self._counts, self._on_line = counts, on_line
        self._before = counts.snapshot()
        self._exit = None
        self._start = time.monotonic()
        self.process = subprocess.Popen([RSA_RAY, *args], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, bufsize=1)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            line = line.rstrip("\n")
            self.run.lines.append(line)
            if "pid=" not in line[:40]:  # the command's own lines, not the actors' forwarded logs
                print(f"  {self.run.name}: {line}", file=sys.stderr, flush=True)
            if self.run.first_progress_s is None and PROGRESS.search(line):
                self.run.first_progress_s = time.monotonic() - self._start
            if self._on_line is not None:
                self._on_line(line)

    def running(self) -> bool:
        """Whether the process still runs (reaped here with its resource usage, never by ``Popen.poll``)."""
        if self._exit is None:
            pid, status, usage = os.wait4(self.process.pid, os.WNOHANG)
            if pid:
                self._exit = (status, usage)
        return self._exit is None

    def wait(self, timeout: float) -> CommandRun:
        """Waits for the exit (killing the process after ``timeout`` seconds) and fills in the figures."""
        timer = threading.Timer(timeout, self.process.kill)
        timer.daemon = True
        timer.start()
        if self._exit is None:
            self._exit = os.wait4(self.process.pid, 0)[1:]
        timer.cancel()
        status, usage = self._exit
        self.process.returncode = os.waitstatus_to_exitcode(status)
        self._reader.join(timeout=10)
        self.run.returncode = self.process.returncode
        self.run.seconds = time.monotonic() - self._start
        self.run.driver_peak_mib = usage.ru_maxrss / 1024
        after = self._counts.snapshot()
        self.run.s3 = {key: after[key] - self._before[key] for key in ("requests", "bytes_sent", "bytes_received")}
        return self.run


def run_command(name: str, args: list[str], env: dict, counts, timeout: float = 3600) -> CommandRun:
    """Runs one command to its end; raises with its output's tail if it fails."""
    run = Command(name, args, env, counts).wait(timeout)
    if run.returncode != 0:
        tail = "\n".join(run.lines[-40:])
        raise RuntimeError(f"`rsa-ray {' '.join(args[:2])}` exited {run.returncode}:\n{tail}")
    return run
