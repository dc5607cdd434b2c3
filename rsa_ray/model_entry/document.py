"""Zoo manifests: the one reader of a manifest document, a list of model entries with the zoo's provenance.

Format (``format: rsa_ray.zoo/v1``)::

    format: rsa_ray.zoo/v1
    description: ...
    command: rsa-ray train-zoo --out rsa_ray/zoo --seed 0
    dataset: {name: mini-taskonomy, seed: 0, image_size: 64, n_train: 1500, n_val: 200}
    models:
      - model_id: depth-small
        source: safetensors
        task: depth
        task_type: 3d
        architecture:
          target: rsa_ray.models.encoder_decoder:build_encoder_decoder
          kwargs: {head: dense, out_channels: 1, pool_size: 2, width: 1}
        weights: {path: depth-small.safetensors, sha256: 5f1c...}
        layers: [encoder.block1, encoder.block2, encoder.block3, encoder.block4, encoder.output]
        default_layer: encoder.output     # or a mapping of roles: {output: classifier.0, mid: {module: features.14, reduce: avg}}
        preprocessing: {resize: 64, crop: 64, mean: [0, 0, 0], std: [1, 1, 1],
                        channel_order: RGB, value_range: [0, 1], interpolation: bilinear}
        training: {variant: small, base_model_id: depth-small, checkpoint_fraction: 1.0, step: 400,
                   seed: 1234, validation_loss: 0.21, steps: 400, batch_size: 32, learning_rate: 0.002,
                   n_train: 1500, n_val: 200, dataset_seed: 0, image_size: 64}

A bare list of entries is a manifest too. The rules are the same wherever a manifest is read
(``storage.load_manifest`` from any URL, :func:`read_manifest` for a zoo folder): the format if
given is this one, no other top-level field, at least one model, every entry by the strict reader
(:func:`rsa_ray.model_entry.entry_reader.parse_entry`), no id twice, and paths inside the
manifest's folder (:mod:`rsa_ray.model_entry.paths`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from rsa_ray.errors import ManifestError
from rsa_ray.model_entry.document_text import load_document
from rsa_ray.model_entry.entry_reader import entry_to_dict, parse_entry
from rsa_ray.model_entry.specs import ModelEntry

MANIFEST_FORMAT = "rsa_ray.zoo/v1"
MANIFEST_NAME = "manifest.yaml"
TOP_LEVEL_FIELDS = ("format", "description", "command", "dataset", "models")


class _PlainDumper(yaml.SafeDumper):
    """``yaml.SafeDumper`` writing every value out: no anchors or aliases, which the reader refuses."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def check_unique_ids(model_ids: Iterable[str]) -> None:
    """Refuses a model id that more than one entry uses (the first such id is named).

    Example:
        >>> check_unique_ids(["m1", "m2", "m1"])
        Traceback (most recent call last):
        ...
        rsa_ray.errors.ManifestError: manifest entry 'm1': field 'model_id' is used by more than one entry
    """
    seen: set[str] = set()
    for model_id in model_ids:
        if model_id in seen:
            raise ManifestError(f"manifest entry {model_id!r}: field 'model_id' is used by more than one entry")
        seen.add(model_id)


@dataclass(frozen=True)
class ZooManifest:
    """A zoo: its models and how it was made.

    Attributes:
        models: The entries, in manifest order (no id twice).
        description: Free text for people.
        command: The command that reproduces the zoo.
        dataset: ``(name, value)`` pairs describing the training data (name, seed, sizes).
    """

    models: tuple[ModelEntry, ...]
    description: str = ""
    command: str = ""
    dataset: tuple[tuple[str, str | int | float], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "models", tuple(self.models))
        if isinstance(self.dataset, Mapping):
            object.__setattr__(self, "dataset", tuple(sorted(self.dataset.items())))
        check_unique_ids(entry.model_id for entry in self.models)

    def final_models(self, variant: str | None = None) -> tuple[ModelEntry, ...]:
        """Fully trained models (no intermediate checkpoints), in manifest order (see :func:`final_models`)."""
        return final_models(self.models, variant)


def final_models(entries: Iterable[ModelEntry], variant: str | None = None) -> tuple[ModelEntry, ...]:
    """The fully trained models among ``entries`` (no intermediate checkpoints), in their order.

    An entry without a training record is not a checkpoint: it counts as final, of any variant.

    Args:
        entries: Zoo entries.
        variant: Keep only this training variant (``"small"``, ``"large"``); None for all.

    Example:
        >>> [entry.model_id for entry in final_models(parse_manifest([{"model_id": "m1", "source": "timm",
        ...     "task_type": "2d", "architecture": {"target": "resnet18"}, "layers": ["fc"], "seed": 0}]).models)]
        ['m1']
    """
    return tuple(entry for entry in entries if entry.training is None
                 or (entry.training.checkpoint_fraction == 1.0 and variant in (None, entry.training.variant)))


