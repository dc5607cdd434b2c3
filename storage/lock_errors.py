"""What a store lock raises (re-exported by :mod:`storage.locks` and :mod:`storage`)."""

from __future__ import annotations


class StoreLockedError(RuntimeError):
    """The lock is held by another run."""


class LockLostError(StoreLockedError):
    """A holder's lock was taken over (its lease expired) or released: it must not commit anything more.

    A subclass of :class:`StoreLockedError` because it means the same to a caller: another
    run holds the lock now; try again later (``rerank`` exits 75). Nothing the fenced
    commit would have completed is marked complete.
    """


class ExclusiveWritesUnsupportedError(RuntimeError):
    """The store's backend ignores create-only writes, so no lock on it can be exclusive."""
