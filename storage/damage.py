"""Damaged entries: withdrawn from completeness and recorded, so the next run recomputes exactly them.

A complete entry whose chunk fails its checksum, is missing or cannot be decoded (or
whose array metadata disagrees with its completion marker) is damaged. Whoever finds it
(a reader: :mod:`storage.reading`; or ``rsa-ray verify --repair``) withdraws it: the
entry's completion marker is deleted, and with it the marker of the entry that stands
for it (an RDM's rank vector, whose completion marks the RDM stage done); the damaged
chunks' chunk markers are deleted too, so a resumed write rewrites just those chunks.
The damage is recorded in the work log (stage ``damage``) and in the ``failures`` table.
The entry then counts as missing (:meth:`storage.Store.missing`), and the next run
recomputes it: the extraction for activations, the RDM and rank vector for either of
those, a new version for a similarity matrix.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from storage import work_log
from storage.backend import Backend
from storage.entry_documents import MARKER, parse_marker
from storage.names import EntryKey
from storage.provenance import utc_now

logger = logging.getLogger("rsa_ray")

DAMAGE_STAGE = "damage"
FAILURES_TABLE = "failures"
_CHUNK_MARKERS = "_chunks"
_VECTOR_KINDS = {"activations": "the activations", "rdms": "the RDM", "ranks": "the rank vector"}


def describe(path: str) -> str:
    """The entry at ``path`` in words: what it holds, of which model, layer and probe set.

    Example:
        >>> describe("activations/p1/m1/out")
        "the activations of model 'm1', layer 'out' on probe set 'p1'"
        >>> describe("similarity/p1/out/v00002")
        "similarity version 2 of layer 'out' on probe set 'p1'"
    """
    parts = path.split("/")
    if parts[0] in _VECTOR_KINDS and len(parts) == 4:
        return f"{_VECTOR_KINDS[parts[0]]} of model {parts[2]!r}, layer {parts[3]!r} on probe set {parts[1]!r}"
    if parts[0] == "similarity" and len(parts) == 4 and parts[3][1:].isdigit():
        return f"similarity version {int(parts[3][1:])} of layer {parts[2]!r} on probe set {parts[1]!r}"
    if parts[0] == "probes" and len(parts) == 2:
        return f"the images of probe set {parts[1]!r}"
    if parts[0] == "probe-labels" and len(parts) == 2:
        return f"the labels of probe set {parts[1]!r}"
    return f"entry {path!r}"


def recomputed_by(path: str) -> str:
    """What recomputes a withdrawn entry, in words.

    Example:
        >>> recomputed_by("ranks/p1/m1/out")
        "the next run recomputes the RDM and rank vector of model 'm1', layer 'out'"
    """
    parts = path.split("/")
    if parts[0] == "activations" and len(parts) == 4:
        return f"the next run extracts model {parts[2]!r}, layer {parts[3]!r} again"
    if parts[0] in ("rdms", "ranks") and len(parts) == 4:
        return f"the next run recomputes the RDM and rank vector of model {parts[2]!r}, layer {parts[3]!r}"
    if parts[0] == "similarity":
        return "the next similarity run writes a new version"
    if parts[0] in ("probes", "probe-labels"):
        return "add the probe set again (`rsa-ray probes add`, or the target's data) to repair it"
    return "the next run recomputes it"


def standing_for(path: str) -> list[str]:
    """The entries withdrawn with ``path``: itself, and for an RDM its rank vector (which marks the RDM stage done).

    Example:
        >>> standing_for("rdms/p1/m1/out")
        ['rdms/p1/m1/out', 'ranks/p1/m1/out']
    """
    parts = path.split("/")
    if parts[0] == "rdms" and len(parts) == 4:
        return [path, "/".join(["ranks", *parts[1:]])]
    return [path]


def _key(path: str) -> EntryKey | None:
    parts = path.split("/")
    if parts[0] in _VECTOR_KINDS and len(parts) == 4:
        return EntryKey(parts[1], parts[2], parts[3])
    return None


def withdraw(backend: Backend, path: str, chunks: Sequence[int], reason: str,
             marker: Mapping[str, Any] | None = None) -> bool:
    """Withdraws a damaged entry's completion and records the damage; True if it was withdrawn.

    Args:
        backend: The store's backend.
        path: The damaged entry.
        chunks: Indices of its damaged chunks (their chunk markers are deleted).
        reason: What is wrong, one line (recorded in the work log and the failures table).
        marker: The completion marker the damage was found under. If the entry has since been
            completed again with another marker (a writer replaced it), nothing is withdrawn.

    Raises:
        Whatever the backend raises: the caller decides whether a store that cannot be written
        to (read-only credentials) stops it.

    Example:
        >>> withdraw(backend, "ranks/p1/m1/out", [0], "rows 0:10 fail their CRC-32C checksum")  # doctest: +SKIP
        True
    """
    current = parse_marker(backend.get_many([f"{path}/{MARKER}"])[f"{path}/{MARKER}"])
    if current is None:
        return False  # already withdrawn (or being rewritten)
    if marker is not None and current.get("checksum") != marker.get("checksum"):
        return False  # completed again since: not the damaged bytes
    backend.remove([f"{withdrawn}/{MARKER}" for withdrawn in standing_for(path)])
    backend.remove(f"{path}/{_CHUNK_MARKERS}/{int(chunk)}.json" for chunk in chunks)
    _record(backend, path, chunks, reason)
    return True


def _record(backend: Backend, path: str, chunks: Sequence[int], reason: str) -> None:
    """One work-log record and one row of the failures table (best effort for the table)."""
    parts = path.split("/")
    details = {"path": path, "kind": parts[0], "chunks": [int(chunk) for chunk in chunks], "reason": reason}
    if len(parts) > 1:
        details.setdefault("probe_id", parts[1])
    if parts[0] == "similarity" and len(parts) == 4:
        details["layer"] = parts[2]
    key = _key(path)
    work_log.record(backend, DAMAGE_STAGE, key, details)
    try:
        from storage import tables  # pandas is imported only when there is damage to record

        import pandas as pd

        tables.append(backend, FAILURES_TABLE, pd.DataFrame({
            "time": [utc_now()], "probe_id": [details.get("probe_id")],
            "model_id": [key.model_id if key else None], "layer": [key.stored_layer if key else details.get("layer")],
            "stage": [DAMAGE_STAGE], "error": [reason]}))
    except Exception as error:  # the work log holds the record; the table is a convenience
        logger.warning("could not add the damage of %s to the failures table: %s", path, error)


def damaged_records(backend: Backend) -> list[dict[str, Any]]:
    """The work log's damage records, oldest first.

    Example:
        >>> [record["path"] for record in damaged_records(backend)]  # doctest: +SKIP
        ['activations/p1/m1/out']
    """
    return work_log.read(backend, DAMAGE_STAGE)

