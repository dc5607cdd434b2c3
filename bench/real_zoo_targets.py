"""Labelled real-image target tasks for the real-zoo benchmark, built from data in installed packages.

* ``faces``: scikit-image's ``lfw_subset`` (100 faces, 100 non-faces, 25 px gray).
* ``textures``: random small crops of six gray scikit-image pictures (brick, grass, gravel, moon
  surface, coins, cell micrograph); the class is the picture a crop comes from.
* ``digits``: scikit-learn's handwritten digits (8 × 8, ten classes).
* ``photo-crops``: random small crops of eight colour scikit-image photos (astronaut, coffee, cat,
  rocket, stained tissue, Hubble field, motorcycle, retina); the class is the photo.

Every task is seeded: the same ``(name, n_images, size, seed)`` gives the same images and labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rsa_ray.datasets.real_images import square_resize, to_uint8_rgb

TEXTURE_SOURCES = ("brick", "grass", "gravel", "moon", "coins", "cell")
PHOTO_SOURCES = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field",
                 "stereo_motorcycle", "retina")
TARGET_NAMES = ("faces", "textures", "digits", "photo-crops")


@dataclass(frozen=True)
class TargetTask:
    """One labelled target task.

    Attributes:
        name: The task's name (the ``--target`` it is ranked as).
        images: uint8 RGB [N, S, S, 3].
        labels: int64 [N] class labels.
        description: Where the images come from.
    """

    name: str
    images: np.ndarray
    labels: np.ndarray
    description: str


def _skimage_picture(name: str) -> np.ndarray:
    import skimage.data

    picture = getattr(skimage.data, name)()
    if isinstance(picture, tuple):  # stereo_motorcycle: (left, right, disparity)
        picture = picture[0]
    return to_uint8_rgb(np.asarray(picture))


def _crops(sources: tuple[str, ...], per_class: int, crop: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for label, name in enumerate(sources):
        picture = _skimage_picture(name)
        height, width = picture.shape[:2]
        for _ in range(per_class):
            top, left = int(rng.integers(0, height - crop + 1)), int(rng.integers(0, width - crop + 1))
            images.append(square_resize(picture[top : top + crop, left : left + crop], size))
            labels.append(label)
    return np.stack(images), np.asarray(labels, dtype=np.int64)


def _faces(n_images: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from skimage.data import lfw_subset

    faces = lfw_subset()  # the first 100 are faces, the last 100 are not
    labels = (np.arange(len(faces)) < len(faces) // 2).astype(np.int64)
    rows = np.sort(np.random.default_rng(seed).permutation(len(faces))[:n_images])
    images = np.stack([square_resize(to_uint8_rgb(faces[row]), size) for row in rows])
    return images, labels[rows]


def _digits(n_images: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    rows = np.sort(np.random.default_rng(seed).permutation(len(digits.images))[:n_images])
    images = np.stack([square_resize(to_uint8_rgb(digits.images[row], value_max=16.0), size) for row in rows])
    return images, digits.target[rows].astype(np.int64)


def build_target(name: str, n_images: int, size: int, seed: int = 0) -> TargetTask:
    """The labelled task ``name`` with about ``n_images`` images of side ``size``.

    Crop tasks take ``n_images // classes`` crops per class; ``faces`` has at most 200 images.

    Raises:
        ValueError: For an unknown task name.

    Example:
        >>> task = build_target("textures", 12, 32)
        >>> task.images.shape, sorted(set(task.labels.tolist()))
        ((12, 32, 32, 3), [0, 1, 2, 3, 4, 5])
    """
    if name == "faces":
        images, labels = _faces(n_images, size, seed)
        return TargetTask(name, images, labels, "skimage lfw_subset: face vs non-face")
    if name == "textures":
        images, labels = _crops(TEXTURE_SOURCES, max(2, n_images // len(TEXTURE_SOURCES)), 24, size, seed)
        return TargetTask(name, images, labels, f"24 px crops of skimage {', '.join(TEXTURE_SOURCES)}")
    if name == "digits":
        images, labels = _digits(n_images, size, seed)
        return TargetTask(name, images, labels, "sklearn digits (8 x 8), ten classes")
    if name == "photo-crops":
        images, labels = _crops(PHOTO_SOURCES, max(2, n_images // len(PHOTO_SOURCES)), 32, size, seed)
        return TargetTask(name, images, labels, f"32 px crops of skimage {', '.join(PHOTO_SOURCES)}")
    raise ValueError(f"unknown target {name!r}; known: {', '.join(TARGET_NAMES)}")


def write_npz(task: TargetTask, path) -> str:
    """Writes the task as the ``.npz`` that ``rsa-ray rank --data`` reads (``images``, ``labels``).

    Example:
        >>> write_npz(build_target("digits", 20, 32), "digits.npz")  # doctest: +SKIP
        'digits.npz'
    """
    np.savez(path, images=task.images, labels=task.labels)
    return str(path)
