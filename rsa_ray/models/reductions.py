"""Per-layer reductions: how one layer's output becomes one feature vector per image.

A reduction is named in the manifest (a layer's ``reduce``) or by the ``--reduce`` flag:

* ``flatten`` (the paper's, the default): every value, C-order (channel-major for conv maps);
* ``avg`` / ``max``: global average / max pooling over everything after the channel axis
  (``[M, C, H, W]`` → ``[M, C]``);
* ``adaptive:K``: adaptive average pooling to K×K (``[M, C, H, W]`` → ``[M, C·K·K]``; K values
  along a 1-d map ``[M, C, L]``);
* ``cls``: the class token of a token output (``[M, tokens, dim]`` → ``[M, dim]``, token 0);
* ``tokens-mean``: the mean over tokens (``[M, tokens, dim]`` → ``[M, dim]``).

A ``[M, D]`` output is already one vector per image: every reduction but ``cls`` and
``tokens-mean`` keeps it as it is.

>>> import torch
>>> reduce_activation(torch.ones(2, 8, 4, 4), "adaptive:2").shape
torch.Size([2, 32])
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from rsa_ray.names import FLATTEN, REDUCTIONS, check_reduction

POOLED_REDUCTION = "avg"  # what label-based scores read where a layer is too wide to keep whole

__all__ = ["FLATTEN", "POOLED_REDUCTION", "REDUCTIONS", "check_reduction", "flatten_width", "reduce_activation",
           "reduced_width"]


def _needs_tokens(activation: torch.Tensor, reduction: str) -> None:
    if activation.ndim != 3:
        raise ValueError(f"reduction {reduction!r} needs a token output [images, tokens, dim], "
                         f"got shape {tuple(activation.shape)}")


def _adaptive(activation: torch.Tensor, size: int) -> torch.Tensor:
    if activation.ndim == 4:
        return torch.nn.functional.adaptive_avg_pool2d(activation, size)
    if activation.ndim == 3:
        return torch.nn.functional.adaptive_avg_pool1d(activation, size)
    raise ValueError(f"reduction 'adaptive:{size}' needs a map [images, channels, H, W] or [images, channels, L], "
                     f"got shape {tuple(activation.shape)}")


def reduce_activation(activation: torch.Tensor, reduction: str = FLATTEN) -> torch.Tensor:
    """One layer's batch output ``[M, ...]`` reduced to ``[M, D]`` features (see the module's list).

    Args:
        activation: The layer's output for M images.
        reduction: A name of :data:`REDUCTIONS` (``adaptive:K`` with a number).

    Returns:
        ``[M, D]``, in the activation's dtype.

    Raises:
        ValueError: An unknown reduction, or one that does not fit the output's shape.

    Example:
        >>> reduce_activation(torch.arange(8.0).reshape(1, 2, 4), "avg").tolist()
        [[1.5, 5.5]]
    """
    reduction = check_reduction(reduction)
    if reduction in ("cls", "tokens-mean"):
        _needs_tokens(activation, reduction)
        return activation[:, 0, :] if reduction == "cls" else activation.mean(dim=1)
    if activation.ndim <= 2 or reduction == FLATTEN:
        return activation.reshape(activation.shape[0], -1)
    if reduction == "avg":
        return activation.flatten(2).mean(dim=2)
    if reduction == "max":
        return activation.flatten(2).amax(dim=2)
    size = int(reduction.split(":")[1])
    pooled = _adaptive(activation.float() if activation.dtype in (torch.float16, torch.bfloat16) else activation, size)
    return pooled.reshape(activation.shape[0], -1).to(activation.dtype)


def reduced_width(shape: Sequence[int], reduction: str = FLATTEN) -> int:
    """How many features per image ``reduction`` gives for an output of ``shape`` (images first).

    Example:
        >>> reduced_width((1, 256, 56, 56)), reduced_width((1, 256, 56, 56), "avg")
        (802816, 256)
    """
    return int(reduce_activation(torch.empty((1, *shape[1:]), device="meta"), reduction).shape[1])


def flatten_width(shape: Sequence[int]) -> int:
    """Values per image of an output of ``shape`` (images first): the ``flatten`` width.

    Example:
        >>> flatten_width((4, 3, 2, 2))
        12
    """
    return math.prod(int(size) for size in shape[1:])
