"""Model manifests (YAML or JSON) parsed and validated into ``rsa_ray.models.ModelEntry`` values.

The format is the zoo manifest of :mod:`rsa_ray.models.manifest` (``format: rsa_ray.zoo/v1``):
a mapping with ``models: [entry, ...]`` (and optionally ``format``, ``description``,
``command``, ``dataset``), or a bare list of entries, each in the ``entry_to_dict`` form::

    model_id: depth-small              # a safe name, unique in the manifest
    source: safetensors                # safetensors | torch_state_dict | torchscript | torchvision | timm | transformers
    task: depth
    task_type: 3d                      # one of TASK_TYPES (required)
    architecture:                      # required unless torchscript
      target: rsa_ray.models.encoder_decoder:build_encoder_decoder   # a registered builder name
      kwargs: {out_channels: 1}
    weights: {path: depth-small.safetensors, sha256: <64 lowercase hex>}   # relative to the manifest
    layers: [encoder.block4, encoder.output]   # or roles: {output: classifier.0, mid: {module: features.14, reduce: avg}}
    default_layer: encoder.output      # a role; default: the last
    preprocessing: {resize: 64, crop: 64, mean: [0, 0, 0], std: [1, 1, 1],
                    channel_order: RGB, value_range: [0, 1], interpolation: bilinear}
    training: null                     # or a TrainingRecord mapping
    seed: 0                            # initialisation seed: required for torchvision/timm/transformers without weights

Weights are untrusted data: every weights file needs its sha256. A relative
``weights.path`` is resolved against the manifest's folder URL, so registered
entries do not depend on where the manifest was read. Errors name the entry (its
id, or ``#position`` when the id itself is bad) and the field.
"""

from __future__ import annotations

import json
import os
import posixpath
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import fsspec
import yaml

from storage.backend import file_errors
from storage.errors import ManifestError
from storage.redaction import has_user_credentials, redact_url

if TYPE_CHECKING:
    from rsa_ray.models import ModelEntry

__all__ = ["TASK_TYPES", "is_location_independent", "load_manifest", "parse_entry", "parse_manifest",
           "resolve_path"]
_TOP_LEVEL_FIELDS = ("format", "description", "command", "dataset", "models")
# The task types an entry may name (``rsa_ray.models.manifest_fields.TASK_TYPES``; kept here so that
# ``import storage`` does not load the models).
TASK_TYPES = ("2d", "3d", "semantic", "geometric", "other")


def parse_entry(raw: Any, position: int = 0, base_url: str | None = None,
                allow_torchscript: bool = False) -> ModelEntry:
    """Validates one entry with the one strict reader (``rsa_ray.models.manifest_entry.parse_entry``).

    Args:
        raw: The entry as loaded from YAML/JSON.
        position: Its index in the manifest, named when the id is bad.
        base_url: Folder URL that a relative ``weights.path`` is resolved against (None: left as is).
        allow_torchscript: Accept TorchScript entries (the store's setting, :mod:`storage.settings`).

    Raises:
        ManifestError: Naming the entry and the field at fault.

    Example:
        >>> entry = parse_entry({"model_id": "m1", "source": "torchvision", "task_type": "semantic",
        ...     "architecture": {"target": "resnet18"}, "layers": ["layer4"], "seed": 0})
        >>> entry.default_layer, entry.weights
        ('layer4', None)
    """
    from rsa_ray.models.manifest_entry import parse_entry as read_entry

    resolve = None if base_url is None else (lambda path: resolve_path(path, base_url))
    return read_entry(raw, position, allow_torchscript, resolve)


def _entry_list(document: Any) -> Sequence[Any]:
    from rsa_ray.models import MANIFEST_FORMAT

    if isinstance(document, Mapping):
        if document.get("format", MANIFEST_FORMAT) != MANIFEST_FORMAT:
            raise ManifestError(f"manifest: format {document['format']!r} is not {MANIFEST_FORMAT!r}")
        unknown = sorted(str(key) for key in set(document) - set(_TOP_LEVEL_FIELDS))
        if unknown:
            raise ManifestError(f"manifest: top-level field {unknown[0]!r} is not known "
                                f"({', '.join(_TOP_LEVEL_FIELDS)})")
        document = document.get("models")
    if not isinstance(document, Sequence) or isinstance(document, (str, bytes)):
        raise ManifestError("a manifest must be a list of model entries or a mapping with a 'models' list")
    return document


