"""Zoo manifests: a YAML list of :class:`ModelEntry` values with the zoo's provenance.

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

Weight paths are relative to the manifest's folder. Entries are read by the one strict reader,
:func:`rsa_ray.models.manifest_entry.parse_entry` (the format of ``layers`` is described there).
"""

from __future__ import annotations

import dataclasses
import enum
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from rsa_ray.models.entry import ArchitectureSpec, ModelEntry, WeightsRef
from rsa_ray.models.manifest_entry import layers_to_plain, parse_entry
from rsa_ray.models.preprocessing import PreprocessingSpec

MANIFEST_FORMAT = "rsa_ray.zoo/v1"
MANIFEST_NAME = "manifest.yaml"


@dataclass(frozen=True)
class ZooManifest:
    """A zoo: its models and how it was made.

    Attributes:
        models: The entries, in manifest order.
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
        ids = [entry.model_id for entry in self.models]
        duplicates = sorted({model_id for model_id in ids if ids.count(model_id) > 1})
        if duplicates:
            raise ValueError(f"model ids repeat in the manifest: {duplicates}")

    def final_models(self, variant: str | None = None) -> tuple[ModelEntry, ...]:
        """Fully trained models (no intermediate checkpoints), in manifest order (see :func:`final_models`)."""
        return final_models(self.models, variant)


def final_models(entries: Iterable[ModelEntry], variant: str | None = None) -> tuple[ModelEntry, ...]:
    """The fully trained models among ``entries`` (no intermediate checkpoints), in their order.

    An entry without a training record is not a checkpoint: it counts as final, of any variant.

    Args:
        entries: Zoo entries.
        variant: Keep only this training variant (``"small"``, ``"large"``); None for all.

    Returns:
        The final entries.

    Example:
        >>> [entry.model_id for entry in final_models([example_entry()], variant="small")]
        ['depth-small']
    """
    return tuple(entry for entry in entries if entry.training is None
                 or (entry.training.checkpoint_fraction == 1.0 and variant in (None, entry.training.variant)))


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
    """A plain dict (YAML/JSON-ready) of an entry.

    Example:
        >>> entry_to_dict(example_entry())["architecture"]["kwargs"]["out_channels"]
        1
    """
    plain = _plain(entry)
    if entry.architecture is not None:
        plain["architecture"]["kwargs"] = dict(entry.architecture.kwargs)
        if entry.architecture.config is None:  # absent, not null: entries without one keep their stored form
            del plain["architecture"]["config"]
    if entry.seed is None:
        del plain["seed"]
    del plain["modules"], plain["reductions"]
    plain["layers"] = layers_to_plain(entry)
    return plain


def entry_from_dict(record: Mapping[str, Any]) -> ModelEntry:
    """Parses one entry (inverse of :func:`entry_to_dict`) with the strict reader.

    Documents of earlier releases (the list form of ``layers``) read as they were written.
    TorchScript entries are read (building one is refused unless allowed).

    Raises:
        ManifestError: A ``ValueError`` naming the model and the field at fault.

    Example:
        >>> import dataclasses
        >>> entry = dataclasses.replace(example_entry(), weights=WeightsRef("/zoo/d.safetensors", "0" * 64))
        >>> entry_from_dict(entry_to_dict(entry)) == entry
        True
    """
    return parse_entry(record, allow_torchscript=True)


def write_manifest(manifest: ZooManifest, path: str | os.PathLike) -> None:
    """Writes a manifest as YAML (atomically: a temporary file, then a rename).

    Example:
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), MANIFEST_NAME)
        >>> write_manifest(ZooManifest(models=(example_entry(),)), path)
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
    temporary.write_text(yaml.safe_dump(document, sort_keys=False, width=120))
    os.replace(temporary, path)


def read_manifest(path: str | os.PathLike) -> ZooManifest:
    """Reads a manifest written by :func:`write_manifest` (``yaml.safe_load``: no code runs).

    Raises:
        ValueError: On another format; ``ManifestError`` (a ``ValueError``) on a malformed entry.
        FileNotFoundError: If the file does not exist.
    """
    document = yaml.safe_load(Path(path).read_text())
    if not isinstance(document, dict) or document.get("format") != MANIFEST_FORMAT:
        found = document.get("format") if isinstance(document, dict) else type(document).__name__
        raise ValueError(f"{os.fspath(path)!r} is not a {MANIFEST_FORMAT} manifest (format: {found!r})")
    return ZooManifest(
        models=tuple(parse_entry(record, position, allow_torchscript=True)
                     for position, record in enumerate(document.get("models") or ())),
        description=str(document.get("description", "")),
        command=str(document.get("command", "")),
        dataset=tuple(sorted((document.get("dataset") or {}).items())),
    )


def example_entry() -> ModelEntry:
    """A small example entry (a depth model of the demo zoo), for docs and tests.

    Example:
        >>> example_entry().default_layer
        'encoder.output'
    """
    from rsa_ray.models.encoder_decoder import ENCODER_LAYERS

    return ModelEntry(
        model_id="depth-small",
        source="safetensors",
        architecture=ArchitectureSpec(
            "rsa_ray.models.encoder_decoder:build_encoder_decoder", {"out_channels": 1, "head": "dense", "width": 1}
        ),
        weights=WeightsRef("depth-small.safetensors", "0" * 64),
        layers=ENCODER_LAYERS,
        default_layer="encoder.output",
        preprocessing=PreprocessingSpec(resize=64, crop=64),
        task="depth",
        task_type="3d",
    )
