"""The mini-Taskonomy renderer: determinism, and labels that mean what they say."""

from __future__ import annotations

import numpy as np
import pytest

from rsa_ray.datasets import (
    LABEL_NAMES,
    MINI_TASKONOMY_TASKS,
    SEMANTIC_CLASSES,
    InputCorruption,
    RendererConfig,
    TargetKind,
    TaskType,
    render_mini_taskonomy,
    task_arrays,
    task_by_name,
)
from rsa_ray.datasets.scene_sampling import SHAPE_CLASSES, sample_scenes

CONFIG = RendererConfig(image_size=32)


@pytest.fixture(scope="module")
def data():
    return render_mini_taskonomy(48, seed=7, config=CONFIG)


@pytest.fixture(scope="module")
def params():
    return sample_scenes(7, 0, 48, CONFIG)


def test_same_seed_gives_identical_arrays_whatever_the_chunking(data):
    again = render_mini_taskonomy(48, seed=7, config=CONFIG, chunk_size=5)
    np.testing.assert_array_equal(again.images, data.images)
    for name in LABEL_NAMES:
        np.testing.assert_array_equal(again.labels[name], data.labels[name], err_msg=name)


def test_scenes_depend_only_on_seed_and_index(data):
    tail = render_mini_taskonomy(8, seed=7, config=CONFIG, first_index=40, label_names=["depth"])
    np.testing.assert_array_equal(tail.images, data.images[40:])
    np.testing.assert_array_equal(tail.labels["depth"], data.labels["depth"][40:])
    other = render_mini_taskonomy(8, seed=8, config=CONFIG, label_names=["depth"])
    assert not np.array_equal(other.images, data.images[:8])


def test_image_format(data):
    assert data.images.shape == (48, 32, 32, 3) and data.images.dtype == np.uint8
    assert data.images.std() > 10  # not blank


def test_depth_is_positive_and_finite(data):
    depth = data.labels["depth"]
    assert np.isfinite(depth).all() and depth.min() > 0


def test_normals_are_unit_and_face_the_camera(data):
    normals = data.labels["normals"]
    np.testing.assert_allclose(np.linalg.norm(normals, axis=-1), 1.0, atol=1e-5)
    assert (data.labels["reshading"] >= 0).all() and (data.labels["reshading"] <= 1).all()
    # Floor pixels: the floor's normal is world-up, so its camera-space y component is cos(pitch) > 0.
    floor = data.labels["segmentation"] == SEMANTIC_CLASSES.index("floor")
    assert (normals[..., 1][floor] > 0.8).all()


def test_segmentation_ids_in_range_and_consistent_with_instances(data):
    segmentation, instance = data.labels["segmentation"], data.labels["instance"]
    assert segmentation.min() >= 0 and segmentation.max() < len(SEMANTIC_CLASSES)
    objects = segmentation >= 3
    np.testing.assert_array_equal(objects, instance >= 6)
    assert objects.any() and (~objects).any()


def test_object_pixels_have_the_class_of_their_slot(data, params):
    for scene in range(8):
        for slot in range(4):
            pixels = data.labels["instance"][scene] == 6 + slot
            if pixels.any():
                expected = 3 + params.object_class[scene, slot]
                assert (data.labels["segmentation"][scene][pixels] == expected).all()


def test_sphere_curvature_is_one_over_radius_and_planes_are_flat(data, params):
    checked = 0
    for scene in range(len(data)):
        for slot in range(4):
            pixels = data.labels["instance"][scene] == 6 + slot
            if pixels.any() and SHAPE_CLASSES[params.object_class[scene, slot]] == "sphere":
                radius = params.object_size[scene, slot, 0]
                np.testing.assert_allclose(data.labels["curvature"][scene][pixels], 1.0 / radius, rtol=1e-3)
                checked += 1
    assert checked > 0
    room = data.labels["instance"] < 6
    assert (data.labels["curvature"][room] == 0).all()


def _neighbour_jump(depth: np.ndarray, surface: np.ndarray, jump: float) -> np.ndarray:
    """Slow reference: per pixel, any 4-neighbour on another surface with a relative depth jump > jump."""
    height, width = depth.shape
    edges = np.zeros_like(depth, dtype=bool)
    for row in range(height):
        for col in range(width):
            for d_row, d_col in ((0, 1), (1, 0), (0, -1), (-1, 0)):
                r, c = row + d_row, col + d_col
                if 0 <= r < height and 0 <= c < width and surface[r, c] != surface[row, col]:
                    near = min(depth[row, col], depth[r, c])
                    if abs(depth[row, col] - depth[r, c]) / near > jump:
                        edges[row, col] = True
    return edges


def test_occlusion_edges_are_exactly_where_depth_jumps_between_surfaces(data):
    for scene in range(6):
        expected = _neighbour_jump(data.labels["depth"][scene], data.labels["instance"][scene], CONFIG.occlusion_jump)
        np.testing.assert_array_equal(data.labels["occlusion_edges"][scene], expected)
    assert data.labels["occlusion_edges"].any()


