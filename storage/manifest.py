"""Model manifests (YAML or JSON): parsed and validated into frozen :class:`ModelEntry` values.

A manifest is ``{"models": [entry, ...]}`` (or a bare list of entries), each entry::

    id: taskonomy-depth            # a safe name, unique in the manifest
    task: depth_zbuffer            # what the encoder was trained for
    task_type: 3d                  # one of TASK_TYPES
    builder: taskonomy_encoder     # the rsa_ray.models builder that makes the module
    weights: {uri: s3://zoo/depth.safetensors, sha256: <64 hex>}
    layers: [block4, encoder_output]
    preprocessing: {image_size: 256, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], interpolation: bilinear}

Errors name the entry (its id, or its position when the id itself is bad) and the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import fsspec
import yaml

from storage.errors import InvalidIdError, ManifestError
from storage.names import validate_id

TASK_TYPES = ("2d", "3d", "semantic", "geometric", "other")
INTERPOLATIONS = ("bilinear", "bicubic", "nearest")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_FIELDS = ("id", "task", "task_type", "builder", "weights", "layers", "preprocessing")
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocessing:
    """How probe images are prepared for a model: resize to a square, then normalise per channel.

    Example:
        >>> Preprocessing(image_size=256).mean
        (0.485, 0.456, 0.406)
    """

    image_size: int = 224
    mean: tuple[float, float, float] = _IMAGENET_MEAN
    std: tuple[float, float, float] = _IMAGENET_STD
    interpolation: str = "bilinear"

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form stored in the registry."""
        return {"image_size": self.image_size, "mean": list(self.mean), "std": list(self.std),
                "interpolation": self.interpolation}


@dataclass(frozen=True)
class ModelEntry:
    """One validated model of the registry.

    Example:
        >>> entry = parse_manifest([{"id": "m1", "task": "edges", "task_type": "2d", "builder": "small",
        ...     "weights": {"uri": "file:///w/m1.safetensors", "sha256": "0" * 64}, "layers": ["out"]}])[0]
        >>> entry.model_id, entry.layers
        ('m1', ('out',))
    """

    model_id: str
    task: str
    task_type: str
    builder: str
    weights_uri: str
    weights_sha256: str
    layers: tuple[str, ...]
    preprocessing: Preprocessing = Preprocessing()

    def to_dict(self) -> dict[str, Any]:
        """The manifest form of the entry (what :func:`parse_manifest` reads back)."""
        return {"id": self.model_id, "task": self.task, "task_type": self.task_type, "builder": self.builder,
                "weights": {"uri": self.weights_uri, "sha256": self.weights_sha256},
                "layers": list(self.layers), "preprocessing": self.preprocessing.to_dict()}


def _fail(entry: str, field: str, problem: str) -> ManifestError:
    return ManifestError(f"manifest entry {entry}: field {field!r} {problem}")


def _text(raw: Mapping[str, Any], entry: str, key: str, field: str | None = None) -> str:
    field = field or key
    if key not in raw:
        raise _fail(entry, field, "is required")
    value = raw[key]
    if not isinstance(value, str) or not value.strip():
        raise _fail(entry, field, f"must be a non-empty string, got {value!r}")
    return value


def _floats3(value: Any, entry: str, field: str, positive: bool) -> tuple[float, float, float]:
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 3 or not all(
        isinstance(item, (int, float)) and not isinstance(item, bool) and (item > 0 or not positive) for item in value
    ):
        raise _fail(entry, field, f"must be 3 {'positive ' if positive else ''}numbers (one per channel), got {value!r}")
    return tuple(float(item) for item in value)


def _preprocessing(raw: Any, entry: str) -> Preprocessing:
    if raw is None:
        return Preprocessing()
    if not isinstance(raw, Mapping):
        raise _fail(entry, "preprocessing", f"must be a mapping, got {raw!r}")
    unknown = sorted(set(raw) - {"image_size", "mean", "std", "interpolation"})
    if unknown:
        raise _fail(entry, f"preprocessing.{unknown[0]}", "is not a known field (image_size, mean, std, interpolation)")
    size = raw.get("image_size", 224)
    if not isinstance(size, int) or isinstance(size, bool) or not 8 <= size <= 4096:
        raise _fail(entry, "preprocessing.image_size", f"must be an integer in 8..4096, got {size!r}")
    interpolation = raw.get("interpolation", "bilinear")
    if interpolation not in INTERPOLATIONS:
        raise _fail(entry, "preprocessing.interpolation", f"must be one of {INTERPOLATIONS}, got {interpolation!r}")
    return Preprocessing(
        image_size=size,
        mean=_floats3(raw.get("mean", _IMAGENET_MEAN), entry, "preprocessing.mean", positive=False),
        std=_floats3(raw.get("std", _IMAGENET_STD), entry, "preprocessing.std", positive=True),
        interpolation=interpolation,
    )


