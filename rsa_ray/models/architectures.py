"""The architecture registry: the only way an entry's ``architecture.target`` becomes code.

The operator controls what is registered:

* the built-in builders (:data:`BUILTIN_ARCHITECTURES`);
* builders that installed packages declare as Python entry points in the group
  ``rsa_ray.architectures`` (the entry point's name is the registered name; it is
  loaded only when that name is asked for);
* torchvision and timm models by name, for sources ``torchvision`` and ``timm``;
* Hugging Face ``transformers`` model classes from an allow-list, for source ``transformers``
  (:mod:`rsa_ray.models.transformers_source`);
* MTCNN's P-, R- and O-Net under their exact names (``facenet_pytorch.mtcnn.PNet`` ...), read
  from the installed ``facenet-pytorch`` package when asked for (:mod:`rsa_ray.models.mtcnn`).

A target is looked up as one exact name in that registry: nothing a manifest says
is imported, and no attribute path is walked. Keyword arguments are checked
against the builder's signature (or the names its registration declares) and must
be scalars; arguments that would fetch weights from a hub are refused.

A package registers a builder in its ``pyproject.toml``::

    [project.entry-points."rsa_ray.architectures"]
    "mylab.unet" = "mylab.models:build_unet"

A builder that takes ``**kwargs`` must point the entry point at an
:class:`ArchitectureBuilder` that lists the names it accepts.
"""

from __future__ import annotations

import functools
import importlib.metadata
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from torch import nn

from rsa_ray.models.architecture_kwargs import ArchitectureError, UnknownArchitectureError, check_kwargs
from rsa_ray.models.encoder_decoder import build_encoder_decoder
from rsa_ray.models.entry import ArchitectureSpec, ModelSource
from rsa_ray.models.hub import (
    TIMM,
    TORCHVISION,
    build_timm_model,
    build_torchvision_model,
    check_hub_kwargs,
    check_hub_name,
)
from rsa_ray.models.mtcnn import build_mtcnn_onet, build_mtcnn_pnet, build_mtcnn_rnet
from rsa_ray.models.residual_encoder import build_residual_encoder_decoder
from rsa_ray.models.transformers_source import build_transformers_model, check_transformers_spec

ENTRY_POINT_GROUP = "rsa_ray.architectures"
_HUB_SOURCES = {ModelSource.TORCHVISION: TORCHVISION, ModelSource.TIMM: TIMM}
_KEYWORD_KINDS = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
_NAMES_SHOWN = 12


@dataclass(frozen=True)
class ArchitectureBuilder:
    """A registered builder of an ``nn.Module``.

    Attributes:
        build: The callable; called with the entry's keyword arguments only.
        accepted_kwargs: The argument names it accepts. Needed when ``build`` takes ``**kwargs``;
            None reads them from its signature.

    Example:
        >>> ArchitectureBuilder(build_encoder_decoder).parameters("encoder-decoder")[1]
        frozenset({'out_channels'})
    """

    build: Callable[..., nn.Module]
    accepted_kwargs: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if not callable(self.build):
            raise TypeError(f"an architecture builder must be callable, got {self.build!r}")
        if self.accepted_kwargs is not None:
            object.__setattr__(self, "accepted_kwargs", frozenset(self.accepted_kwargs))

    def parameters(self, name: str) -> tuple[frozenset[str], frozenset[str]]:
        """``(accepted, required)`` argument names.

        Raises:
            ArchitectureError: If the builder takes ``**kwargs`` or positional-only arguments without
                declaring ``accepted_kwargs`` (naming ``architecture.target``).
        """
        try:
            parameters = tuple(inspect.signature(self.build).parameters.values())
        except (TypeError, ValueError):
            parameters = None
        if parameters is None and self.accepted_kwargs is None:
            raise ArchitectureError("architecture.target", f"names builder {name!r}, whose signature cannot be read; "
                                    "its registration must declare accepted_kwargs")
        parameters = parameters or ()
        required = frozenset(p.name for p in parameters if p.kind in _KEYWORD_KINDS and p.default is p.empty)
        if self.accepted_kwargs is not None:
            return self.accepted_kwargs, required
        if any(p.kind is p.VAR_KEYWORD for p in parameters):
            raise ArchitectureError("architecture.target", f"names builder {name!r}, which takes **kwargs; its "
                                    "registration must declare accepted_kwargs")
        if any(p.kind is p.POSITIONAL_ONLY and p.default is p.empty for p in parameters):
            raise ArchitectureError("architecture.target", f"names builder {name!r}, which needs positional-only "
                                    "arguments that an entry cannot pass")
        return frozenset(p.name for p in parameters if p.kind in _KEYWORD_KINDS), required


