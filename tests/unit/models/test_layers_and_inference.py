"""Layer extraction: hooks equal a manual split of the forward pass, are always removed, and name missing layers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rsa_ray.models import (
    InferenceOptions,
    LayerNotFoundError,
    PreprocessingSpec,
    build_encoder_decoder,
    capture_layers,
    extract_features,
    layer_names,
)


@pytest.fixture()
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_encoder_decoder(out_channels=3).eval()


@pytest.fixture()
def images() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(5, 32, 32, 3), dtype=np.uint8)


def _manual_encoder(model, batch: torch.Tensor) -> dict[str, torch.Tensor]:
    encoder = model.encoder
    block2 = encoder.block2(encoder.block1(batch))
    output = encoder.output(encoder.block4(encoder.block3(block2)))
    return {"encoder.block2": block2, "encoder.output": output}


def _hook_count(model) -> int:
    return sum(len(module._forward_hooks) for module in model.modules())


def test_hooks_equal_a_manual_split_of_the_forward_pass(model):
    batch = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = _manual_encoder(model, batch)
        with capture_layers(model, ["encoder.block2", "encoder.output"]) as captured:
            model(batch)
    for name, tensor in expected.items():
        assert torch.equal(captured[name], tensor), name


def test_captured_relu_output_is_not_changed_by_later_in_place_ops(model):
    batch = torch.rand(2, 3, 32, 32)
    with torch.no_grad(), capture_layers(model, ["encoder.block1.0", "encoder.block1"]) as captured:
        model(batch)
    # block1.0 is the conv before the in-place ReLU: it must keep its negative values.
    assert (captured["encoder.block1.0"] < 0).any()
    assert torch.equal(captured["encoder.block1"], captured["encoder.block1.0"].clamp(min=0))


def test_hooks_are_removed_on_exit_and_on_error(model):
    before = _hook_count(model)
    with capture_layers(model, ["encoder.output"]):
        assert _hook_count(model) == before + 1
    assert _hook_count(model) == before
    with pytest.raises(RuntimeError, match="boom"):
        with capture_layers(model, ["encoder.output", "head"]):
            raise RuntimeError("boom")
    assert _hook_count(model) == before


def test_missing_layer_lists_the_nearest_valid_names(model):
    with pytest.raises(LayerNotFoundError) as caught:
        with capture_layers(model, ["encoder.blok2"]):
            pass
    assert "encoder.blok2" in str(caught.value) and "'encoder.block2'" in str(caught.value)
    assert _hook_count(model) == 0
    assert "encoder.block2" in layer_names(model)


def test_extract_features_flattens_per_image_and_matches_manual(model, images):
    spec = PreprocessingSpec()
    features = extract_features(model, images, ["encoder.block2", "encoder.output"], spec, InferenceOptions(batch_size=2))
    batch = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
    with torch.no_grad():
        expected = _manual_encoder(model, batch)
    assert features["encoder.output"].shape == (5, 8 * 2 * 2)
    assert features["encoder.block2"].shape == (5, 32 * 8 * 8)
    for name, tensor in expected.items():
        np.testing.assert_allclose(features[name], tensor.reshape(5, -1).numpy(), rtol=1e-5, atol=1e-6)
    assert _hook_count(model) == 0


def test_batch_size_does_not_change_features(model, images):
    spec = PreprocessingSpec()
    one = extract_features(model, images, ["encoder.output"], spec, InferenceOptions(batch_size=1))
    all_at_once = extract_features(model, images, ["encoder.output"], spec, InferenceOptions(batch_size=64))
    np.testing.assert_allclose(one["encoder.output"], all_at_once["encoder.output"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_autocast_dtypes_give_float32_features_close_to_full_precision(model, images, dtype):
    spec = PreprocessingSpec()
    full = extract_features(model, images, ["encoder.output"], spec)["encoder.output"]
    # The pinned CPU torch build has kernels for both dtypes: a failure here is a failure, not a skip.
    low = extract_features(model, images, ["encoder.output"], spec, InferenceOptions(dtype=dtype))["encoder.output"]
    assert low.dtype == np.float32
    assert np.abs(low - full).max() < 0.05 * np.abs(full).max()
    assert not np.array_equal(low, full)  # autocast really ran in lower precision


def test_inference_options_are_validated():
    with pytest.raises(ValueError, match="dtype"):
        InferenceOptions(dtype="int8")
    with pytest.raises(ValueError, match="batch_size"):
        InferenceOptions(batch_size=0)
    with pytest.raises(RuntimeError):
        InferenceOptions(device="not-a-device")


def test_unknown_layer_fails_before_any_forward_pass(model, images):
    with pytest.raises(LayerNotFoundError, match="nearest"):
        extract_features(model, images, ["encoder.outptu"], PreprocessingSpec())
