"""Registry entries: everything needed to build a model and read its representations (plain data, no torch).

An entry is data, not code: an architecture is the name of a builder in the
operator's registry (``rsa_ray.models.architectures``, consulted when a model is admitted
and built) plus scalar keyword arguments, weights are a file with its sha256, and layers are
*roles*: names that models are compared by (``output``, ``mid``), each a :class:`LayerSpec`
read from one of the model's own modules (``classifier.0``) with a reduction. A role without a
module is the module of that name. Entries are what the store keeps as model attrs and what a
zoo manifest lists.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from rsa_ray.model_entry.preprocessing_spec import PreprocessingSpec
from rsa_ray.names import FLATTEN, check_reduction

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


# The reserved role that means "each model's own default_layer": every model compared at its default.
DEFAULT_ROLE = "default"


class MissingRoleError(ValueError):
    """A model has no layer of the requested role; the message names the model and its roles."""


@dataclass(frozen=True)
class LayerSpec:
    """Where one role of a model is read, and how.

    Attributes:
        role: The name models are compared by (a safe id; keys the store's entries).
        module: The model's own module name, as in ``model.named_modules()``.
        reduce: The reduction of its output to one vector per image (``flatten``, ``avg``...).

    Example:
        >>> LayerSpec("mid", "features.14", "avg").reduce
        'avg'
    """

    role: str
    module: str
    reduce: str = FLATTEN

    def __post_init__(self) -> None:
        object.__setattr__(self, "reduce", check_reduction(self.reduce))


def _role_pairs(values: Mapping[str, str] | tuple, roles: tuple[str, ...], what: str, model_id: str,
                default: Callable[[str], str]) -> tuple[tuple[str, str], ...]:
    """Sorted ``(role, value)`` pairs of ``values``, leaving out those equal to ``default(role)``."""
    items = values.items() if isinstance(values, Mapping) else values
    pairs = tuple(sorted((str(role), str(value)) for role, value in items if value != default(role)))
    unknown = [role for role, _ in pairs if role not in roles]
    if unknown:
        raise ValueError(f"model {model_id!r}: {what} names roles {unknown} that are not in layers {roles}")
    return pairs


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


def is_byte_count(value: object) -> bool:
    """Whether ``value`` is a whole number of bytes > 0 (an ``int``, not a ``bool`` nor a float).

    The one rule behind a declared weights size and the operator's weights size limit; each caller
    words its own refusal.

    Example:
        >>> is_byte_count(4096), is_byte_count(0), is_byte_count(True), is_byte_count(4096.0)
        (True, False, False, False)
    """
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


@dataclass(frozen=True)
class WeightsRef:
    """A weights file and its expected sha256.

    Attributes:
        path: Local path, absolute or relative to the manifest that lists it.
        sha256: Lower-case hex digest; None only for trusted local experiments.
        size: The declared size in bytes (a whole number > 0), or None when not declared.
    """

    path: str
    sha256: str | None = None
    size: int | None = None

    def __post_init__(self) -> None:
        if self.size is not None and not is_byte_count(self.size):
            raise ValueError(f"size of {self.path!r} must be a whole number of bytes > 0, got {self.size!r}")
        if self.sha256 is not None:
            digest = self.sha256.lower()
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise ValueError(f"sha256 of {self.path!r} must be 64 hex digits, got {self.sha256!r}")
            object.__setattr__(self, "sha256", digest)


@dataclass(frozen=True)
class TrainingRecord:
    """How a zoo model was trained (provenance for the training-stage and model-size analyses).

    Attributes:
        variant: ``"small"`` (the paper's Table S1 network) or ``"large"`` (the residual encoder).
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
        layers: The roles models are compared by, earliest first (safe ids; ``default`` is reserved); given as
            role names (with ``modules`` and ``reductions``) or as :class:`LayerSpec` values.
        default_layer: The role used when none is asked for (the encoder output in a zoo); the
            reserved role ``default`` resolves to it.
        preprocessing: How inputs must be prepared.
        task: The task it was trained for ("" if unknown).
        task_type: The task's type (``2d``, ``3d``, ``semantic``, ``geometric``) or "".
        training: Provenance for zoo models, else None.
        seed: Seed of the random initialisation, applied before the model is built; required for a
            library model (torchvision, timm, transformers) without weights, so that every run builds
            the same network.
        modules: ``(role, module name)`` where a role is read from a module of another name
            (a mapping is accepted); a role not listed is the module of its own name.
        reductions: ``(role, reduction)`` where a role is not flattened (a mapping is accepted).
        specs: Each role's :class:`LayerSpec`, in ``layers`` order (derived; not an argument).

    Example:
        >>> entry = ModelEntry("m1", "torchvision", ArchitectureSpec("mobilenet_v2"), None, ("mid", "output"),
        ...                    "output", seed=0, modules={"mid": "features.14", "output": "classifier.0"},
        ...                    reductions={"mid": "avg"})
        >>> entry.layer("mid"), entry.layer("default").module
        (LayerSpec(role='mid', module='features.14', reduce='avg'), 'classifier.0')
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
    modules: tuple[tuple[str, str], ...] = ()
    reductions: tuple[tuple[str, str], ...] = ()
    specs: tuple[LayerSpec, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "source", ModelSource(self.source))
        layers = tuple(self.layers)
        if any(isinstance(layer, LayerSpec) for layer in layers):
            if self.modules or self.reductions or not all(isinstance(layer, LayerSpec) for layer in layers):
                raise ValueError(f"model {self.model_id!r}: layers are either all LayerSpec values (without modules "
                                 "and reductions) or role names")
            object.__setattr__(self, "modules", {spec.role: spec.module for spec in layers})
            object.__setattr__(self, "reductions", {spec.role: spec.reduce for spec in layers})
            layers = tuple(spec.role for spec in layers)
        object.__setattr__(self, "layers", layers)
        if DEFAULT_ROLE in self.layers:
            raise ValueError(f"model {self.model_id!r}: {DEFAULT_ROLE!r} is a reserved role (each model's "
                             "default_layer); name the layer otherwise")
        object.__setattr__(self, "modules", _role_pairs(self.modules, self.layers, "modules", self.model_id,
                                                        lambda role: role))
        reductions = _role_pairs(self.reductions, self.layers, "reductions", self.model_id, lambda _role: FLATTEN)
        for _role, reduction in reductions:
            check_reduction(reduction)
        object.__setattr__(self, "reductions", reductions)
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
        modules, reductions = dict(self.modules), dict(self.reductions)
        object.__setattr__(self, "specs", tuple(LayerSpec(role, modules.get(role, role), reductions.get(role, FLATTEN))
                                                for role in self.layers))

    def has_role(self, role: str) -> bool:
        """Whether the model has a layer of ``role`` (always, for the reserved ``default``).

        Example:
            >>> entry = ModelEntry("m1", "timm", ArchitectureSpec("resnet18"), None, ("out",), "out", seed=0)
            >>> entry.has_role("default"), entry.has_role("mid")
            (True, False)
        """
        return role == DEFAULT_ROLE or role in self.layers

    def layer(self, role: str) -> LayerSpec:
        """Where and how ``role`` is read; ``default`` gives the default layer's (its own role name).

        Raises:
            MissingRoleError: If the model has no layer of that role.

        Example:
            >>> ModelEntry("m1", "timm", ArchitectureSpec("resnet18"), None, ("out",), "out", seed=0).layer("default")
            LayerSpec(role='out', module='out', reduce='flatten')
        """
        if role == DEFAULT_ROLE:
            role = self.default_layer
        if role not in self.layers:
            raise MissingRoleError(f"model {self.model_id!r} has no layer {role!r} (its layers: {', '.join(self.layers)})")
        return self.specs[self.layers.index(role)]


class MissingSeedError(ValueError):
    """A library model without weights has no ``seed``: each run would build a different network."""


def missing_seed_problem(source: str) -> str:
    """The refusal of a seedless library model, without the model's name.

    Example:
        >>> missing_seed_problem("timm").startswith("field 'seed' is required")
        True
    """
    return (f"field 'seed' is required for a {source} model without weights (a whole number that fixes its random "
            "initialisation)")


def check_seed(entry: ModelEntry) -> None:
    """Refuses a torchvision/timm/transformers entry that has neither weights nor a seed.

    The entry reader refuses such a document; this refuses an entry made by hand (or edited in a
    store) before it is built.

    Raises:
        MissingSeedError: One line naming the model and the field ``seed``.

    Example:
        >>> check_seed(ModelEntry("r18", "torchvision", ArchitectureSpec("resnet18"), None, ("fc",), "fc"))
        Traceback (most recent call last):
        ...
        rsa_ray.model_entry.specs.MissingSeedError: model 'r18': field 'seed' is required for a torchvision model without weights (a whole number that fixes its random initialisation)
    """
    if entry.source in LIBRARY_SOURCES and entry.weights is None and entry.seed is None:
        raise MissingSeedError(f"model {entry.model_id!r}: {missing_seed_problem(entry.source.value)}")
