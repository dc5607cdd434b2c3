"""Noticing that the Ray a command runs on went away, before Ray's own code ends the process.

When Ray's control process (the GCS) is stopped from outside, a driver blocked on Ray retries for a
minute and then Ray's C++ code ends the process itself ("Failed to connect to GCS within 60 seconds
... The program will terminate", exit 1), with no Python error for the command to tell. The watch
started by :func:`watch_ray` checks every few seconds that the GCS still accepts connections; once
it has not for :data:`MISSES_BEFORE_LOST` checks in a row it records what was lost
(:func:`lost_ray`) and interrupts the main thread, so the command ends through its own error path
(its ``finally`` blocks release what it holds) in one line. If the main thread does not answer
within :data:`EXIT_GRACE_SECONDS`, the watch prints that line itself and ends the process with
:data:`RAY_LOST_EXIT_CODE`. It stops when Ray is shut down or the interpreter exits.

Example:
    >>> lost_ray() is None
    True
"""

from __future__ import annotations

import _thread
import atexit
import os
import socket
import sys
import threading

#: The exit code of a command whose Ray went away (as ``jobs.ray_failures.RAY_FAILURE_EXIT_CODE``).
RAY_LOST_EXIT_CODE = 69
CHECK_EVERY_SECONDS = 2.0
MISSES_BEFORE_LOST = 3
EXIT_GRACE_SECONDS = 30.0  # well before Ray's own 60 s

_lost: list[str] = []
_state: dict[str, object] = {"enabled": False, "stop": None}  # the command's switch, and the running watch's stop event


def enable() -> None:
    """Lets :func:`watch_ray` start a watch: called by the ``rsa-ray`` command (not by library use or tests).

    Example:
        >>> enable(); stop()
    """
    _state["enabled"] = True


def stop() -> None:
    """Ends the running watch, if any, and switches the watch off (the command has finished).

    Example:
        >>> stop(); lost_ray() is None
        True
    """
    if _state["stop"] is not None:
        _state["stop"].set()
    _state.update(enabled=False, stop=None)


def lost_ray() -> str | None:
    """What the watch found lost (e.g. ``"Ray at '127.0.0.1:6379' stopped answering ..."``), or None."""
    return _lost[0] if _lost else None


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=CHECK_EVERY_SECONDS):
            return True
    except OSError:
        return False


def _still_connected_to(gcs_address: str, stopped: threading.Event) -> bool:
    """Whether the process still means to be connected to that GCS (not shut down, not reconnected elsewhere)."""
    import ray

    return not stopped.is_set() and ray.is_initialized() and ray.get_runtime_context().gcs_address == gcs_address


def _watch(gcs_address: str, where: str, stopped: threading.Event) -> None:
    host, _, port = gcs_address.rpartition(":")
    misses = 0
    while not stopped.wait(CHECK_EVERY_SECONDS):
        misses = 0 if _answers(host, int(port)) else misses + 1
        if misses < MISSES_BEFORE_LOST:
            continue
        if not _still_connected_to(gcs_address, stopped):
            return  # shut down on purpose: its GCS is meant to be gone
        _lost.append(f"{where} stopped answering (its control process is gone)")
        _thread.interrupt_main()  # the command's KeyboardInterrupt path tells lost_ray() in one line
        if not stopped.wait(EXIT_GRACE_SECONDS):
            print(f"rsa-ray: error: {_lost[0]}; finished work is stored; rerun the same command to resume",
                  file=sys.stderr, flush=True)
            os._exit(RAY_LOST_EXIT_CODE)
        return


def watch_ray(address: str | None) -> None:
    """Starts the watch of the connected Ray's GCS, once, if the command enabled it (:func:`enable`).

    Args:
        address: The address the command connected to (None: a local Ray), already redacted, for the message.

    Example:
        >>> watch_ray("127.0.0.1:6379")  # not enabled: does nothing
    """
    if not _state["enabled"] or _state["stop"] is not None:
        return
    import ray

    if not ray.is_initialized():
        return
    gcs_address = ray.get_runtime_context().gcs_address
    where = "the local Ray" if address is None else f"Ray at {address!r}"
    stopped = threading.Event()
    _state["stop"] = stopped
    atexit.register(stopped.set)  # registered after Ray's own atexit shutdown, so it runs before it
    threading.Thread(target=_watch, args=(gcs_address, where, stopped), name="rsa-ray-watch", daemon=True).start()
