"""Errors raised by the store, each naming the input or entry at fault.

Bad input is a ``ValueError``; a missing or not yet complete entry is a
``KeyError``; a backend that cannot be reached is an ``OSError``. Messages never
hold credentials: they name entries by their path inside the store.
"""

from __future__ import annotations

__all__ = ["CorruptEntryError", "EntryConflictError", "EntryNotFoundError", "EntryShapeError", "IncompleteEntryError",
           "InvalidIdError", "ManifestError", "StoreUnavailableError"]


class _MessageKeyError(KeyError):
    """A ``KeyError`` whose ``str()`` is the message, not its ``repr``."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class InvalidIdError(ValueError):
    """An id (probe set, model, layer, table) is not a safe name."""


# Defined by the manifest reader (rsa_ray.models); re-exported so that ``storage.ManifestError`` keeps working.
from rsa_ray.errors import ManifestError  # noqa: E402


class EntryShapeError(ValueError):
    """Data written to an entry has the wrong shape or dtype; names the entry and what it expects."""


class EntryConflictError(ValueError):
    """An entry (or registry entry) exists with a different definition and ``overwrite`` was not asked."""


class CorruptEntryError(ValueError):
    """Stored data fails its checksum, is missing or cannot be decoded; names the entry and the rows.

    Attributes:
        path: The damaged entry's path in the store (None for a damaged document that is no entry).
        chunks: Indices of the damaged row chunks (empty where the entry's documents are at fault).
        checksum: The completion checksum of the entry the damage was found in, if known.
    """

    def __init__(self, message: str, path: str | None = None, chunks: tuple[int, ...] = (),
                 checksum: str | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.chunks = tuple(chunks)
        self.checksum = checksum  # the completion checksum the damage was found under

    def __reduce__(self):
        return type(self), (self.args[0] if self.args else "", self.path, self.chunks, self.checksum)


class EntryNotFoundError(_MessageKeyError):
    """No such probe set, model, entry, similarity version or table."""


class IncompleteEntryError(_MessageKeyError):
    """The entry exists but is not marked complete (a write was interrupted or is running)."""


class StoreUnavailableError(OSError):
    """The storage backend failed (unreachable, refused, timed out) while touching an entry."""