def _layers(raw: Mapping[str, Any], entry: str) -> tuple[str, ...]:
    layers = raw.get("layers")
    if not isinstance(layers, Sequence) or isinstance(layers, str) or not layers:
        raise _fail(entry, "layers", f"must be a non-empty list of layer names, got {layers!r}")
    for layer in layers:
        try:
            validate_id(layer, "layer")
        except InvalidIdError as error:
            raise _fail(entry, "layers", str(error)) from None
    if len(set(layers)) != len(layers):
        raise _fail(entry, "layers", f"lists a layer twice: {list(layers)}")
    return tuple(layers)


def parse_entry(raw: Any, position: int = 0) -> ModelEntry:
    """Validates one manifest entry.

    Raises:
        ManifestError: Naming the entry and the field at fault.
    """
    entry = f"#{position}"
    if not isinstance(raw, Mapping):
        raise ManifestError(f"manifest entry {entry} must be a mapping, got {type(raw).__name__}")
    try:
        model_id = validate_id(raw.get("id"), "model id")
    except InvalidIdError as error:
        raise _fail(entry, "id", str(error)) from None
    entry = repr(model_id)
    unknown = sorted(set(raw) - set(_FIELDS))
    if unknown:
        raise _fail(entry, unknown[0], f"is not a known field ({', '.join(_FIELDS)})")
    task_type = _text(raw, entry, "task_type")
    if task_type not in TASK_TYPES:
        raise _fail(entry, "task_type", f"must be one of {TASK_TYPES}, got {task_type!r}")
    weights = raw.get("weights")
    if not isinstance(weights, Mapping):
        raise _fail(entry, "weights", f"must be a mapping with 'uri' and 'sha256', got {weights!r}")
    sha256 = weights.get("sha256")
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise _fail(entry, "weights.sha256", f"must be 64 lowercase hex digits, got {sha256!r}")
    return ModelEntry(
        model_id=model_id,
        task=_text(raw, entry, "task"),
        task_type=task_type,
        builder=_text(raw, entry, "builder"),
        weights_uri=_text(weights, entry, "uri", "weights.uri"),
        weights_sha256=sha256,
        layers=_layers(raw, entry),
        preprocessing=_preprocessing(raw.get("preprocessing"), entry),
    )


def parse_manifest(document: Any) -> tuple[ModelEntry, ...]:
    """Validates a whole manifest: every entry, and no id twice.

    Args:
        document: ``{"models": [...]}`` or a list of entries (as loaded from YAML/JSON).

    Returns:
        The entries, in manifest order.

    Raises:
        ManifestError: Naming the entry and field at fault.

    Example:
        >>> parse_manifest({"models": []})
        ()
    """
    entries = document.get("models") if isinstance(document, Mapping) else document
    if not isinstance(entries, Sequence) or isinstance(entries, str):
        raise ManifestError("a manifest must be a list of model entries or a mapping with a 'models' list")
    parsed = tuple(parse_entry(raw, position) for position, raw in enumerate(entries))
    seen: set[str] = set()
    for entry in parsed:
        if entry.model_id in seen:
            raise _fail(repr(entry.model_id), "id", "is used by more than one entry")
        seen.add(entry.model_id)
    return parsed


def load_manifest(url: str, storage_options: Mapping[str, Any] | None = None) -> tuple[ModelEntry, ...]:
    """Reads and validates a ``.yaml``/``.yml``/``.json`` manifest from a path or any fsspec URL.

    Raises:
        ManifestError: If the file does not parse or an entry is invalid.

    Example:
        >>> load_manifest("zoo/manifest.yaml")  # doctest: +SKIP
    """
    with fsspec.open(url, "rt", encoding="utf-8", **dict(storage_options or {})) as handle:
        text = handle.read()
    try:
        document = json.loads(text) if str(url).endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as error:
        raise ManifestError(f"manifest {url}: does not parse: {error}") from None
    return parse_manifest(document)
