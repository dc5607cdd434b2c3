"""torchvision and timm models by name; both libraries are optional and imported only here, when asked for.

Nothing is downloaded: models are built with random initialisation
(``weights=None`` / ``pretrained=False``); trained weights come from a local
file through the registry entry like any other state dict.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from torch import nn


def _import_optional(module_name: str, extra: str):
    try:
        return importlib.import_module(module_name)
    except ImportError as error:
        raise ImportError(
            f"{module_name} is needed for this model but is not installed; install it (e.g. `pip install {extra}`) "
            "in an environment whose torch build it supports"
        ) from error


def build_torchvision_model(name: str, kwargs: Mapping[str, object] | None = None) -> nn.Module:
    """A torchvision classification model by name, randomly initialised.

    Args:
        name: A name known to ``torchvision.models.get_model`` (e.g. ``"resnet18"``).
        kwargs: Extra keyword arguments for the builder (e.g. ``num_classes``).

    Raises:
        ImportError: If torchvision is not installed.
        ValueError: If torchvision has no model of that name.

    Example:
        >>> build_torchvision_model("resnet18")  # doctest: +SKIP
    """
    models = _import_optional("torchvision.models", "torchvision")
    available = models.list_models()
    if name not in available:
        raise ValueError(f"torchvision has no model {name!r}; e.g. {sorted(available)[:10]}")
    return models.get_model(name, weights=None, **dict(kwargs or {}))


def build_timm_model(name: str, kwargs: Mapping[str, object] | None = None) -> nn.Module:
    """A timm model by name, with ``pretrained=False``.

    Raises:
        ImportError: If timm is not installed.
        ValueError: If timm has no model of that name.

    Example:
        >>> build_timm_model("resnet18")  # doctest: +SKIP
    """
    timm = _import_optional("timm", "timm")
    if not timm.is_model(name):
        raise ValueError(f"timm has no model {name!r}; see timm.list_models()")
    return timm.create_model(name, pretrained=False, **dict(kwargs or {}))
