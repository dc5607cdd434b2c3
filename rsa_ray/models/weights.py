"""Reading untrusted weights: sha256 checks, safetensors, and pickle-free ``torch.load``.

Weights come from other people. Only formats that cannot run code are read:
safetensors, and ``torch.load(weights_only=True)``, whose restricted unpickler
refuses any global it does not know; such a refusal becomes
:class:`UnsafeCheckpointError`.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

import torch
from safetensors.torch import load_file

from rsa_ray.errors import WeightsIntegrityError, sha256_mismatch

_CHUNK = 1 << 20


class UnsafeCheckpointError(ValueError):
    """A checkpoint needs arbitrary code to unpickle, so it is refused."""


def sha256_of_file(path: str | os.PathLike) -> str:
    """Lower-case hex sha256 of a file, read in 1 MiB chunks.

    Example:
        >>> import tempfile
        >>> with tempfile.NamedTemporaryFile() as handle:
        ...     sha256_of_file(handle.name)[:12]
        'e3b0c44298fc'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path: str | os.PathLike, expected: str | None) -> None:
    """Checks a file against its expected sha256 (no check when ``expected`` is None).

    Raises:
        WeightsIntegrityError: If the digests differ; the message names the file and the expected digest
            (never the file's own: it would tell something about any file a path could name).
        FileNotFoundError: If the file does not exist.

    Example:
        >>> verify_sha256(__file__, None)
    """
    if expected is None:
        return
    actual = sha256_of_file(path)
    if actual != expected.lower():
        raise sha256_mismatch(repr(os.fspath(path)), expected)


def load_safetensors(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Reads a safetensors file into a CPU state dict.

    Example:
        >>> import tempfile, os
        >>> from safetensors.torch import save_file
        >>> path = os.path.join(tempfile.mkdtemp(), "w.safetensors")
        >>> save_file({"w": torch.ones(2)}, path)
        >>> load_safetensors(path)["w"].tolist()
        [1.0, 1.0]
    """
    return load_file(os.fspath(path), device="cpu")


def load_torch_weights_only(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Reads a ``torch.save`` d state dict with ``weights_only=True``.

    A checkpoint whose pickle references anything beyond tensors and plain
    containers (e.g. a ``__reduce__`` that calls ``os.system``) is refused before
    any of its code runs.

    Args:
        path: The checkpoint.

    Returns:
        The state dict (a ``{"state_dict": ...}`` wrapper is unwrapped).

    Raises:
        UnsafeCheckpointError: If unpickling would need arbitrary code.
        ValueError: If the file holds something other than a dict of tensors.

    Example:
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "w.pt")
        >>> torch.save({"w": torch.zeros(1)}, path)
        >>> list(load_torch_weights_only(path))
        ['w']
    """
    try:
        loaded = torch.load(os.fspath(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise UnsafeCheckpointError(
            f"refusing to load {os.fspath(path)!r}: unpickling it needs code that weights_only=True does not allow "
            f"({str(error).splitlines()[0]}); convert it to safetensors in a trusted environment"
        ) from error
    if isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, dict) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise ValueError(f"{os.fspath(path)!r} does not hold a state dict of tensors (got {type(loaded).__name__})")
    return dict(loaded)


def load_state_dict(path: str | os.PathLike, expected_sha256: str | None) -> dict[str, torch.Tensor]:
    """Verifies the sha256, then reads a state dict by file type (``.safetensors`` or a torch checkpoint).

    Raises:
        WeightsIntegrityError: On a sha256 mismatch (checked before anything is parsed).
        UnsafeCheckpointError: For a torch checkpoint that needs code to unpickle.

    Example:
        >>> load_state_dict("missing.safetensors", None)  # doctest: +SKIP
    """
    verify_sha256(path, expected_sha256)
    if Path(path).suffix == ".safetensors":
        return load_safetensors(path)
    return load_torch_weights_only(path)
