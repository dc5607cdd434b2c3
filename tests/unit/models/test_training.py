"""Training one task: checkpoints at the right fractions, losses that fall, seeds that reproduce."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from rsa_ray.datasets import RendererConfig, render_mini_taskonomy, task_arrays, task_by_name
from rsa_ray.models import build_encoder_decoder
from rsa_ray.training import (
    TrainingSettings,
    TrainingState,
    architecture_for_task,
    build_task_model,
    mirrored,
    task_loss,
    train_steps,
    train_task,
    validation_loss,
)


@pytest.fixture(scope="module")
def data():
    return render_mini_taskonomy(24, seed=3, config=RendererConfig(image_size=32), label_names=["depth", "object_count"])


def test_checkpoints_at_requested_fractions_with_finite_losses(data):
    task = task_by_name("depth")
    split = task_arrays(data, task)
    result = train_task(task, split, split, TrainingSettings(steps=20, batch_size=8))
    assert [c.fraction for c in result.checkpoints] == [0.1, 0.25, 0.5, 1.0]
    assert [c.step for c in result.checkpoints] == [2, 5, 10, 20]
    assert all(np.isfinite(c.validation_loss) for c in result.checkpoints)
    first, last = result.checkpoints[0].state_dict, result.final.state_dict
    assert not torch.equal(first["encoder.block1.0.weight"], last["encoder.block1.0.weight"])


def test_training_reduces_the_loss_on_the_training_data(data):
    task = task_by_name("autoencoding")
    split = task_arrays(data, task)
    settings = TrainingSettings(steps=60, batch_size=8, learning_rate=5e-3, seed=5)
    torch.manual_seed(settings.seed)  # train_task initialises from the same seed
    untrained = build_encoder_decoder(**architecture_for_task(task).kwargs_dict())
    inputs, targets = (torch.from_numpy(a) for a in split)
    initial = validation_loss(untrained, task, inputs, targets, batch_size=64)
    result = train_task(task, split, split, settings)
    assert result.final.validation_loss < 0.7 * initial


def test_same_seed_same_weights(data):
    task = task_by_name("object_count")
    split = task_arrays(data, task)
    settings = TrainingSettings(steps=3, batch_size=4, seed=11)
    one, two = train_task(task, split, split, settings), train_task(task, split, split, settings)
    for name, tensor in one.final.state_dict.items():
        assert torch.equal(tensor, two.final.state_dict[name]), name
    other = train_task(task, split, split, TrainingSettings(steps=3, batch_size=4, seed=12))
    assert not torch.equal(other.final.state_dict["head.0.weight"], one.final.state_dict["head.0.weight"])


def test_heads_and_losses_follow_the_task():
    assert architecture_for_task(task_by_name("depth")).kwargs_dict()["head"] == "dense"
    assert architecture_for_task(task_by_name("camera_pose"), width=2).kwargs_dict() == {
        "head": "pooled", "out_channels": 6, "pool_size": 2, "width": 2, "head_hidden": 0,
        "decoder_activation": "leaky_relu",
    }  # fmt: skip
    assert architecture_for_task(task_by_name("object_class")).kwargs_dict()["head_hidden"] == 64
    large = architecture_for_task(task_by_name("depth"), variant="large")
    assert large.target == "rsa_ray.models.residual_encoder:build_residual_encoder_decoder"
    assert "width" not in large.kwargs_dict()
    with pytest.raises(ValueError, match="variant"):
        architecture_for_task(task_by_name("depth"), variant="wide")
    with pytest.raises(ValueError, match="width must be 1"):
        architecture_for_task(task_by_name("depth"), width=2, variant="large")
    confident = torch.tensor([[0.0, 12.0, 0.0, 0.0]])
    assert float(task_loss(task_by_name("object_class"), confident, torch.tensor([1]))) < 0.01
    assert float(task_loss(task_by_name("object_class"), confident, torch.tensor([0]))) > 10


def test_settings_are_validated():
    with pytest.raises(ValueError, match="include 1.0"):
        TrainingSettings(checkpoint_fractions=(0.1, 0.5))
    with pytest.raises(ValueError, match="steps"):
        TrainingSettings(steps=0)
    with pytest.raises(ValueError, match="learning_rate"):
        TrainingSettings(learning_rate=0)


def test_mismatched_splits_are_refused(data):
    task = task_by_name("depth")
    inputs, targets = task_arrays(data, task)
    with pytest.raises(ValueError, match="equal"):
        train_task(task, (inputs, targets[:3]), (inputs, targets), TrainingSettings(steps=1))


@pytest.mark.parametrize(("task_name", "variant"), [("depth", "small"), ("object_count", "small"), ("depth", "large")])
def test_training_in_segments_equals_training_in_one_go(data, task_name, variant):
    task = task_by_name(task_name)
    split = task_arrays(data, task)
    settings = TrainingSettings(steps=12, batch_size=4, seed=7, variant=variant)
    whole = train_steps(task, split, split, settings)
    part = train_steps(task, split, split, settings, until_step=5)
    # the state goes through torch.save / torch.load(weights_only=True), as between train-zoo segments
    buffer = io.BytesIO()
    torch.save(part.as_dict(), buffer)
    restored = TrainingState.from_dict(torch.load(io.BytesIO(buffer.getvalue()), weights_only=True))
    resumed = train_steps(task, split, split, settings, restored, until_step=12)
    assert [c.step for c in resumed.checkpoints] == [c.step for c in whole.checkpoints] == [1, 3, 6, 12]
    for mine, theirs in zip(resumed.checkpoints, whole.checkpoints):
        assert mine.validation_loss == theirs.validation_loss
        for name, tensor in theirs.state_dict.items():
            assert torch.equal(mine.state_dict[name], tensor), (mine.step, name)


def test_segments_outside_the_run_are_refused(data):
    task = task_by_name("depth")
    split = task_arrays(data, task)
    settings = TrainingSettings(steps=4, batch_size=4)
    state = train_steps(task, split, split, settings, until_step=2)
    with pytest.raises(ValueError, match=r"until_step must lie in \(2, 4\]"):
        train_steps(task, split, split, settings, state, until_step=2)
    with pytest.raises(ValueError, match="until_step"):
        train_steps(task, split, split, settings, until_step=5)


def test_mirroring_flips_about_half_the_images_and_nothing_else():
    images = torch.rand(200, 3, 4, 4)
    flipped = mirrored(images, seed=3, step=9)
    same = [torch.equal(a, b) for a, b in zip(flipped, images)]
    mirrored_rows = [torch.equal(a, b.flip(-1)) for a, b in zip(flipped, images)]
    assert all(s or m for s, m in zip(same, mirrored_rows))
    assert 70 < sum(mirrored_rows) < 130
    assert torch.equal(flipped, mirrored(images, seed=3, step=9))


def test_large_variant_trains_the_residual_encoder(data):
    task = task_by_name("object_count")
    split = task_arrays(data, task)
    state = train_steps(task, split, split, TrainingSettings(steps=2, batch_size=4, variant="large"))
    assert any(name.startswith("encoder.block4.2.conv1") for name in state.model)
    model = build_task_model(task, variant="large")
    model.load_state_dict(state.model)
