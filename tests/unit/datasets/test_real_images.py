"""Loaders for real images shipped with dependencies, image folders and .npz files."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from rsa_ray.datasets import ProbeImages, load_image_folder, load_lfw_subset, load_npz_images
from rsa_ray.datasets import load_skimage_images, load_sklearn_digits, load_sklearn_sample_images
from rsa_ray.datasets.real_images import square_resize, to_uint8_rgb


def _check(probes: ProbeImages, count: int, size: int) -> None:
    assert probes.images.shape == (count, size, size, 3) and probes.images.dtype == np.uint8
    assert len(probes.image_ids) == count and len(set(probes.image_ids)) == count


def test_sklearn_digits_are_gray_and_scaled_from_16():
    probes = load_sklearn_digits(size=8)
    _check(probes, 1797, 8)
    from sklearn.datasets import load_digits

    raw = load_digits().images[0]
    # A bicubic resize to the same size is the identity: values 0..16 map to 0..255.
    np.testing.assert_array_equal(probes.images[0, ..., 0], np.round(raw / 16 * 255).astype(np.uint8))
    np.testing.assert_array_equal(probes.images[..., 0], probes.images[..., 2])
    assert probes.source == "sklearn:digits" and probes.image_ids[0].endswith("label0")


def test_sklearn_sample_images():
    _check(load_sklearn_sample_images(size=48), 2, 48)


def test_skimage_bundled_images_and_unknown_names():
    probes = load_skimage_images(size=24)
    _check(probes, len(probes.image_ids), 24)
    assert len(probes.image_ids) >= 15
    with pytest.raises(ValueError, match="bundled"):
        load_skimage_images(names=["astronaut", "cells3d"])


def test_lfw_subset():
    _check(load_lfw_subset(size=25), 200, 25)


def test_image_folder_sorted_and_decoded(tmp_path):
    rng = np.random.default_rng(0)
    for name, shape in (("b.png", (30, 40, 3)), ("a.jpg", (50, 50, 3))):
        Image.fromarray(rng.integers(0, 256, size=shape, dtype=np.uint8)).save(tmp_path / name)
    Image.fromarray(rng.integers(0, 256, size=(20, 20), dtype=np.uint8)).save(tmp_path / "c.bmp")
    (tmp_path / "notes.txt").write_text("not an image")
    probes = load_image_folder(tmp_path, size=16)
    _check(probes, 3, 16)
    assert probes.image_ids == ("a.jpg", "b.png", "c.bmp")


def test_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_image_folder(tmp_path / "missing")
    with pytest.raises(ValueError, match="no images"):
        load_image_folder(tmp_path)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="broken.png"):
        load_image_folder(tmp_path)


def test_npz_round_trip_uint8_and_float(tmp_path):
    images = np.random.default_rng(1).integers(0, 256, size=(4, 8, 8, 3), dtype=np.uint8)
    np.savez(tmp_path / "u.npz", images=images, image_ids=np.array(["w", "x", "y", "z"]))
    probes = load_npz_images(tmp_path / "u.npz")
    np.testing.assert_array_equal(probes.images, images)
    assert probes.image_ids == ("w", "x", "y", "z")
    np.savez(tmp_path / "f.npz", pixels=images.astype(np.float32) / 255.0)
    np.testing.assert_array_equal(load_npz_images(tmp_path / "f.npz", key="pixels").images, images)
    with pytest.raises(ValueError, match="no array"):
        load_npz_images(tmp_path / "u.npz", key="pixels")


def test_npz_object_arrays_are_not_unpickled(tmp_path):
    np.savez(tmp_path / "o.npz", images=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="[Pp]ickle"):
        load_npz_images(tmp_path / "o.npz")


def test_conversions():
    assert to_uint8_rgb(np.array([[True, False]])).tolist() == [[[255] * 3, [0] * 3]]
    rgba = np.zeros((2, 2, 4), np.uint8)
    assert to_uint8_rgb(rgba).shape == (2, 2, 3)
    with pytest.raises(ValueError, match="shape"):
        to_uint8_rgb(np.zeros((2, 2, 2)))
    wide = np.zeros((4, 8, 3), np.uint8)
    wide[:, 2:6] = 200  # the centre square
    np.testing.assert_array_equal(square_resize(wide, 4), np.full((4, 4, 3), 200, np.uint8))
