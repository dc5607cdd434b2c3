"""Hugging Face ``transformers`` vision encoders, built offline from a checked config file.

An entry of source ``transformers`` names a model class from :data:`TRANSFORMERS_MODELS`
(an explicit allow-list: nothing a manifest says is imported) and points at the model's
``config.json`` with its sha256::

    source: transformers
    architecture:
      target: ViTModel
      config: {path: vit-small/config.json, sha256: 9c1e...}
    weights: {path: vit-small/model.safetensors, sha256: 77ab...}

The model is built from that config (``Model(config)``, what ``from_config`` does), never with
``from_pretrained`` of a hub id; its weights come through the entry's checked safetensors file
like any state dict. The hub is switched off (``HF_HUB_OFFLINE=1``) before transformers is imported.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from torch import nn

from rsa_ray.models.architecture_kwargs import ArchitectureError, UnknownArchitectureError, check_kwargs
from rsa_ray.models.entry import ArchitectureSpec
from rsa_ray.models.weights import verify_sha256

# Model class -> its config class, both attributes of the ``transformers`` package.
TRANSFORMERS_MODELS: Mapping[str, str] = MappingProxyType({
    "ViTModel": "ViTConfig",
    "Dinov2Model": "Dinov2Config",
    "CLIPVisionModel": "CLIPVisionConfig",
})
_OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


def check_transformers_spec(spec: ArchitectureSpec) -> None:
    """Checks a ``transformers`` architecture: an allowed class, a config file, no keyword arguments.

    Raises:
        ArchitectureError: Naming ``architecture.target``, ``architecture.config`` or ``architecture.kwargs.NAME``.

    Example:
        >>> check_transformers_spec(ArchitectureSpec("AutoModel"))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        rsa_ray.models.architecture_kwargs.UnknownArchitectureError: field 'architecture.target' 'AutoModel' is not an allowed transformers model class ...
    """
    if spec.target not in TRANSFORMERS_MODELS:
        raise UnknownArchitectureError("architecture.target", f"{spec.target!r} is not an allowed transformers model "
                                       f"class (allowed: {', '.join(sorted(TRANSFORMERS_MODELS))})")
    check_kwargs(spec.kwargs_dict(), f"transformers model {spec.target}", frozenset())
    if spec.config is None:
        raise ArchitectureError("architecture.config", "is required for source transformers (the model's config.json "
                                "path and its sha256)")


def _offline_transformers():
    for variable in _OFFLINE_VARIABLES:
        os.environ[variable] = "1"  # before the import: the library reads them once
    try:
        return importlib.import_module("transformers")
    except ImportError as error:
        raise ImportError("transformers is needed for this model but is not installed; install it (e.g. "
                          "`pip install transformers`)") from error


def read_config_document(path: str | os.PathLike, sha256: str | None) -> dict:
    """The config file's JSON object, after its sha256 is checked.

    Raises:
        WeightsIntegrityError: If the file's sha256 differs.
        ArchitectureError: If it is not a JSON object (naming ``architecture.config``).

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "config.json"
        >>> _ = path.write_text('{"hidden_size": 32}')
        >>> read_config_document(path, None)
        {'hidden_size': 32}
    """
    verify_sha256(path, sha256)
    try:
        document = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise ArchitectureError("architecture.config", f"{os.fspath(path)!r} is not readable JSON: {error}") from None
    if not isinstance(document, dict):
        raise ArchitectureError("architecture.config", f"{os.fspath(path)!r} must hold a JSON object")
    return document


def build_transformers_model(spec: ArchitectureSpec) -> nn.Module:
    """A randomly initialised transformers model of an allowed class, from the spec's checked config file.

    Args:
        spec: The architecture: ``target`` a class of :data:`TRANSFORMERS_MODELS`, ``config`` its
            config.json (a local path) and sha256.

    Raises:
        ArchitectureError: If the class is not allowed or the config does not fit it.
        WeightsIntegrityError: If the config file's sha256 differs.
        ImportError: If transformers is not installed.

    Example:
        >>> build_transformers_model(ArchitectureSpec("ViTModel", config=WeightsRef("config.json")))  # doctest: +SKIP
    """
    check_transformers_spec(spec)
    document = read_config_document(spec.config.path, spec.config.sha256)
    transformers = _offline_transformers()
    config_class = getattr(transformers, TRANSFORMERS_MODELS[spec.target])
    model_type = document.get("model_type", config_class.model_type)
    if model_type != config_class.model_type:
        raise ArchitectureError("architecture.config", f"is a {model_type!r} config, but {spec.target} needs "
                                f"{config_class.model_type!r}")
    try:
        config = config_class.from_dict(document)
    except (TypeError, ValueError) as error:
        raise ArchitectureError("architecture.config", f"does not fit {spec.target}: {error}") from None
    return getattr(transformers, spec.target)(config)
