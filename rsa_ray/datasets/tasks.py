"""The mini-Taskonomy tasks: what each one predicts, its type, and how it is trained.

Each :class:`TaskSpec` says everything generic training code needs: the label
it reads, the input corruption (for denoising, inpainting, colourisation), the
target kind (dense map, dense classes, one class, a vector) with its channel
count, and the loss.
"""

from __future__ import annotations

import difflib
import enum
from dataclasses import dataclass

from rsa_ray.datasets.scene_sampling import SEMANTIC_CLASSES, SHAPE_CLASSES


class TaskType(str, enum.Enum):
    """The paper's task groups; a taxonomy should cluster tasks by these."""

    TWO_D = "2d"
    THREE_D = "3d"
    SEMANTIC = "semantic"
    GEOMETRIC = "geometric"


class TargetKind(str, enum.Enum):
    """The shape of a task's target, which fixes the model's head.

    ``DENSE_*`` targets are per pixel (a dense decoder head); ``CLASS`` and
    ``VECTOR`` are per image (a pooled + linear head).
    """

    DENSE_REGRESSION = "dense_regression"  # float [C, H, W]
    DENSE_BINARY = "dense_binary"  # {0, 1} [1, H, W], one logit per pixel
    DENSE_CLASSES = "dense_classes"  # int [H, W], C logits per pixel
    CLASS = "class"  # int scalar, C logits
    VECTOR = "vector"  # float [C]

    @property
    def is_dense(self) -> bool:
        """Whether the target is a per-pixel map."""
        return self.value.startswith("dense")


class LossKind(str, enum.Enum):
    """Training losses, by name."""

    L1 = "l1"
    MSE = "mse"
    BINARY_CROSS_ENTROPY = "bce"
    CROSS_ENTROPY = "cross_entropy"


class InputCorruption(str, enum.Enum):
    """What is done to the clean image before the model sees it."""

    NONE = "none"
    GAUSSIAN_NOISE = "gaussian_noise"
    MASKED_REGION = "masked_region"
    GRAYSCALE = "grayscale"


@dataclass(frozen=True)
class TaskSpec:
    """One mini-Taskonomy task.

    Attributes:
        name: Task name, e.g. ``"depth"``.
        task_type: Its group (2D, 3D, semantic, geometric).
        label: The key of :attr:`MiniTaskonomy.labels` it predicts (``"image"`` for the clean image).
        target_kind: Shape of the target (dense map, dense classes, class, vector).
        channels: Output channels: map channels, number of classes, or vector length.
        loss: Training loss.
        corruption: Input corruption applied to the clean image.
        description: One line for reports.
        target_scale: Factor applied to float targets so that they are of order 1: one number, or one
            per vector component. Fixed constants that give about unit variance on the training split
            (measured on 1,000 scenes of dataset seed 0), so no statistic of a split leaks into its targets.
        target_offset: Subtracted from float targets before scaling (one number, or one per component).
        target_power: Float targets are raised to this power first (sign kept): 0.25 spreads the very
            sparse Harris responses, whose mean-squared error would otherwise be won by predicting zero.
        head_hidden: Hidden units of a per-image head (0: a linear head on the pooled code).
        mirror: Whether training may flip images left-right (the label does not change under a flip).
    """

    name: str
    task_type: TaskType
    label: str
    target_kind: TargetKind
    channels: int
    loss: LossKind
    corruption: InputCorruption = InputCorruption.NONE
    description: str = ""
    target_scale: float | tuple[float, ...] = 1.0
    target_offset: float | tuple[float, ...] = 0.0
    target_power: float = 1.0
    head_hidden: int = 0
    mirror: bool = False


def _task(name, task_type, label, kind, channels, loss, description, corruption=InputCorruption.NONE, **fields):
    return TaskSpec(name, task_type, label, kind, channels, loss, corruption, description, **fields)


