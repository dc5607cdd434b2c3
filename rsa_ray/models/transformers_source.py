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
like any state dict. The config may name no code, kernels or hub location (checked before transformers
is imported: :mod:`rsa_ray.models.transformers_config`), and the hub is off while the model is built
(:mod:`rsa_ray.models.hub_offline`), whatever the local hub cache holds.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from torch import nn

from rsa_ray.models.architecture_kwargs import ArchitectureError, UnknownArchitectureError, check_kwargs
from rsa_ray.models.entry import ArchitectureSpec
from rsa_ray.models.hub_offline import hub_offline
from rsa_ray.models.transformers_config import (MAX_CONFIG_BYTES, check_config_document, check_config_keys)
from rsa_ray.errors import sha256_mismatch

# Model class -> its config class, both attributes of the ``transformers`` package.
TRANSFORMERS_MODELS: Mapping[str, str] = MappingProxyType({
    "ViTModel": "ViTConfig",
    "Dinov2Model": "Dinov2Config",
    "CLIPVisionModel": "CLIPVisionConfig",
})


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


def _read_bounded(path: str | os.PathLike) -> bytes:
    """A regular file's bytes, refused by its size before they are read (and while they are)."""
    shown = os.fspath(path)
    try:
        status = os.stat(path)
    except FileNotFoundError:
        raise ArchitectureError("architecture.config", f"{shown!r} does not exist") from None
    except OSError as error:
        raise ArchitectureError("architecture.config", f"{shown!r} cannot be read: {type(error).__name__}") from None
    if not stat.S_ISREG(status.st_mode):
        raise ArchitectureError("architecture.config", f"{shown!r} is not a regular file")
    too_large = ArchitectureError("architecture.config", f"{shown!r} is larger than "
                                  f"{MAX_CONFIG_BYTES >> 20} MiB, the limit for a config file")
    if status.st_size > MAX_CONFIG_BYTES:
        raise too_large
    with open(path, "rb") as handle:
        payload = handle.read(MAX_CONFIG_BYTES + 1)
    if len(payload) > MAX_CONFIG_BYTES:
        raise too_large
    return payload


def read_config_document(path: str | os.PathLike, sha256: str | None) -> dict:
    """The config file's JSON object, after its size and sha256 are checked (it is read once).

    Raises:
        WeightsIntegrityError: If the file's sha256 differs (the file's own digest is not shown).
        ArchitectureError: If it is over 16 MiB, not a regular file or not a JSON object (naming
            ``architecture.config``).

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "config.json"
        >>> _ = path.write_text('{"hidden_size": 32}')
        >>> read_config_document(path, None)
        {'hidden_size': 32}
    """
    payload = _read_bounded(path)
    if sha256 is not None and hashlib.sha256(payload).hexdigest() != sha256.lower():
        raise sha256_mismatch(repr(os.fspath(path)), sha256)
    try:
        document = json.loads(payload)
    except (ValueError, RecursionError) as error:
        problem = "nests too deeply" if isinstance(error, RecursionError) else str(error)
        raise ArchitectureError("architecture.config", f"{os.fspath(path)!r} is not readable JSON: {problem}") from None
    if not isinstance(document, dict):
        raise ArchitectureError("architecture.config", f"{os.fspath(path)!r} must hold a JSON object")
    return document


def _config(transformers, target: str, document: dict, attention: str | None):
    """The config object, from a document that passed :func:`check_config_document`."""
    config_class = getattr(transformers, TRANSFORMERS_MODELS[target])
    model_type = document.get("model_type", config_class.model_type)
    if model_type != config_class.model_type:
        raise ArchitectureError("architecture.config", f"is a {model_type!r} config, but {target} needs "
                                f"{config_class.model_type!r}")
    check_config_keys(document, config_class.__name__, frozenset(config_class().to_dict()))
    try:  # the attention and experts implementations passed explicitly: only built-in ones
        return config_class.from_dict(document, attn_implementation=attention, experts_implementation=None)
    except ArchitectureError:
        raise
    except (TypeError, ValueError, KeyError) as error:
        raise ArchitectureError("architecture.config", f"does not fit {target}: {error}") from None


def build_transformers_model(spec: ArchitectureSpec) -> nn.Module:
    """A randomly initialised transformers model of an allowed class, from the spec's checked config file.

    The config may name no code, kernels or hub location (:mod:`rsa_ray.models.transformers_config`,
    checked before transformers is imported), and the model is built with the hub off
    (:func:`rsa_ray.models.hub_offline.hub_offline`).

    Args:
        spec: The architecture: ``target`` a class of :data:`TRANSFORMERS_MODELS`, ``config`` its
            config.json (a local path) and sha256.

    Raises:
        ArchitectureError: If the class is not allowed, the config names code or a hub location, or it
            does not fit the class.
        WeightsIntegrityError: If the config file's sha256 differs.
        ImportError: If transformers is not installed.

    Example:
        >>> build_transformers_model(ArchitectureSpec("ViTModel", config=WeightsRef("config.json")))  # doctest: +SKIP
    """
    check_transformers_spec(spec)
    document, attention = check_config_document(read_config_document(spec.config.path, spec.config.sha256))
    with hub_offline("transformers", "transformers.modeling_utils"):  # imported inside: they see the switches
        transformers = importlib.import_module("transformers")
        config = _config(transformers, spec.target, document, attention)
        try:
            return getattr(transformers, spec.target)(config)
        except ArchitectureError:
            raise
        except (TypeError, ValueError, KeyError) as error:
            raise ArchitectureError("architecture.config", f"does not fit {spec.target}: {error}") from None
