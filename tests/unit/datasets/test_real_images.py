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
    with pytest.raises(ValueError, match="1 images; a probe set needs at least 3"):  # counted before decoding
        load_image_folder(tmp_path)
    for name in ("a.png", "c.png"):
        Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / name)
    with pytest.raises(ValueError, match="broken.png"):
        load_image_folder(tmp_path)


@pytest.mark.parametrize("images, message", [
    (np.full((3, 4, 4, 3), np.nan), "holds NaN or Inf; pixel values must be finite"),
    (np.full((3, 4, 4), -np.inf), "holds NaN or Inf; pixel values must be finite"),
    (np.full((3, 4, 4, 3), 1.5), "holds values from 1.5 to 1.5; float pixels must be in \\[0, 1\\]"),
    (np.full((3, 4, 4, 3), 300, np.int32), "integer pixels must be in \\[0, 255\\]"),
    (np.ones((3, 4, 4, 3), bool), "has dtype bool; images must be real numbers"),
    (np.ones((3, 4, 4, 3), np.complex128), "has dtype complex128; images must be real numbers"),
    (np.zeros((2, 4, 4, 3), np.uint8), "2 images; a probe set needs at least 3"),
    (np.zeros((0, 4, 4, 3), np.uint8), "0 images; a probe set needs at least 3"),
    (np.zeros((3, 4, 4, 2), np.uint8), "C must be 1 \\(grey\\), 3 \\(RGB\\) or 4 \\(RGBA\\)"),
])
def test_npz_images_refused_naming_the_file_and_the_rule(tmp_path, images, message):
    np.savez(tmp_path / "p.npz", images=images)
    with pytest.raises(ValueError, match=message) as refused:
        load_npz_images(tmp_path / "p.npz")
    assert str(refused.value).startswith(f"'{tmp_path / 'p.npz'}'")


def test_npz_files_that_are_not_npz_are_named(tmp_path):
    (tmp_path / "empty.npz").write_bytes(b"")
    with pytest.raises(ValueError, match="empty.npz' is not a readable .npz file"):
        load_npz_images(tmp_path / "empty.npz")
    with open(tmp_path / "single.npz", "wb") as handle:
        np.save(handle, np.zeros((3, 4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="single.npz' is a single .npy array"):
        load_npz_images(tmp_path / "single.npz")


def test_npz_grey_images_with_one_channel_and_ids_checked(tmp_path):
    grey = np.arange(3 * 4 * 4, dtype=np.uint8).reshape(3, 4, 4, 1)
    np.savez(tmp_path / "g.npz", images=grey)
    loaded = load_npz_images(tmp_path / "g.npz")
    np.testing.assert_array_equal(loaded.images, np.repeat(grey, 3, axis=-1))
    np.savez(tmp_path / "ids.npz", images=grey, image_ids=np.array(["a", "b"]))
    with pytest.raises(ValueError, match="\\['image_ids'\\] holds 2 ids for 3 images"):
        load_npz_images(tmp_path / "ids.npz")


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
