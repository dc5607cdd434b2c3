"""Targets: a new task's labelled images, and the small model trained on it, by the task's name.

A target record ties a task name to its labelled probe set (the target's own images, on which
every candidate is extracted and scored) and, once ``train-target`` has run, to the model trained
on it (which the ``rsa`` score needs). One JSON object per target under ``targets/``, written
atomically; writing a record again replaces it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from storage.backend import Backend, backend_errors
from storage.names import validate_id


@dataclass(frozen=True)
class TargetRecord:
    """One target task.

    Attributes:
        name: The task's name.
        probe_id: Its labelled probe set (the target's images, one label each).
        data: Where the examples came from (``sklearn-digits``, an .npz, a folder).
        label_kind: ``classes`` or ``regression``.
        model_id: The small model trained on the task (``train-target``), or None.
        n_images: Images in the labelled probe set.

    Example:
        >>> TargetRecord("digits", "p" * 32, "sklearn-digits", "classes").model_id is None
        True
    """

    name: str
    probe_id: str
    data: str
    label_kind: str
    model_id: str | None = None
    n_images: int = 0


def _path(name: str) -> str:
    return f"targets/{validate_id(name, 'target name')}.json"


def write(backend: Backend, record: TargetRecord) -> None:
    """Stores (or replaces) a target's record in one atomic write."""
    with backend_errors(backend.url, _path(record.name), "writing"):
        backend.put_bytes(_path(record.name), json.dumps(asdict(record), sort_keys=True).encode())


def read(backend: Backend, name: str) -> TargetRecord | None:
    """The target's record, or None when no target of that name was recorded."""
    payload = backend.get_many([_path(name)])[_path(name)]
    if payload is None:
        return None
    return TargetRecord(**json.loads(payload))


def names(backend: Backend) -> tuple[str, ...]:
    """Names of the recorded targets."""
    return tuple(name[: -len(".json")] for name in backend.list_names("targets") if name.endswith(".json"))
