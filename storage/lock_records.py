"""The objects a lock is made of: one per generation, plus the single object of the previous format.

``locks/{name}/{generation:012d}.json`` holds who took generation ``generation`` of
lock ``name``, when, until when its lease runs (seconds since the epoch, by the
holder's clock) and whether it was released. ``locks/{name}.json`` is the previous
format's lock (owner and since only), read so that a lock taken by the previous
release is respected. See :mod:`storage.locks` for the protocol.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass

from storage.backend import Backend
from storage.names import validate_id

_GENERATION_NAME = re.compile(r"(\d{12})\.json")
_UNREADABLE_OWNER = "unknown (unreadable lock)"


@dataclass(frozen=True)
class LockHolder:
    """Who holds (or last held) a lock: what one lock object records.

    Attributes:
        owner: ``host:pid:random`` of the run that took it.
        since: When it was taken (seconds since the epoch, the holder's clock).
        token: The generation number, also the fencing token (0 for a previous-format lock).
        lease_expires: When its lease runs out unless renewed (the holder's clock);
            None for a previous-format lock, which has no lease.
        released: Whether its holder released it.
    """

    owner: str
    since: float
    token: int = 0
    lease_expires: float | None = None
    released: bool = False

    @property
    def readable(self) -> bool:
        """False for a lock object that did not parse (never taken for expired)."""
        return self.owner != _UNREADABLE_OWNER

    def encode(self) -> bytes:
        """The object's bytes.

        Example:
            >>> LockHolder("host:1:ab", 10.0, 3, 70.0).encode()
            b'{"owner": "host:1:ab", "since": 10.0, "token": 3, "lease_expires": 70.0, "released": false}'
        """
        return json.dumps(asdict(self)).encode()


def folder(name: str) -> str:
    """The folder of a lock's generations."""
    return f"locks/{validate_id(name, 'lock name')}"


def generation_path(name: str, token: int) -> str:
    """The object of one generation.

    Example:
        >>> generation_path("rerank", 7)
        'locks/rerank/000000000007.json'
    """
    return f"{folder(name)}/{token:012d}.json"


def previous_format_path(name: str) -> str:
    """The single lock object the previous release wrote."""
    return f"locks/{validate_id(name, 'lock name')}.json"


def decode(payload: bytes, token: int = 0) -> LockHolder:
    """A lock object's holder; an unreadable object gives a holder that never expires."""
    try:
        document = json.loads(payload)
        expires = document.get("lease_expires")
        return LockHolder(str(document["owner"]), float(document["since"]), int(document.get("token", token)),
                          None if expires is None else float(expires), bool(document.get("released", False)))
    except (ValueError, KeyError, TypeError, AttributeError):
        return LockHolder(_UNREADABLE_OWNER, math.inf, token)


def generations(backend: Backend, name: str) -> list[int]:
    """The generations that exist, oldest first (one LIST)."""
    found = (_GENERATION_NAME.fullmatch(entry) for entry in backend.list_names(folder(name)))
    return sorted(int(match.group(1)) for match in found if match)


def read_generation(backend: Backend, name: str, token: int) -> LockHolder | None:
    """One generation's holder, or None if that object is gone."""
    payload = backend.get_many([generation_path(name, token)])[generation_path(name, token)]
    return None if payload is None else decode(payload, token)


def latest(backend: Backend, name: str) -> LockHolder | None:
    """The highest generation's holder, or None if the lock was never taken in this format.

    The latest generation is never deleted, so an object that vanishes between the
    listing and the read was an older one: the listing is repeated.
    """
    for _ in range(5):
        tokens = generations(backend, name)
        if not tokens:
            return None
        found = read_generation(backend, name, tokens[-1])
        if found is not None:
            return found
    return LockHolder(_UNREADABLE_OWNER, math.inf, tokens[-1])


def read_previous_format(backend: Backend, name: str) -> LockHolder | None:
    """The previous format's lock object, or None if there is none."""
    payload = backend.get_many([previous_format_path(name)])[previous_format_path(name)]
    return None if payload is None else decode(payload)


def write(backend: Backend, name: str, holder: LockHolder) -> None:
    """Rewrites the holder's own generation (a renewal or the release); atomic for readers."""
    backend.put_bytes(generation_path(name, holder.token), holder.encode())


def remove_older(backend: Backend, name: str, token: int) -> None:
    """Deletes the generations older than ``token`` (their holders were superseded)."""
    older = [generation_path(name, old) for old in generations(backend, name) if old < token]
    if older:
        backend.remove(older)
