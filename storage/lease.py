"""A lock holder's lease: renewed by a daemon thread while the holder works, checked before commits.

The lease is the holder's own view of its generation (see :mod:`storage.locks`):
until when it may act (a ``time.monotonic`` deadline, so a jump of the wall clock
does not stretch it), and whether the lock was lost or released. Renewals, the
release and checks are serialised by one mutex, so a renewal can never rewrite a
generation after its release.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time

from storage import lock_records
from storage.backend import Backend
from storage.lock_errors import LockLostError
from storage.lock_records import LockHolder

logger = logging.getLogger("rsa_ray")


class LeaseState:
    """The mutable state of one held generation. Created by :func:`storage.locks.hold`.

    Args:
        backend: The store's backend.
        name: The lock's name.
        holder: The generation as written when it was taken.
        lease_seconds: Lease length; each renewal extends it to this from the renewal's start.
        deadline: ``time.monotonic()`` until which the holder may act.
    """

    def __init__(self, backend: Backend, name: str, holder: LockHolder, lease_seconds: float, deadline: float):
        self.backend, self.name, self.lease_seconds = backend, name, lease_seconds
        self.holder = holder
        self.deadline = deadline
        self.lost_reason: str | None = None
        self.released = False
        self._mutex = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start_renewing(self, every: float) -> None:
        """Starts the daemon thread that renews the lease every ``every`` seconds (never if infinite)."""
        if every == float("inf"):
            return
        self._thread = threading.Thread(target=self._renew_until_stopped, args=(every,), daemon=True,
                                        name=f"lease of lock {self.name}")
        self._thread.start()

    def _renew_until_stopped(self, every: float) -> None:
        failures = 0
        while not self._stop.wait(every):
            try:
                self.renew()
                failures = 0
            except Exception as error:  # a transient outage: the next renewal may succeed before the deadline
                failures += 1
                if failures == 1:
                    logger.warning("renewing the lease of lock %r of %s failed (%s: %s); retrying until it expires",
                                   self.name, self.backend.url, type(error).__name__, error)
            if self.lost_reason is not None or self.released:
                return

    def renew(self) -> None:
        """Extends the lease by rewriting the holder's generation; marks the lock lost if it was taken over."""
        with self._mutex:
            if self.released or self.lost_reason is not None:
                return
            try:
                self._check_unlocked()
            except LockLostError:
                return  # _lose logged it; check() raises it to the holder
            started_wall, started = time.time(), time.monotonic()
            renewed = dataclasses.replace(self.holder, lease_expires=started_wall + self.lease_seconds)
            lock_records.write(self.backend, self.name, renewed)
            self.holder, self.deadline = renewed, started + self.lease_seconds

    def check(self) -> None:
        """Raises ``LockLostError`` unless the holder still holds its generation (one LIST)."""
        with self._mutex:
            self._check_unlocked()

    def _check_unlocked(self) -> None:
        if self.lost_reason is None and self.released:
            self.lost_reason = "it was released"
        if self.lost_reason is None and time.monotonic() >= self.deadline:
            self._lose(f"its lease of {self.lease_seconds:g} s expired before it was renewed")
        if self.lost_reason is None:
            newest = max(lock_records.generations(self.backend, self.name), default=self.holder.token)
            if newest > self.holder.token:
                self._lose(f"generation {newest} took it over")
        if self.lost_reason is not None:
            raise LockLostError(f"lock {self.name!r} of {self.backend.url} (generation {self.holder.token}) "
                                f"is no longer held: {self.lost_reason}")

    def _lose(self, reason: str) -> None:
        self.lost_reason = reason
        logger.warning("lock %r of %s (generation %d) was lost: %s", self.name, self.backend.url,
                       self.holder.token, reason)

    def release(self) -> None:
        """Stops renewing and marks the generation released (kept, so tokens stay monotonic).

        A generation already lost is left as it is: a later one holds the lock.
        """
        self._stop.set()
        with self._mutex:
            self.released = True
            if self.lost_reason is None:
                lock_records.write(self.backend, self.name, dataclasses.replace(self.holder, released=True))
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=1.0)
