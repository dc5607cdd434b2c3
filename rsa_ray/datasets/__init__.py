"""Datasets: the procedural offline mini-Taskonomy, loaders for real images, and target splits.

Everything here is numpy (plus scikit-learn / scikit-image / Pillow for the
bundled real images, imported inside their loaders); nothing downloads.
"""

from rsa_ray.datasets.mini_taskonomy import (
    LABEL_NAMES,
    MiniTaskonomy,
    labels_for_tasks,
    render_mini_taskonomy,
    task_arrays,
)
from rsa_ray.datasets.real_images import (
    SKIMAGE_BUNDLED,
    ProbeImages,
    load_image_folder,
    load_lfw_subset,
    load_npz_images,
    load_skimage_images,
    load_sklearn_digits,
    load_sklearn_sample_images,
)
from rsa_ray.datasets.scene_sampling import SEMANTIC_CLASSES, SHAPE_CLASSES, RendererConfig
from rsa_ray.datasets.target_splits import RenderedTargets, TargetSplits, split_indices
from rsa_ray.datasets.tasks import (
    MINI_TASKONOMY_TASKS,
    InputCorruption,
    LossKind,
    TargetKind,
    TaskSpec,
    TaskType,
    task_by_name,
)

__all__ = [
    "LABEL_NAMES",
    "MINI_TASKONOMY_TASKS",
    "SEMANTIC_CLASSES",
    "SKIMAGE_BUNDLED",
    "SHAPE_CLASSES",
    "InputCorruption",
    "LossKind",
    "MiniTaskonomy",
    "ProbeImages",
    "RenderedTargets",
    "RendererConfig",
    "TargetKind",
    "TargetSplits",
    "TaskSpec",
    "TaskType",
    "labels_for_tasks",
    "load_image_folder",
    "load_lfw_subset",
    "load_npz_images",
    "load_skimage_images",
    "load_sklearn_digits",
    "load_sklearn_sample_images",
    "render_mini_taskonomy",
    "split_indices",
    "task_arrays",
    "task_by_name",
]
