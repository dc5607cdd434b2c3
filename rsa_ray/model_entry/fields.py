"""Field checks for one model entry of a manifest or the registry, in the ``entry_to_dict`` form (``rsa_ray.zoo/v1``).

Each check takes the raw value and the entry's label (its id, or ``#position``)
and returns the typed value, or raises :class:`ManifestError` naming the entry
and the field. :mod:`rsa_ray.model_entry.entry_reader` puts them together into the one
strict reader of an entry. The checks read the document alone: which architecture builders
exist is the registry's answer (``rsa_ray.models.architectures``), asked when a model is
admitted and built.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from rsa_ray.errors import ManifestError
from rsa_ray.model_entry.kwarg_values import SCALAR_TYPES, value_problem
from rsa_ray.model_entry.preprocessing_spec import PreprocessingSpec
from rsa_ray.model_entry.specs import (
    DEFAULT_ROLE,
    LIBRARY_SOURCES,
    ArchitectureSpec,
    LayerSpec,
    ModelSource,
    TrainingRecord,
    WeightsRef,
    is_byte_count,
    missing_seed_problem,
)
from rsa_ray.model_entry.torchscript_gate import torchscript_allowed, torchscript_disabled_problem
from rsa_ray.names import FLATTEN, check_reduction, is_printable_text, safe_name_problem

TASK_TYPES = ("2d", "3d", "semantic", "geometric", "other")
ENTRY_FIELDS = ("model_id", "source", "architecture", "weights", "layers", "default_layer", "preprocessing", "task",
                "task_type", "training", "seed")
# Sources whose weights are a file: the file and its sha256 are required.
FILE_SOURCES = ("safetensors", "torch_state_dict", "torchscript")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_PREPROCESSING_FIELDS = ("resize", "crop", "mean", "std", "channel_order", "value_range", "interpolation")


def fail(entry: str, field: str, problem: str) -> ManifestError:
    """The error for a bad field of an entry.

    Example:
        >>> str(fail("'m1'", "task_type", "is required"))
        "manifest entry 'm1': field 'task_type' is required"
    """
    return ManifestError(f"manifest entry {entry}: field {field!r} {problem}")


def _mapping(raw: Any, entry: str, field: str, allowed: Sequence[str]) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise fail(entry, field, f"must be a mapping with keys {', '.join(allowed)}, got {raw!r}")
    unknown = sorted(str(key) for key in set(raw) - set(allowed))
    if unknown:
        raise fail(entry, f"{field}.{unknown[0]}", f"is not a known field ({', '.join(allowed)})")
    return raw


def printable_problem(value: str) -> str | None:
    r"""What makes a name unfit to show in one line (a control, format or bidi character), or None.

    The value is shown with such characters escaped, so the message itself stays one plain line.

    Example:
        >>> printable_problem("depth") is None, printable_problem("depth\u202e")
        (True, "must be printable text (no control, format or bidirectional characters), got 'depth\\u202e'")
    """
    if is_printable_text(value):
        return None
    return f"must be printable text (no control, format or bidirectional characters), got {ascii(value)}"


def _text(raw: Any, entry: str, field: str) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise fail(entry, field, f"must be a non-empty string, got {raw!r}")
    problem = printable_problem(raw)
    if problem is not None:
        raise fail(entry, field, problem)
    return raw


def check_task(raw: Mapping[str, Any], entry: str) -> tuple[str, str]:
    """``(task, task_type)``: the task is optional free text; the task type is required, one of TASK_TYPES.

    Example:
        >>> check_task({"task": "depth", "task_type": "3d"}, "'m1'")
        ('depth', '3d')
    """
    task = raw.get("task", "")
    if not isinstance(task, str):
        raise fail(entry, "task", f"must be a string, got {task!r}")
    if printable_problem(task) is not None:
        raise fail(entry, "task", printable_problem(task))
    if "task_type" not in raw:
        raise fail(entry, "task_type", f"is required (one of {', '.join(TASK_TYPES)})")
    if raw["task_type"] not in TASK_TYPES:
        raise fail(entry, "task_type", f"must be one of {', '.join(TASK_TYPES)}, got {raw['task_type']!r}")
    return task, raw["task_type"]


def check_source(raw: Any, entry: str) -> ModelSource:
    """The model's source (how it is stored).

    Example:
        >>> check_source("safetensors", "'m1'").value
        'safetensors'
    """
    names = [source.value for source in ModelSource]
    if raw not in names:
        raise fail(entry, "source", f"must be one of {', '.join(names)}, got {raw!r}")
    return ModelSource(raw)


def read_architecture(raw: Any, entry: str, source: ModelSource) -> ArchitectureSpec | None:
    """``{target, kwargs, config}``; required for every source but TorchScript.

    The target is a name, the kwargs are finite scalars that are no URL, and a config file (with its
    sha256) is only for ``transformers``. Whether the name is a registered builder that accepts those
    arguments is asked of the registry when the model is admitted and built; nothing is imported here.

    Example:
        >>> spec = read_architecture({"target": "rsa_ray.models.encoder_decoder:build_encoder_decoder",
        ...                           "kwargs": {"out_channels": 2}}, "'m1'", check_source("safetensors", "'m1'"))
        >>> spec.kwargs
        (('out_channels', 2),)
        >>> read_architecture({"target": "b", "kwargs": {"width": float("nan")}}, "'m1'",
        ...                   check_source("safetensors", "'m1'"))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        rsa_ray.errors.ManifestError: manifest entry 'm1': field 'architecture.kwargs.width' must be a finite number, got nan
    """
    if raw is None:
        if source is not ModelSource.TORCHSCRIPT:
            raise fail(entry, "architecture", f"is required for source {source.value}")
        return None
    raw = _mapping(raw, entry, "architecture", ("target", "kwargs", "config"))
    target = _text(raw.get("target"), entry, "architecture.target")
    kwargs = raw.get("kwargs") or {}
    if not isinstance(kwargs, Mapping):
        raise fail(entry, "architecture.kwargs", f"must be a mapping of names to scalars, got {kwargs!r}")
    for name in sorted(kwargs, key=str):
        problem = "is not a valid argument name" if not isinstance(name, str) or not name.isidentifier() else (
            value_problem(kwargs[name]))
        if problem is not None:
            raise fail(entry, f"architecture.kwargs.{name}", problem)
    config = None if raw.get("config") is None else _checked_file(raw["config"], entry, "architecture.config")
    if config is not None and source is not ModelSource.TRANSFORMERS:
        raise fail(entry, "architecture.config", f"is only for source transformers, not {source.value}")
    return ArchitectureSpec(target, dict(kwargs), config)


def check_torchscript_allowed(source: ModelSource, entry: str, allowed: bool = False) -> None:
    """Refuses a TorchScript entry unless ``allowed`` (the store's setting) or the run allows TorchScript
    (``RSA_RAY_ALLOW_TORCHSCRIPT=1``).

    Example:
        >>> check_torchscript_allowed(check_source("safetensors", "'m1'"), "'m1'")
    """
    if source is ModelSource.TORCHSCRIPT and not torchscript_allowed(allowed):
        raise fail(entry, "source", torchscript_disabled_problem())


def _has_credentials(path: str) -> bool:
    return "://" in path and "@" in urlsplit(path).netloc


def _checked_file(raw: Any, entry: str, field: str) -> WeightsRef:
    """``{path, sha256}`` of an untrusted file: a path without credentials and its sha256 (required)."""
    raw = _mapping(raw, entry, field, ("path", "sha256"))
    path = _text(raw.get("path"), entry, f"{field}.path")
    if _has_credentials(path):
        raise fail(entry, f"{field}.path", "must not hold credentials; pass them as storage options")
    sha256 = raw.get("sha256")
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise fail(entry, f"{field}.sha256", f"must be 64 lowercase hex digits (the file is untrusted), got {sha256!r}")
    return WeightsRef(path, sha256)


def read_seed(raw: Any, entry: str, source: ModelSource, weights: WeightsRef | None) -> int | None:
    """The optional initialisation seed: a whole number >= 0, required for a library model without weights.

    torchvision, timm and transformers models without a weights file are randomly initialised;
    the seed makes that the same network in every run.

    Example:
        >>> read_seed(7, "'r18'", check_source("timm", "'r18'"), None)
        7
        >>> read_seed(None, "'r18'", check_source("timm", "'r18'"), None)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        rsa_ray.errors.ManifestError: manifest entry 'r18': field 'seed' is required for a timm model without weights ...
    """
    if raw is None:
        if source in LIBRARY_SOURCES and weights is None:
            raise ManifestError(f"manifest entry {entry}: {missing_seed_problem(source.value)}")
        return None
    if not isinstance(raw, int) or isinstance(raw, bool) or raw < 0:
        raise fail(entry, "seed", f"must be a whole number >= 0, got {raw!r}")
    return raw


def check_weights(raw: Any, entry: str, source: ModelSource) -> WeightsRef | None:
    """``{path, sha256}``: required for file sources; whenever given, the sha256 is required.

    Example:
        >>> check_weights({"path": "w.safetensors", "sha256": "0" * 64}, "'m1'",
        ...               check_source("safetensors", "'m1'")).path
        'w.safetensors'
    """
    if raw is None:
        if source.value in FILE_SOURCES:
            raise fail(entry, "weights", f"is required for source {source.value} (a path and its sha256)")
        return None
    raw = _mapping(raw, entry, "weights", ("path", "sha256", "size"))
    path = _text(raw.get("path"), entry, "weights.path")
    if _has_credentials(path):
        raise fail(entry, "weights.path", "must not hold credentials; pass them as storage options")
    sha256 = raw.get("sha256")
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise fail(entry, "weights.sha256", f"must be 64 lowercase hex digits (weights are untrusted), got {sha256!r}")
    size = raw.get("size")
    if size is not None and not is_byte_count(size):
        raise fail(entry, "weights.size", f"must be a whole number of bytes > 0 (optional), got {size!r}")
    return WeightsRef(path, sha256, size)


def _layer_spec(role: Any, raw: Any, entry: str) -> LayerSpec:
    """One role of a ``layers`` mapping: a module name, or ``{module, reduce}`` (module default: the role)."""
    problem = safe_name_problem(role, "layer role")
    if problem is None and role == DEFAULT_ROLE:
        problem = f"layer role {DEFAULT_ROLE!r} is reserved (it means each model's default_layer)"
    if problem is not None:
        raise fail(entry, "layers", problem)
    if isinstance(raw, str) or raw is None:
        raw = {"module": role if raw is None else raw}
    raw = _mapping(raw, entry, f"layers.{role}", ("module", "reduce"))
    module = _text(raw.get("module", role), entry, f"layers.{role}.module")
    try:
        reduce = check_reduction(raw.get("reduce", FLATTEN))
    except ValueError as error:
        raise fail(entry, f"layers.{role}.reduce", str(error).replace(f"reduction {raw.get('reduce')!r} ", "")) from None
    return LayerSpec(role, module, reduce)


def check_layers(raw: Mapping[str, Any], entry: str) -> tuple[tuple[LayerSpec, ...], str]:
    """``(layers, default_layer)``: the roles, each with its module and reduction; the default role (else the last).

    ``layers`` is a list of module names (each its own role, flattened) or a mapping
    ``role -> module`` / ``role -> {module, reduce}``. Roles are safe names, no repeats;
    ``default`` is reserved.

    Example:
        >>> check_layers({"layers": ["block4", "out"]}, "'m1'")[1]
        'out'
        >>> specs, default = check_layers({"layers": {"output": "classifier.0",
        ...     "mid": {"module": "features.14", "reduce": "avg"}}, "default_layer": "output"}, "'m1'")
        >>> [(spec.role, spec.module, spec.reduce) for spec in specs], default
        ([('output', 'classifier.0', 'flatten'), ('mid', 'features.14', 'avg')], 'output')
    """
    layers = raw.get("layers")
    if isinstance(layers, Mapping) and layers:
        specs = tuple(_layer_spec(role, value, entry) for role, value in layers.items())
    elif isinstance(layers, Sequence) and not isinstance(layers, str) and layers:
        specs = tuple(_layer_spec(layer, None, entry) for layer in layers)
    else:
        raise fail(entry, "layers", f"must be a non-empty list of layer names or a mapping of roles to modules, "
                                    f"got {layers!r}")
    roles = [spec.role for spec in specs]
    if len(set(roles)) != len(roles):
        raise fail(entry, "layers", f"lists a layer twice: {roles}")
    default_layer = raw.get("default_layer", roles[-1])
    if default_layer not in roles:
        raise fail(entry, "default_layer", f"must be one of the layers {roles}, got {default_layer!r}")
    return specs, default_layer


def _numbers(value: Any, *counts: int) -> bool:
    return (isinstance(value, Sequence) and not isinstance(value, str) and len(value) in counts and all(
        isinstance(item, (int, float)) and not isinstance(item, bool) and math.isfinite(item) for item in value))


def _preprocessing_type(name: str, value: Any) -> str | None:
    """What is wrong with the type of one preprocessing field, or None."""
    if name in ("resize", "crop") and value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        return f"must be a whole number of pixels or null, got {value!r}"
    if name in ("mean", "std") and not _numbers(value, 3, 1):
        return f"must be 3 finite numbers (one per RGB channel) or 1 (single-channel input), got {value!r}"
    if name == "value_range" and not _numbers(value, 2):
        return f"must be 2 finite numbers (low, high), got {value!r}"
    if name in ("channel_order", "interpolation") and not isinstance(value, str):
        return f"must be a string, got {value!r}"
    return None


def check_preprocessing(raw: Any, entry: str) -> PreprocessingSpec:
    """The preprocessing, checked field by field and then as a whole by ``PreprocessingSpec``.

    Example:
        >>> check_preprocessing({"resize": 64, "crop": 64}, "'m1'").crop
        64
    """
    if raw is None:
        return PreprocessingSpec()
    raw = _mapping(raw, entry, "preprocessing", _PREPROCESSING_FIELDS)
    for name, value in raw.items():
        problem = _preprocessing_type(name, value)
        if problem is None:
            try:  # one field at a time (the others at their valid defaults) names the culprit
                PreprocessingSpec(**{name: value})
            except ValueError as error:
                problem = f"is invalid: {error}"
        if problem is not None:
            raise fail(entry, f"preprocessing.{name}", problem)
    try:
        return PreprocessingSpec(**raw)
    except ValueError as error:
        raise fail(entry, "preprocessing", f"is invalid: {error}") from None


def check_training(raw: Any, entry: str) -> TrainingRecord | None:
    """The optional training record (provenance of zoo models): every field of ``TrainingRecord``.

    Example:
        >>> check_training(None, "'m1'") is None
        True
    """
    if raw is None:
        return None
    names = tuple(field.name for field in dataclasses.fields(TrainingRecord))
    raw = _mapping(raw, entry, "training", names)
    missing = [name for name in names if name not in raw]
    if missing:
        raise fail(entry, f"training.{missing[0]}", "is required")
    return TrainingRecord(**raw)
