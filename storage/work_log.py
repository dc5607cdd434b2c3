"""The work log: one small object per computation that actually ran, so "done once" can be checked.

Summaries say what a run meant to do; the work log says what every worker did:
each forward pass over a model, each RDM and each similarity task writes one
record ``work/{stage}/{time}-{unique}.json`` (stage, probe set, model, layer,
host, process, time, and details such as a task's tile). Records are written
once, by the process that did the work, and never rewritten, so concurrent
writers on any backend cannot lose each other's records. Reading them back
(``rsa-ray`` does not need to) audits a store: two records of one entry with no
input change between them mean the work was done twice.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from storage.backend import Backend, backend_errors
from storage.names import validate_id
from storage.provenance import utc_now

if TYPE_CHECKING:
    from storage.names import EntryKey

_FOLDER = "work"


def record(backend: Backend, stage: str, key: EntryKey | None, details: Mapping[str, Any]) -> None:
    """Writes one work record (never overwrites one).

    Example:
        >>> from storage.names import EntryKey
        >>> backend = Backend.open("memory://work-log-record", {})
        >>> record(backend, "rdm", EntryKey("p", "m1", "out"), {})
        >>> [item["stage"] for item in read(backend)]
        ['rdm']
    """
    stage = validate_id(stage, "work stage")
    now = utc_now()
    document = {
        "stage": stage,
        "probe_id": key.probe_id if key else None,
        "model_id": key.model_id if key else None,
        "layer": key.stored_layer if key else None,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "time": now,
        **json.loads(json.dumps(dict(details))),
    }
    # Time first, so names sort by when the work finished; the random part keeps names unique.
    name = f"{_FOLDER}/{stage}/{_name_time(now)}-{uuid.uuid4().hex[:12]}.json"
    with backend_errors(backend.url, name, "recording work in"):
        backend.put_bytes(name, json.dumps(document, sort_keys=True).encode())


def read(backend: Backend, stage: str | None = None, since: str | None = None) -> list[dict[str, Any]]:
    """Every record of ``stage`` (or of all stages), oldest first; with ``since``, those written at or after it.

    ``since`` is a UTC time as :func:`storage.provenance.utc_now` gives it (records name their
    time so, and the names of older records are skipped unread).

    Example:
        >>> backend = Backend.open("memory://work-log-since", {})
        >>> record(backend, "rdm", None, {})
        >>> start = utc_now()
        >>> record(backend, "rdm", None, {"second": True})
        >>> [item.get("second") for item in read(backend, "rdm", since=start)]
        [True]
    """
    stages = [validate_id(stage, "work stage")] if stage else sorted(backend.list_names(_FOLDER))
    earliest = None if since is None else _name_time(since)
    names = [f"{_FOLDER}/{item}/{name}" for item in stages for name in backend.list_names(f"{_FOLDER}/{item}")
             if name.endswith(".json") and (earliest is None or name[:len(earliest)] >= earliest)]
    with backend_errors(backend.url, _FOLDER, "reading the work log of"):
        payloads = backend.get_many(names)
    records = [json.loads(payloads[name]) for name in names if payloads[name] is not None]
    if since is not None:
        records = [item for item in records if item["time"] >= since]
    return sorted(records, key=lambda item: (item["time"], item["stage"]))


def _name_time(time: str) -> str:
    """A record time as it starts the record's name."""
    return time.replace(":", "").replace("+", "p")
