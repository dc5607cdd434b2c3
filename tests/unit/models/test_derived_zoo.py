"""Derived models: graded weight noise (statistics untouched, seeded, scaled per tensor) and their entries."""

from __future__ import annotations

import pytest
import torch

from rsa_ray.models.derived_zoo import derived_entry, noisy_state_dict
from rsa_ray.models.entry import ArchitectureSpec, ModelEntry, WeightsRef
from rsa_ray.models.weights import load_safetensors, sha256_of_file


def _state():
    generator = torch.Generator().manual_seed(1)
    return {"conv.weight": torch.randn(64, 3, 3, 3, generator=generator) * 0.2,
            "conv.bias": torch.zeros(64), "bn.running_mean": torch.randn(64, generator=generator),
            "bn.running_var": torch.rand(64, generator=generator) + 0.5, "bn.num_batches_tracked": torch.tensor(7),
            "fc.weight": torch.randn(10, 64, generator=generator) * 3.0}


@pytest.mark.parametrize("level", [0.1, 0.5, 2.0])
def test_noise_is_level_times_each_tensors_std(level):
    state = _state()
    noisy = noisy_state_dict(state, level, seed=3)
    for name in ("conv.weight", "fc.weight"):
        measured = float((noisy[name] - state[name]).std() / state[name].std())
        assert measured == pytest.approx(level, rel=0.15)
    for name in ("conv.bias", "bn.running_mean", "bn.running_var", "bn.num_batches_tracked"):
        assert torch.equal(noisy[name], state[name])  # constant tensors and statistics are copied


def test_noise_is_seeded_and_leaves_the_input_alone():
    state = _state()
    before = {name: tensor.clone() for name, tensor in state.items()}
    first, again = noisy_state_dict(state, 0.5, seed=3), noisy_state_dict(state, 0.5, seed=3)
    other = noisy_state_dict(state, 0.5, seed=4)
    assert all(torch.equal(first[name], again[name]) for name in state)
    assert not torch.equal(first["fc.weight"], other["fc.weight"])
    assert all(torch.equal(state[name], before[name]) for name in state)
    assert all(torch.equal(t, state[n]) for n, t in noisy_state_dict(state, 0.0, seed=3).items())


@pytest.mark.parametrize("level", [-0.1, float("nan"), float("inf")])
def test_bad_noise_levels_are_refused(level):
    with pytest.raises(ValueError, match="noise level"):
        noisy_state_dict(_state(), level, seed=0)


def test_derived_entry_saves_verified_weights_and_keeps_the_parents_layers(tmp_path):
    parent = ModelEntry("net", "safetensors", ArchitectureSpec("some.builder"), WeightsRef("net.safetensors"),
                        ("mid", "output"), "output", modules={"mid": "block1", "output": "head"}, seed=5)
    state = noisy_state_dict(_state(), 0.5, seed=0)
    entry = derived_entry(parent, "net-noise-0.5", state, tmp_path, "noise-0.5", "semantic")
    assert entry.weights.path == "net-noise-0.5.safetensors" and entry.seed is None
    assert entry.weights.sha256 == sha256_of_file(tmp_path / entry.weights.path)
    assert entry.layers == parent.layers and entry.layer("mid").module == "block1"
    assert (entry.task, entry.task_type) == ("noise-0.5", "semantic")
    loaded = load_safetensors(tmp_path / entry.weights.path)
    assert all(torch.equal(loaded[name], state[name]) for name in state)
