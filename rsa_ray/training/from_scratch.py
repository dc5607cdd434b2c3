"""Training one small encoder-decoder from scratch on one mini-Taskonomy task (pure torch, no Ray).

Generic over tasks: the head and loss come from the task (:mod:`rsa_ray.training.task_network`).
Snapshots of the weights are taken at fixed fractions of training (for the
training-stage analysis), each with its validation loss. Training can stop
after any step and go on later from a :class:`TrainingState` (weights, Adam's
moments, the schedule, and the checkpoints so far): each step's batch is drawn
from ``(seed, step)``, so a resumed run takes exactly the steps an unbroken one would.

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
from rsa_ray.models.encoder_decoder import EncoderDecoder
from rsa_ray.training.evaluation import validation_loss
from rsa_ray.training.loop import adam_with_schedule, as_tensors, mirrored, run_steps, step_rows
from rsa_ray.training.task_network import build_task_model


@dataclass(frozen=True)
class TrainingSettings:
    """Optimisation settings for one model.

    Attributes:
        steps: Adam steps.
        batch_size: Images per step.
        learning_rate: Adam learning rate (cosine-decayed to 10% over the run).
        weight_decay: Adam weight decay.
        width: Channel multiplier of the encoder-decoder (1 = the paper's small model).
        variant: ``"small"`` (Table S1) or ``"large"`` (the residual encoder).
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
    variant: str = "small"
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


@dataclass(frozen=True)
class TrainingState:
    """Where a training run stands after ``step`` steps: enough to go on exactly where it stopped.

    Attributes:
        step: Steps done.
        model: The model's weights.
        optimizer: Adam's state dict (moments, step counts).
        schedule: The learning-rate schedule's state dict.
        checkpoints: The checkpoints taken so far.
    """

    step: int
    model: dict[str, torch.Tensor]
    optimizer: dict
    schedule: dict
    checkpoints: tuple[Checkpoint, ...] = ()

    def as_dict(self) -> dict:
        """Plain tensors, numbers and lists, for ``torch.save`` and ``torch.load(weights_only=True)``."""
        return {
            "step": self.step,
            "model": self.model,
            "optimizer": self.optimizer,
            "schedule": self.schedule,
            "checkpoints": [
                {"fraction": c.fraction, "step": c.step, "validation_loss": c.validation_loss, "state_dict": c.state_dict}
                for c in self.checkpoints
            ],
        }

    @classmethod
    def from_dict(cls, saved: dict) -> TrainingState:
        """The state :meth:`as_dict` wrote."""
        checkpoints = tuple(Checkpoint(c["fraction"], c["step"], c["validation_loss"], c["state_dict"]) for c in saved["checkpoints"])
        return cls(int(saved["step"]), saved["model"], saved["optimizer"], saved["schedule"], checkpoints)


def train_steps(
    task: TaskSpec,
    train_split: tuple[np.ndarray, np.ndarray],
    val_split: tuple[np.ndarray, np.ndarray],
    settings: TrainingSettings,
    state: TrainingState | None = None,
    until_step: int | None = None,
) -> TrainingState:
    """Trains a zoo network on one task from ``state`` (None: from scratch) up to step ``until_step``.

    Args:
        task: The task (fixes head and loss; ``task.mirror`` flips half of each batch).
        train_split: ``(inputs, targets)`` from :func:`rsa_ray.datasets.task_arrays`.
        val_split: The validation ``(inputs, targets)``.
        settings: Optimisation settings.
        state: Where an earlier call stopped.
        until_step: Last step to run (default: ``settings.steps``).

    Returns:
        The state after ``until_step``, with every checkpoint due up to there.

    Raises:
        ValueError: On empty or mismatched splits, or ``until_step`` outside (state.step, steps].

    Example:
        >>> from rsa_ray.datasets import task_by_name
        >>> data = (np.zeros((4, 3, 16, 16), np.float32), np.arange(4))
        >>> settings = TrainingSettings(steps=4, batch_size=2)
        >>> half = train_steps(task_by_name("object_count"), data, data, settings, until_step=2)
        >>> half.step, train_steps(task_by_name("object_count"), data, data, settings, half).step
        (2, 4)
    """
    until_step = settings.steps if until_step is None else until_step
    done = 0 if state is None else state.step
    if not done < until_step <= settings.steps:
        raise ValueError(f"until_step must lie in ({done}, {settings.steps}], got {until_step}")
    torch.manual_seed(settings.seed)
    device = torch.device(settings.device)
    model: EncoderDecoder = build_task_model(task, settings.width, settings.variant).to(device)
    optimizer, schedule = adam_with_schedule(model, settings.steps, settings.learning_rate, settings.weight_decay)
    checkpoints: list[Checkpoint] = []
    if state is not None:
        model.load_state_dict(state.model)
        optimizer.load_state_dict(state.optimizer)
        schedule.load_state_dict(state.schedule)
        checkpoints = list(state.checkpoints)
    train = as_tensors(train_split, task)
    val_inputs, val_targets = as_tensors(val_split, task)

    def take_checkpoints(step: int) -> None:
        # Several fractions may round to the same step on tiny runs; each still gets its checkpoint.
        for fraction in [f for s, f in zip(settings.checkpoint_steps(), settings.checkpoint_fractions) if s == step]:
            val = validation_loss(model, task, val_inputs, val_targets, settings.eval_batch_size)
            weights = {name: tensor.detach().cpu().clone() for name, tensor in model.state_dict().items()}
            checkpoints.append(Checkpoint(fraction, step, val, weights))

    n_rows = len(train[0])
    augment = (lambda inputs, step: mirrored(inputs, settings.seed, step)) if task.mirror else None
    run_steps(model, task, train, optimizer, schedule, range(done + 1, until_step + 1),
              lambda step: step_rows(n_rows, settings.batch_size, settings.seed, step), take_checkpoints,
              device=device, augment=augment)
    return TrainingState(
        step=until_step,
        model={name: tensor.detach().cpu().clone() for name, tensor in model.state_dict().items()},
        optimizer=optimizer.state_dict(),
        schedule=schedule.state_dict(),
        checkpoints=tuple(checkpoints),
    )


def train_task(
    task: TaskSpec,
    train_split: tuple[np.ndarray, np.ndarray],
    val_split: tuple[np.ndarray, np.ndarray],
    settings: TrainingSettings = TrainingSettings(),
) -> TrainingResult:
    """Trains a zoo network on one task, start to end (:func:`train_steps` in one go).

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
    return TrainingResult(train_steps(task, train_split, val_split, settings).checkpoints)
