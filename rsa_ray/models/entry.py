"""Registry entries: everything needed to build a model and read its representations.

An entry is data, not code: an architecture is the name of a builder in the
operator's registry (:mod:`rsa_ray.models.architectures`) plus scalar keyword
arguments, weights are a file with its sha256, and layers are module names. Entries are what the store keeps as
model attrs and what a zoo manifest lists.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from rsa_ray.models.preprocessing import PreprocessingSpec

_Scalar = str | int | float | bool | None


class ModelSource(str, enum.Enum):
    """How a model is stored.

    * ``SAFETENSORS``: an architecture (a registered builder + kwargs) and a safetensors state dict.
    * ``TORCH_STATE_DICT``: an architecture and a ``torch.save``\\ d state dict, loaded with
      ``weights_only=True`` (a checkpoint that needs code to unpickle is refused).
    * ``TORCHSCRIPT``: a TorchScript archive (``torch.jit.save``); no architecture. A program, so off
      unless allowed (:mod:`rsa_ray.models.torchscript`).
    * ``TORCHVISION`` / ``TIMM``: a model by name from those libraries (optional
      dependencies), initialised from the entry's ``seed`` unless weights are given.
    * ``TRANSFORMERS``: a Hugging Face ``transformers`` model class from an allow-list, built from
      the config file the architecture points at (:mod:`rsa_ray.models.transformers_source`).
    """

    SAFETENSORS = "safetensors"
    TORCH_STATE_DICT = "torch_state_dict"
    TORCHSCRIPT = "torchscript"
    TORCHVISION = "torchvision"
    TIMM = "timm"
    TRANSFORMERS = "transformers"


# Sources whose model is built by a library and may run without a weights file (then from ``seed``).
LIBRARY_SOURCES = (ModelSource.TORCHVISION, ModelSource.TIMM, ModelSource.TRANSFORMERS)


def _freeze_kwargs(kwargs: Mapping[str, _Scalar] | tuple) -> tuple[tuple[str, _Scalar], ...]:
    items = kwargs.items() if isinstance(kwargs, Mapping) else kwargs
    frozen = tuple(sorted((str(name), value) for name, value in items))
    for name, value in frozen:
        if isinstance(value, (list, tuple, dict)):
            raise ValueError(f"architecture kwarg {name!r} must be a scalar (str, int, float, bool, None), got {value!r}")
    return frozen


@dataclass(frozen=True)
class ArchitectureSpec:
    """A registered builder of an ``nn.Module``, by name, with its keyword arguments.

    The spec is plain data; :mod:`rsa_ray.models.architectures` decides what the name builds.

    Attributes:
        target: A registered builder name (e.g. ``"rsa_ray.models.encoder_decoder:build_encoder_decoder"``)
            for state-dict sources, or the model name (``"resnet18"``) for torchvision and timm.
        kwargs: Keyword arguments as sorted ``(name, scalar)`` pairs (a mapping is accepted).
        config: A configuration file and its sha256 (source ``transformers`` only), else None.

    Example:
        >>> spec = ArchitectureSpec("rsa_ray.models.encoder_decoder:build_encoder_decoder", {"out_channels": 1})
        >>> spec.kwargs_dict()
        {'out_channels': 1}
    """

    target: str
    kwargs: tuple[tuple[str, _Scalar], ...] = ()
    config: WeightsRef | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kwargs", _freeze_kwargs(self.kwargs))
        if not self.target:
            raise ValueError("architecture target must not be empty")

    def kwargs_dict(self) -> dict[str, _Scalar]:
        """The keyword arguments as a new dict."""
        return dict(self.kwargs)


@dataclass(frozen=True)
class WeightsRef:
    """A weights file and its expected sha256.

    Attributes:
        path: Local path, absolute or relative to the manifest that lists it.
        sha256: Lower-case hex digest; None only for trusted local experiments.
    """

    path: str
    sha256: str | None = None

    def __post_init__(self) -> None:
        if self.sha256 is not None:
            digest = self.sha256.lower()
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise ValueError(f"sha256 of {self.path!r} must be 64 hex digits, got {self.sha256!r}")
            object.__setattr__(self, "sha256", digest)


@dataclass(frozen=True)
class TrainingRecord:
    """How a zoo model was trained (provenance for the training-stage and model-size analyses).

    Attributes:
        variant: ``"small"`` (the paper's Table S1 network) or ``"wide"``.
        base_model_id: The fully trained model this checkpoint belongs to (itself when final).
        checkpoint_fraction: Fraction of training done (0.1, 0.25, 0.5, 1.0).
        step: Optimiser steps done.
        seed: Seed of initialisation and batch order.
        validation_loss: The task loss on the validation split at this checkpoint.
        steps: Total steps of the full run.
        batch_size: Images per step.
        learning_rate: Adam learning rate.
        n_train: Training images.
        n_val: Validation images.
        dataset_seed: Seed of the rendered mini-Taskonomy.
        image_size: Image side in pixels.
    """

    variant: str
    base_model_id: str
    checkpoint_fraction: float
    step: int
    seed: int
    validation_loss: float
    steps: int
    batch_size: int
    learning_rate: float
    n_train: int
    n_val: int
    dataset_seed: int
    image_size: int


@dataclass(frozen=True)
class ModelEntry:
    """One registered model.

    Attributes:
        model_id: Validated name (letters, digits, ``-_.``), unique in a registry.
        source: How the model is stored.
        architecture: Builder and kwargs (not used for TorchScript).
        weights: Weights file and sha256 (None for a randomly initialised hub model).
        layers: Module names whose outputs can be read, earliest first.
        default_layer: The layer used when none is asked for (the encoder output in a zoo).
        preprocessing: How inputs must be prepared.
        task: The task it was trained for ("" if unknown).
        task_type: The task's type (``2d``, ``3d``, ``semantic``, ``geometric``) or "".
        training: Provenance for zoo models, else None.
        seed: Seed of the random initialisation, applied before the model is built; required for a
            library model (torchvision, timm, transformers) without weights, so that every run builds
            the same network.
    """

    model_id: str
    source: ModelSource
    architecture: ArchitectureSpec | None
    weights: WeightsRef | None
    layers: tuple[str, ...]
    default_layer: str
    preprocessing: PreprocessingSpec = field(default_factory=PreprocessingSpec)
    task: str = ""
    task_type: str = ""
    training: TrainingRecord | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "source", ModelSource(self.source))
        object.__setattr__(self, "layers", tuple(self.layers))
        allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
        if not self.model_id or set(self.model_id) - allowed or self.model_id.startswith("."):
            raise ValueError(f"model_id must be letters, digits, '-', '_' or '.', got {self.model_id!r}")
        if self.source is not ModelSource.TORCHSCRIPT and self.architecture is None:
            raise ValueError(f"model {self.model_id!r}: source {self.source.value} needs an architecture")
        if self.source in (ModelSource.SAFETENSORS, ModelSource.TORCH_STATE_DICT, ModelSource.TORCHSCRIPT) and (
            self.weights is None
        ):
            raise ValueError(f"model {self.model_id!r}: source {self.source.value} needs a weights file")
        if self.default_layer not in self.layers:
            raise ValueError(f"model {self.model_id!r}: default_layer {self.default_layer!r} is not in layers {self.layers}")
        if self.seed is not None and (not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0):
            raise ValueError(f"model {self.model_id!r}: seed must be a whole number >= 0, got {self.seed!r}")

    def canonical_json(self) -> str:
        """Canonical JSON of the entry (sorted keys), e.g. for content ids.

        Example:
            >>> from rsa_ray.models.manifest import example_entry
            >>> example_entry().canonical_json().startswith('{"architecture"')
            True
        """
        from rsa_ray.models.manifest import entry_to_dict  # manifest imports this module

        return json.dumps(entry_to_dict(self), sort_keys=True, separators=(",", ":"))
