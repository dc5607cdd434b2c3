"""torchvision and timm models by name; both libraries are optional and imported only here, when asked for.

Nothing is downloaded: models are built with random initialisation
(``weights=None`` / ``pretrained=False``); trained weights come from a local
file through the registry entry like any other state dict. Arguments that would
fetch weights (torchvision ``weights*``, timm ``pretrained``, ``pretrained_cfg*``,
``checkpoint_path``, ``cache_dir``, a URL or an ``hf-hub:`` name) are refused; the
explicit "no weights" forms (``weights: null``, ``pretrained: false``) are allowed
and change nothing. The model is built with the hub off (:mod:`rsa_ray.models.hub_offline`).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from types import ModuleType

from torch import nn

from rsa_ray.models.architecture_kwargs import UnknownArchitectureError, check_kwargs
from rsa_ray.models.hub_offline import hub_offline

TORCHVISION = "torchvision"
TIMM = "timm"
# Model constructor arguments worth setting from a manifest; anything else is refused as unknown.
HUB_ACCEPTED_KWARGS: Mapping[str, frozenset[str]] = {
    TORCHVISION: frozenset({"num_classes", "dropout", "attention_dropout", "aux_logits", "init_weights",
                            "transform_input", "zero_init_residual", "groups", "width_per_group",
                            "stochastic_depth_prob", "image_size", "progress"}),
    TIMM: frozenset({"num_classes", "in_chans", "global_pool", "drop_rate", "drop_path_rate", "drop_block_rate",
                     "img_size", "scriptable", "exportable", "no_jit"}),
}
# Arguments that would fetch weights or configuration from a hub: allowed only as "no weights" (null / false).
HUB_FETCHING_KWARGS: Mapping[str, frozenset[str]] = {
    TORCHVISION: frozenset({"weights", "weights_backbone"}),
    TIMM: frozenset({"pretrained", "pretrained_cfg", "pretrained_cfg_overlay", "checkpoint_path", "cache_dir"}),
}
_HUB_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*", flags=re.ASCII)
_FETCHING_PROBLEM = ("would fetch weights from a hub and is refused: weights come only from the entry's checked "
                     "weights file (only null{} is allowed here)")


def _is_fetching(library: str, name: str) -> bool:
    return name in HUB_FETCHING_KWARGS[library] or (library == TORCHVISION and name.startswith("weights"))


def _no_fetch(value: object) -> bool:
    return value is None or value is False


def check_hub_name(library: str, name: str) -> None:
    """Checks a model name: a plain name (no ``hf-hub:`` or paths), known to the library when it is installed.

    Args:
        library: ``"torchvision"`` or ``"timm"``.
        name: The model name from ``architecture.target``.

    Raises:
        UnknownArchitectureError: Naming ``architecture.target``.

    Example:
        >>> check_hub_name("timm", "hf-hub:org/model")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        rsa_ray.models.architecture_kwargs.UnknownArchitectureError: field 'architecture.target' must be a timm model...
    """
    if not isinstance(name, str) or not _HUB_NAME.fullmatch(name):
        raise UnknownArchitectureError(
            "architecture.target", f"must be a {library} model name (letters, digits, '_', '.', '-'), got {name!r}")
    try:
        module = importlib.import_module("torchvision.models" if library == TORCHVISION else "timm")
    except ImportError:
        return  # checked again where the model is built, which needs the library
    exists = name in module.list_models() if library == TORCHVISION else module.is_model(name)
    if not exists:
        examples = ", ".join(sorted(module.list_models())[:8])
        raise UnknownArchitectureError("architecture.target", f"{name!r} is not a {library} model; e.g. {examples}")


def check_hub_kwargs(library: str, kwargs: Mapping[str, object]) -> dict[str, object]:
    """Checks the arguments of a hub model; returns those to pass on (the "no weights" forms dropped).

    Raises:
        ArchitectureError: Naming ``architecture.kwargs.NAME``.

    Example:
        >>> check_hub_kwargs("torchvision", {"num_classes": 10, "weights": None})
        {'num_classes': 10}
        >>> check_hub_kwargs("timm", {"pretrained": True})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        rsa_ray.models.architecture_kwargs.ArchitectureError: field 'architecture.kwargs.pretrained' would fetch weights...
    """
    allowed_value = " or false" if library == TIMM else ""
    refused = {name: _FETCHING_PROBLEM.format(allowed_value) for name, value in kwargs.items()
               if _is_fetching(library, str(name)) and not _no_fetch(value)}
    no_fetch = {name for name in kwargs if _is_fetching(library, str(name)) and name not in refused}
    check_kwargs(kwargs, f"{library} models", HUB_ACCEPTED_KWARGS[library] | no_fetch, refused=refused)
    return {name: value for name, value in kwargs.items() if name not in no_fetch}


def _import_optional(module_name: str, extra: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except ImportError as error:
        raise ImportError(
            f"{module_name} is needed for this model but is not installed; install it (e.g. `pip install {extra}`) "
            "in an environment whose torch build it supports"
        ) from error


# Per library: the module holding its constructors, and how to build a randomly initialised model from it.
_CONSTRUCTORS: Mapping[str, tuple[str, Callable[..., nn.Module]]] = {
    TORCHVISION: ("torchvision.models", lambda module, name, kwargs: module.get_model(name, weights=None, **kwargs)),
    TIMM: ("timm", lambda module, name, kwargs: module.create_model(name, pretrained=False, **kwargs)),
}


def _build_hub_model(library: str, name: str, kwargs: Mapping[str, object] | None) -> nn.Module:
    passed = check_hub_kwargs(library, dict(kwargs or {}))
    check_hub_name(library, name)
    module_name, construct = _CONSTRUCTORS[library]
    module = _import_optional(module_name, library)
    with hub_offline(module_name):  # the hub is off and its download functions refuse while the model is built
        return construct(module, name, passed)


def build_torchvision_model(name: str, kwargs: Mapping[str, object] | None = None) -> nn.Module:
    """A torchvision classification model by name, randomly initialised.

    Args:
        name: A name known to ``torchvision.models.get_model`` (e.g. ``"resnet18"``).
        kwargs: Extra keyword arguments for the builder (e.g. ``num_classes``), checked by
            :func:`check_hub_kwargs`.

    Raises:
        ImportError: If torchvision is not installed.
        ArchitectureError: If torchvision has no model of that name, or an argument is refused.

    Example:
        >>> build_torchvision_model("resnet18")  # doctest: +SKIP
    """
    return _build_hub_model(TORCHVISION, name, kwargs)


def build_timm_model(name: str, kwargs: Mapping[str, object] | None = None) -> nn.Module:
    """A timm model by name (known to ``timm.create_model``), with ``pretrained=False``.

    Arguments and errors are those of :func:`build_torchvision_model`, for timm.

    Example:
        >>> build_timm_model("resnet18", {"num_classes": 10})  # doctest: +SKIP
    """
    return _build_hub_model(TIMM, name, kwargs)
