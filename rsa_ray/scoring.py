"""Held-out scores of predictions against targets, higher is better (numpy only).

Transfer validation scores each finetuned model with the metric that fits its
task (see :func:`rsa_ray.training.metric_for_task`): accuracy for classes, mean
IoU for per-pixel classes, and minus the L1 / MSE / BCE loss for maps and vectors.

>>> score_predictions("accuracy", np.eye(3), np.array([0, 1, 1]))
0.6666666666666666
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def accuracy(outputs: np.ndarray, targets: np.ndarray) -> float:
    """Share of images whose arg-max logit is the label. ``outputs`` [N, C], ``targets`` [N].

    Example:
        >>> accuracy(np.array([[2.0, 0.0], [0.0, 1.0]]), np.array([0, 0]))
        0.5
    """
    return float((np.asarray(outputs).argmax(axis=1) == np.asarray(targets)).mean())


def mean_iou(outputs: np.ndarray, targets: np.ndarray) -> float:
    """Mean intersection over union of per-pixel classes, over classes present in labels or predictions.

    ``outputs`` [N, C, H, W] logits, ``targets`` [N, H, W] classes.

    Example:
        >>> logits = np.zeros((1, 2, 1, 2)); logits[0, 1, 0, 1] = 1.0
        >>> mean_iou(logits, np.array([[[0, 1]]]))
        1.0
    """
    outputs = np.asarray(outputs)
    n_classes = outputs.shape[1]
    predicted = outputs.argmax(axis=1).ravel()
    labels = np.asarray(targets).ravel()
    confusion = np.bincount(labels * n_classes + predicted, minlength=n_classes * n_classes).reshape(n_classes, n_classes)
    intersection = np.diag(confusion).astype(np.float64)
    union = confusion.sum(axis=0) + confusion.sum(axis=1) - intersection
    present = union > 0
    return float((intersection[present] / union[present]).mean())


def negative_l1(outputs: np.ndarray, targets: np.ndarray) -> float:
    """Minus the mean absolute error.

    Example:
        >>> negative_l1(np.array([1.0, 2.0]), np.array([1.0, 4.0]))
        -1.0
    """
    return -float(np.abs(np.asarray(outputs, np.float64) - np.asarray(targets, np.float64)).mean())


def negative_mse(outputs: np.ndarray, targets: np.ndarray) -> float:
    """Minus the mean squared error.

    Example:
        >>> negative_mse(np.array([1.0, 2.0]), np.array([1.0, 4.0]))
        -2.0
    """
    return -float(((np.asarray(outputs, np.float64) - np.asarray(targets, np.float64)) ** 2).mean())


def negative_bce(outputs: np.ndarray, targets: np.ndarray) -> float:
    """Minus the binary cross-entropy of logits against {0, 1} targets (numerically stable form).

    Example:
        >>> round(negative_bce(np.array([0.0]), np.array([1.0])), 4)
        -0.6931
    """
    logits = np.asarray(outputs, np.float64)
    labels = np.asarray(targets, np.float64)
    return -float((np.maximum(logits, 0) - logits * labels + np.log1p(np.exp(-np.abs(logits)))).mean())


METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "accuracy": accuracy,
    "mean_iou": mean_iou,
    "negative_l1": negative_l1,
    "negative_mse": negative_mse,
    "negative_bce": negative_bce,
}


def score_predictions(metric: str, outputs: np.ndarray, targets: np.ndarray) -> float:
    """Applies the named metric.

    Raises:
        ValueError: An unknown metric name (listing the valid ones).

    Example:
        >>> score_predictions("accuracy", np.eye(2), np.array([0, 1]))
        1.0
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; valid: {sorted(METRICS)}")
    return METRICS[metric](outputs, targets)

