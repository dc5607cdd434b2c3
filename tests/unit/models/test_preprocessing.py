"""Preprocessing applied exactly as specified: checked against hand-computed numbers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rsa_ray.models import PreprocessingSpec, preprocess_images


def _image(red: int, green: int, blue: int, size: int = 4) -> np.ndarray:
    image = np.zeros((1, size, size, 3), np.uint8)
    image[..., 0], image[..., 1], image[..., 2] = red, green, blue
    return image


def test_value_range_mean_and_std_in_value_range_units():
    spec = PreprocessingSpec(value_range=(0, 255), mean=(100, 50, 0), std=(2, 5, 10))
    out = preprocess_images(_image(200, 150, 100), spec)
    assert out.dtype == torch.float32 and out.shape == (1, 3, 4, 4)
    assert out[0, :, 0, 0].tolist() == [50.0, 20.0, 10.0]


def test_unit_range_and_imagenet_like_normalisation():
    spec = PreprocessingSpec(mean=(0.5, 0.5, 0.5), std=(0.25, 0.5, 1.0))
    out = preprocess_images(_image(255, 0, 51), spec)
    np.testing.assert_allclose(out[0, :, 0, 0].numpy(), [2.0, -1.0, -0.3], rtol=1e-6)


def test_symmetric_value_range():
    out = preprocess_images(_image(0, 255, 51), PreprocessingSpec(value_range=(-1, 1)))
    np.testing.assert_allclose(out[0, :, 0, 0].numpy(), [-1.0, 1.0, -0.6], rtol=1e-6)


def test_bgr_channel_order_reverses_channels_before_mean():
    spec = PreprocessingSpec(channel_order="BGR", value_range=(0, 255), mean=(30, 20, 10))
    out = preprocess_images(_image(10, 20, 30), spec)
    assert out[0, :, 0, 0].tolist() == [0.0, 0.0, 0.0]


def test_centre_crop_keeps_the_centre_pixels():
    image = np.arange(6 * 6 * 3, dtype=np.uint8).reshape(1, 6, 6, 3)
    out = preprocess_images(image, PreprocessingSpec(crop=2, value_range=(0, 255)))
    np.testing.assert_array_equal(out[0].permute(1, 2, 0).numpy(), image[0, 2:4, 2:4].astype(np.float32))


def test_resize_sets_the_shorter_side_and_keeps_the_aspect_ratio():
    image = np.zeros((1, 8, 16, 3), np.uint8)
    assert preprocess_images(image, PreprocessingSpec(resize=4, crop=4)).shape == (1, 3, 4, 4)
    with pytest.raises(ValueError, match="crop"):
        preprocess_images(image, PreprocessingSpec(resize=4))


def test_antialiased_downsampling_averages_blocks():
    # A 1-pixel checkerboard halves to flat grey (127.5) away from the border; without
    # antialiasing, bilinear sampling at pixel corners would give 0/255 aliasing instead.
    checker = ((np.indices((8, 8)).sum(axis=0) % 2) * 255).astype(np.uint8)
    image = np.repeat(checker[None, :, :, None], 3, axis=-1)
    out = preprocess_images(image, PreprocessingSpec(resize=4, value_range=(0, 255))).numpy()
    np.testing.assert_allclose(out[..., 1:3, 1:3], 127.5, atol=1e-3)
    np.testing.assert_allclose(out, 127.5, atol=3.0)


def test_constant_image_survives_resizing_unchanged():
    out = preprocess_images(_image(80, 80, 80, size=10), PreprocessingSpec(resize=7, crop=5, value_range=(0, 255)))
    np.testing.assert_allclose(out.numpy(), 80.0, atol=1e-3)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"std": (1, 0, 1)}, "std"),
        ({"mean": (0, 0)}, "mean"),
        ({"value_range": (1, 1)}, "value_range"),
        ({"crop": 0}, "crop"),
        ({"interpolation": "lanczos"}, "interpolation"),
        ({"channel_order": "GBR"}, "GBR"),
    ],
)
def test_invalid_specs_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PreprocessingSpec(**kwargs)


def test_wrong_image_dtype_is_refused():
    with pytest.raises(ValueError, match="uint8"):
        preprocess_images(np.zeros((1, 4, 4, 3), np.float32), PreprocessingSpec())
