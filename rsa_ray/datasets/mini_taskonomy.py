"""The procedural, offline mini-Taskonomy: rendered images with labels for every task.

>>> data = render_mini_taskonomy(4, seed=0, config=RendererConfig(image_size=32))
>>> data.images.shape, data.images.dtype.name, data.labels["depth"].shape
((4, 32, 32, 3), 'uint8', (4, 32, 32))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from rsa_ray.datasets import labels as label_maps
from rsa_ray.datasets.raycast import GeometryBuffers, cast_scenes
from rsa_ray.datasets.scene_sampling import RendererConfig, SceneParameters, sample_scenes
from rsa_ray.datasets.tasks import MINI_TASKONOMY_TASKS, InputCorruption, TargetKind, TaskSpec

_Labeler = Callable[[SceneParameters, GeometryBuffers, RendererConfig], np.ndarray]

_LABELERS: dict[str, _Labeler] = {
    "depth": lambda p, g, c: g.depth.astype(np.float32),
    "normals": lambda p, g, c: g.normal_camera.astype(np.float32),
    "reshading": lambda p, g, c: g.view_cosine.astype(np.float32),
    "curvature": lambda p, g, c: g.curvature.astype(np.float32),
    "edges_2d": lambda p, g, c: label_maps.edges_2d(g.image).astype(np.float32),
    "keypoints_2d": lambda p, g, c: label_maps.keypoints_2d(g.image).astype(np.float32),
    "keypoints_3d": lambda p, g, c: label_maps.keypoints_3d(g.depth, g.normal_camera).astype(np.float32),
    "occlusion_edges": lambda p, g, c: label_maps.occlusion_edges(g.depth, g.surface_id, c.occlusion_jump),
    "segmentation": lambda p, g, c: g.semantic,
    "instance": lambda p, g, c: g.surface_id,
    "object_class": lambda p, g, c: label_maps.object_labels(p, g.surface_id, c.visible_pixels)[0],
    "object_count": lambda p, g, c: label_maps.object_labels(p, g.surface_id, c.visible_pixels)[1],
    "camera_pose": lambda p, g, c: label_maps.camera_pose(p).astype(np.float32),
    "vanishing_directions": lambda p, g, c: label_maps.vanishing_directions(g.world_to_camera).astype(np.float32),
}

#: Every label the renderer can produce (``"instance"`` is the surface id map: 0-5 room faces, 6+ objects).
LABEL_NAMES: tuple[str, ...] = tuple(_LABELERS)


@dataclass(frozen=True)
class MiniTaskonomy:
    """A rendered mini-Taskonomy split.

    Attributes:
        images: Clean RGB images, uint8 [N, H, W, 3] (the probe-set format).
        labels: Label name → array with N rows (see :data:`LABEL_NAMES`).
        seed: The dataset seed.
        first_index: Index of the first scene (scenes are numbered per seed).
        config: The renderer settings.
    """

    images: np.ndarray
    labels: Mapping[str, np.ndarray]
    seed: int
    first_index: int
    config: RendererConfig

    def __len__(self) -> int:
        return int(self.images.shape[0])


def _check_label_names(names: Sequence[str]) -> None:
    unknown = sorted(set(names) - set(_LABELERS))
    if unknown:
        raise ValueError(f"unknown labels {unknown}; valid labels: {list(LABEL_NAMES)}")


def render_mini_taskonomy(
    n_scenes: int,
    seed: int = 0,
    config: RendererConfig = RendererConfig(),
    label_names: Sequence[str] | None = None,
    first_index: int = 0,
    chunk_size: int = 64,
) -> MiniTaskonomy:
    """Renders ``n_scenes`` scenes with the requested labels; deterministic in ``(seed, scene index)``.

    Args:
        n_scenes: Number of scenes.
        seed: Dataset seed; the same seed and indices always give the same arrays.
        config: Renderer settings.
        label_names: Labels to keep (all of :data:`LABEL_NAMES` when None). Keep
            few for big datasets: dense float labels cost 16 kB per scene and channel at 64×64.
        first_index: Index of the first scene, so disjoint splits share a seed
            (e.g. train 0..N-1, validation N..N+V-1).
        chunk_size: Scenes cast at once (memory/speed trade-off; results do not depend on it).

    Returns:
        The images and labels.

    Raises:
        ValueError: On an unknown label name or a non-positive count.

    Example:
        >>> bool(render_mini_taskonomy(2, label_names=["depth"]).labels["depth"].min() > 0)
        True
    """
    if n_scenes < 1 or chunk_size < 1:
        raise ValueError(f"n_scenes and chunk_size must be >= 1, got {n_scenes} and {chunk_size}")
    names = list(LABEL_NAMES if label_names is None else label_names)
    _check_label_names(names)
    image_chunks: list[np.ndarray] = []
    label_chunks: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for start in range(first_index, first_index + n_scenes, chunk_size):
        count = min(chunk_size, first_index + n_scenes - start)
        params = sample_scenes(seed, start, count, config)
        buffers = cast_scenes(params, config)
        image_chunks.append(np.round(buffers.image * 255.0).astype(np.uint8))
        for name in names:
            label_chunks[name].append(_LABELERS[name](params, buffers, config))
    return MiniTaskonomy(
        images=np.concatenate(image_chunks),
        labels={name: np.concatenate(chunks) for name, chunks in label_chunks.items()},
        seed=seed,
        first_index=first_index,
        config=config,
    )


def _corrupt(images: np.ndarray, corruption: InputCorruption, data: MiniTaskonomy) -> np.ndarray:
    """Applies a task's input corruption to float images [N, H, W, 3]; seeded per scene."""
    if corruption is InputCorruption.NONE:
        return images
    if corruption is InputCorruption.GRAYSCALE:
        return np.repeat(label_maps.luminance(images)[..., None], 3, axis=-1).astype(np.float32)
    corrupted = images.copy()
    size = images.shape[1]
    for row in range(len(images)):
        rng = np.random.default_rng([data.seed, data.first_index + row, 1])
        if corruption is InputCorruption.GAUSSIAN_NOISE:
            noise = rng.normal(0.0, data.config.noise_std, size=images.shape[1:])
            corrupted[row] = np.clip(images[row] + noise, 0.0, 1.0)
        else:
            height, width = rng.integers(size // 4, size // 2 + 1, size=2)
            top, left = rng.integers(0, size - height + 1), rng.integers(0, size - width + 1)
            corrupted[row, top : top + height, left : left + width] = 0.0
    return corrupted


def task_arrays(data: MiniTaskonomy, task: TaskSpec) -> tuple[np.ndarray, np.ndarray]:
    """Model inputs and targets for one task, in torch layout.

    Args:
        data: A rendered split holding the task's label.
        task: The task.

    Returns:
        ``(inputs float32 [N, 3, H, W] in [0, 1], targets)`` where targets are
        float32 [N, C, H, W] for dense maps, int64 [N, H, W] for dense classes,
        int64 [N] for a class and float32 [N, C] for a vector.

    Raises:
        ValueError: If the split lacks the task's label.

    Example:
        >>> from rsa_ray.datasets.tasks import task_by_name
        >>> data = render_mini_taskonomy(2, config=RendererConfig(image_size=16), label_names=["depth"])
        >>> [a.shape for a in task_arrays(data, task_by_name("depth"))]
        [(2, 3, 16, 16), (2, 1, 16, 16)]
    """
    clean = data.images.astype(np.float32) / 255.0
    if task.label == "image":
        target = clean
    elif task.label in data.labels:
        target = data.labels[task.label]
    else:
        raise ValueError(f"task {task.name!r} needs label {task.label!r}, which this split lacks: {sorted(data.labels)}")
    inputs = _corrupt(clean, task.corruption, data).transpose(0, 3, 1, 2)
    kind = task.target_kind
    if kind is TargetKind.DENSE_CLASSES:
        targets = target.astype(np.int64)
    elif kind is TargetKind.CLASS:
        targets = target.astype(np.int64)
        if task.name == "object_count":  # 1-4 visible objects → classes 0-3
            targets = np.clip(targets, 1, task.channels) - 1
    elif kind is TargetKind.VECTOR:
        targets = scaled_targets(target, task)
    else:
        dense = scaled_targets(target, task)
        targets = (dense[:, None] if dense.ndim == 3 else dense.transpose(0, 3, 1, 2)).copy()
    return np.ascontiguousarray(inputs, dtype=np.float32), targets


def scaled_targets(label: np.ndarray, task: TaskSpec) -> np.ndarray:
    """A float label as the task's target: ``(sign(x)·|x|^power − offset) × scale``, float32, channels last.

    Example:
        >>> from rsa_ray.datasets.tasks import task_by_name
        >>> [round(float(v), 1) for v in scaled_targets(np.array([[0.0, 16.0]]), task_by_name("keypoints_2d"))[0]]
        [0.0, 11.6]
    """
    values = label.astype(np.float64)
    if task.target_power != 1.0:
        values = np.sign(values) * np.abs(values) ** task.target_power
    offset, scale = np.asarray(task.target_offset, np.float64), np.asarray(task.target_scale, np.float64)
    return ((values - offset) * scale).astype(np.float32)


def labels_for_tasks(tasks: Sequence[TaskSpec] = MINI_TASKONOMY_TASKS) -> tuple[str, ...]:
    """The label names that ``tasks`` need (without ``"image"``), in first-use order.

    Example:
        >>> from rsa_ray.datasets.tasks import task_by_name
        >>> labels_for_tasks([task_by_name("autoencoding"), task_by_name("depth")])
        ('depth',)
    """
    return tuple(dict.fromkeys(task.label for task in tasks if task.label != "image"))
