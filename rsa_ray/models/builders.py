"""Building a ready-to-run ``nn.Module`` from a :class:`ModelEntry` and its local weights file.

An entry is untrusted data, wherever it was read from (a manifest or a store):
its architecture is a name looked up in the operator's registry
(:mod:`rsa_ray.models.architectures`), never an import path, and its weights are
read only through :mod:`rsa_ray.models.weights` after their sha256 is checked.
TorchScript archives are programs and load only when allowed
(:mod:`rsa_ray.models.torchscript`).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import torch
from torch import nn

from rsa_ray.model_entry.paths import resolve_path
from rsa_ray.models.architecture_kwargs import ArchitectureError
from rsa_ray.models.architectures import build_architecture, check_architecture
from rsa_ray.models.entry import ArchitectureSpec, ModelEntry, ModelSource
from rsa_ray.models.seeding import check_seed, seeded_initialisation
from rsa_ray.models.torchscript import require_torchscript_allowed
from rsa_ray.models.weights import load_safetensors, load_state_dict, load_torch_weights_only, verify_sha256


def instantiate_architecture(spec: ArchitectureSpec, source: ModelSource | str = ModelSource.SAFETENSORS) -> nn.Module:
    """Builds an architecture through the registry, with checked kwargs (:mod:`rsa_ray.models.architectures`).

    Args:
        spec: The architecture: a registered name and its keyword arguments.
        source: The entry's source (``torchvision`` / ``timm`` name library models).

    Raises:
        ArchitectureError: If the name is not registered, an argument is refused, or no module is built.

    Example:
        >>> spec = ArchitectureSpec("rsa_ray.models.encoder_decoder:build_encoder_decoder", {"out_channels": 2})
        >>> type(instantiate_architecture(spec)).__name__
        'EncoderDecoder'
    """
    return build_architecture(spec, source)


def _weights_path(entry: ModelEntry, weights_path: str | os.PathLike | None, base_dir: str | os.PathLike | None) -> Path:
    if weights_path is not None:
        return Path(weights_path)
    if entry.weights is None:
        raise ValueError(f"model {entry.model_id!r} has no weights file")
    return Path(resolve_path(entry.weights.path, None if base_dir is None else os.fspath(base_dir)))


def _with_local_config(spec: ArchitectureSpec, base_dir: str | os.PathLike | None) -> ArchitectureSpec:
    """The spec with a relative config path made relative to ``base_dir`` (as for weights)."""
    if spec.config is None or base_dir is None:
        return spec
    config = dataclasses.replace(spec.config, path=resolve_path(spec.config.path, os.fspath(base_dir)))
    return dataclasses.replace(spec, config=config)


def _first_shape_mismatch(module: nn.Module, state_dict: dict[str, torch.Tensor]) -> str | None:
    """The first parameter whose shape differs between the file and the architecture, in one phrase."""
    expected = module.state_dict()
    mismatched = [name for name, tensor in expected.items()  # in the architecture's order: earliest first
                  if name in state_dict and tuple(state_dict[name].shape) != tuple(tensor.shape)]
    if not mismatched:
        return None
    name = mismatched[0]
    more = f" (and {len(mismatched) - 1} more parameters)" if len(mismatched) > 1 else ""
    return (f"parameter {name!r} is {list(state_dict[name].shape)} in the weights file but "
            f"{list(expected[name].shape)} in the architecture{more}")


def load_weights_into(module: nn.Module, state_dict: dict[str, torch.Tensor], model_id: str) -> None:
    """Copies a whole state dict into ``module``'s parameters and buffers, wherever they are (CPU or a GPU).

    Every key must fit: a shape mismatch, a missing or an unexpected key is one ``ValueError``
    naming the model, so a module reused for many models never runs with another model's values.

    Args:
        module: The built architecture (its tensors stay where they are; values are copied in).
        state_dict: The weights, e.g. from :func:`read_weights`.
        model_id: For the error message.

    Raises:
        ValueError: The weights do not fit the architecture.

    Example:
        >>> module = torch.nn.Linear(2, 1)
        >>> load_weights_into(module, {"weight": torch.ones(1, 2), "bias": torch.zeros(1)}, "m1")
        >>> module.weight.tolist()
        [[1.0, 1.0]]
    """
    mismatch = _first_shape_mismatch(module, state_dict)
    if mismatch is not None:  # one line, not torch's list of every size mismatch
        raise ValueError(f"weights of model {model_id!r} do not fit its architecture: {mismatch}")
    try:
        result = module.load_state_dict(state_dict, strict=False)
    except RuntimeError as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(f"weights of model {model_id!r} do not fit its architecture: {first_line}") from error
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(
            f"weights of model {model_id!r} do not fit its architecture: missing {result.missing_keys[:5]}, "
            f"unexpected {result.unexpected_keys[:5]}"
        )


def read_weights(entry: ModelEntry, weights_path: str | os.PathLike | None = None,
                 base_dir: str | os.PathLike | None = None) -> dict[str, torch.Tensor] | None:
    """An entry's weights as a CPU state dict, sha256-checked first; None for a model without a weights file.

    What :func:`build_model` loads, read on its own (e.g. in a background thread while another
    model runs). TorchScript archives are programs, not state dicts: they are not read here.

    Args:
        entry: The registry entry.
        weights_path: A local copy of the weights; defaults to ``entry.weights.path`` (relative to ``base_dir``).
        base_dir: Folder that relative weight paths are relative to.

    Raises:
        WeightsIntegrityError: If the file's sha256 differs from the entry's.
        UnsafeCheckpointError: If a torch checkpoint needs code to unpickle.
        ValueError: For a TorchScript entry.

    Example:
        >>> from rsa_ray.models.manifest import example_entry
        >>> read_weights(example_entry(), weights_path="depth.safetensors")  # doctest: +SKIP
        {'encoder.block1.0.weight': tensor(...), ...}
    """
    if entry.source is ModelSource.TORCHSCRIPT:
        raise ValueError(f"model {entry.model_id!r} is a TorchScript archive, not a state dict")
    if entry.weights is None and weights_path is None:
        return None
    path = _weights_path(entry, weights_path, base_dir)
    verify_sha256(path, entry.weights.sha256 if entry.weights is not None else None)
    readers = {ModelSource.SAFETENSORS: load_safetensors, ModelSource.TORCH_STATE_DICT: load_torch_weights_only}
    return readers[entry.source](path) if entry.source in readers else load_state_dict(path, None)


def build_untrained(entry: ModelEntry, base_dir: str | os.PathLike | None = None) -> nn.Module:
    """The entry's architecture, built through the registry and initialised (from its ``seed`` when set), on the CPU.

    Args:
        entry: The registry entry (not TorchScript).
        base_dir: Folder that a relative config path is relative to.

    Raises:
        ArchitectureError: As :func:`build_model`.
        MissingSeedError: For a library model with neither weights nor a seed.

    Example:
        >>> from rsa_ray.models.manifest import example_entry
        >>> type(build_untrained(example_entry())).__name__
        'EncoderDecoder'
    """
    spec = _with_local_config(entry.architecture, base_dir)
    try:
        check_architecture(spec, entry.source)  # a refused architecture is named before a missing seed
        check_seed(entry)
        with seeded_initialisation(entry.seed):
            return build_architecture(spec, entry.source)
    except ArchitectureError as error:
        raise error.for_model(entry.model_id) from None


def build_model(
    entry: ModelEntry,
    weights_path: str | os.PathLike | None = None,
    base_dir: str | os.PathLike | None = None,
    allow_torchscript: bool = False,
) -> nn.Module:
    """Builds the model an entry describes, with verified weights, in eval mode on the CPU.

    Args:
        entry: The registry entry.
        weights_path: A local copy of the weights (e.g. fetched by ``storage``);
            defaults to ``entry.weights.path`` (relative to ``base_dir``).
        base_dir: Folder that relative weight paths are relative to (a manifest's folder).
        allow_torchscript: Load a TorchScript archive (a program). Also allowed for a whole run
            by the environment variable ``RSA_RAY_ALLOW_TORCHSCRIPT=1``.

    Returns:
        The model, in eval mode. A model with a ``seed`` is initialised from it (torch's generator is
        seeded for the build and restored after), before any weights are loaded.

    Raises:
        TorchScriptDisabledError: For a TorchScript entry while TorchScript is not allowed.
        ArchitectureError: If the architecture is not a registered builder, an argument is refused,
            or it builds no module (naming the model and the field).
        WeightsIntegrityError: If the file's sha256 differs from the entry's.
        UnsafeCheckpointError: If a torch checkpoint needs code to unpickle.
        ValueError: If the weights do not fit the architecture.
        MissingSeedError: For a torchvision/timm/transformers model with neither weights nor a seed.
        ImportError: For a torchvision/timm/transformers model when that library is missing.

    Example:
        >>> from rsa_ray.models.manifest import example_entry
        >>> build_model(example_entry(), weights_path="depth.safetensors")  # doctest: +SKIP
    """
    expected = entry.weights.sha256 if entry.weights is not None else None
    if entry.source is ModelSource.TORCHSCRIPT:
        require_torchscript_allowed(entry.model_id, allow_torchscript)
        path = _weights_path(entry, weights_path, base_dir)
        verify_sha256(path, expected)
        return torch.jit.load(os.fspath(path), map_location="cpu").eval()
    module = build_untrained(entry, base_dir)
    state_dict = read_weights(entry, weights_path, base_dir)
    if state_dict is not None:
        load_weights_into(module, state_dict, entry.model_id)
    return module.eval()
