"""Coordination and upkeep: claims and locks, the work log, verification and repair of damaged entries.

A part of :class:`storage.Store` (it inherits this class); call it through the store."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from storage import claims, damage, locks, verification, work_log
from storage.names import EntryKey, EntryKind


class Upkeep:
    """Coordination and upkeep of a :class:`storage.Store` (``self._backend`` is the store's backend)."""

    def claim(self, work: str, lease_seconds: float | None = None,
              wait_seconds: float = claims.DEFAULT_CLAIM_WAIT) -> AbstractContextManager[locks.Lock]:
        """A context manager holding the claim on ``work`` (an entry path), waiting while another run holds it.

        See :mod:`storage.claims`: the holder calls ``check()`` on what it yields before each write; the
        lease defaults to :func:`storage.claims.default_lease`.

        Example:
            >>> with store.claim("rdms/p1/m1/out") as held:  # doctest: +SKIP
            ...     held.check()
        """
        return claims.claim(self._backend, work, lease_seconds, wait_seconds)

    def lock(self, name: str, lease_seconds: float = locks.DEFAULT_LEASE_SECONDS,
             stale_after: float = locks.DEFAULT_STALE_AFTER,
             max_clock_skew: float = locks.DEFAULT_MAX_CLOCK_SKEW) -> AbstractContextManager[locks.Lock]:
        """A context manager holding the store-wide lock ``name``, its lease renewed meanwhile (:mod:`storage.locks`).

        Args:
            name: The lock's name.
            lease_seconds: How long the lock stays held if its holder stops renewing it (dies, hangs).
            stale_after: Age after which a lock written by the previous release (no lease) is broken.
            max_clock_skew: How far the clocks of the machines sharing the store may differ.

        Raises:
            StoreLockedError: Another run holds it.
            ExclusiveWritesUnsupportedError: The backend ignores create-only writes.

        Example:
            >>> from storage import Store
            >>> store = Store.open("memory://lock-example")
            >>> with store.lock("rerank") as lock:
            ...     lock.check()  # raises LockLostError once another run has taken the lock over
            ...     lock.token
            1
        """
        return locks.hold(self._backend, name, lease_seconds, stale_after, max_clock_skew)

    @property
    def exclusive_writes(self) -> bool | None:
        """Whether the backend honours create-only writes (probed once per URL and process).

        None when it cannot be told (the store could not be written, e.g. read-only
        credentials). Where False, locks are refused and :meth:`open` logged a warning.

        Example:
            >>> from storage import Store
            >>> Store.open("memory://exclusive-writes-example").exclusive_writes
            True
        """
        return locks.probe_exclusive_writes(self._backend)

    def record_work(self, stage: str, key: EntryKey | None = None, **details: Any) -> None:
        """Appends one record of a computation that ran to the store's work log (:mod:`storage.work_log`)."""
        work_log.record(self._backend, stage, key, details)

    def work_records(self, stage: str | None = None, since: str | None = None) -> list[dict[str, Any]]:
        """The work log's records (of one stage, or all), oldest first; with ``since`` (a UTC time
        as :func:`storage.provenance.utc_now` writes it), only those written at or after it: what one
        run computed, for the counts a command prints.

        Example:
            >>> from storage import Store
            >>> store = Store.open("memory://work-log-example")
            >>> store.record_work("rdm", EntryKey("p", "m1", "out"))
            >>> [record["model_id"] for record in store.work_records("rdm")]
            ['m1']
        """
        return work_log.read(self._backend, stage, since)


    def verify(self) -> verification.Scan:
        """Reads every chunk of every complete entry and every document, checking them; writes nothing.

        Example:
            >>> from storage import Store
            >>> Store.open("memory://verify-example").verify().problems
            ()
        """
        return verification.scan(self._backend)

    def repair(self, found: verification.Scan) -> list[tuple[verification.Problem, str]]:
        """Withdraws the damaged entries :meth:`verify` found (the next run recomputes exactly them).

        Returns each problem with what was done; see :func:`storage.verification.repair`.

        Example:
            >>> from storage import Store
            >>> store = Store.open("memory://repair-example")
            >>> store.repair(store.verify())
            []
        """
        return verification.repair(self._backend, found)

    def withdraw_damaged(self, key: EntryKey, kind: EntryKind | str, reason: str) -> bool:
        """Withdraws an entry found damaged elsewhere (its completion, and an RDM's rank vector's), recording why.

        Readers of this store do this themselves when a chunk fails its checksum; True if it was
        complete and is now withdrawn.

        Example:
            >>> from storage import Store
            >>> Store.open("memory://withdraw-example").withdraw_damaged(EntryKey("p", "m", "out"), "rdms", "x")
            False
        """
        return damage.withdraw(self._backend, key.path(EntryKind(kind)), (), reason)

    def damage_records(self) -> list[dict[str, Any]]:
        """The work log's records of damaged entries found and withdrawn, oldest first."""
        return damage.damaged_records(self._backend)
