"""The one strict reader of a model entry, and its inverse: the ``entry_to_dict`` form of ``rsa_ray.zoo/v1``.

Manifests (``storage.load_manifest``, :func:`rsa_ray.model_entry.read_manifest`) and the registry's
stored documents all go through :func:`parse_entry`; a manifest read from a file adds only its
folder, against which relative paths resolve (:mod:`rsa_ray.model_entry.paths`).

An entry's layers are a list of module names (each its own role, flattened) or a mapping of
roles to the model's own modules, each optionally with a reduction::

    layers: [encoder.block4, encoder.output]          # role == module name, reduce: flatten
    layers:
      output: classifier.0                            # role -> module
      mid: {module: features.14, reduce: avg}         # role -> module and reduction
    default_layer: output                             # a role (default: the last)
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import Any

from rsa_ray.errors import ManifestError
from rsa_ray.model_entry.fields import (
    ENTRY_FIELDS,
    check_layers,
    check_preprocessing,
    check_source,
    check_task,
    check_torchscript_allowed,
    check_training,
    check_weights,
    fail,
    read_architecture,
    read_seed,
)
from rsa_ray.model_entry.paths import PathOutsideFolderError, resolve_path
from rsa_ray.model_entry.specs import ModelEntry, WeightsRef
from rsa_ray.names import FLATTEN, safe_name_problem


def _resolved(reference: WeightsRef | None, folder: str | None, label: str, field: str,
              keep_relative: bool) -> WeightsRef | None:
    """The file reference with its path as it lies from ``folder`` (or as written, when ``keep_relative``)."""
    if reference is None or folder is None:
        return reference
    try:
        path = resolve_path(reference.path, folder)
    except PathOutsideFolderError as error:
        raise fail(label, field, str(error)) from None
    return reference if keep_relative else WeightsRef(path, reference.sha256, reference.size)


def _label(raw: Any, position: int) -> str:
    """The entry's name in messages: its id once that is safe, else its position."""
    if not isinstance(raw, Mapping):
        raise ManifestError(f"manifest entry #{position} must be a mapping, got {type(raw).__name__}")
    problem = safe_name_problem(raw.get("model_id"), "model id")
    if problem is not None:
        raise fail(f"#{position}", "model_id", problem)
    unknown = sorted(str(key) for key in set(raw) - set(ENTRY_FIELDS))
    if unknown:
        raise fail(repr(raw["model_id"]), unknown[0], f"is not a known field ({', '.join(ENTRY_FIELDS)})")
    return repr(raw["model_id"])


def parse_entry(raw: Any, position: int = 0, allow_torchscript: bool = False, folder: str | None = None,
                keep_relative: bool = False) -> ModelEntry:
    """Validates one entry (the ``entry_to_dict`` form) into a :class:`ModelEntry`.

    Args:
        raw: The entry as loaded from YAML/JSON.
        position: Its index in the manifest, named when the id is bad.
        allow_torchscript: Accept TorchScript entries (the store's setting).
        folder: The folder of the manifest it was read from: relative weights and config paths
            resolve against it, and a local path outside it is refused (None: paths kept as they are).
        keep_relative: Check paths against ``folder`` but keep them as written (a zoo that moves with its files).

    A TorchScript entry is refused unless allowed or the run sets ``RSA_RAY_ALLOW_TORCHSCRIPT=1``.
    The architecture's name is not looked up here: the registry is asked when the model is admitted and built.

    Raises:
        ManifestError: Naming the entry and the field at fault.

    Example:
        >>> entry = parse_entry({"model_id": "m1", "source": "torchvision", "task_type": "semantic",
        ...     "architecture": {"target": "resnet18"}, "layers": {"output": "layer4"}, "seed": 0})
        >>> entry.default_layer, entry.layer("output").module, entry.weights
        ('output', 'layer4', None)
    """
    label = _label(raw, position)
    task, task_type = check_task(raw, label)
    source = check_source(raw.get("source"), label)
    weights = _resolved(check_weights(raw.get("weights"), label, source), folder, label, "weights.path", keep_relative)
    specs, default_layer = check_layers(raw, label)
    architecture = read_architecture(raw.get("architecture"), label, source)
    if architecture is not None and architecture.config is not None:
        architecture = dataclasses.replace(architecture, config=_resolved(
            architecture.config, folder, label, "architecture.config.path", keep_relative))
    try:
        parsed = ModelEntry(
            model_id=raw["model_id"], source=source, architecture=architecture, weights=weights, layers=specs,
            default_layer=default_layer, preprocessing=check_preprocessing(raw.get("preprocessing"), label),
            task=task, task_type=task_type, training=check_training(raw.get("training"), label),
            seed=read_seed(raw.get("seed"), label, source, weights),
        )
    except (TypeError, ValueError) as error:
        if isinstance(error, ManifestError):
            raise
        raise ManifestError(f"manifest entry {label} is invalid: {error}") from None
    check_torchscript_allowed(source, label, allow_torchscript)  # last: a malformed TorchScript entry names its own field first
    return parsed


