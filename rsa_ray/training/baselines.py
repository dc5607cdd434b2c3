"""Trivial baselines: the best constant prediction of a task and its loss on held-out targets.

A model that has learnt anything beats the constant that minimises the task's
loss over the training targets: the per-element median under L1, the mean under
MSE, the per-pixel frequency of the positive class under BCE (as a logit) and the
class frequencies under cross-entropy (as log-probabilities, per pixel for dense
classes). The baseline loss is that constant's loss on the validation targets,
with the definition of :func:`rsa_ray.training.task_network.task_loss` (mean over
images and pixels), computed in numpy (float64).

>>> from rsa_ray.datasets import task_by_name
>>> depth = np.array([1.0, 2.0, 9.0], dtype=np.float32).reshape(3, 1, 1, 1)   # 3 images of 1 pixel
>>> trivial_prediction(task_by_name("depth"), depth).shape, baseline_loss(task_by_name("depth"), depth, depth)
((1, 1, 1), 2.6666666666666665)
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from rsa_ray.datasets.mini_taskonomy import MiniTaskonomy, labels_for_tasks, render_mini_taskonomy, task_arrays
from rsa_ray.datasets.scene_sampling import RendererConfig
from rsa_ray.datasets.tasks import LossKind, TargetKind, TaskSpec

#: Counts added to every class (per pixel for dense classes), so a class never seen in training
#: gets a finite log-probability.
PSEUDO_COUNT = 1e-3

#: The BCE constant's probability is clipped to ``[PROBABILITY_CLIP, 1 - PROBABILITY_CLIP]``, so a
#: pixel that is always (never) positive in training gets a finite logit (about ±13.8).
PROBABILITY_CLIP = 1e-6

# The number of array dimensions of a task's targets (``task_arrays`` layout), by target kind.
_TARGET_NDIM = {
    TargetKind.DENSE_REGRESSION: 4,
    TargetKind.DENSE_BINARY: 4,
    TargetKind.DENSE_CLASSES: 3,
    TargetKind.CLASS: 1,
    TargetKind.VECTOR: 2,
}


@dataclass(frozen=True)
class TaskBaseline:
    """One task's trivial baseline.

    Attributes:
        task: The task's name.
        loss: The task's loss (a :class:`LossKind` value, e.g. ``"l1"``).
        baseline: The validation loss of the best constant prediction on the training targets.

    Example:
        >>> TaskBaseline("depth", "l1", 0.25).loss
        'l1'
    """

    task: str
    loss: str
    baseline: float


def _checked_targets(task: TaskSpec, targets: np.ndarray, split: str) -> np.ndarray:
    """``targets`` as an array of the layout ``task_arrays`` gives ``task``; raises ValueError otherwise."""
    targets = np.asarray(targets)
    expected = _TARGET_NDIM[task.target_kind]
    if targets.ndim != expected or targets.shape[0] == 0:
        raise ValueError(f"task {task.name!r} ({task.target_kind.value}) needs {split} targets with {expected} "
                         f"dimensions and at least one image, got shape {targets.shape}")
    if task.loss is not LossKind.CROSS_ENTROPY and targets.shape[1] != task.channels:
        raise ValueError(f"task {task.name!r} has {task.channels} channels, its {split} targets "
                         f"{targets.shape[1]} (shape {targets.shape})")
    if task.loss is LossKind.CROSS_ENTROPY:
        if task.target_kind not in (TargetKind.CLASS, TargetKind.DENSE_CLASSES):
            raise ValueError(f"cross-entropy needs class targets, task {task.name!r} has {task.target_kind.value}")
        if not np.issubdtype(targets.dtype, np.integer):
            raise ValueError(f"task {task.name!r} needs integer class {split} targets, got {targets.dtype}")
        if targets.min() < 0 or targets.max() >= task.channels:
            raise ValueError(f"task {task.name!r} has {task.channels} classes, but its {split} targets span "
                             f"{int(targets.min())}..{int(targets.max())}")
    return targets


def _class_counts(task: TaskSpec, targets: np.ndarray) -> np.ndarray:
    """How often each class occurs: [C] for class targets [N], [C, H, W] for dense classes [N, H, W]."""
    if task.target_kind is TargetKind.CLASS:
        return np.bincount(targets, minlength=task.channels).astype(np.float64)
    return np.stack([(targets == label).sum(axis=0) for label in range(task.channels)]).astype(np.float64)


def trivial_prediction(task: TaskSpec, train_targets: np.ndarray, *, pseudo_count: float = PSEUDO_COUNT) -> np.ndarray:
    """The constant output that minimises ``task``'s loss over the training targets (one model output).

    L1: the per-element median; MSE: the per-element mean; BCE: the logit of the per-pixel
    mean (its probability clipped to ``[PROBABILITY_CLIP, 1 - PROBABILITY_CLIP]``); cross-entropy:
    the log class frequencies ([C] for a class, [C, H, W] per pixel for dense classes), with
    ``pseudo_count`` added to every count.

    Args:
        task: The task.
        train_targets: Training targets in the layout of ``task_arrays(data, task)[1]``: float
            [N, C, H, W] (dense maps), int [N, H, W] (dense classes), int [N] (a class) or float
            [N, C] (a vector).
        pseudo_count: Added to each class count (cross-entropy only); must be positive.

    Returns:
        float64 of one model output's shape, [C, H, W] for dense tasks and [C] for a class or
        vector, so that broadcasting it over a batch gives the model's output layout [N, ...].

    Raises:
        ValueError: Targets of the wrong layout, class labels outside ``0 .. channels - 1``, or
            a non-positive ``pseudo_count``.

    Example:
        >>> from rsa_ray.datasets import task_by_name
        >>> depth = np.array([1.0, 2.0, 9.0], dtype=np.float32).reshape(3, 1, 1, 1)
        >>> trivial_prediction(task_by_name("depth"), depth).ravel().tolist()
        [2.0]
        >>> counts = trivial_prediction(task_by_name("object_count"), np.array([0, 0, 1, 3]))
        >>> np.round(np.exp(counts), 3).tolist()
        [0.5, 0.25, 0.0, 0.25]
    """
    targets = _checked_targets(task, train_targets, "training")
    if task.loss is LossKind.L1:
        return np.median(targets.astype(np.float64), axis=0)
    if task.loss is LossKind.MSE:
        return targets.astype(np.float64).mean(axis=0)
    if task.loss is LossKind.BINARY_CROSS_ENTROPY:
        probability = np.clip(targets.astype(np.float64).mean(axis=0), PROBABILITY_CLIP, 1.0 - PROBABILITY_CLIP)
        return np.log(probability) - np.log1p(-probability)
    if not pseudo_count > 0:
        raise ValueError(f"pseudo_count must be positive, got {pseudo_count}")
    counts = _class_counts(task, targets) + pseudo_count
    return np.log(counts) - np.log(counts.sum(axis=0, keepdims=True))


def _log_softmax(logits: np.ndarray, axis: int) -> np.ndarray:
    shifted = logits - logits.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def constant_loss(task: TaskSpec, prediction: np.ndarray, targets: np.ndarray) -> float:
    """``task``'s mean loss of one constant output broadcast over every image of ``targets``.

    The definition of :func:`rsa_ray.training.task_network.task_loss` (torch's ``l1_loss``,
    ``mse_loss``, ``binary_cross_entropy_with_logits`` and ``cross_entropy``, mean reduction),
    in float64 numpy.

    Args:
        task: The task.
        prediction: One model output ([C, H, W] or [C]), e.g. from :func:`trivial_prediction`.
        targets: Targets in the layout of ``task_arrays(data, task)[1]``.

    Returns:
        The mean loss over images and pixels.

    Raises:
        ValueError: Targets of the wrong layout or a prediction that does not fit them.

    Example:
        >>> from rsa_ray.datasets import task_by_name
        >>> constant_loss(task_by_name("object_class"), np.zeros(4), np.array([0, 3]))  # log 4
        1.3862943611198906
    """
    targets = _checked_targets(task, targets, "evaluation")
    prediction = np.asarray(prediction, dtype=np.float64)
    if task.loss is LossKind.CROSS_ENTROPY:
        expected = (task.channels, *targets.shape[1:])
    else:
        expected = targets.shape[1:]
    if prediction.shape != expected:
        raise ValueError(f"task {task.name!r}: a prediction of shape {expected} fits targets of shape "
                         f"{targets.shape}, got {prediction.shape}")
    if task.loss is LossKind.L1:
        return float(np.abs(targets.astype(np.float64) - prediction).mean())
    if task.loss is LossKind.MSE:
        return float(np.square(targets.astype(np.float64) - prediction).mean())
    if task.loss is LossKind.BINARY_CROSS_ENTROPY:
        # max(x, 0) - x y + log(1 + exp(-|x|)): torch's stable form.
        x, y = prediction, targets.astype(np.float64)
        return float((np.maximum(x, 0.0) - x * y + np.log1p(np.exp(-np.abs(x)))).mean())
    log_probability = _log_softmax(prediction, axis=0)
    if task.target_kind is TargetKind.CLASS:
        return float(-log_probability[targets].mean())
    height, width = targets.shape[1:]
    rows, columns = np.arange(height)[:, None], np.arange(width)[None, :]
    return float(-log_probability[targets, rows, columns].mean())


def baseline_loss(task: TaskSpec, train_targets: np.ndarray, val_targets: np.ndarray,
                  *, pseudo_count: float = PSEUDO_COUNT) -> float:
    """The validation loss of the best constant prediction on the training targets (:func:`trivial_prediction`).

    Args:
        task: The task.
        train_targets: Training targets (``task_arrays`` layout).
        val_targets: Validation targets of the same layout (any number of images).
        pseudo_count: Added to each class count (cross-entropy only).

    Returns:
        The task loss (mean over images and pixels) of that constant on ``val_targets``.

    Raises:
        ValueError: Targets of the wrong layout, or training and validation shapes that differ
            beyond the number of images.

    Example:
        >>> from rsa_ray.datasets import task_by_name
        >>> train = np.array([1.0, 2.0, 9.0], dtype=np.float32).reshape(3, 1, 1, 1)
        >>> baseline_loss(task_by_name("depth"), train, np.array([3.0, 5.0]).reshape(2, 1, 1, 1))
        2.0
    """
    train_targets, val_targets = np.asarray(train_targets), np.asarray(val_targets)
    if train_targets.shape[1:] != val_targets.shape[1:]:
        raise ValueError(f"task {task.name!r}: training targets {train_targets.shape} and validation targets "
                         f"{val_targets.shape} differ beyond the number of images")
    return constant_loss(task, trivial_prediction(task, train_targets, pseudo_count=pseudo_count), val_targets)


def task_baselines(train: MiniTaskonomy, val: MiniTaskonomy, tasks: Sequence[TaskSpec]) -> tuple[TaskBaseline, ...]:
    """Each task's trivial baseline: the constant fitted on ``train``, its loss on ``val``.

    Args:
        train: The training split (holding every task's label).
        val: The validation split.
        tasks: The tasks, in the order of the result.

    Returns:
        One :class:`TaskBaseline` per task.

    Raises:
        ValueError: If a split lacks a task's label.

    Example:
        >>> from rsa_ray.datasets import RendererConfig, render_mini_taskonomy, task_by_name
        >>> config = RendererConfig(image_size=16)
        >>> train = render_mini_taskonomy(4, config=config, label_names=["depth"])
        >>> val = render_mini_taskonomy(2, config=config, label_names=["depth"], first_index=4)
        >>> [(row.task, row.loss, row.baseline > 0) for row in task_baselines(train, val, [task_by_name("depth")])]
        [('depth', 'l1', True)]
    """
    return tuple(
        TaskBaseline(task.name, task.loss.value,
                     baseline_loss(task, task_arrays(train, task)[1], task_arrays(val, task)[1]))
        for task in tasks
    )


def dataset_settings(dataset: Mapping[str, object] | Sequence[tuple[str, object]]) -> dict[str, int]:
    """A zoo manifest's ``dataset`` section as the ints :func:`zoo_baselines` needs.

    ``first_val_index`` defaults to ``n_train``; ``n_train_per_image`` is kept when present.

    Raises:
        ValueError: If a needed key is missing (naming it).

    Example:
        >>> dataset_settings({"seed": 0, "image_size": 64, "n_train": 2000, "n_val": 500})["first_val_index"]
        2000
    """
    values = dict(dataset)
    missing = sorted({"seed", "image_size", "n_train", "n_val"} - set(values))
    if missing:
        raise ValueError(f"the manifest's dataset section lacks {missing}: {values}")
    settings = {key: int(values[key]) for key in ("seed", "image_size", "n_train", "n_val")}
    settings["first_val_index"] = int(values.get("first_val_index", settings["n_train"]))
    if "n_train_per_image" in values:
        settings["n_train_per_image"] = int(values["n_train_per_image"])
    return settings


def zoo_baselines(tasks: Sequence[TaskSpec], settings: Mapping[str, int],
                  n_train_cap: int | None = None) -> tuple[dict[str, float], dict[str, int]]:
    """Every task's baseline on a zoo's own splits (rendered here), and the training scenes each used.

    Dense tasks fit their constant on scenes ``0 .. n_train - 1``; per-image tasks (a class or a vector) on
    ``0 .. n_train_per_image - 1`` where the settings have it; all are scored on the validation scenes.

    Args:
        tasks: The tasks.
        settings: From :func:`dataset_settings`.
        n_train_cap: Use at most this many training scenes (a close estimate of the constant, faster).

    Returns:
        ``(task name → baseline loss, task name → training scenes used)``.

    Example:
        >>> from rsa_ray.datasets import task_by_name
        >>> settings = {"seed": 0, "image_size": 16, "n_train": 4, "n_val": 2, "first_val_index": 4}
        >>> zoo_baselines([task_by_name("depth")], settings)[1]
        {'depth': 4}
    """
    def capped(count: int) -> int:
        return count if n_train_cap is None else min(count, n_train_cap)

    renderer = RendererConfig(image_size=settings["image_size"])
    seed = settings["seed"]
    val = render_mini_taskonomy(settings["n_val"], seed, renderer, labels_for_tasks(tasks),
                                first_index=settings["first_val_index"])
    dense = [t for t in tasks if t.target_kind.is_dense]
    per_image = [t for t in tasks if not t.target_kind.is_dense]
    if "n_train_per_image" in settings:
        groups = [(dense, capped(settings["n_train"])), (per_image, capped(settings["n_train_per_image"]))]
    else:
        groups = [(list(tasks), capped(settings["n_train"]))]
    baselines: dict[str, float] = {}
    scenes: dict[str, int] = {}
    for group, n_train in groups:
        if not group:
            continue
        if n_train > settings["first_val_index"]:
            print(f"warning: {n_train} training scenes overlap the validation split (from scene "
                  f"{settings['first_val_index']})", file=sys.stderr)
        train = render_mini_taskonomy(n_train, seed, renderer, labels_for_tasks(group))
        for row in task_baselines(train, val, group):
            baselines[row.task], scenes[row.task] = row.baseline, n_train
    return baselines, scenes
