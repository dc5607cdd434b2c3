"""Training one small encoder-decoder on one mini-Taskonomy task (pure torch, no Ray).

Generic over tasks: the head comes from the task's target kind (dense maps →
dense decoder; a class or vector → pooled + linear) and the loss from its loss
kind. Snapshots of the weights are taken at fixed fractions of training (for
the training-stage analysis), each with its validation loss.

>>> import numpy as np
>>> from rsa_ray.datasets import RendererConfig, render_mini_taskonomy, task_arrays, task_by_name
>>> task = task_by_name("object_count")
>>> data = render_mini_taskonomy(8, config=RendererConfig(image_size=32), label_names=["object_count"])
>>> x, y = task_arrays(data, task)
>>> result = train_task(task, (x, y), (x, y), TrainingSettings(steps=2, batch_size=4))
>>> [c.step for c in result.checkpoints]
[1, 1, 1, 2]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rsa_ray.datasets.tasks import LossKind, TaskSpec
from rsa_ray.models.encoder_decoder import EncoderDecoder, build_encoder_decoder
from rsa_ray.models.entry import ArchitectureSpec

ARCHITECTURE_TARGET = "rsa_ray.models.encoder_decoder:build_encoder_decoder"

_LOSSES: dict[LossKind, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    LossKind.L1: F.l1_loss,
    LossKind.MSE: F.mse_loss,
    LossKind.BINARY_CROSS_ENTROPY: F.binary_cross_entropy_with_logits,
    LossKind.CROSS_ENTROPY: F.cross_entropy,
}


@dataclass(frozen=True)
class TrainingSettings:
    """Optimisation settings for one model.

    Attributes:
        steps: Adam steps.
        batch_size: Images per step.
        learning_rate: Adam learning rate (cosine-decayed to 10% over the run).
        weight_decay: Adam weight decay.
        width: Channel multiplier of the encoder-decoder (1 = the paper's small model).
        seed: Seeds initialisation and batch order.
        checkpoint_fractions: Fractions of ``steps`` at which weights are snapshotted; must include 1.0.
        device: Torch device string.
        eval_batch_size: Images per forward pass when validating.
    """

    steps: int = 400
    batch_size: int = 32
    learning_rate: float = 2e-3
    weight_decay: float = 0.0
    width: int = 1
    seed: int = 0
    checkpoint_fractions: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0)
    device: str = "cpu"
    eval_batch_size: int = 128

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.width < 1 or self.eval_batch_size < 1:
            raise ValueError(
                f"steps, batch_size, width and eval_batch_size must be >= 1, got "
                f"{self.steps}, {self.batch_size}, {self.width}, {self.eval_batch_size}"
            )
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        fractions = tuple(sorted(float(f) for f in self.checkpoint_fractions))
        if not fractions or fractions[-1] != 1.0 or fractions[0] <= 0:
            raise ValueError(f"checkpoint_fractions must lie in (0, 1] and include 1.0, got {self.checkpoint_fractions}")
        object.__setattr__(self, "checkpoint_fractions", fractions)

    def checkpoint_steps(self) -> tuple[int, ...]:
        """The step after which each checkpoint is taken (at least 1).

        Example:
            >>> TrainingSettings(steps=40).checkpoint_steps()
            (4, 10, 20, 40)
        """
        return tuple(max(1, round(fraction * self.steps)) for fraction in self.checkpoint_fractions)


@dataclass(frozen=True)
class Checkpoint:
    """Weights at one point of training.

    Attributes:
        fraction: Fraction of training done.
        step: Steps done.
        validation_loss: Task loss on the validation split.
        state_dict: CPU copies of the weights.
    """

    fraction: float
    step: int
    validation_loss: float
    state_dict: dict[str, torch.Tensor]


@dataclass(frozen=True)
class TrainingResult:
    """Checkpoints in training order; the last one is the final model."""

    checkpoints: tuple[Checkpoint, ...]

    @property
    def final(self) -> Checkpoint:
        """The fully trained checkpoint."""
        return self.checkpoints[-1]


def architecture_for_task(task: TaskSpec, width: int = 1) -> ArchitectureSpec:
    """The builder and kwargs of a task's model (dense head for dense targets, pooled otherwise).

    Example:
        >>> from rsa_ray.datasets import task_by_name
        >>> architecture_for_task(task_by_name("object_class")).kwargs_dict()["head"]
        'pooled'
    """
    head = "dense" if task.target_kind.is_dense else "pooled"
    return ArchitectureSpec(ARCHITECTURE_TARGET, {"out_channels": task.channels, "head": head, "width": width, "pool_size": 2})


def task_loss(task: TaskSpec, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The task's loss (mean over images and pixels).

    Example:
        >>> from rsa_ray.datasets import task_by_name
        >>> float(task_loss(task_by_name("depth"), torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2)))
        1.0
    """
    return _LOSSES[task.loss](outputs, targets)


def _as_tensors(split: tuple[np.ndarray, np.ndarray], task: TaskSpec) -> tuple[torch.Tensor, torch.Tensor]:
    inputs, targets = split
    if len(inputs) != len(targets) or len(inputs) == 0:
        raise ValueError(f"task {task.name!r}: need equal, non-zero numbers of inputs and targets, got {len(inputs)}, {len(targets)}")
    return torch.from_numpy(np.asarray(inputs, dtype=np.float32)), torch.from_numpy(np.asarray(targets))


def validation_loss(model: nn.Module, task: TaskSpec, inputs: torch.Tensor, targets: torch.Tensor, batch_size: int) -> float:
    """Mean task loss over a split, weighting batches by size, in eval mode."""
    device = next(model.parameters()).device
    model.eval()
    total = 0.0
    with torch.inference_mode():
        for start in range(0, len(inputs), batch_size):
            batch = slice(start, start + batch_size)
            outputs = model(inputs[batch].to(device))
            total += float(task_loss(task, outputs, targets[batch].to(device))) * len(inputs[batch])
    model.train()
    return total / len(inputs)


def train_task(
    task: TaskSpec,
    train_split: tuple[np.ndarray, np.ndarray],
    val_split: tuple[np.ndarray, np.ndarray],
    settings: TrainingSettings = TrainingSettings(),
) -> TrainingResult:
    """Trains a Table S1 encoder-decoder on one task.

    Args:
        task: The task (fixes head and loss).
        train_split: ``(inputs, targets)`` from :func:`rsa_ray.datasets.task_arrays`.
        val_split: The validation ``(inputs, targets)``.
        settings: Optimisation settings.

    Returns:
        Checkpoints at ``settings.checkpoint_fractions``, each with its validation loss.

    Raises:
        ValueError: On empty or mismatched splits.
    """
    torch.manual_seed(settings.seed)
    device = torch.device(settings.device)
    model: EncoderDecoder = build_encoder_decoder(**architecture_for_task(task, settings.width).kwargs_dict()).to(device)
    train_inputs, train_targets = _as_tensors(train_split, task)
    val_inputs, val_targets = _as_tensors(val_split, task)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, settings.steps, eta_min=0.1 * settings.learning_rate)
    order_rng = np.random.default_rng(settings.seed)
    checkpoints: list[Checkpoint] = []
    order = order_rng.permutation(len(train_inputs))
    cursor = 0
    model.train()
    for step in range(1, settings.steps + 1):
        if cursor + settings.batch_size > len(order):
            order, cursor = order_rng.permutation(len(train_inputs)), 0
        batch = torch.from_numpy(order[cursor : cursor + settings.batch_size])
        cursor += settings.batch_size
        loss = task_loss(task, model(train_inputs[batch].to(device)), train_targets[batch].to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        # Several fractions may round to the same step on tiny runs; each still gets its checkpoint.
        for fraction in [f for s, f in zip(settings.checkpoint_steps(), settings.checkpoint_fractions) if s == step]:
            val = validation_loss(model, task, val_inputs, val_targets, settings.eval_batch_size)
            state = {name: tensor.detach().cpu().clone() for name, tensor in model.state_dict().items()}
            checkpoints.append(Checkpoint(fraction, step, val, state))
    return TrainingResult(tuple(checkpoints))


__all__ = [
    "ARCHITECTURE_TARGET",
    "Checkpoint",
    "TrainingResult",
    "TrainingSettings",
    "architecture_for_task",
    "task_loss",
    "train_task",
    "validation_loss",
]
