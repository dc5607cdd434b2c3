"""Evaluating a task model on held-out data: its mean loss, its outputs, and its higher-is-better score.

All three run the one batched forward pass, :func:`rsa_ray.models.forward_batches`,
with the model in eval mode (and back in train mode afterwards).

>>> from rsa_ray.datasets import task_by_name
>>> metric_for_task(task_by_name("object_class"))
'accuracy'
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from rsa_ray.datasets.tasks import TaskSpec
from rsa_ray.models.inference import forward_batches
from rsa_ray.scoring import score_predictions
from rsa_ray.training.task_network import task_loss


def metric_for_task(task: TaskSpec) -> str:
    """The held-out metric that fits a task: accuracy, mIoU, or minus its regression/BCE loss.

    Example:
        >>> from rsa_ray.datasets import task_by_name
        >>> [metric_for_task(task_by_name(n)) for n in ("object_class", "semantic_segmentation", "depth")]
        ['accuracy', 'mean_iou', 'negative_l1']
    """
    kind, loss = task.target_kind.value, task.loss.value
    if kind == "class":
        return "accuracy"
    if kind == "dense_classes":
        return "mean_iou"
    return {"l1": "negative_l1", "mse": "negative_mse", "bce": "negative_bce"}[loss]


def validation_loss(model: nn.Module, task: TaskSpec, inputs: torch.Tensor, targets: torch.Tensor, batch_size: int) -> float:
    """Mean task loss over a split, weighting batches by size, in eval mode.

    Example:
        >>> from rsa_ray.datasets import task_by_name
        >>> model = torch.nn.Linear(1, 1)
        >>> _ = torch.nn.init.zeros_(model.weight), torch.nn.init.zeros_(model.bias)
        >>> validation_loss(model, task_by_name("depth"), torch.zeros(3, 1), torch.ones(3, 1), batch_size=2)
        1.0
    """
    device = next(model.parameters()).device
    model.eval()
    losses = forward_batches(
        model, inputs, batch_size,
        lambda outputs, rows: float(task_loss(task, outputs, targets[rows].to(device))) * len(inputs[rows]),
        device,
    )
    model.train()
    return sum(losses, 0.0) / len(inputs)


def predict_outputs(model: nn.Module, inputs: np.ndarray, batch_size: int = 128, device: str = "cpu") -> np.ndarray:
    """The model's outputs for ``inputs`` [N, 3, H, W], in eval mode, as float32 numpy.

    Example:
        >>> predict_outputs(torch.nn.Identity(), np.ones((3, 2)), batch_size=2).dtype
        dtype('float32')
    """
    model.eval()
    chunks = forward_batches(model, inputs, batch_size, lambda outputs, _rows: outputs.float().cpu().numpy(), device)
    model.train()
    return np.concatenate(chunks)


def held_out_score(model: nn.Module, task: TaskSpec, held_out: tuple[np.ndarray, np.ndarray], batch_size: int = 128,
                   device: str = "cpu") -> float:
    """The task's metric (:func:`metric_for_task`, higher is better) of the model's outputs on held-out data.

    Example:
        >>> from rsa_ray.datasets import task_by_name
        >>> held_out_score(torch.nn.Identity(), task_by_name("object_count"), (np.eye(4), np.arange(4)))
        1.0
    """
    inputs, targets = held_out
    return score_predictions(metric_for_task(task), predict_outputs(model, inputs, batch_size, device), targets)
