"""Task targets: the fixed standardising constants fit the data, transforms are applied as declared."""

from __future__ import annotations

import numpy as np
import pytest

from rsa_ray.datasets import MINI_TASKONOMY_TASKS, RendererConfig, render_mini_taskonomy, task_arrays, task_by_name
from rsa_ray.datasets.labels import visible_object_pixels
from rsa_ray.datasets.mini_taskonomy import scaled_targets

STANDARDISED = ("edges_2d", "keypoints_2d", "keypoints_3d", "curvature", "camera_pose", "vanishing_directions")


@pytest.fixture(scope="module")
def scenes():
    # Seed 7, not the seed the constants were measured on: they must hold for the data, not one sample.
    labels = ["edges_2d", "keypoints_2d", "keypoints_3d", "curvature", "camera_pose", "vanishing_directions",
              "object_count", "instance"]
    return render_mini_taskonomy(300, seed=7, config=RendererConfig(image_size=64), label_names=labels)


@pytest.mark.parametrize("name", STANDARDISED)
def test_standardised_targets_have_about_unit_variance(scenes, name):
    _, targets = task_arrays(scenes, task_by_name(name))
    values = targets.reshape(len(targets), targets.shape[1], -1) if targets.ndim == 4 else targets[:, :, None]
    std = values.transpose(1, 0, 2).reshape(values.shape[1], -1).std(axis=1)
    varying = std > 1e-6  # the vanishing vector's one constant component stays constant
    assert varying.sum() >= 1
    assert np.all((std[varying] > 0.6) & (std[varying] < 1.6)), std
    if targets.ndim == 2:  # vectors are centred too
        assert np.all(np.abs(targets.mean(axis=0)) < 0.35), targets.mean(axis=0)


def test_transform_order_is_power_then_offset_then_scale():
    task = task_by_name("keypoints_2d")
    label = np.array([[0.0, 0.0625, 1.0]])
    expected = np.sign(label) * np.abs(label) ** task.target_power * task.target_scale
    assert np.allclose(scaled_targets(label, task), expected)
    pose = task_by_name("camera_pose")
    vector = np.arange(6.0)[None]
    assert np.allclose(scaled_targets(vector, pose), (vector - np.array(pose.target_offset)) * np.array(pose.target_scale))


def test_object_count_counts_objects_covering_one_percent(scenes):
    pixels = visible_object_pixels(scenes.labels["instance"])
    expected = (pixels >= 41).sum(axis=1)
    assert RendererConfig(image_size=64).visible_pixels == 41
    assert np.array_equal(scenes.labels["object_count"], expected)
    _, classes = task_arrays(scenes, task_by_name("object_count"))
    assert np.array_equal(classes, np.clip(expected, 1, 4) - 1)


def test_only_per_image_class_tasks_mirror_and_have_a_hidden_head():
    mirrored = {task.name for task in MINI_TASKONOMY_TASKS if task.mirror}
    assert mirrored == {"object_class", "object_count"}
    assert all(task_by_name(name).head_hidden == 64 for name in mirrored)
    # a flip changes where the camera is, so the geometric tasks must not mirror
    assert not task_by_name("camera_pose").mirror and not task_by_name("vanishing_directions").mirror


def test_visible_fraction_is_checked():
    with pytest.raises(ValueError, match="visible_fraction"):
        RendererConfig(visible_fraction=1.5)
