"""The training loop: Adam on a task's loss, the learning rate cosine-decayed to 10 %, over fixed steps.

Training from scratch (:func:`rsa_ray.training.train_task`) and finetuning
(:func:`rsa_ray.training.finetune_and_evaluate`) both run :func:`optimise`;
they differ in the model they start from, the order of batches and what they
do after a step (take a checkpoint, evaluate on held-out data).

>>> rng = np.random.default_rng(0)
>>> [len(rows) for rows, _ in zip(epoch_batches(10, 4, rng), range(4))]
[4, 4, 4, 4]
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import nn

from rsa_ray.datasets.tasks import TaskSpec
from rsa_ray.training.task_network import task_loss


def as_tensors(split: tuple[np.ndarray, np.ndarray], task: TaskSpec) -> tuple[torch.Tensor, torch.Tensor]:
    """``(inputs, targets)`` as tensors: float32 inputs, targets in their own dtype.

    The arrays are copied: arrays from Ray's object store are read-only, and torch needs writable memory.

    Raises:
        ValueError: Empty or mismatched inputs and targets (naming the task).

    Example:
        >>> from rsa_ray.datasets import task_by_name
        >>> inputs, targets = as_tensors((np.zeros((2, 3, 4, 4)), np.array([0, 1])), task_by_name("object_count"))
        >>> inputs.dtype, targets.dtype
        (torch.float32, torch.int64)
    """
    inputs, targets = split
    if len(inputs) != len(targets) or len(inputs) == 0:
        raise ValueError(f"task {task.name!r}: need equal, non-zero numbers of inputs and targets, got {len(inputs)}, {len(targets)}")
    return torch.from_numpy(np.array(inputs, dtype=np.float32)), torch.from_numpy(np.array(targets))


def epoch_batches(n_examples: int, batch_size: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Endless batches that walk one permutation per epoch; a tail shorter than a batch starts the next epoch.

    Example:
        >>> rows = [r.tolist() for r, _ in zip(epoch_batches(4, 2, np.random.default_rng(0)), range(2))]
        >>> sorted(rows[0] + rows[1])
        [0, 1, 2, 3]
    """
    order, cursor = rng.permutation(n_examples), 0
    while True:
        if cursor + batch_size > len(order):
            order, cursor = rng.permutation(n_examples), 0
        yield order[cursor : cursor + batch_size]
        cursor += batch_size


def sampled_batches(n_examples: int, batch_size: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Endless batches, each drawn afresh without replacement (all examples when there are fewer than a batch).

    Example:
        >>> next(sampled_batches(3, 8, np.random.default_rng(0))).size
        3
    """
    while True:
        yield rng.choice(n_examples, size=min(batch_size, n_examples), replace=False)


def step_rows(n_examples: int, batch_size: int, seed: int, step: int) -> np.ndarray:
    """The rows of one step's batch, drawn from ``(seed, step)`` alone, so a resumed run draws what it would have.

    Example:
        >>> bool((step_rows(10, 4, 0, 3) == step_rows(10, 4, 0, 3)).all()), step_rows(10, 4, 0, 3).size
        (True, 4)
    """
    rng = np.random.default_rng([seed, step])
    return rng.choice(n_examples, size=min(batch_size, n_examples), replace=False)


def mirrored(inputs: torch.Tensor, seed: int, step: int) -> torch.Tensor:
    """A batch with each image flipped left-right with probability 1/2 (drawn from ``(seed, step)``).

    Example:
        >>> batch = torch.arange(4.0).reshape(1, 1, 1, 4).repeat(8, 1, 1, 1)
        >>> sorted({tuple(row.flatten().tolist()) for row in mirrored(batch, 0, 1)})
        [(0.0, 1.0, 2.0, 3.0), (3.0, 2.0, 1.0, 0.0)]
    """
    flip = torch.from_numpy(np.random.default_rng([seed, step, 1]).random(len(inputs)) < 0.5)
    return torch.where(flip[:, None, None, None], inputs.flip(-1), inputs)


def adam_with_schedule(model: nn.Module, steps: int, learning_rate: float, weight_decay: float = 0.0):
    """Adam and its cosine schedule over ``steps`` (the learning rate decays to 10 %).

    Example:
        >>> optimizer, schedule = adam_with_schedule(nn.Linear(2, 1), 10, 1e-3)
        >>> type(optimizer).__name__, round(schedule.get_last_lr()[0], 6)
        ('Adam', 0.001)
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps, eta_min=0.1 * learning_rate)
    return optimizer, schedule