def test_object_floor_contacts_are_surface_boundaries_but_not_occlusion_edges(data):
    instance, edges = data.labels["instance"], data.labels["occlusion_edges"]
    boundaries = np.zeros_like(edges)
    for axis in (1, 2):
        first = [slice(None)] * 3
        second = [slice(None)] * 3
        first[axis], second[axis] = slice(None, -1), slice(1, None)
        differs = instance[tuple(first)] != instance[tuple(second)]
        boundaries[tuple(first)] |= differs
        boundaries[tuple(second)] |= differs
    assert not (edges & ~boundaries).any()  # an occlusion edge always borders another surface
    assert edges.sum() < 0.9 * boundaries.sum()  # room corners and floor contacts have no depth jump


def test_scene_level_labels(data):
    count = data.labels["object_count"]
    assert count.min() >= 0 and count.max() <= 4
    visible = np.array([len(set(np.unique(i)) - set(range(6))) for i in data.labels["instance"]])
    assert (count <= visible).all()
    assert set(np.unique(data.labels["object_class"])) <= set(range(len(SHAPE_CLASSES)))
    axes = data.labels["vanishing_directions"].reshape(-1, 3, 3)
    np.testing.assert_allclose(axes @ axes.transpose(0, 2, 1), np.broadcast_to(np.eye(3), axes.shape), atol=1e-5)
    pose = data.labels["camera_pose"]
    np.testing.assert_allclose(pose[:, 3] ** 2 + pose[:, 4] ** 2, 1.0, atol=1e-5)


def test_keypoint_and_edge_maps_are_normalised(data):
    for name in ("keypoints_2d", "keypoints_3d"):
        peaks = data.labels[name].reshape(len(data), -1).max(axis=1)
        assert ((np.abs(peaks - 1.0) < 1e-5) | (peaks == 0)).all(), name
        assert data.labels[name].min() >= 0
    assert data.labels["edges_2d"].min() >= 0


def test_task_list_covers_the_paper_task_types():
    assert len(MINI_TASKONOMY_TASKS) >= 14
    assert {task.task_type for task in MINI_TASKONOMY_TASKS} == set(TaskType)
    names = [task.name for task in MINI_TASKONOMY_TASKS]
    assert len(set(names)) == len(names)
    for required in ("autoencoding", "denoising", "inpainting", "edges_2d", "keypoints_2d", "depth",
                     "surface_normals", "occlusion_edges", "reshading", "curvature", "keypoints_3d",
                     "semantic_segmentation", "object_class", "camera_pose"):  # fmt: skip
        assert required in names


@pytest.mark.parametrize("task", MINI_TASKONOMY_TASKS, ids=lambda task: task.name)
def test_task_arrays_have_the_declared_shapes(data, task):
    inputs, targets = task_arrays(data, task)
    assert inputs.shape == (48, 3, 32, 32) and inputs.dtype == np.float32
    assert 0 <= inputs.min() and inputs.max() <= 1
    kind = task.target_kind
    if kind is TargetKind.DENSE_CLASSES:
        assert targets.shape == (48, 32, 32) and targets.dtype == np.int64 and targets.max() < task.channels
    elif kind is TargetKind.CLASS:
        assert targets.shape == (48,) and targets.dtype == np.int64
        assert 0 <= targets.min() and targets.max() < task.channels
    elif kind is TargetKind.VECTOR:
        assert targets.shape == (48, task.channels) and targets.dtype == np.float32
    else:
        assert targets.shape == (48, task.channels, 32, 32) and targets.dtype == np.float32
    if kind is TargetKind.DENSE_BINARY:
        assert set(np.unique(targets)) <= {0.0, 1.0}


def test_input_corruptions(data):
    clean = data.images.astype(np.float32).transpose(0, 3, 1, 2) / 255.0
    noisy, _ = task_arrays(data, task_by_name("denoising"))
    assert 0.05 < np.abs(noisy - clean).mean() < 0.1
    masked, target = task_arrays(data, task_by_name("inpainting"))
    np.testing.assert_array_equal(target, clean)
    zeroed = (masked == 0).all(axis=1) & ~(clean == 0).all(axis=1)
    assert zeroed.reshape(len(data), -1).sum(axis=1).min() >= (32 // 4) ** 2
    gray, _ = task_arrays(data, task_by_name("colorization"))
    np.testing.assert_array_equal(gray[:, 0], gray[:, 2])
    assert task_by_name("colorization").corruption is InputCorruption.GRAYSCALE


def test_depth_target_is_scaled(data):
    _, targets = task_arrays(data, task_by_name("depth"))
    np.testing.assert_allclose(targets[:, 0], data.labels["depth"] * 0.2, rtol=1e-6)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="closest"):
        task_by_name("dept")
    with pytest.raises(ValueError, match="unknown labels"):
        render_mini_taskonomy(1, label_names=["depht"])
    with pytest.raises(ValueError, match="image_size"):
        RendererConfig(image_size=4)
    with pytest.raises(ValueError, match="max_objects"):
        RendererConfig(min_objects=3, max_objects=2)
    split = render_mini_taskonomy(1, config=CONFIG, label_names=["depth"])
    with pytest.raises(ValueError, match="lacks"):
        task_arrays(split, task_by_name("surface_normals"))
