"""Building a ready-to-run ``nn.Module`` from a :class:`ModelEntry` and its local weights file.

The entry's architecture is configuration the registry owner trusts (it names
code to import); the weights are untrusted data, read only through
:mod:`rsa_ray.models.weights` after their sha256 is checked.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn

from rsa_ray.models.entry import ArchitectureSpec, ModelEntry, ModelSource
from rsa_ray.models.hub import build_timm_model, build_torchvision_model
from rsa_ray.models.weights import load_safetensors, load_state_dict, load_torch_weights_only, verify_sha256


def resolve_callable(import_path: str, allowed_prefixes: Sequence[str] | None = None) -> Callable[..., object]:
    """Imports ``"package.module:attribute"`` (the attribute may be dotted, e.g. ``Class.method``).

    Args:
        import_path: Module and attribute separated by one colon.
        allowed_prefixes: If given, the module must start with one of these (e.g. ``("rsa_ray.", "mylab.")``).

    Raises:
        ValueError: On a malformed path, a module outside ``allowed_prefixes``, or a
            missing module or attribute (the message names the path).

    Example:
        >>> resolve_callable("rsa_ray.models.encoder_decoder:build_encoder_decoder").__name__
        'build_encoder_decoder'
    """
    module_name, sep, attribute = import_path.partition(":")
    if not sep or not module_name or not attribute or ":" in attribute:
        raise ValueError(f"architecture must look like 'package.module:function', got {import_path!r}")
    if allowed_prefixes is not None and not any(
        module_name == prefix.rstrip(".") or module_name.startswith(prefix) for prefix in allowed_prefixes
    ):
        raise ValueError(f"architecture module {module_name!r} is not under the allowed prefixes {list(allowed_prefixes)}")
    try:
        target: object = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(f"cannot import {module_name!r} for architecture {import_path!r}: {error}") from error
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise ValueError(f"architecture {import_path!r}: {module_name!r} has no attribute {attribute!r}")
        target = getattr(target, part)
    if not callable(target):
        raise ValueError(f"architecture {import_path!r} is not callable")
    return target


def instantiate_architecture(spec: ArchitectureSpec, allowed_prefixes: Sequence[str] | None = None) -> nn.Module:
    """Calls the architecture's builder with its kwargs and checks that it returns an ``nn.Module``.

    Example:
        >>> spec = ArchitectureSpec("rsa_ray.models.encoder_decoder:build_encoder_decoder", {"out_channels": 2})
        >>> type(instantiate_architecture(spec)).__name__
        'EncoderDecoder'
    """
    builder = resolve_callable(spec.target, allowed_prefixes)
    module = builder(**spec.kwargs_dict())
    if not isinstance(module, nn.Module):
        raise ValueError(f"architecture {spec.target!r} returned {type(module).__name__}, not a torch.nn.Module")
    return module


def _weights_path(entry: ModelEntry, weights_path: str | os.PathLike | None, base_dir: str | os.PathLike | None) -> Path:
    if weights_path is not None:
        return Path(weights_path)
    if entry.weights is None:
        raise ValueError(f"model {entry.model_id!r} has no weights file")
    path = Path(entry.weights.path)
    return path if path.is_absolute() or base_dir is None else Path(base_dir) / path


def _load_into(module: nn.Module, state_dict: dict[str, torch.Tensor], model_id: str) -> None:
    try:
        result = module.load_state_dict(state_dict, strict=False)
    except RuntimeError as error:  # shape mismatches
        raise ValueError(f"weights of model {model_id!r} do not fit its architecture: {error}") from error
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(
            f"weights of model {model_id!r} do not fit its architecture: missing {result.missing_keys[:5]}, "
            f"unexpected {result.unexpected_keys[:5]}"
        )


def build_model(
    entry: ModelEntry,
    weights_path: str | os.PathLike | None = None,
    base_dir: str | os.PathLike | None = None,
    allowed_prefixes: Sequence[str] | None = None,
) -> nn.Module:
    """Builds the model an entry describes, with verified weights, in eval mode on the CPU.

    Args:
        entry: The registry entry.
        weights_path: A local copy of the weights (e.g. fetched by ``storage``);
            defaults to ``entry.weights.path`` (relative to ``base_dir``).
        base_dir: Folder that relative weight paths are relative to (a manifest's folder).
        allowed_prefixes: Optional allow-list of architecture modules.

    Returns:
        The model, in eval mode.

    Raises:
        WeightsIntegrityError: If the file's sha256 differs from the entry's.
        UnsafeCheckpointError: If a torch checkpoint needs code to unpickle.
        ValueError: If the architecture cannot be built or the weights do not fit it.
        ImportError: For a torchvision/timm model when that library is missing.

    Example:
        >>> from rsa_ray.models.manifest import example_entry
        >>> build_model(example_entry(), weights_path="depth.safetensors")  # doctest: +SKIP
    """
    expected = entry.weights.sha256 if entry.weights is not None else None
    if entry.source is ModelSource.TORCHSCRIPT:
        path = _weights_path(entry, weights_path, base_dir)
        verify_sha256(path, expected)
        return torch.jit.load(os.fspath(path), map_location="cpu").eval()
    if entry.source is ModelSource.TORCHVISION:
        module = build_torchvision_model(entry.architecture.target, entry.architecture.kwargs_dict())
    elif entry.source is ModelSource.TIMM:
        module = build_timm_model(entry.architecture.target, entry.architecture.kwargs_dict())
    else:
        module = instantiate_architecture(entry.architecture, allowed_prefixes)
    if entry.weights is not None or weights_path is not None:
        path = _weights_path(entry, weights_path, base_dir)
        verify_sha256(path, expected)
        readers = {ModelSource.SAFETENSORS: load_safetensors, ModelSource.TORCH_STATE_DICT: load_torch_weights_only}
        state_dict = readers[entry.source](path) if entry.source in readers else load_state_dict(path, None)
        _load_into(module, state_dict, entry.model_id)
    return module.eval()
