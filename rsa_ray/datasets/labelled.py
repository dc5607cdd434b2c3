"""Labelled examples of a new task, for training its small target model.

A new task comes as images with class labels or dense targets: scikit-learn's
digits (built in), an ``.npz`` (``images`` and ``labels``) or a folder with one
sub-folder of images per class.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rsa_ray.datasets.real_images import IMAGE_SUFFIXES, square_resize, to_uint8_rgb
from rsa_ray.datasets.tasks import LossKind, TargetKind, TaskSpec, TaskType
from rsa_ray.probe_bounds import MAX_IMAGE_SIDE


@dataclass(frozen=True)
class LabelledTask:
    """A new task's examples.

    Attributes:
        images: uint8 RGB [N, S, S, 3], resized to the model's input side.
        targets: int64 [N] class labels, int64 [N, S, S] dense classes or float32 [N, C, S, S] maps.
        task: The task spec (head and loss follow from the targets).
        source: Where the examples came from.
    """

    images: np.ndarray
    targets: np.ndarray
    task: TaskSpec
    source: str

    def split(self, validation_fraction: float = 0.2, seed: int = 0):
        """Seeded train / validation splits as ``((inputs, targets), (inputs, targets))`` in torch layout."""
        order = np.random.default_rng(seed).permutation(len(self.images))
        n_val = max(1, int(round(len(order) * validation_fraction)))
        inputs = self.images.astype(np.float32).transpose(0, 3, 1, 2) / 255.0
        val, train = order[:n_val], order[n_val:]
        if len(train) == 0:
            raise ValueError(f"{self.source}: too few examples ({len(order)}) to hold out a validation split")
        return (inputs[train], self.targets[train]), (inputs[val], self.targets[val])


def _task_for(name: str, task_type: str, targets: np.ndarray, source: str) -> tuple[TaskSpec, np.ndarray]:
    kind_type = TaskType(task_type)
    if targets.ndim == 1:
        if not np.issubdtype(targets.dtype, np.integer) or targets.min() < 0:
            raise ValueError(f"{source}: class labels must be integers >= 0, got {targets.dtype} from {targets.min()}")
        return TaskSpec(name, kind_type, "labels", TargetKind.CLASS, int(targets.max()) + 1, LossKind.CROSS_ENTROPY, description="class labels"), targets.astype(np.int64)
    if targets.ndim == 2:  # a real-valued vector per image (as the README lists): regression, one output per column
        return TaskSpec(name, kind_type, "labels", TargetKind.VECTOR, targets.shape[1], LossKind.MSE, description="vectors"), targets.astype(np.float32)
    if targets.ndim == 3 and np.issubdtype(targets.dtype, np.integer):
        return TaskSpec(name, kind_type, "labels", TargetKind.DENSE_CLASSES, int(targets.max()) + 1, LossKind.CROSS_ENTROPY, description="dense classes"), targets.astype(np.int64)
    if targets.ndim in (3, 4):
        maps = targets[:, None] if targets.ndim == 3 else targets.transpose(0, 3, 1, 2)
        return TaskSpec(name, kind_type, "labels", TargetKind.DENSE_REGRESSION, maps.shape[1], LossKind.L1, description="dense maps"), maps.astype(np.float32)
    raise ValueError(f"{source}: labels must be [N] classes, [N, H, W] or [N, H, W, C] maps, got shape {targets.shape}")


def _resize_dense(targets: np.ndarray, size: int) -> np.ndarray:
    if targets.ndim <= 2 or targets.shape[1] == size:  # one label or vector per image: nothing to resize
        return targets
    from PIL import Image

    mode = Image.Resampling.NEAREST if np.issubdtype(targets.dtype, np.integer) else Image.Resampling.BILINEAR
    if targets.ndim == 3:
        return np.stack([np.asarray(Image.fromarray(t.astype(np.float32)).resize((size, size), mode)) for t in targets]).astype(targets.dtype)
    return np.stack([_resize_dense(targets[..., c], size) for c in range(targets.shape[-1])], axis=-1)


def _npz_examples(source: str) -> tuple[np.ndarray, np.ndarray]:
    """The ``images`` and ``labels`` of an .npz, checked: real finite pixels, as many labels as images, labels
    that are numbers (finite) or class names (strings, mapped to classes 0..C-1 in sorted order)."""
    import zipfile

    from rsa_ray.probe_bounds import check_pixel_values

    try:
        with np.load(source, allow_pickle=False) as archive:
            missing = {"images", "labels"} - set(archive.files)
            if missing:
                raise ValueError(f"{source}: missing arrays {sorted(missing)} (found {archive.files})")
            raw_images, labels = archive["images"], archive["labels"]
    except (EOFError, OSError, zipfile.BadZipFile, AttributeError, TypeError) as error:  # a lone .npy: no context
        raise ValueError(f"{source}: not a readable .npz file of named arrays: {error or type(error).__name__}") from None
    except ValueError as error:
        if "pickle" in str(error):
            raise ValueError(f"{source}: holds Python objects (pickles are not loaded); labels must be numbers or strings") from None
        if str(error).startswith(source):  # a check above, naming the file already
            raise
        raise ValueError(f"{source}: not a readable .npz file of named arrays: {error}") from None  # data cut short
    if len(raw_images) != len(labels) or len(labels) == 0:
        raise ValueError(f"{source}: {len(raw_images)} images but {len(labels)} labels")
    if raw_images.ndim not in (3, 4):
        raise ValueError(f"{source}['images'] must be [N, H, W] or [N, H, W, 3], got {raw_images.shape}")
    check_pixel_values(raw_images, f"{source}['images']")
    return raw_images, _checked_labels(labels, source)


def _checked_labels(labels: np.ndarray, source: str) -> np.ndarray:
    """Labels as numbers: class names (strings) become classes 0..C-1 in sorted order, booleans 0 / 1.

    Example:
        >>> _checked_labels(np.array(["dog", "cat", "dog"]), "t.npz").tolist()
        [1, 0, 1]
    """
    if labels.dtype.kind in "US":
        if labels.ndim != 1:
            raise ValueError(f"{source}: class names must be one string per image ([N]), got shape {labels.shape}")
        return np.unique(labels, return_inverse=True)[1].astype(np.int64).reshape(-1)
    if labels.dtype.kind == "b":
        return labels.astype(np.int64)
    if labels.dtype.kind not in "uif":
        raise ValueError(f"{source}: labels have dtype {labels.dtype}; they must be integers, floats or class names (strings)")
    if labels.dtype.kind == "f" and not np.isfinite(labels).all():
        raise ValueError(f"{source}: labels hold NaN or Inf at {int((~np.isfinite(labels)).sum())} values; labels must be finite")
    return labels


def load_labelled_task(source: str, name: str, task_type: str = "semantic", size: int = 64) -> LabelledTask:
    """Loads a new task's labelled examples.

    Args:
        source: ``"sklearn-digits"``, an ``.npz`` with ``images`` and ``labels``, or a folder
            with one sub-folder per class.
        name: The task's name (also the target model's id).
        task_type: One of ``2d``, ``3d``, ``semantic``, ``geometric``.
        size: Side the images (and dense targets) are resized to; a multiple of 16.

    Raises:
        ValueError: An unknown source, malformed arrays, or a bad size or task type (naming it).

    Example:
        >>> task = load_labelled_task("sklearn-digits", "digits", size=16)
        >>> task.images.shape, task.task.channels
        ((1797, 16, 16, 3), 10)
    """
    if size < 16 or size % 16:
        raise ValueError(f"size must be a multiple of 16 (the encoder downsamples by 16), got {size}")
    if size > MAX_IMAGE_SIDE:  # before any image is resized to it
        raise ValueError(f"size is {size} pixels; a target image side is at most {MAX_IMAGE_SIDE}")
    if task_type not in {t.value for t in TaskType}:
        raise ValueError(f"task type {task_type!r} is not one of {[t.value for t in TaskType]}")
    if source == "sklearn-digits":
        from sklearn.datasets import load_digits

        digits = load_digits()
        raw_images, labels = list(digits.images), np.asarray(digits.target)
        images = np.stack([square_resize(to_uint8_rgb(image, 16.0), size) for image in raw_images])
    elif source.endswith(".npz"):
        raw_images, labels = _npz_examples(source)
        images = np.stack([square_resize(to_uint8_rgb(image), size) for image in raw_images])
        labels = _resize_dense(labels, size)
    elif os.path.isdir(source):
        folders = sorted(p for p in Path(source).iterdir() if p.is_dir())
        from PIL import Image

        pairs = [(path, index) for index, folder in enumerate(folders) for path in sorted(folder.iterdir()) if path.suffix.lower() in IMAGE_SUFFIXES]
        if not pairs:
            raise ValueError(f"{source}: no class folders with images ({', '.join(IMAGE_SUFFIXES)})")
        images = np.stack([square_resize(to_uint8_rgb(np.asarray(Image.open(path).convert("RGB"))), size) for path, _ in pairs])
        labels = np.array([index for _, index in pairs], dtype=np.int64)
    else:
        raise ValueError(f"labelled data {source!r} is neither 'sklearn-digits', an .npz file nor a folder of class folders")
    task, targets = _task_for(name, task_type, np.asarray(labels), source)
    return LabelledTask(images, targets, task, source)
