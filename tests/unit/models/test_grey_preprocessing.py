"""Single-channel models: 1-value mean/std, grey by BT.601 luma, and the refusals around them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from rsa_ray.model_entry import LayerSpec, ManifestError
from rsa_ray.model_entry.fields import check_preprocessing
from rsa_ray.models import PreprocessingSpec, preprocess_images
from rsa_ray.models.inference import extract_layer_features
from rsa_ray.models.preprocessing import LUMA_WEIGHTS
from rsa_ray.models.resident import ProbeBatches


def _grey_loop(images: np.ndarray, low: float, high: float, mean: float, std: float) -> np.ndarray:
    """Pixel by pixel: scale to the value range, weight R, G, B by BT.601 luma, normalise."""
    count, height, width, _ = images.shape
    out = np.zeros((count, 1, height, width))
    for n in range(count):
        for y in range(height):
            for x in range(width):
                scaled = [low + images[n, y, x, c] / 255.0 * (high - low) for c in range(3)]
                luma = 0.299 * scaled[0] + 0.587 * scaled[1] + 0.114 * scaled[2]
                out[n, 0, y, x] = (luma - mean) / std
    return out


def test_luma_weights_are_bt601():
    assert LUMA_WEIGHTS == (0.299, 0.587, 0.114)


@pytest.mark.parametrize(("value_range", "mean", "std"), [((0, 1), 0.5, 0.25), ((0, 255), 127.5, 128.0),
                                                          ((-1, 1), 0.1, 2.0)])
def test_grey_conversion_matches_a_pixel_loop_on_seeded_images(value_range, mean, std):
    images = np.random.default_rng(7).integers(0, 256, size=(3, 5, 5, 3), dtype=np.uint8)
    images[0] = 255  # a white image and a constant-channel one
    images[1, ..., 1] = 0
    spec = PreprocessingSpec(mean=(mean,), std=(std,), value_range=value_range)
    out = preprocess_images(images, spec)
    assert out.dtype == torch.float32 and out.shape == (3, 1, 5, 5)
    np.testing.assert_allclose(out.numpy(), _grey_loop(images, *value_range, mean, std), rtol=1e-5, atol=1e-5)


def test_grey_conversion_after_resize_and_crop_matches_grey_of_the_rgb_result():
    images = np.random.default_rng(3).integers(0, 256, size=(2, 12, 9, 3), dtype=np.uint8)
    rgb = preprocess_images(images, PreprocessingSpec(resize=6, crop=5, value_range=(0, 255)))
    grey = preprocess_images(images, PreprocessingSpec(resize=6, crop=5, value_range=(0, 255), mean=(10,), std=(2,)))
    expected = (sum(w * rgb[:, c].numpy() for c, w in enumerate(LUMA_WEIGHTS)) - 10) / 2
    assert grey.shape == (2, 1, 5, 5)
    np.testing.assert_allclose(grey[:, 0].numpy(), expected, rtol=1e-5, atol=1e-4)


def test_three_value_specs_keep_their_meaning():
    spec = PreprocessingSpec()
    assert spec.mean == (0.0, 0.0, 0.0) and spec.std == (1.0, 1.0, 1.0) and spec.channels == 3
    assert preprocess_images(np.zeros((1, 4, 4, 3), np.uint8), spec).shape == (1, 3, 4, 4)


def test_one_given_side_sets_the_other_defaults_length():
    assert PreprocessingSpec(mean=(0.5,)).std == (1.0,)
    assert PreprocessingSpec(std=(0.5,)).mean == (0.0,)
    assert PreprocessingSpec(std=(2, 2, 2)).mean == (0.0, 0.0, 0.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mean": (0, 0)}, "mean needs 3 values"),
        ({"std": (1, 1, 1, 1)}, "std needs 3 values"),
        ({"mean": ()}, "mean needs 3 values"),
        ({"mean": (0.5,), "std": (1, 1, 1)}, "mean has 1 value"),
        ({"mean": (0, 0, 0), "std": (1,)}, "mean has 3 value"),
        ({"mean": (0.5,), "std": (0.5,), "channel_order": "BGR"}, "channel_order BGR"),
        ({"mean": (0.5,), "std": (0.0,)}, "std values must be > 0"),
    ],
)
def test_spec_refusals_name_the_field(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PreprocessingSpec(**kwargs)


def test_manifest_accepts_one_value_mean_and_std():
    spec = check_preprocessing({"mean": [0.5], "std": [0.25], "channel_order": "RGB"}, "'ocr'")
    assert spec.channels == 1 and spec.mean == (0.5,)


@pytest.mark.parametrize(
    ("raw", "field", "rule"),
    [
        ({"mean": [0, 0]}, "'preprocessing.mean'", "3 finite numbers"),
        ({"std": [1.0, float("nan")]}, "'preprocessing.std'", "1 (single-channel input)"),
        ({"mean": [0.5], "std": [1, 1, 1]}, "'preprocessing'", "mean has 1 value(s) and std 3"),
        ({"mean": [0.5], "std": [0.5], "channel_order": "BGR"}, "'preprocessing'", "channel_order BGR"),
    ],
)
def test_manifest_refusals_are_one_line_naming_model_and_field(raw, field, rule):
    with pytest.raises(ManifestError) as caught:
        check_preprocessing(raw, "'ocr'")
    message = str(caught.value)
    assert "\n" not in message and "'ocr'" in message and f"field {field}" in message and rule in message


class _GreyRecogniser(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(1, 4, kernel_size=3, padding=1)
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.conv(x)).mean(dim=(2, 3)))


def test_a_single_channel_conv_model_runs_end_to_end_through_extraction():
    images = np.random.default_rng(11).integers(0, 256, size=(5, 10, 8, 3), dtype=np.uint8)
    spec = PreprocessingSpec(resize=6, crop=6, mean=(0.5,), std=(0.25,))
    model = _GreyRecogniser()
    features = extract_layer_features(model, images, [LayerSpec("conv", "conv"), LayerSpec("out", "head")], spec)
    assert features["conv"].shape == (5, 4 * 6 * 6) and features["out"].shape == (5, 2)
    with torch.no_grad():
        expected = model(preprocess_images(images, spec)).numpy()
    np.testing.assert_allclose(features["out"], expected, rtol=1e-5, atol=1e-6)
    resident = torch.cat(list(ProbeBatches(images, 2, "cpu").on_device(spec)))
    np.testing.assert_array_equal(resident.numpy(), preprocess_images(images, spec).numpy())


def test_a_grey_spec_with_an_rgb_model_fails_in_the_forward_not_silently():
    model = nn.Conv2d(3, 2, kernel_size=1)
    with pytest.raises(RuntimeError):
        model(preprocess_images(np.zeros((1, 4, 4, 3), np.uint8), PreprocessingSpec(mean=(0.0,))))