def run_steps(
    model: nn.Module,
    task: TaskSpec,
    train: tuple[torch.Tensor, torch.Tensor],
    optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
    steps: range,
    rows_for_step: Callable[[int], np.ndarray],
    after_step: Callable[[int], None],
    device: str | torch.device = "cpu",
    augment: Callable[[torch.Tensor, int], torch.Tensor] | None = None,
) -> None:
    """Runs the Adam steps ``steps`` (1-based) in train mode, calling ``after_step(step)`` after each.

    Args:
        model: The model, already on ``device``.
        task: Fixes the loss.
        train: Training ``(inputs, targets)`` from :func:`as_tensors`.
        optimizer: The optimizer (:func:`adam_with_schedule`), possibly restored from a saved state.
        schedule: Its learning-rate schedule, stepped once per step.
        steps: The steps to run, e.g. ``range(301, 751)`` to resume after step 300.
        rows_for_step: The batch's row indices for a step.
        after_step: Called with the step after each update (checkpoints, evaluations).
        device: Where each batch goes.
        augment: Applied to each batch of inputs with the step (e.g. :func:`mirrored`).

    Example:
        >>> from rsa_ray.datasets import task_by_name
        >>> from rsa_ray.training.task_network import build_transfer_model
        >>> task = task_by_name("object_count")
        >>> model = build_transfer_model(task, None)
        >>> train = as_tensors((np.zeros((4, 3, 16, 16)), np.array([0, 1, 2, 3])), task)
        >>> done = []
        >>> run_steps(model, task, train, *adam_with_schedule(model, 2, 1e-3), range(1, 3),
        ...           lambda step: step_rows(4, 2, 0, step), done.append)
        >>> done
        [1, 2]
    """
    inputs, targets = train
    model.train()
    for step in steps:
        batch = torch.from_numpy(rows_for_step(step))
        batch_inputs = inputs[batch]
        if augment is not None:
            batch_inputs = augment(batch_inputs, step)
        loss = task_loss(task, model(batch_inputs.to(device)), targets[batch].to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        after_step(step)


def optimise(
    model: nn.Module,
    task: TaskSpec,
    train: tuple[torch.Tensor, torch.Tensor],
    steps: int,
    learning_rate: float,
    batches: Iterator[np.ndarray],
    after_step: Callable[[int], None],
    weight_decay: float = 0.0,
    device: str | torch.device = "cpu",
) -> None:
    """Runs ``steps`` Adam steps on the task's loss, in train mode, calling ``after_step(step)`` after each.

    Args:
        model: The model, already on ``device``.
        task: Fixes the loss.
        train: Training ``(inputs, targets)`` from :func:`as_tensors`.
        steps: Adam steps (also the length of the cosine schedule).
        learning_rate: Adam's initial learning rate; it decays to 10 % of it.
        batches: Row indices of each step's batch (:func:`epoch_batches`, :func:`sampled_batches`).
        after_step: Called with the 1-based step after each update (checkpoints, evaluations).
        weight_decay: Adam's weight decay.
        device: Where each batch goes.

    Example:
        >>> from rsa_ray.datasets import task_by_name
        >>> from rsa_ray.training.task_network import build_transfer_model
        >>> task = task_by_name("object_count")
        >>> train = as_tensors((np.zeros((4, 3, 16, 16)), np.array([0, 1, 2, 3])), task)
        >>> done = []
        >>> optimise(build_transfer_model(task, None), task, train, 2, 1e-3, sampled_batches(4, 2, np.random.default_rng(0)), done.append)
        >>> done
        [1, 2]
    """
    optimizer, schedule = adam_with_schedule(model, steps, learning_rate, weight_decay)
    run_steps(model, task, train, optimizer, schedule, range(1, steps + 1), lambda step: next(batches), after_step, device)
