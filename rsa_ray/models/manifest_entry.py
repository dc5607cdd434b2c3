"""The one strict reader of a model entry (the ``entry_to_dict`` form of ``rsa_ray.zoo/v1``).

Manifests (``storage.load_manifest``), the registry's stored documents and the shipped zoo
(:func:`rsa_ray.models.read_manifest`) all go through :func:`parse_entry`; the store adds only
where relative paths point (``resolve``) and what it registers.

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
from collections.abc import Callable, Mapping
from typing import Any

from rsa_ray.errors import ManifestError
from rsa_ray.models.entry import ModelEntry, WeightsRef
from rsa_ray.models.manifest_fields import (
    ENTRY_FIELDS,
    check_architecture,
    check_layers,
    check_preprocessing,
    check_seed,
    check_source,
    check_task,
    check_torchscript_allowed,
    check_training,
    check_weights,
    fail,
)
from rsa_ray.names import safe_name_problem

# Resolves a file path of an entry (weights, a config file) against where the entry was read.
PathResolver = Callable[[str], str]


def _resolved(reference: WeightsRef | None, resolve: PathResolver | None) -> WeightsRef | None:
    if reference is None or resolve is None:
        return reference
    return WeightsRef(resolve(reference.path), reference.sha256)


def parse_entry(raw: Any, position: int = 0, allow_torchscript: bool = False,
                resolve: PathResolver | None = None) -> ModelEntry:
    """Validates one entry (the ``entry_to_dict`` form) into a :class:`ModelEntry`.

    Args:
        raw: The entry as loaded from YAML/JSON.
        position: Its index in the manifest, named when the id is bad.
        allow_torchscript: Accept TorchScript entries (the store's setting).
        resolve: Turns a relative weights or config path into where it lies (None: kept as is).

    The architecture must name a registered builder (``rsa_ray.models.architectures``) with
    arguments it accepts; a TorchScript entry is refused unless allowed or the run sets
    ``RSA_RAY_ALLOW_TORCHSCRIPT=1``.

    Raises:
        ManifestError: Naming the entry and the field at fault.

    Example:
        >>> entry = parse_entry({"model_id": "m1", "source": "torchvision", "task_type": "semantic",
        ...     "architecture": {"target": "resnet18"}, "layers": {"output": "layer4"}, "seed": 0})
        >>> entry.default_layer, entry.layer("output").module, entry.weights
        ('output', 'layer4', None)
    """
    label = f"#{position}"
    if not isinstance(raw, Mapping):
        raise ManifestError(f"manifest entry {label} must be a mapping, got {type(raw).__name__}")
    model_id = raw.get("model_id")
    problem = safe_name_problem(model_id, "model id")
    if problem is not None:
        raise fail(label, "model_id", problem)
    label = repr(model_id)
    unknown = sorted(str(key) for key in set(raw) - set(ENTRY_FIELDS))
    if unknown:
        raise fail(label, unknown[0], f"is not a known field ({', '.join(ENTRY_FIELDS)})")
    task, task_type = check_task(raw, label)
    source = check_source(raw.get("source"), label)
    weights = _resolved(check_weights(raw.get("weights"), label, source), resolve)
    specs, default_layer = check_layers(raw, label)
    architecture = check_architecture(raw.get("architecture"), label, source)
    if architecture is not None and architecture.config is not None and resolve is not None:
        architecture = dataclasses.replace(architecture, config=_resolved(architecture.config, resolve))
    try:
        parsed = ModelEntry(
            model_id=model_id, source=source, architecture=architecture, weights=weights,
            layers=tuple(spec.role for spec in specs), default_layer=default_layer,
            preprocessing=check_preprocessing(raw.get("preprocessing"), label), task=task, task_type=task_type,
            training=check_training(raw.get("training"), label), seed=check_seed(raw.get("seed"), label, source, weights),
            modules={spec.role: spec.module for spec in specs}, reductions={spec.role: spec.reduce for spec in specs},
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
        >>> from rsa_ray.models.manifest import example_entry
        >>> layers_to_plain(example_entry())[-1]
        'encoder.output'
    """
    if not entry.modules and not entry.reductions:
        return list(entry.layers)
    plain: dict[str, Any] = {}
    for role in entry.layers:
        spec = entry.layer(role)
        plain[role] = spec.module if spec.reduce == "flatten" else {"module": spec.module, "reduce": spec.reduce}
    return plain