_2D, _3D, _SEM, _GEO = TaskType.TWO_D, TaskType.THREE_D, TaskType.SEMANTIC, TaskType.GEOMETRIC
_MAP, _BIN, _CLS_MAP = TargetKind.DENSE_REGRESSION, TargetKind.DENSE_BINARY, TargetKind.DENSE_CLASSES
_L1, _MSE, _CE = LossKind.L1, LossKind.MSE, LossKind.CROSS_ENTROPY
_CLASS_HEAD = {"head_hidden": 64, "mirror": True}
# Per-component means and 1 / standard deviations of the pose and vanishing-direction vectors (1,000 scenes of
# seed 0); the one constant component (the room's x axis has no vertical part: the camera never rolls) keeps scale 1.
_POSE_MEAN = (0.0, 0.013, 0.624, 0.003, 0.96, -0.277)
_POSE_SCALE = (3.4, 1.7, 7.7, 3.6, 28.0, 9.9)
_VANISHING_MEAN = (0.96, -0.002, 0.002, 0.0, 0.957, 0.272, -0.003, -0.262, 0.919)
_VANISHING_SCALE = (28.0, 12.7, 3.8, 1.0, 35.7, 10.3, 3.6, 10.6, 23.3)

#: Every mini-Taskonomy task, in a fixed order.
MINI_TASKONOMY_TASKS: tuple[TaskSpec, ...] = (
    _task("autoencoding", _2D, "image", _MAP, 3, _L1, "reconstruct the image"),
    _task("denoising", _2D, "image", _MAP, 3, _L1, "remove Gaussian noise", InputCorruption.GAUSSIAN_NOISE),
    _task("inpainting", _2D, "image", _MAP, 3, _L1, "fill a masked rectangle", InputCorruption.MASKED_REGION),
    _task("colorization", _2D, "image", _MAP, 3, _L1, "colour a grayscale image", InputCorruption.GRAYSCALE),
    _task("edges_2d", _2D, "edges_2d", _MAP, 1, _MSE, "luminance gradient magnitude", target_scale=11.0),
    _task("keypoints_2d", _2D, "keypoints_2d", _MAP, 1, _MSE, "Harris response of the image",
          target_power=0.25, target_scale=5.8),
    _task("depth", _3D, "depth", _MAP, 1, _L1, "z-buffer depth", target_scale=0.2),
    _task("surface_normals", _3D, "normals", _MAP, 3, _L1, "unit normals in camera coordinates"),
    _task("occlusion_edges", _3D, "occlusion_edges", _BIN, 1, LossKind.BINARY_CROSS_ENTROPY, "depth discontinuities"),
    _task("reshading", _3D, "reshading", _MAP, 1, _L1, "shading under a light at the camera"),
    _task("curvature", _3D, "curvature", _MAP, 1, _MSE, "mean surface curvature", target_scale=1.6),
    _task("keypoints_3d", _3D, "keypoints_3d", _MAP, 1, _MSE, "Harris response of depth and normals",
          target_power=0.25, target_scale=6.8),
    _task("semantic_segmentation", _SEM, "segmentation", _CLS_MAP, len(SEMANTIC_CLASSES), _CE, "per-pixel class"),
    _task("object_class", _SEM, "object_class", TargetKind.CLASS, len(SHAPE_CLASSES), _CE,
          "shape of the largest object", **_CLASS_HEAD),
    _task("object_count", _SEM, "object_count", TargetKind.CLASS, 4, _CE,
          "objects covering >= 1 % of the image, 1-4", **_CLASS_HEAD),
    _task("camera_pose", _GEO, "camera_pose", TargetKind.VECTOR, 6, _MSE, "camera position, yaw and pitch",
          target_offset=_POSE_MEAN, target_scale=_POSE_SCALE),
    _task("vanishing_directions", _GEO, "vanishing_directions", TargetKind.VECTOR, 9, _MSE,
          "room axes in camera frame", target_offset=_VANISHING_MEAN, target_scale=_VANISHING_SCALE),
)

_BY_NAME = {task.name: task for task in MINI_TASKONOMY_TASKS}


def task_by_name(name: str) -> TaskSpec:
    """Looks a task up by name.

    Raises:
        ValueError: If there is no such task; the message lists the closest names.

    Example:
        >>> task_by_name("depth").task_type.value
        '3d'
    """
    if name not in _BY_NAME:
        close = difflib.get_close_matches(name, list(_BY_NAME), n=3, cutoff=0.0)
        raise ValueError(f"unknown task {name!r}; closest: {close}; all tasks: {sorted(_BY_NAME)}")
    return _BY_NAME[name]
