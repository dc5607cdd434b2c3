"""The ``train-zoo`` output folder as a resume point: per-model progress records and training states.

Layout of the output folder::

    <model_id>.safetensors                       weights of every final model and checkpoint
    training-state/<model_id>.json               per model: its job identity, steps done, checkpoints written
    training-state/<model_id>-step0001200.pt     the state at that step (weights, Adam, schedule; float32)
    baselines.yaml                               each task's trivial baseline loss
    manifest.yaml                                written last, once every model is trained

Only the driver writes here, each file atomically (a temporary file, then a rename). A model's record is
its commit point: it is written after the weights and the state it names, so a run killed at any moment
leaves a folder that the same command resumes. A finished model's record keeps its entries and its state
file is removed.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rsa_ray.models import ModelEntry, entry_from_dict, entry_to_dict, sha256_of_file

STATE_DIR = "training-state"
_RECORD_VERSION = 1


def write_atomic(path: Path, data: bytes) -> None:
    """Writes ``data`` to ``path`` through a temporary file and a rename (readers never see a partial file)."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def identity_of(description: Mapping[str, Any]) -> str:
    """The sha256 of a job's canonical JSON: equal exactly when the job would train the same model.

    Example:
        >>> identity_of({"a": 1, "b": [2]}) == identity_of({"b": [2], "a": 1})
        True
    """
    return hashlib.sha256(json.dumps(description, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class ModelProgress:
    """How far one model's training got.

    Attributes:
        model_id: The final model's id.
        identity: :func:`identity_of` of the job that trains it.
        step: Steps done and saved.
        entries: The entries of the checkpoints written so far (sha256 set), in training order.
        state_file: The training state at ``step``, in ``training-state/`` (None at step 0 and once done).
        done: Whether training finished and every entry's weights are written.
    """

    model_id: str
    identity: str
    step: int = 0
    entries: tuple[ModelEntry, ...] = field(default_factory=tuple)
    state_file: str | None = None
    done: bool = False


def _record_path(out_dir: Path, model_id: str) -> Path:
    return out_dir / STATE_DIR / f"{model_id}.json"


def read_progress(out_dir: Path, model_id: str) -> ModelProgress | None:
    """The saved progress of ``model_id`` (None when it has none).

    Raises:
        ValueError: A record that cannot be read (naming its file).
    """
    path = _record_path(out_dir, model_id)
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
        return ModelProgress(
            model_id=record["model_id"],
            identity=record["identity"],
            step=int(record["step"]),
            entries=tuple(entry_from_dict(entry) for entry in record["entries"]),
            state_file=record["state_file"],
            done=bool(record["done"]),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"training record {os.fspath(path)!r} cannot be read ({error}); remove it to retrain "
                         f"{model_id!r} from the start") from None


def write_progress(out_dir: Path, progress: ModelProgress) -> None:
    """Writes a model's record (atomically), after the weights and state it names."""
    (out_dir / STATE_DIR).mkdir(parents=True, exist_ok=True)
    record = {
        "version": _RECORD_VERSION,
        "model_id": progress.model_id,
        "identity": progress.identity,
        "step": progress.step,
        "state_file": progress.state_file,
        "done": progress.done,
        "entries": [entry_to_dict(entry) for entry in progress.entries],
    }
    write_atomic(_record_path(out_dir, progress.model_id), json.dumps(record, indent=1).encode())


def write_state(out_dir: Path, model_id: str, step: int, state: bytes) -> str:
    """Writes a training state; returns its file name (in ``training-state/``)."""
    (out_dir / STATE_DIR).mkdir(parents=True, exist_ok=True)
    name = f"{model_id}-step{step:07d}.pt"
    write_atomic(out_dir / STATE_DIR / name, state)
    return name


def read_state(out_dir: Path, progress: ModelProgress) -> bytes | None:
    """The bytes of the state a record names (None at step 0).

    Raises:
        FileNotFoundError: If the record names a state file that is missing.
    """
    if progress.state_file is None:
        return None
    path = out_dir / STATE_DIR / progress.state_file
    if not path.is_file():
        raise FileNotFoundError(f"{os.fspath(path)!r}, the training state of {progress.model_id!r} at step "
                                f"{progress.step}, is missing; remove {os.fspath(_record_path(out_dir, progress.model_id))!r} "
                                "to retrain that model from the start")
    return path.read_bytes()


def remove_other_states(out_dir: Path, model_id: str, keep: str | None) -> None:
    """Removes ``model_id``'s state files other than ``keep`` (older steps, and every one once it is done)."""
    folder = out_dir / STATE_DIR
    for path in folder.glob(f"{model_id}-step*.pt*"):
        if path.name != keep:
            path.unlink(missing_ok=True)


def weights_intact(out_dir: Path, progress: ModelProgress) -> bool:
    """Whether every entry's weights file exists with its recorded sha256."""
    for entry in progress.entries:
        path = out_dir / entry.weights.path
        if not path.is_file() or sha256_of_file(path) != entry.weights.sha256:
            return False
    return True


__all__ = [
    "STATE_DIR",
    "ModelProgress",
    "identity_of",
    "read_progress",
    "read_state",
    "remove_other_states",
    "weights_intact",
    "write_atomic",
    "write_progress",
    "write_state",
]
