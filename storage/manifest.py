"""Model manifests (YAML or JSON) read from any path or fsspec URL into ``rsa_ray.model_entry.ModelEntry`` values.

The format, its rules and its one reader are :mod:`rsa_ray.model_entry.document` (``format:
rsa_ray.zoo/v1``: a mapping with ``models: [entry, ...]``, or a bare list of entries, each in the
``entry_to_dict`` form). This module adds where the text comes from: a path or URL, read through
fsspec, named in messages by its redacted URL. A relative ``weights.path`` is resolved against
the manifest's folder URL, so registered entries do not depend on where the manifest was read,
and a local path outside that folder is refused from its text alone. Errors name the entry (its
id, or ``#position`` when the id itself is bad) and the field. Nothing here imports torch.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import fsspec

from rsa_ray.model_entry import TASK_TYPES, ModelEntry, is_location_independent, load_document, manifest_folder
from rsa_ray.model_entry import parse_manifest as parse_document
from storage.backend import file_errors
from storage.errors import ManifestError
from storage.redaction import has_user_credentials, redact_url

__all__ = ["TASK_TYPES", "is_location_independent", "load_manifest", "manifest_folder", "parse_manifest"]


def parse_manifest(document: Any, base_url: str | None = None,
                   allow_torchscript: bool = False) -> tuple[ModelEntry, ...]:
    """Validates a whole manifest document (already loaded from YAML/JSON): every entry, and no id twice.

    Args:
        document: The zoo manifest mapping (``{"format": ..., "models": [...]}``) or a list of entries.
        base_url: The manifest's folder (a local path or URL): relative paths resolve against it and
            local paths must stay inside it; None keeps paths as they are.
        allow_torchscript: Accept TorchScript entries (the store's setting, :mod:`storage.settings`).

    Returns:
        The entries, in manifest order.

    Raises:
        ManifestError: Naming the entry and field at fault.

    Example:
        >>> entries = parse_manifest({"format": "rsa_ray.zoo/v1", "models": [{"model_id": "m1",
        ...     "source": "safetensors", "task": "depth", "task_type": "3d",
        ...     "architecture": {"target": "rsa_ray.models.encoder_decoder:build_encoder_decoder",
        ...                      "kwargs": {"out_channels": 1}},
        ...     "weights": {"path": "m1.safetensors", "sha256": "0" * 64}, "layers": ["encoder.output"]}]},
        ...     base_url="s3://bucket/zoo")
        >>> entries[0].weights.path
        's3://bucket/zoo/m1.safetensors'
    """
    return parse_document(document, base_url, allow_torchscript).models


def load_manifest(url: str, storage_options: Mapping[str, Any] | None = None,
                  allow_torchscript: bool = False) -> tuple[ModelEntry, ...]:
    """Reads and validates a ``.yaml``/``.yml``/``.json`` manifest from a path or any fsspec URL.

    Relative weights paths are resolved against the manifest's folder. Messages name the manifest
    by its redacted URL (no user information, no query values).

    Raises:
        ManifestError: If the URL holds ``user:secret@``, the file does not parse (or uses YAML aliases,
            or nests too deep) or an entry is invalid (naming the file).
        FileNotFoundError: If there is no manifest at ``url``.
        StoreUnavailableError: If the storage holding it fails.

    Example:
        >>> load_manifest("s3://bucket/zoo/manifest.yaml")[0].weights.path  # doctest: +SKIP
        's3://bucket/zoo/depth-small.safetensors'
    """
    url = os.fspath(url)
    shown = redact_url(url)
    if has_user_credentials(url):
        raise ManifestError(f"manifest {shown}: the URL must not hold credentials; pass them as storage options "
                            "or in the environment")
    try:
        with file_errors(f"manifest {shown} does not exist", f"reading manifest {shown}"):
            with fsspec.open(url, "rt", encoding="utf-8", **dict(storage_options or {})) as handle:
                text = handle.read()
    except UnicodeDecodeError as error:
        raise ManifestError(f"manifest {shown}: is not UTF-8 text ({error.reason} at byte {error.start})") from None
    try:
        return parse_manifest(load_document(text, is_json=url.endswith(".json")), base_url=manifest_folder(url),
                              allow_torchscript=allow_torchscript)
    except ManifestError as error:
        raise ManifestError(f"manifest {shown}: {error}") from None
