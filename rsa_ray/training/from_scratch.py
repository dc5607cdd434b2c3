"""Training one small encoder-decoder from scratch on one mini-Taskonomy task (pure torch, no Ray).

Generic over tasks: the head and loss come from the task (:mod:`rsa_ray.training.task_network`).
Snapshots of the weights are taken at fixed fractions of training (for the
training-stage analysis), each with its validation loss.

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

from dataclasses import dataclass

import numpy as np
import torch

from rsa_ray.datasets.tasks import TaskSpec
from rsa_ray.models.encoder_decoder import EncoderDecoder, build_encoder_decoder
from rsa_ray.training.evaluation import validation_loss
from rsa_ray.training.loop import as_tensors, epoch_batches, optimise
from rsa_ray.training.task_network import architecture_for_task


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

    Example:
        >>> from rsa_ray.datasets import task_by_name
        >>> data = (np.zeros((4, 3, 16, 16), np.float32), np.arange(4))
        >>> train_task(task_by_name("object_count"), data, data, TrainingSettings(steps=1, batch_size=2)).final.step
        1
    """
    torch.manual_seed(settings.seed)
    device = torch.device(settings.device)
    model: EncoderDecoder = build_encoder_decoder(**architecture_for_task(task, settings.width).kwargs_dict()).to(device)
    train = as_tensors(train_split, task)
    val_inputs, val_targets = as_tensors(val_split, task)
    checkpoints: list[Checkpoint] = []

    def take_checkpoints(step: int) -> None:
        # Several fractions may round to the same step on tiny runs; each still gets its checkpoint.
        for fraction in [f for s, f in zip(settings.checkpoint_steps(), settings.checkpoint_fractions) if s == step]:
            val = validation_loss(model, task, val_inputs, val_targets, settings.eval_batch_size)
            state = {name: tensor.detach().cpu().clone() for name, tensor in model.state_dict().items()}
            checkpoints.append(Checkpoint(fraction, step, val, state))

    batches = epoch_batches(len(train[0]), settings.batch_size, np.random.default_rng(settings.seed))
    optimise(model, task, train, settings.steps, settings.learning_rate, batches, take_checkpoints,
             weight_decay=settings.weight_decay, device=device)
    return TrainingResult(tuple(checkpoints))
