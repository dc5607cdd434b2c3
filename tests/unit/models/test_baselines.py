"""Trivial baselines: torch's loss of the broadcast constant, and no other constant doing better on training."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.optimize import minimize

from rsa_ray.datasets import (
    MINI_TASKONOMY_TASKS,
    LossKind,
    RendererConfig,
    TargetKind,
    render_mini_taskonomy,
    task_by_name,
)
from rsa_ray.training import TaskBaseline, baseline_loss, constant_loss, task_baselines, task_loss, trivial_prediction
from rsa_ray.training.baselines import PSEUDO_COUNT

# One task per (loss, target kind) pair; channels and sizes shrunk for the slow references.
L1_MAP = dataclasses.replace(task_by_name("depth"), channels=2)
MSE_VECTOR = dataclasses.replace(task_by_name("camera_pose"), channels=3)
BCE_MAP = task_by_name("occlusion_edges")
CE_CLASS = task_by_name("object_count")
CE_DENSE = dataclasses.replace(task_by_name("semantic_segmentation"), channels=3)
TASKS = (L1_MAP, MSE_VECTOR, BCE_MAP, CE_CLASS, CE_DENSE)


def random_targets(task, n_images: int, seed: int, size: int = 3) -> np.ndarray:
    """Seeded targets in the ``task_arrays`` layout of ``task`` (every pixel with both BCE values)."""
    rng = np.random.default_rng(seed)
    kind = task.target_kind
    if kind is TargetKind.DENSE_REGRESSION:
        return rng.normal(size=(n_images, task.channels, size, size)).astype(np.float32)
    if kind is TargetKind.VECTOR:
        return rng.normal(size=(n_images, task.channels)).astype(np.float32)
    if kind is TargetKind.DENSE_BINARY:
        binary = (rng.random((n_images, 1, size, size)) < rng.uniform(0.2, 0.8, size=(1, 1, size, size)))
        binary[0], binary[1] = True, False
        return binary.astype(np.float32)
    if kind is TargetKind.CLASS:
        weights = np.linspace(1.0, 2.0, task.channels)
        return rng.choice(task.channels, size=n_images, p=weights / weights.sum())
    return rng.integers(0, task.channels, size=(n_images, size, size))


TORCH_LOSSES = {
    LossKind.L1: F.l1_loss,
    LossKind.MSE: F.mse_loss,
    LossKind.BINARY_CROSS_ENTROPY: F.binary_cross_entropy_with_logits,
    LossKind.CROSS_ENTROPY: F.cross_entropy,
}


def torch_tensors(task, prediction: np.ndarray, targets: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """The constant repeated for every image (the model's output layout) and the targets, as float64 / int64."""
    outputs = torch.from_numpy(np.repeat(np.asarray(prediction, dtype=np.float64)[None], len(targets), axis=0))
    dtype = torch.int64 if task.loss is LossKind.CROSS_ENTROPY else torch.float64
    return outputs, torch.from_numpy(targets).to(dtype)


def torch_loss(task, prediction: np.ndarray, targets: np.ndarray) -> float:
    """The slow, obvious reference: torch's mean loss of the constant repeated for every image."""
    return float(TORCH_LOSSES[task.loss](*torch_tensors(task, prediction, targets)))


@pytest.mark.parametrize("task", TASKS, ids=lambda task: f"{task.loss.value}-{task.target_kind.value}")
def test_baseline_loss_is_torchs_loss_of_the_broadcast_constant(task):
    train, val = random_targets(task, 40, seed=1), random_targets(task, 15, seed=2)
    prediction = trivial_prediction(task, train)
    expected_shape = (task.channels,) + (val.shape[1:] if task.loss is LossKind.CROSS_ENTROPY else val.shape[2:])
    assert prediction.shape == expected_shape
    reference = torch_loss(task, prediction, val)
    assert baseline_loss(task, train, val) == pytest.approx(reference, rel=1e-12, abs=1e-12)
    assert constant_loss(task, prediction, val) == pytest.approx(reference, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("task", TASKS, ids=lambda task: f"{task.loss.value}-{task.target_kind.value}")
def test_the_reference_is_the_training_loss_of_the_models(task):
    train = random_targets(task, 10, seed=6)
    prediction = trivial_prediction(task, train)
    assert float(task_loss(task, *torch_tensors(task, prediction, train))) == torch_loss(task, prediction, train)


@pytest.mark.parametrize("task", TASKS, ids=lambda task: f"{task.loss.value}-{task.target_kind.value}")
def test_no_small_step_of_one_element_lowers_the_training_loss(task):
    train = random_targets(task, 31, seed=3)
    prediction = trivial_prediction(task, train)
    best = constant_loss(task, prediction, train)
    rng = np.random.default_rng(4)
    for _ in range(30):
        element = tuple(int(rng.integers(0, extent)) for extent in prediction.shape)
        for step in (-1e-2, -1e-4, 1e-4, 1e-2):
            moved = prediction.copy()
            moved[element] += step
            # The pseudo-count moves the CE optimum by ~1e-5 in probability: ~1e-9 of loss at most.
            assert constant_loss(task, moved, train) >= best - 1e-8, (element, step)


@pytest.mark.parametrize("task", TASKS, ids=lambda task: f"{task.loss.value}-{task.target_kind.value}")
def test_the_constant_is_the_optimum_a_generic_optimiser_finds(task):
    train = random_targets(task, 25, seed=5, size=2)
    prediction = trivial_prediction(task, train)

    def objective(flat: np.ndarray) -> float:
        return torch_loss(task, flat.reshape(prediction.shape), train)

    # L1 is not smooth: Powell's line searches along each coordinate (the loss is separable); else BFGS.
    l1 = task.loss is LossKind.L1
    method, options = ("Powell", {"xtol": 1e-10, "ftol": 1e-14}) if l1 else ("BFGS", {"gtol": 1e-10})
    found = minimize(objective, np.zeros(prediction.size), method=method, options=options)
    assert objective(prediction.ravel()) <= found.fun + 1e-7  # the CE pseudo-count costs ~1e-9
    assert objective(prediction.ravel()) == pytest.approx(found.fun, abs=1e-4)


def test_median_with_ties_and_an_even_count_is_optimal():
    task = dataclasses.replace(L1_MAP, channels=1)
    values = np.array([0, 0, 0, 1, 1, 1, 1, 5, 5, 5], dtype=np.float32)  # median 1, many ties
    train = values.reshape(-1, 1, 1, 1)
    prediction = trivial_prediction(task, train)
    assert prediction.ravel().tolist() == [1.0]
    grid = np.linspace(-1, 6, 701)
    losses = [constant_loss(task, np.full((1, 1, 1), value), train) for value in grid]
    assert constant_loss(task, prediction, train) == pytest.approx(min(losses))
    flat = np.array([0, 0, 4, 4], dtype=np.float32).reshape(-1, 1, 1, 1)  # every value in [0, 4] is optimal
    assert constant_loss(task, trivial_prediction(task, flat), flat) == pytest.approx(2.0)


@pytest.mark.parametrize("task", [L1_MAP, MSE_VECTOR], ids=["l1", "mse"])
def test_constant_targets_give_zero_loss(task):
    train = np.full_like(random_targets(task, 6, seed=0), 0.375)
    assert baseline_loss(task, train, train[:2]) == 0.0


def test_a_class_never_seen_in_training_gives_a_large_finite_loss():
    train, val = np.array([0, 0, 1, 1, 2]), np.array([3, 0])
    loss = baseline_loss(CE_CLASS, train, val)
    a = PSEUDO_COUNT  # class 3: a / (5 + 4a); class 0: (2 + a) / (5 + 4a)
    assert loss == pytest.approx(-(np.log(a / (5 + 4 * a)) + np.log((2 + a) / (5 + 4 * a))) / 2)
    assert np.isfinite(loss) and loss > 4
    assert np.isfinite(trivial_prediction(CE_CLASS, train)).all()
    dense_train = np.zeros((4, 2, 2), dtype=np.int64)
    dense_val = np.full((1, 2, 2), 2, dtype=np.int64)
    assert np.isfinite(baseline_loss(CE_DENSE, dense_train, dense_val))
    assert baseline_loss(CE_DENSE, dense_train, dense_train) < 1e-3


def test_a_pixel_always_or_never_positive_gets_a_finite_logit():
    train = np.zeros((5, 1, 1, 2), dtype=np.float32)
    train[:, 0, 0, 1] = 1.0
    logits = trivial_prediction(BCE_MAP, train)
    assert np.isfinite(logits).all() and logits[0, 0, 0] < -10 and logits[0, 0, 1] > 10
    assert np.isfinite(baseline_loss(BCE_MAP, train, 1.0 - train))
    assert baseline_loss(BCE_MAP, train, train) < 1e-5


def test_targets_of_the_wrong_layout_are_refused():
    with pytest.raises(ValueError, match="dimensions"):
        trivial_prediction(L1_MAP, np.zeros((3, 2)))
    with pytest.raises(ValueError, match="channels"):
        trivial_prediction(L1_MAP, np.zeros((3, 5, 2, 2)))
    with pytest.raises(ValueError, match="classes"):
        trivial_prediction(CE_CLASS, np.array([0, 4]))
    with pytest.raises(ValueError, match="differ"):
        baseline_loss(L1_MAP, np.zeros((3, 2, 2, 2)), np.zeros((3, 2, 4, 4)))


def test_every_mini_taskonomy_task_has_a_finite_positive_baseline_on_a_tiny_render():
    config = RendererConfig(image_size=16)
    train = render_mini_taskonomy(16, config=config)
    val = render_mini_taskonomy(8, config=config, first_index=16)
    rows = task_baselines(train, val, MINI_TASKONOMY_TASKS)
    assert [row.task for row in rows] == [task.name for task in MINI_TASKONOMY_TASKS]
    assert all(isinstance(row, TaskBaseline) and row.loss == task_by_name(row.task).loss.value for row in rows)
    assert all(np.isfinite(row.baseline) and row.baseline > 0 for row in rows), rows
