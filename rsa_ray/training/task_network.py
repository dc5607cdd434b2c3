"""A task's Table S1 network and loss: the head follows the target kind, the loss the loss kind.

Dense maps get the dense decoder, a class or vector a pooled linear head. A
transfer model is that network with a candidate's encoder weights (or a random
encoder: the control) and a fresh head.

>>> from rsa_ray.datasets import task_by_name
>>> architecture_for_task(task_by_name("depth")).kwargs_dict()["head"]
'dense'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from rsa_ray.datasets.tasks import LossKind, TaskSpec
from rsa_ray.models.encoder_decoder import EncoderDecoder, build_encoder_decoder
from rsa_ray.models.entry import ArchitectureSpec
from rsa_ray.models.residual_encoder import build_residual_encoder_decoder

ARCHITECTURE_TARGET = "rsa_ray.models.encoder_decoder:build_encoder_decoder"
LARGE_ARCHITECTURE_TARGET = "rsa_ray.models.residual_encoder:build_residual_encoder_decoder"
#: The zoo's encoder sizes: the paper's small Table S1 network and the residual one (12.5× its encoder's parameters).
VARIANTS: tuple[str, ...] = ("small", "large")
_BUILDERS: dict[str, Callable[..., EncoderDecoder]] = {
    ARCHITECTURE_TARGET: build_encoder_decoder,
    LARGE_ARCHITECTURE_TARGET: build_residual_encoder_decoder,
}

_LOSSES: dict[LossKind, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    LossKind.L1: F.l1_loss,
    LossKind.MSE: F.mse_loss,
    LossKind.BINARY_CROSS_ENTROPY: F.binary_cross_entropy_with_logits,
    LossKind.CROSS_ENTROPY: F.cross_entropy,
}


def architecture_for_task(task: TaskSpec, width: int = 1, variant: str = "small") -> ArchitectureSpec:
    """The builder and kwargs of a task's model (dense head for dense targets, pooled otherwise).

    Args:
        task: The task (fixes the head, its size and the output channels).
        width: Channel multiplier of the small network.
        variant: ``"small"`` (Table S1) or ``"large"`` (the residual encoder; ``width`` must be 1).

    Example:
        >>> from rsa_ray.datasets import task_by_name
        >>> architecture_for_task(task_by_name("object_class")).kwargs_dict()["head"]
        'pooled'
        >>> architecture_for_task(task_by_name("depth"), variant="large").target.split(":")[1]
        'build_residual_encoder_decoder'
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    kwargs: dict[str, Any] = {"out_channels": task.channels, "head": "dense" if task.target_kind.is_dense else "pooled",
                              "pool_size": 2, "head_hidden": task.head_hidden, "decoder_activation": "leaky_relu"}
    if variant == "large":
        if width != 1:
            raise ValueError(f"the large variant has one size; width must be 1, got {width}")
        return ArchitectureSpec(LARGE_ARCHITECTURE_TARGET, kwargs)
    return ArchitectureSpec(ARCHITECTURE_TARGET, {**kwargs, "width": width})


def build_task_model(task: TaskSpec, width: int = 1, variant: str = "small") -> EncoderDecoder:
    """A randomly initialised network of :func:`architecture_for_task`.

    Example:
        >>> from rsa_ray.datasets import task_by_name
        >>> type(build_task_model(task_by_name("camera_pose"), variant="large").encoder).__name__
        'ResidualEncoder'
    """
    spec = architecture_for_task(task, width, variant)
    return _BUILDERS[spec.target](**spec.kwargs_dict())


def task_loss(task: TaskSpec, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The task's loss (mean over images and pixels).

    Example:
        >>> from rsa_ray.datasets import task_by_name
        >>> float(task_loss(task_by_name("depth"), torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2)))
        1.0
    """
    return _LOSSES[task.loss](outputs, targets)


def encoder_state(model_state: Mapping[str, Any]) -> dict[str, Any]:
    """The encoder's weights from a whole encoder-decoder's state dict (``encoder.`` prefix removed).

    Raises:
        ValueError: If the state dict has no ``encoder.*`` entries.

    Example:
        >>> sorted(encoder_state({"encoder.output.bias": 0, "head.bias": 1}))
        ['output.bias']
    """
    state = {key[len("encoder."):]: value for key, value in model_state.items() if key.startswith("encoder.")}
    if not state:
        raise ValueError(f"state dict has no encoder.* weights (keys start {sorted(model_state)[:3]})")
    return state


def build_transfer_model(task: TaskSpec, encoder_weights: Mapping[str, Any] | None, width: int = 1, seed: int = 0) -> EncoderDecoder:
    """The Table S1 network for ``task`` with a fresh head; its encoder from ``encoder_weights`` (None: random).

    Raises:
        ValueError: Weights that do not fit the encoder of that width (naming the mismatch).

    Example:
        >>> from rsa_ray.datasets import task_by_name
        >>> type(build_transfer_model(task_by_name("depth"), None)).__name__
        'EncoderDecoder'
    """
    torch.manual_seed(seed)
    model = build_task_model(task, width)
    if encoder_weights is not None:
        tensors = {name: torch.tensor(np.asarray(value, dtype=np.float32)) for name, value in encoder_weights.items()}
        try:
            model.encoder.load_state_dict(tensors, strict=True)
        except RuntimeError as error:
            raise ValueError(f"encoder weights do not fit a width-{width} Table S1 encoder: {str(error).splitlines()[0]}") from None
    return model
