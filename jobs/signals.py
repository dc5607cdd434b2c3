"""SIGTERM as an exception, so a stopped job runs its ``finally`` blocks (and releases its store locks).

Kubernetes stops a pod with SIGTERM and kills it after a grace period (30 s by
default). Python's default for SIGTERM ends the process at once, skipping every
``finally``: a held lock would then stay until its lease expires. Inside
:func:`sigterm_raises`, SIGTERM raises :class:`TerminatedError` in the main thread
instead; it derives from ``SystemExit``, so ``except Exception`` handlers (a retry
loop, a per-model failure record) let it through. Raised inside a blocking Ray call, it comes
back as Ray's ``SystemExit(1)``; :func:`terminated` tells such an exit from any other.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

TERMINATED_EXIT_CODE = 143  # 128 + SIGTERM, what a shell reports for a process ended by it


class TerminatedError(SystemExit):
    """SIGTERM arrived; raised in the main thread where it was running."""


_terminated = threading.Event()


def _raise_terminated(signum: int, frame: object) -> None:
    _terminated.set()
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a repeated SIGTERM must not cut the cleanup short
    raise TerminatedError(TERMINATED_EXIT_CODE)


def terminated() -> bool:
    """Whether SIGTERM arrived in this process inside :func:`sigterm_raises`.

    The :class:`TerminatedError` it raises does not always arrive as itself: raised while the main
    thread waits inside Ray's core worker (``ray.wait``, ``ray.get``), Ray ends the call with its own
    ``SystemExit(1)`` instead. Whatever then unwinds the run is the stop, and the command says so.

    Example:
        >>> terminated()
        False
    """
    return _terminated.is_set()


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`TerminatedError` (the previous handler comes back after).

    Outside the main thread (where signal handlers cannot be set) this does nothing.

    Example:
        >>> with sigterm_raises():
        ...     signal.getsignal(signal.SIGTERM) is _raise_terminated
        True
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
