"""Models derived from a pretrained one, whose transfer order is known by construction.

Two derivations, each written as a safetensors file beside a manifest entry that copies the parent's
architecture, layers and preprocessing:

* :func:`noisy_state_dict`: Gaussian noise added to every weight tensor, scaled per tensor to a
  multiple (``level``) of that tensor's own standard deviation. Batch-norm running statistics and
  counters are left alone, so a larger level damages the learned filters more and nothing else.
* :func:`derived_entry`: the entry of any state dict derived from a parent (noisy, briefly finetuned,
  re-mapped from another checkpoint), saved as safetensors with its sha256.

Example:
    >>> import torch
    >>> noisy = noisy_state_dict({"w": torch.ones(4, 4), "bn.running_mean": torch.zeros(4)}, 0.5, seed=0)
    >>> bool((noisy["w"] == 1).all()), bool((noisy["bn.running_mean"] == 0).all())
    (True, True)
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path

import torch

from rsa_ray.models.entry import ModelEntry, WeightsRef

#: State-dict entries that are statistics, not learned weights: never perturbed.
STATISTIC_SUFFIXES = ("running_mean", "running_var", "num_batches_tracked")


def noisy_state_dict(state_dict: Mapping[str, torch.Tensor], level: float, seed: int) -> dict[str, torch.Tensor]:
    """A copy of ``state_dict`` with seeded Gaussian noise of ``level`` × each weight tensor's std added.

    Tensors that are not floating point, batch-norm statistics and constant tensors (std 0: e.g. a
    bias initialised to zeros, or a one-element tensor) are copied unchanged.

    Args:
        state_dict: The parent's weights.
        level: Noise std as a multiple of each tensor's own std (>= 0; 0 copies the weights).
        seed: Seed of the noise (one generator for the whole dict, tensors in key order).

    Returns:
        The perturbed state dict (new tensors; ``state_dict`` is unchanged).

    Raises:
        ValueError: For a negative or non-finite level.

    Example:
        >>> import torch
        >>> weights = {"w": torch.arange(100, dtype=torch.float32)}
        >>> noisy = noisy_state_dict(weights, 1.0, seed=0)["w"]
        >>> round(float((noisy - weights["w"]).std() / weights["w"].std()), 1)
        1.0
    """
    if not (level >= 0 and level != float("inf")):
        raise ValueError(f"noise level must be a finite number >= 0, got {level}")
    generator = torch.Generator().manual_seed(int(seed))
    noisy: dict[str, torch.Tensor] = {}
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().clone()
        learned = tensor.is_floating_point() and not name.endswith(STATISTIC_SUFFIXES) and tensor.numel() > 1
        scale = float(tensor.float().std()) if learned else 0.0
        if learned and scale > 0 and level > 0:
            noise = torch.randn(tensor.shape, generator=generator, dtype=torch.float32) * (level * scale)
            tensor = (tensor.float() + noise).to(tensor.dtype)
        noisy[name] = tensor
    return noisy


def save_safetensors(state_dict: Mapping[str, torch.Tensor], path: str | os.PathLike) -> WeightsRef:
    """Writes ``state_dict`` as safetensors at ``path`` and returns its reference (file name and sha256).

    Example:
        >>> save_safetensors({"w": torch.zeros(2)}, "w.safetensors").path  # doctest: +SKIP
        'w.safetensors'
    """
    from safetensors.torch import save_file

    from rsa_ray.models.weights import sha256_of_file

    path = Path(path)
    save_file({name: tensor.detach().contiguous() for name, tensor in state_dict.items()}, str(path))
    return WeightsRef(path.name, sha256_of_file(path))


def derived_entry(parent: ModelEntry, model_id: str, state_dict: Mapping[str, torch.Tensor],
                  out_dir: str | os.PathLike, task: str, task_type: str) -> ModelEntry:
    """The entry of a model derived from ``parent``: its weights saved in ``out_dir`` as ``MODEL_ID.safetensors``.

    The architecture, layers, modules, reductions and preprocessing are the parent's; the entry has
    no seed (its weights are complete).

    Args:
        parent: The model the weights derive from.
        model_id: The new model's id.
        state_dict: Its weights (every key the architecture has).
        out_dir: The manifest's folder (the weights path is relative to it).
        task: What the derived model is (e.g. ``imagenet-noise-0.5``).
        task_type: Its task type.

    Returns:
        The new entry.

    Example:
        >>> derived_entry(parent, "mobilenet_v2-noise-0.5", noisy, "zoo", "imagenet-noise-0.5",
        ...               "semantic").weights.path  # doctest: +SKIP
        'mobilenet_v2-noise-0.5.safetensors'
    """
    weights = save_safetensors(state_dict, Path(out_dir) / f"{model_id}.safetensors")
    return dataclasses.replace(parent, model_id=model_id, weights=weights, seed=None, task=task, task_type=task_type)


#: Sources whose models can be built with random weights from a seed alone (no weights file).
SEEDED_SOURCES = ("torchvision", "timm", "transformers")


def random_twin_entry(entry: ModelEntry, model_id: str, seed: int = 0) -> ModelEntry:
    """The entry of ``entry``'s random-init twin: the same architecture, layers, modules, reductions and
    preprocessing, no weights, initialised from ``seed``.

    Raises:
        ValueError: A model whose source cannot be built from a seed alone (a weights file or a
            TorchScript archive: see :data:`SEEDED_SOURCES`).

    Example:
        >>> twin = random_twin_entry(mobilenet_entry, "mobilenet_v2.twin-0", seed=0)  # doctest: +SKIP
        >>> twin.weights, twin.seed, twin.task  # doctest: +SKIP
        (None, 0, 'random-init')
    """
    source = getattr(entry.source, "value", entry.source)
    if source not in SEEDED_SOURCES:
        raise ValueError(f"model {entry.model_id!r}: a random-init twin needs a source built from a seed alone "
                         f"({', '.join(SEEDED_SOURCES)}), got {source}")
    return dataclasses.replace(entry, model_id=model_id, weights=None, seed=int(seed), task="random-init",
                               task_type="other", training=None)