def layers_to_plain(entry: ModelEntry) -> list[str] | dict[str, Any]:
    """An entry's ``layers`` field: the list form where every role is its module, flattened; else the mapping form.

    Example:
        >>> layers_to_plain(parse_entry({"model_id": "m1", "source": "timm", "task_type": "2d", "seed": 0,
        ...     "architecture": {"target": "resnet18"}, "layers": ["layer3", "layer4"]}))
        ['layer3', 'layer4']
    """
    if not entry.modules and not entry.reductions:
        return list(entry.layers)
    return {spec.role: spec.module if spec.reduce == FLATTEN else {"module": spec.module, "reduce": spec.reduce}
            for spec in entry.specs}


def _plain(value: Any) -> Any:
    """Dataclass / enum / tuple values → YAML-friendly dicts, strings and lists."""
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def entry_to_dict(entry: ModelEntry) -> dict[str, Any]:
    """A plain dict (YAML/JSON-ready) of an entry: the form manifests list and the registry stores.

    Example:
        >>> document = entry_to_dict(entry_from_dict({"model_id": "m1", "source": "timm", "task_type": "2d",
        ...     "architecture": {"target": "resnet18", "kwargs": {"num_classes": 3}}, "layers": ["fc"], "seed": 0}))
        >>> document["architecture"], document["layers"], document["seed"]
        ({'target': 'resnet18', 'kwargs': {'num_classes': 3}}, ['fc'], 0)
    """
    plain = {f.name: _plain(getattr(entry, f.name)) for f in dataclasses.fields(entry) if f.init}
    if entry.architecture is not None:
        plain["architecture"]["kwargs"] = dict(entry.architecture.kwargs)
        if entry.architecture.config is None:  # absent, not null: entries without one keep their stored form
            del plain["architecture"]["config"]
    if entry.seed is None:
        del plain["seed"]
    for reference in (plain.get("weights"), (plain.get("architecture") or {}).get("config")):
        if isinstance(reference, dict) and reference.get("size") is None:  # absent, not null: stored form unchanged
            reference.pop("size", None)
    del plain["modules"], plain["reductions"]
    plain["layers"] = layers_to_plain(entry)
    return plain


def entry_from_dict(record: Mapping[str, Any]) -> ModelEntry:
    """Parses one stored entry (inverse of :func:`entry_to_dict`) with the strict reader; paths are kept as stored.

    Documents of earlier releases (the list form of ``layers``) read as they were written.
    TorchScript entries are read (building one is refused unless allowed).

    Raises:
        ManifestError: A ``ValueError`` naming the model and the field at fault.

    Example:
        >>> record = {"model_id": "m1", "source": "safetensors", "task_type": "3d", "layers": ["out"],
        ...     "architecture": {"target": "b"}, "weights": {"path": "/zoo/m1.safetensors", "sha256": "0" * 64}}
        >>> entry_from_dict(entry_to_dict(entry_from_dict(record))) == entry_from_dict(record)
        True
    """
    return parse_entry(record, allow_torchscript=True)
