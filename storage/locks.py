"""Named locks in a store, so two runs of one job cannot interleave their writes.

The protocol needs only a create-only write (:mod:`storage.exclusive`: a hard link
on a local folder, ``If-None-Match: *`` on S3) and a consistent listing:

- A lock is a sequence of generations, ``locks/{name}/{generation:012d}.json``
  (:mod:`storage.lock_records`), each holding its owner, its fencing token (the
  generation number), its lease expiry and a ``released`` flag.
- Taking the lock creates generation g+1, where g is the highest that exists, and
  is allowed only if g is released or its lease has run out. The create is
  exclusive, so of several runs breaking one expired lease exactly one succeeds;
  the others get :class:`StoreLockedError`. The winner deletes generations older
  than its own; the latest generation is never deleted, so tokens only grow.
- While the ``with`` block runs, a daemon thread renews the lease every
  ``lease_seconds / 3`` by rewriting its own generation (:mod:`storage.lease`).
  A renewal or :meth:`Lock.check` that finds a higher generation, or that finds
  its lease expired by the holder's clock, marks the lock lost: ``check`` then
  raises :class:`LockLostError`. Commits that must not happen after a takeover
  (a similarity version's completion marker) call ``check`` right before.
- Release rewrites the holder's generation with ``released: true``. A release
  that fails never hides the error that ended the block (it is logged, and the
  lock frees itself when its lease runs out); after a block that succeeded it
  raises.

Assumptions. Clocks of the machines sharing a store differ by less than
``max_clock_skew`` (5 s by default; NTP keeps them within milliseconds), and the
lease is much longer than both that and a holder's longest pause between its
checks (60 s by default). A taker treats a lease as expired only ``max_clock_skew``
after its recorded expiry, while the holder stops trusting it at the expiry by its
own monotonic clock, so a holder's window ends before anyone can take over. The
fencing check is a check, not a storage-enforced condition: it leaves the time
between the check and the following write (one PUT) unguarded.

Locks written by the previous release (a single ``locks/{name}.json`` with owner
and since) are respected: while one is younger than ``stale_after`` the lock is
held. An older one is broken by taking the next generation, which is exclusive; it
is not deleted, because no conditional delete is available on every backend, and
an unconditional one could remove a fresh lock that a previous-release run wrote
after the check. Left in place it is inert (its age only grows). Runs of the
previous release do not see generations, so do not run both releases at once.

A backend that ignores create-only writes cannot give any of this: on such a store
:func:`hold` raises :class:`ExclusiveWritesUnsupportedError` instead of pretending.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

from storage import lock_records
from storage.backend import Backend, backend_errors
from storage.exclusive import create_exclusive, probe_exclusive_writes
from storage.lease import LeaseState
from storage.lock_errors import ExclusiveWritesUnsupportedError, LockLostError, StoreLockedError
from storage.lock_records import LockHolder

__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "DEFAULT_STALE_AFTER",
    "ExclusiveWritesUnsupportedError",
    "Lock",
    "LockHolder",
    "LockLostError",
    "StoreLockedError",
    "create_exclusive",
    "hold",
    "holder",
    "probe_exclusive_writes",
]

logger = logging.getLogger("rsa_ray")
DEFAULT_LEASE_SECONDS = 60.0
DEFAULT_STALE_AFTER = 6 * 3600.0  # for locks of the previous format, which have no lease
DEFAULT_MAX_CLOCK_SKEW = 5.0


@dataclass(frozen=True)
class Lock:
    """A held lock: who holds it, its fencing token, and a check that it is still held.

    Attributes:
        name: The lock's name.
        owner: ``host:pid:random`` of this run.
        token: The generation this run holds: its fencing token, larger than any before.
        since: When it was taken (seconds since the epoch).

    Example:
        >>> with store.lock("rerank") as lock:  # doctest: +SKIP
        ...     store.write_similarity(probe_id, "out", model_ids, matrix, "spearman", fence=lock.check)
    """

    name: str
    owner: str
    token: int
    since: float
    _lease: LeaseState = field(repr=False, compare=False)

    def check(self) -> None:
        """Raises :class:`LockLostError` if a later generation exists or this run's lease has expired.

        Example:
            >>> lock.check()  # doctest: +SKIP
        """
        with backend_errors(self._lease.backend.url, lock_records.folder(self.name), "checking lock"):
            self._lease.check()

    @property
    def lease_expires(self) -> float:
        """When the current lease runs out (seconds since the epoch) unless renewed."""
        return self._lease.holder.lease_expires


def holder(backend: Backend, name: str, stale_after: float = DEFAULT_STALE_AFTER) -> LockHolder | None:
    """Who holds lock ``name`` now, or None if it is free (never taken, or released).

    A holder whose lease has run out is still returned (its ``lease_expires`` says so):
    it may be paused rather than gone, until another run takes the lock over. A
    previous-format lock counts while it is younger than ``stale_after``.

    Example:
        >>> holder(store._backend, "rerank")  # doctest: +SKIP
        LockHolder(owner='host:812:1f2e3d4c', since=1718000000.0, token=3, lease_expires=1718000060.0, released=False)
    """
    current = lock_records.latest(backend, name)
    if current is not None and not current.released:
        return current
    previous = lock_records.read_previous_format(backend, name)
    return previous if previous is not None and not _is_stale(previous, stale_after) else None


def _is_stale(previous: LockHolder, stale_after: float) -> bool:
    """Whether a previous-format lock is old enough to break (an unreadable one never is)."""
    return previous.readable and time.time() - previous.since > stale_after


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _locked(backend: Backend, name: str, current: LockHolder | None) -> StoreLockedError:
    readable = current is not None and current.readable
    since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(current.since)) if readable else "?"
    lease = ""
    if readable and current.lease_expires is not None:
        lease = f" (generation {current.token}, lease until {time.strftime('%H:%M:%S UTC', time.gmtime(current.lease_expires))})"
    return StoreLockedError(f"lock {name!r} of {backend.url} is held by {current.owner if current else '?'} "
                            f"since {since}{lease}")


def _take(backend: Backend, name: str, lease_seconds: float, stale_after: float, max_clock_skew: float) -> LeaseState:
    """Creates the next generation if the current one is free, released or expired; else raises."""
    now = time.time()
    previous = lock_records.read_previous_format(backend, name)
    if previous is not None and not _is_stale(previous, stale_after):
        raise _locked(backend, name, previous)
    current = lock_records.latest(backend, name)
    if current is not None and not current.released:
        expired = current.readable and current.lease_expires is not None and now > current.lease_expires + max_clock_skew
        if not expired:
            raise _locked(backend, name, current)
    started_wall, started = time.time(), time.monotonic()
    mine = LockHolder(_owner(), started_wall, (current.token if current else 0) + 1, started_wall + lease_seconds)
    try:
        create_exclusive(backend, lock_records.generation_path(name, mine.token), mine.encode())
    except FileExistsError:  # another run took this generation first
        raise _locked(backend, name, lock_records.read_generation(backend, name, mine.token)) from None
    with contextlib.suppress(Exception):  # superseded generations are garbage; a failed delete is retried next time
        lock_records.remove_older(backend, name, mine.token)
    return LeaseState(backend, name, mine, lease_seconds, started + lease_seconds)


@contextlib.contextmanager
def hold(backend: Backend, name: str, lease_seconds: float = DEFAULT_LEASE_SECONDS,
         stale_after: float = DEFAULT_STALE_AFTER, max_clock_skew: float = DEFAULT_MAX_CLOCK_SKEW,
         renew_every: float | None = None) -> Iterator[Lock]:
    """Holds lock ``name`` for the duration of the ``with`` block, renewing its lease meanwhile.

    Args:
        backend: The store's backend.
        name: The lock's name (an id: letters, digits, ``.``, ``_``, ``-``).
        lease_seconds: How long the lock stays held without a renewal.
        stale_after: Age after which a previous-format lock (which has no lease) is broken.
        max_clock_skew: How far the clocks of machines sharing the store may differ: a lease
            is taken over only this long after its recorded expiry.
        renew_every: Seconds between renewals; default ``lease_seconds / 3``; ``inf`` never renews.

    Raises:
        StoreLockedError: Another run holds it (naming the owner and since when).
        ExclusiveWritesUnsupportedError: The backend ignores create-only writes.
        StoreUnavailableError: The backend failed while taking it, or while releasing it after
            a block that succeeded (after a block that raised, that error propagates instead).

    Example:
        >>> with store.lock("rerank") as lock:  # doctest: +SKIP
        ...     lock.token
        4
    """
    if lease_seconds <= 0:
        raise ValueError(f"lock {name!r}: lease_seconds must be > 0, got {lease_seconds}")
    lock_records.folder(name)  # validates the name before any IO
    with backend_errors(backend.url, lock_records.folder(name), "taking lock"):
        if probe_exclusive_writes(backend) is False:
            raise ExclusiveWritesUnsupportedError(
                f"lock {name!r} of {backend.url}: the store does not honour create-only writes "
                "(If-None-Match: *), so no lock on it can be exclusive; use a server that does "
                "(AWS S3, MinIO, Ceph RGW with conditional writes) or a local folder")
        lease = _take(backend, name, lease_seconds, stale_after, max_clock_skew)
    lease.start_renewing(lease_seconds / 3 if renew_every is None else renew_every)
    mine = Lock(name, lease.holder.owner, lease.holder.token, lease.holder.since, lease)
    try:
        yield mine
    except BaseException as error:
        try:
            lease.release()
        except Exception as release_error:  # never hides the error that ended the block
            logger.warning("releasing lock %r of %s failed after %s (%s: %s); it frees itself when its lease "
                           "expires", name, backend.url, type(error).__name__, type(release_error).__name__,
                           release_error)
        raise
    with backend_errors(backend.url, lock_records.generation_path(name, mine.token), "releasing lock"):
        lease.release()
