"""Named locks in a store, so two runs of one job cannot interleave their writes.

A lock is an object ``locks/{name}.json`` created only if absent: ``O_EXCL`` on
a local folder, a conditional PUT (``If-None-Match: *``) on S3. It records its
owner and when it was taken; one older than ``stale_after`` seconds (its holder
died without releasing it) is broken and taken over.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from storage.backend import Backend
from storage.names import validate_id


class StoreLockedError(RuntimeError):
    """The lock is held by another run."""


@dataclass(frozen=True)
class LockHolder:
    """Who holds a lock and since when (seconds since the epoch)."""

    owner: str
    since: float


def _path(name: str) -> str:
    return f"locks/{validate_id(name, 'lock name')}.json"


def create_exclusive(backend: Backend, relative: str, payload: bytes) -> None:
    """Writes an object only if it does not exist yet (atomically), else raises ``FileExistsError``.

    Example:
        >>> create_exclusive(backend, "locks/example.json", b"{}")  # doctest: +SKIP
    """
    path = backend.full_path(relative)
    if backend.is_local:
        # Written whole to a temporary file, then hard-linked into place: the link fails if the lock
        # exists, and a reader never sees a lock file without its content.
        os.makedirs(os.path.dirname(path), exist_ok=True)
        temporary = f"{path}.{uuid.uuid4().hex}.partial"
        with open(temporary, "wb") as handle:
            handle.write(payload)
        try:
            os.link(temporary, path)  # raises FileExistsError if the lock exists
        finally:
            os.remove(temporary)
        return
    backend.fs.pipe_file(path, payload, mode="create")


def holder(backend: Backend, name: str) -> LockHolder | None:
    """The current holder of lock ``name``, or None if it is free."""
    payload = backend.get_many([_path(name)])[_path(name)]
    if payload is None:
        return None
    try:
        document = json.loads(payload)
        return LockHolder(str(document["owner"]), float(document["since"]))
    except (ValueError, KeyError, TypeError):
        # Never taken for stale: only a readable lock's age can say its holder is gone.
        return LockHolder("unknown (unreadable lock)", float("inf"))


def _release(backend: Backend, name: str, owner: str) -> None:
    current = holder(backend, name)
    if current is not None and current.owner == owner:
        backend.remove([_path(name)])


@contextlib.contextmanager
def hold(backend: Backend, name: str, stale_after: float = 6 * 3600.0) -> Iterator[LockHolder]:
    """Holds lock ``name`` for the duration of the ``with`` block.

    Raises:
        StoreLockedError: Another run holds it (naming the owner and since when).

    Example:
        >>> with store.lock("rerank"):  # doctest: +SKIP
        ...     pass
    """
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    mine = LockHolder(owner, time.time())
    payload = json.dumps({"owner": mine.owner, "since": mine.since}).encode()
    for attempt in range(2):
        try:
            create_exclusive(backend, _path(name), payload)
            break
        except FileExistsError:
            current = holder(backend, name)
            stale = current is not None and time.time() - current.since > stale_after
            if attempt == 0 and (current is None or stale):
                if current is not None:
                    backend.remove([_path(name)])  # its holder died without releasing it
                continue
            readable = current is not None and current.since != float("inf")
            since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(current.since)) if readable else "?"
            raise StoreLockedError(
                f"lock {name!r} of {backend.url} is held by {current.owner if current else '?'} since {since}"
            ) from None
    try:
        yield mine
    finally:
        _release(backend, name, owner)