def _sections(document: Any) -> tuple[Sequence[Any], Mapping[str, Any]]:
    """The entry list and the top-level mapping (empty for a bare list) of a manifest document."""
    top: Mapping[str, Any] = {}
    if isinstance(document, Mapping):
        if document.get("format", MANIFEST_FORMAT) != MANIFEST_FORMAT:
            raise ManifestError(f"manifest: format {document['format']!r} is not {MANIFEST_FORMAT!r}")
        unknown = sorted(str(key) for key in set(document) - set(TOP_LEVEL_FIELDS))
        if unknown:
            raise ManifestError(f"manifest: top-level field {unknown[0]!r} is not known ({', '.join(TOP_LEVEL_FIELDS)})")
        top, document = document, document.get("models")
    if not isinstance(document, Sequence) or isinstance(document, (str, bytes)):
        raise ManifestError("a manifest must be a list of model entries or a mapping with a 'models' list")
    if not document:
        raise ManifestError("manifest has no models (its 'models' list is empty)")
    if not isinstance(top.get("dataset") or {}, Mapping):
        raise ManifestError(f"manifest: top-level field 'dataset' must be a mapping, got {top['dataset']!r}")
    return document, top


def parse_manifest(document: Any, folder: str | None = None, allow_torchscript: bool = False,
                   keep_relative: bool = False) -> ZooManifest:
    """Validates a whole manifest document: its top level, every entry, no id twice.

    Args:
        document: The zoo manifest mapping (``{"format": ..., "models": [...]}``) or a list of
            entries, as loaded from YAML/JSON.
        folder: The manifest's folder (a local path or URL) that relative paths resolve against and
            local paths must stay inside; None for a document read from no file (paths kept).
        allow_torchscript: Accept TorchScript entries (the store's setting).
        keep_relative: Check paths against ``folder`` but keep them as written.

    Raises:
        ManifestError: Naming the entry and field at fault.

    Example:
        >>> manifest = parse_manifest({"format": "rsa_ray.zoo/v1", "models": [{"model_id": "m1",
        ...     "source": "safetensors", "task": "depth", "task_type": "3d", "architecture": {"target": "b"},
        ...     "weights": {"path": "m1.safetensors", "sha256": "0" * 64}, "layers": ["encoder.output"]}]},
        ...     folder="s3://bucket/zoo")
        >>> manifest.models[0].weights.path
        's3://bucket/zoo/m1.safetensors'
    """
    entries, top = _sections(document)
    models = tuple(parse_entry(raw, position, allow_torchscript, folder, keep_relative)
                   for position, raw in enumerate(entries))
    return ZooManifest(models=models, description=str(top.get("description", "")), command=str(top.get("command", "")),
                       dataset=tuple(sorted((top.get("dataset") or {}).items())))


def read_manifest(path: str | os.PathLike) -> ZooManifest:
    """Reads a zoo folder's manifest file, keeping its relative paths (the zoo moves with its files).

    The rules are :func:`parse_manifest`'s; paths must stay inside the manifest's folder.

    Raises:
        ManifestError: A ``ValueError`` naming the file and what is wrong.
        FileNotFoundError: If the file does not exist.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    try:
        return parse_manifest(load_document(text, is_json=path.suffix == ".json"), folder=os.fspath(path.parent),
                              allow_torchscript=True, keep_relative=True)
    except ManifestError as error:
        raise ManifestError(f"manifest {os.fspath(path)!r}: {error}") from None


def write_manifest(manifest: ZooManifest, path: str | os.PathLike) -> None:
    """Writes a manifest as YAML (atomically: a temporary file, then a rename).

    Example:
        >>> import tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), MANIFEST_NAME)
        >>> write_manifest(parse_manifest([{"model_id": "m1", "source": "timm", "task": "depth", "task_type": "3d",
        ...     "architecture": {"target": "resnet18"}, "layers": ["fc"], "seed": 0}]), path)
        >>> read_manifest(path).models[0].task
        'depth'
    """
    document = {
        "format": MANIFEST_FORMAT,
        "description": manifest.description,
        "command": manifest.command,
        "dataset": dict(manifest.dataset),
        "models": [entry_to_dict(entry) for entry in manifest.models],
    }
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(yaml.dump(document, Dumper=_PlainDumper, sort_keys=False, width=120))
    os.replace(temporary, path)