def parse_manifest(document: Any, base_url: str | None = None,
                   allow_torchscript: bool = False) -> tuple[ModelEntry, ...]:
    """Validates a whole manifest: every entry, and no id twice.

    Args:
        document: The zoo manifest mapping (``{"format": ..., "models": [...]}``) or a list of
            entries, as loaded from YAML/JSON.
        base_url: The manifest's folder (a local path or URL) for relative weights paths.

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
    parsed = tuple(parse_entry(raw, position, base_url, allow_torchscript)
                   for position, raw in enumerate(_entry_list(document)))
    seen: set[str] = set()
    for entry in parsed:
        if entry.model_id in seen:
            raise ManifestError(f"manifest entry {entry.model_id!r}: field 'model_id' is used by more than one entry")
        seen.add(entry.model_id)
    return parsed


def is_location_independent(path: str) -> bool:
    """Whether a weights path means the same file from anywhere: a URL or an absolute local path.

    Example:
        >>> is_location_independent("s3://zoo/w.safetensors"), is_location_independent("w.safetensors")
        (True, False)
    """
    return "://" in path or os.path.isabs(path)


def resolve_path(path: str, base_url: str) -> str:
    """``path`` resolved against a folder: absolute paths and URLs are kept; local folders give local paths.

    Example:
        >>> resolve_path("x.safetensors", "s3://b/zoo"), resolve_path("../w/x.pt", "file:///zoo/v1")
        ('s3://b/zoo/x.safetensors', '/zoo/w/x.pt')
    """
    if is_location_independent(path):
        return path
    base_url = os.fspath(base_url)
    if "://" not in base_url or base_url.startswith("file://"):
        folder = base_url[len("file://"):] if base_url.startswith("file://") else base_url
        return os.path.normpath(os.path.join(os.path.abspath(os.path.expanduser(folder)), path))
    scheme, _, folder = base_url.rpartition("://")
    return f"{scheme}://{posixpath.normpath(posixpath.join(folder, path))}"


def manifest_folder(url: str) -> str:
    """The folder a manifest URL lives in (an absolute path for local manifests).

    Example:
        >>> manifest_folder("s3://bucket/zoo/manifest.yaml"), manifest_folder("file:///zoo/manifest.yaml")
        ('s3://bucket/zoo', '/zoo')
    """
    url = os.fspath(url)
    if "://" not in url or url.startswith("file://"):
        local = url[len("file://"):] if url.startswith("file://") else url
        return os.path.dirname(os.path.abspath(os.path.expanduser(local)))
    return url.rstrip("/").rsplit("/", 1)[0]


def _one_line(error: Exception) -> str:
    """A parser error as one line: YAML's problem and position, or the message's first line."""
    mark = getattr(error, "problem_mark", None)
    if isinstance(error, yaml.MarkedYAMLError) and mark is not None:
        return f"{error.problem} at line {mark.line + 1}, column {mark.column + 1}"
    return str(error).splitlines()[0]


def load_manifest(url: str, storage_options: Mapping[str, Any] | None = None,
                  allow_torchscript: bool = False) -> tuple[ModelEntry, ...]:
    """Reads and validates a ``.yaml``/``.yml``/``.json`` manifest from a path or any fsspec URL.

    Relative weights paths are resolved against the manifest's folder.

    Messages name the manifest by its redacted URL (no user information, no query values).

    Raises:
        ManifestError: If the URL holds ``user:secret@``, the file does not parse or an entry is
            invalid (naming the file).
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
        document = json.loads(text) if url.endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as error:
        raise ManifestError(f"manifest {shown}: does not parse: {_one_line(error)}") from None
    try:
        return parse_manifest(document, base_url=manifest_folder(url), allow_torchscript=allow_torchscript)
    except ManifestError as error:
        raise ManifestError(f"manifest {shown}: {error}") from None