BUILTIN_ARCHITECTURES: Mapping[str, ArchitectureBuilder] = MappingProxyType({
    "rsa_ray.models.encoder_decoder:build_encoder_decoder": ArchitectureBuilder(build_encoder_decoder),
    "rsa_ray.models.residual_encoder:build_residual_encoder_decoder": ArchitectureBuilder(build_residual_encoder_decoder),
    "facenet_pytorch.mtcnn.PNet": ArchitectureBuilder(build_mtcnn_pnet),
    "facenet_pytorch.mtcnn.RNet": ArchitectureBuilder(build_mtcnn_rnet),
    "facenet_pytorch.mtcnn.ONet": ArchitectureBuilder(build_mtcnn_onet),
})


def _declared_entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    declared: dict[str, importlib.metadata.EntryPoint] = {}
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        declared.setdefault(entry_point.name, entry_point)  # the first on sys.path wins, as for imports
    return declared


def registered_architecture_names() -> tuple[str, ...]:
    """The names a state-dict entry's ``architecture.target`` may use (built-in, then entry points), sorted.

    Example:
        >>> "rsa_ray.models.encoder_decoder:build_encoder_decoder" in registered_architecture_names()
        True
    """
    return tuple(sorted({*BUILTIN_ARCHITECTURES, *_declared_entry_points()}))


def _unknown(target: object) -> UnknownArchitectureError:
    names = registered_architecture_names()
    shown = ", ".join(names[:_NAMES_SHOWN]) + (f" and {len(names) - _NAMES_SHOWN} more" if len(names) > _NAMES_SHOWN
                                               else "")
    return UnknownArchitectureError(
        "architecture.target", f"{target!r} is not a registered architecture builder (known: {shown}; operators "
        f"register builders through the {ENTRY_POINT_GROUP!r} entry point group)")


def _load(entry_point: importlib.metadata.EntryPoint) -> ArchitectureBuilder:
    try:
        loaded = entry_point.load()
    except Exception as error:  # an installed package that fails to import: name it, in one line
        first_line = (str(error).splitlines() or [type(error).__name__])[0]
        raise ArchitectureError("architecture.target", f"names the builder {entry_point.value!r} declared in "
                                f"{ENTRY_POINT_GROUP!r}, which does not load: {first_line}") from None
    if isinstance(loaded, ArchitectureBuilder):
        return loaded
    if not callable(loaded):
        raise ArchitectureError("architecture.target", f"names {entry_point.value!r} declared in "
                                f"{ENTRY_POINT_GROUP!r}, which is not callable")
    return ArchitectureBuilder(loaded)


def find_architecture(target: str) -> ArchitectureBuilder:
    """The builder registered under exactly this name.

    Args:
        target: A registered name (a built-in, or an entry point's name in ``rsa_ray.architectures``).

    Raises:
        UnknownArchitectureError: If no builder has that name (naming it and some known names).

    Example:
        >>> find_architecture("rsa_ray.models.encoder_decoder:build_encoder_decoder").build.__name__
        'build_encoder_decoder'
        >>> find_architecture("os:system")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        rsa_ray.models.architecture_kwargs.UnknownArchitectureError: field 'architecture.target' 'os:system' is not a registered architecture builder ...
    """
    builtin = BUILTIN_ARCHITECTURES.get(target) if isinstance(target, str) else None
    if builtin is not None:
        return builtin
    entry_point = _declared_entry_points().get(target) if isinstance(target, str) else None
    if entry_point is None:
        raise _unknown(target)
    return _load(entry_point)


