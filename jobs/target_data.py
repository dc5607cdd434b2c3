"""A target task's own images as a labelled probe set: what every candidate is extracted and scored on.

``train-target``, ``rank --data`` and ``validate`` store the target's images (a seeded sample of its
training split) with one label each, and record the target under its name (``storage.TargetRecord``).
Candidates are then extracted on those images by the same actors as any probe set: resumable, and
incremental when models land. Taxonomies keep comparing models on the shared probe set.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from rsa_ray.target_labels import TargetLabels
from storage import Store
from storage.targets import TargetRecord

#: Dense maps are averaged over blocks to this many cells a side before label-based scores read them.
POOLED_SIDE = 4


@dataclass(frozen=True)
class TargetData:
    """Where a target's labelled images come from.

    Attributes:
        data: ``sklearn-digits``, an .npz (``images``, ``labels``) or a folder of class folders.
        name: The task's name (and the target model's id once trained).
        task_type: The task's type.
        image_size: Side the images are stored at (a multiple of 16).
        n_images: Images in the labelled probe set (a seeded sample of the training split).
        seed: Seed of the sample.
    """

    data: str
    name: str
    task_type: str = "semantic"
    image_size: int = 64
    n_images: int = 500
    seed: int = 0

    def __post_init__(self) -> None:
        from rsa_ray.names import safe_name_problem

        problem = safe_name_problem(self.name, "target name")  # it names a record, tables and image ids
        if problem is not None:
            raise ValueError(problem)
        if self.n_images < 10:
            raise ValueError(f"--target-images must be at least 10, got {self.n_images}")


def pooled_labels(targets: np.ndarray) -> TargetLabels:
    """One label per image for the label-based scores: classes stay classes; dense maps become vectors.

    Vectors per image are regression targets as they are. Dense class maps become the share of each class in a ``POOLED_SIDE`` × ``POOLED_SIDE`` grid of
    blocks, dense real-valued maps their block means; both are regression targets.

    Example:
        >>> pooled_labels(np.array([0, 2, 1])).kind
        'classes'
        >>> pooled_labels(np.zeros((2, 1, 8, 8), np.float32)).values.shape
        (2, 16)
    """
    targets = np.asarray(targets)
    if targets.ndim == 1:
        return TargetLabels.from_array(targets)
    if targets.ndim == 2:  # a vector per image (camera pose, vanishing directions, keypoints)
        return TargetLabels.from_array(targets.astype(np.float64))
    if targets.ndim == 3 and np.issubdtype(targets.dtype, np.integer):
        n_classes = int(targets.max()) + 1
        targets = (targets[:, None] == np.arange(n_classes)[None, :, None, None]).astype(np.float64)
    if targets.ndim != 4:
        raise ValueError(f"target labels must be [N] classes, [N, K] vectors or [N, H, W] / [N, C, H, W] maps, "
                         f"got {targets.shape}")
    n, channels, height, width = targets.shape
    side = min(POOLED_SIDE, height, width)
    cells = targets[:, :, : height - height % side, : width - width % side]
    cells = cells.reshape(n, channels, side, cells.shape[2] // side, side, cells.shape[3] // side).mean(axis=(3, 5))
    return TargetLabels.from_array(cells.reshape(n, -1).astype(np.float64))


def sample_rows(training_rows: np.ndarray, n_images: int, seed: int) -> np.ndarray:
    """A seeded sample of at most ``n_images`` training rows, in increasing order.

    Example:
        >>> sample_rows(np.arange(10), 3, seed=0).tolist()
        [2, 4, 6]
    """
    chosen = np.random.default_rng(seed).permutation(np.asarray(training_rows))[:n_images]
    return np.sort(chosen)


def ensure_target(store: Store, target: TargetData, model_id: str | None = None) -> TargetRecord:
    """Stores the target's labelled probe set (once: its id is its content) and records the target.

    A model trained on the task (``model_id``) is kept in the record; a record that already names
    one keeps it when ``model_id`` is None.

    Example:
        >>> ensure_target(store, TargetData("sklearn-digits", "digits", n_images=300)).n_images  # doctest: +SKIP
        300
    """
    from rsa_ray.datasets.labelled import load_labelled_task
    from rsa_ray.datasets.target_splits import split_indices
    from rsa_ray.probe_bounds import check_probe_count

    labelled = load_labelled_task(target.data, target.name, target.task_type, target.image_size)
    try:
        training_rows, _ = split_indices(len(labelled.images), 0.2, seed=0)  # the split train-target trains on
    except ValueError as error:  # too few examples to split
        raise ValueError(f"{target.data}: {error}") from None
    rows = sample_rows(training_rows, target.n_images, target.seed)
    check_probe_count(len(rows), f"{target.data}: the sample of its {len(training_rows)}-image training split")
    return store_target(store, target.name, labelled.images[rows], labelled.targets[rows], target.data,
                        [f"{target.name}-{row:05d}" for row in rows], model_id)


def store_target(store: Store, name: str, images: np.ndarray, targets: np.ndarray, data: str,
                 image_ids: list[str], model_id: str | None = None) -> TargetRecord:
    """Stores ``images`` (uint8 [N, H, W, 3]) with their labels as ``name``'s probe set and records the target.

    Example:
        >>> store_target(store, "depth", images, depth_maps, "mini-taskonomy seed 1", ids).label_kind  # doctest: +SKIP
        'regression'
    """
    labels = pooled_labels(targets)
    probe_id = store.add_probe_set(np.ascontiguousarray(images), image_ids, f"target {name}: {data}", labels=labels)
    previous = store.target(name)
    kept_model = model_id if model_id is not None else (previous.model_id if previous is not None else None)
    record = TargetRecord(name, probe_id, data, labels.kind, kept_model, len(image_ids))
    if previous != record:
        store.record_target(record)
    return record


def as_uint8_images(inputs: np.ndarray) -> np.ndarray:
    """Torch-layout float inputs in [0, 1] ([N, 3, H, W]) back to uint8 RGB [N, H, W, 3].

    Example:
        >>> as_uint8_images(np.ones((1, 3, 2, 2), np.float32))[0, 0, 0].tolist()
        [255, 255, 255]
    """
    return np.clip(np.rint(np.asarray(inputs).transpose(0, 2, 3, 1) * 255.0), 0, 255).astype(np.uint8)


def with_model(store: Store, record: TargetRecord, model_id: str) -> TargetRecord:
    """The record with its trained model named (stored).

    Example:
        >>> with_model(store, store.target("digits"), "digits").model_id  # doctest: +SKIP
        'digits'
    """
    updated = replace(record, model_id=model_id)
    if updated != record:
        store.record_target(updated)
    return updated
