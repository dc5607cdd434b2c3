"""Versioned similarity matrices: ``similarity/{probe_id}/{layer}/v{n:05d}``, [N, N] float64.

Each version holds its ordered model ids, the method and the inputs it was
computed from (entry paths and their completion checksums). Writing never
changes an existing version: adding models writes version n+1 and the history
stays; writing the latest version's matrix again, of the same complete inputs, writes
nothing and returns that version's number. Versions are numbered by the driver that writes them (one writer per
(probe set, layer)); an interrupted version is never read and its number is not reused.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from storage import entries, entry_documents, reading
from storage.backend import Backend, backend_errors
from storage.errors import EntryNotFoundError, EntryShapeError
from storage.names import EntryKey, EntryKind, validate_id
from storage.provenance import Provenance

logger = logging.getLogger("rsa_ray")


@dataclass(frozen=True)
class SimilarityInput:
    """One input of a similarity version.

    Attributes:
        path: The entry's path (a rank vector by default).
        checksum: Its completion checksum when the version was written (None if incomplete).
        identity: Its identity digest (:mod:`storage.identity`); None in versions written before
            identities were recorded.
    """

    path: str
    checksum: str | None
    identity: str | None = None


@dataclass(frozen=True, eq=False)
class SimilarityMatrix:
    """One stored version of the similarity matrix of a (probe set, layer).

    Attributes:
        probe_id, layer: What the matrix compares models on.
        version: The version number (1, 2, ...).
        model_ids: Row/column order of ``matrix``.
        matrix: [N, N] float64 similarities.
        method: The comparison method's name (e.g. ``"spearman"``).
        inputs: What the matrix was computed from.
        created: UTC time of writing.
    """

    probe_id: str
    layer: str
    version: int
    model_ids: tuple[str, ...]
    matrix: np.ndarray
    method: str
    inputs: tuple[SimilarityInput, ...]
    created: str


def _folder(probe_id: str, layer: str) -> str:
    return f"similarity/{validate_id(probe_id, 'probe set id')}/{validate_id(layer, 'layer')}"


def _version_number(name: str) -> int | None:
    return int(name[1:]) if name.startswith("v") and name[1:].isdigit() else None


def versions(backend: Backend, probe_id: str, layer: str) -> tuple[int, ...]:
    """The complete versions of a (probe set, layer), oldest first."""
    folder = _folder(probe_id, layer)
    with backend_errors(backend.url, folder, "listing"):
        numbers = sorted(n for n in map(_version_number, backend.list_names(folder)) if n is not None)
        paths = [f"{folder}/v{n:05d}" for n in numbers]
        complete = entry_documents.complete_paths(backend, paths) if paths else set()
    return tuple(n for n, path in zip(numbers, paths) if path in complete)


def _check(model_ids: Sequence[str], matrix: np.ndarray, label: str) -> np.ndarray:
    for model_id in model_ids:
        validate_id(model_id, "model id")
    if len(set(model_ids)) != len(model_ids) or not model_ids:
        raise ValueError(f"{label}: model ids must be unique and non-empty, got {list(model_ids)}")
    n_models = len(model_ids)
    matrix = np.asarray(matrix)
    if matrix.shape != (n_models, n_models) or matrix.dtype.kind != "f":
        raise EntryShapeError(
            f"{label}: matrix must be floating point of shape ({n_models}, {n_models}) for {n_models} model ids, "
            f"got {matrix.dtype} {matrix.shape}"
        )
    if not np.isfinite(matrix).all():
        raise ValueError(f"{label}: matrix holds NaN or Inf")
    return matrix.astype(np.float64)


def write(backend: Backend, probe_id: str, layer: str, model_ids: Sequence[str], matrix: np.ndarray,
          method: str, inputs: Sequence[str] | None = None, provenance: Provenance | None = None,
          identities: Mapping[str, str] | None = None, fence: Callable[[], None] | None = None) -> int:
    """Writes a new version and returns its number.

    If the latest complete version holds this same matrix of the same complete inputs (model
    ids, method, each input's checksum and identity), nothing is written and its number is
    returned: a rerun over an unchanged store writes no version.

    Args:
        inputs: Entry paths the matrix was computed from; default the rank-vector
            entries of ``model_ids``. Their completion checksums are recorded.
        identities: Each input path's identity digest, recorded beside its checksum; default the
            identity each input entry carries.
        fence: Called right before the version is marked complete; raising there (e.g. a lock
            holder's ``Lock.check`` finding its lock taken over) leaves the version incomplete,
            never read, and its number unused.
    """
    folder = _folder(probe_id, layer)
    matrix = _check(list(model_ids), matrix, f"similarity {folder}")
    if not isinstance(method, str) or not method:
        raise ValueError(f"similarity {folder}: method must be a non-empty name, got {method!r}")
    if inputs is None:
        inputs = [EntryKey(probe_id, model_id, layer).path(EntryKind.RANKS) for model_id in model_ids]
    with backend_errors(backend.url, folder, "writing a version of"):
        stored = entry_documents.stored_many(backend, list(inputs))
        checksums = {path: (entry.marker or {}).get("checksum") for path, entry in stored.items()}
        identities = dict(identities) if identities is not None else {
            path: entry.attributes.get("identity") for path, entry in stored.items()}
        attributes = {
            "kind": "similarity", "model_ids": list(model_ids), "method": method,
            "inputs": [{"path": key, "checksum": checksum, "identity": identities.get(key)}
                       for key, checksum in checksums.items()],
            "provenance": (provenance or Provenance()).to_attrs(),
        }
        same = _same_as_latest(backend, probe_id, layer, list(model_ids), matrix, method, attributes["inputs"])
        if same is not None:
            logger.info("similarity %s: version %d already holds this matrix of these inputs; nothing written", folder, same)
            return same
        # The next number, claimed by creating its array exclusively: runs writing at once get
        # different numbers, and a number once claimed (even by a run that then died) is never reused.
        version = max((n for n in map(_version_number, backend.list_names(folder)) if n is not None), default=0) + 1
        while not entries.claim(backend, f"{folder}/v{version:05d}", matrix.shape, "float64", attributes):
            version += 1
    path = f"{folder}/v{version:05d}"
    entries.write_rows(backend, path, 0, matrix)
    if fence is not None:
        fence()
    entries.finalize(backend, path)
    return version


def _same_as_latest(backend: Backend, probe_id: str, layer: str, model_ids: list[str], matrix: np.ndarray,
                    method: str, inputs: list[dict]) -> int | None:
    """The latest complete version's number if it holds exactly this matrix of exactly these complete inputs.

    A rerun over unchanged inputs then writes no new version. Inputs that are not complete entries
    (no checksum to tell them apart) never match: such a matrix is written as a new version.
    """
    if not inputs or any(item["checksum"] is None for item in inputs):
        return None
    available = versions(backend, probe_id, layer)
    if not available:
        return None
    latest = read(backend, probe_id, layer, available[-1])
    recorded = [{"path": item.path, "checksum": item.checksum, "identity": item.identity} for item in latest.inputs]
    if (list(latest.model_ids), latest.method, recorded) != (model_ids, method, inputs):
        return None
    return latest.version if np.array_equal(latest.matrix, matrix) else None


def read(backend: Backend, probe_id: str, layer: str, version: int | None = None) -> SimilarityMatrix:
    """A given version, or the latest complete one.

    Raises:
        EntryNotFoundError: If there is no complete version (or not the one asked for).
    """
    folder = _folder(probe_id, layer)
    available = versions(backend, probe_id, layer)
    if version is None and available:
        version = available[-1]
    if version not in available:
        raise EntryNotFoundError(
            f"similarity {folder}: no complete version {version if version is not None else ''}".rstrip()
            + f" (complete versions: {list(available)})"
        )
    path = f"{folder}/v{version:05d}"
    matrix = reading.read(backend, path)
    attrs = entries.attributes(backend, path)
    return SimilarityMatrix(
        probe_id=probe_id, layer=layer, version=version, model_ids=tuple(attrs["model_ids"]), matrix=matrix,
        method=attrs["method"], inputs=tuple(SimilarityInput(item["path"], item["checksum"], item.get("identity"))
                     for item in attrs["inputs"]),
        created=attrs["provenance"]["created"],
    )