def _check_config_source(spec: ArchitectureSpec, source: ModelSource) -> None:
    if spec.config is not None and source is not ModelSource.TRANSFORMERS:
        raise ArchitectureError("architecture.config", f"is only for source transformers, not {source.value}")


def check_architecture(spec: ArchitectureSpec, source: ModelSource | str = ModelSource.SAFETENSORS) -> None:
    """Checks that an entry's architecture names a registered builder and passes only arguments it accepts.

    Nothing is built; a torchvision/timm name is checked against its library only where it is installed,
    and a missing required argument is reported by :func:`build_architecture`.

    Args:
        spec: The entry's architecture.
        source: The entry's source (``torchvision`` and ``timm`` name library models).

    Raises:
        ArchitectureError: Naming ``architecture.target`` or ``architecture.kwargs.NAME``.

    Example:
        >>> check_architecture(ArchitectureSpec("rsa_ray.models.encoder_decoder:build_encoder_decoder",
        ...                                     {"out_channels": 1, "colour": "red"}))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        rsa_ray.models.architecture_kwargs.ArchitectureError: field 'architecture.kwargs.colour' is not an argument ...
    """
    source = ModelSource(source)
    _check_config_source(spec, source)
    if source in _HUB_SOURCES:
        check_hub_kwargs(_HUB_SOURCES[source], spec.kwargs_dict())
        check_hub_name(_HUB_SOURCES[source], spec.target)
        return
    if source is ModelSource.TRANSFORMERS:
        check_transformers_spec(spec)
        return
    accepted, _ = find_architecture(spec.target).parameters(spec.target)
    check_kwargs(spec.kwargs_dict(), spec.target, accepted)  # a missing required argument is named when built


def _built(build: Callable[[], object], target: str) -> nn.Module:
    try:
        module = build()
    except TypeError as error:  # an argument of the right name whose value the builder cannot take
        raise ArchitectureError("architecture.kwargs", f"do not fit {target!r}: {error}") from error
    if not isinstance(module, nn.Module):
        raise ArchitectureError("architecture.target", f"{target!r} returned {type(module).__name__}, not a "
                                "torch.nn.Module")
    return module


def build_architecture(spec: ArchitectureSpec, source: ModelSource | str = ModelSource.SAFETENSORS) -> nn.Module:
    """Builds a randomly initialised module through the registry, after :func:`check_architecture`'s checks.

    Raises:
        ArchitectureError: If the architecture is refused, its arguments do not fit, or it builds no module.
        ImportError: For a torchvision/timm model when that library is missing.

    Example:
        >>> spec = ArchitectureSpec("rsa_ray.models.encoder_decoder:build_encoder_decoder", {"out_channels": 2})
        >>> type(build_architecture(spec)).__name__
        'EncoderDecoder'
    """
    source = ModelSource(source)
    _check_config_source(spec, source)
    if source in _HUB_SOURCES:
        hub_build = build_torchvision_model if source is ModelSource.TORCHVISION else build_timm_model
        return _built(functools.partial(hub_build, spec.target, spec.kwargs_dict()), spec.target)
    if source is ModelSource.TRANSFORMERS:
        return _built(functools.partial(build_transformers_model, spec), spec.target)
    builder = find_architecture(spec.target)
    accepted, required = builder.parameters(spec.target)
    check_kwargs(spec.kwargs_dict(), spec.target, accepted, required)
    return _built(functools.partial(builder.build, **spec.kwargs_dict()), spec.target)

