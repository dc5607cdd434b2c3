"""Real images that ship with dependencies, and images from a folder or an .npz file.

Every loader returns a :class:`ProbeImages`: uint8 RGB ``[M, size, size, 3]``
(centre-cropped to a square, then resized), with one id per image, so probe
sets and new-task datasets can be real photographs. Nothing is downloaded;
scikit-learn, scikit-image and Pillow are imported inside the loaders.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: scikit-image images bundled with its wheel (no download needed).
SKIMAGE_BUNDLED: tuple[str, ...] = (
    "astronaut", "brick", "camera", "cat", "cell", "chelsea", "clock", "coffee", "coins", "colorwheel", "grass",
    "gravel", "hubble_deep_field", "immunohistochemistry", "microaneurysms", "moon", "page", "retina", "rocket", "text",
)  # fmt: skip
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class ProbeImages:
    """Images with ids and where they came from.

    Attributes:
        images: uint8 RGB [M, H, W, 3].
        image_ids: One id per image (file names, dataset indices).
        source: Human-readable origin, e.g. ``"sklearn:digits"``.
    """

    images: np.ndarray
    image_ids: tuple[str, ...]
    source: str

    def __post_init__(self) -> None:
        if self.images.dtype != np.uint8 or self.images.ndim != 4 or self.images.shape[-1] != 3:
            raise ValueError(f"images must be uint8 [M, H, W, 3], got {self.images.dtype} {self.images.shape}")
        if len(self.image_ids) != len(self.images):
            raise ValueError(f"{len(self.image_ids)} image ids for {len(self.images)} images")


def to_uint8_rgb(image: np.ndarray, value_max: float | None = None) -> np.ndarray:
    """One image (gray [H, W], RGB or RGBA [H, W, 3|4]; bool, uint8 or float) → uint8 RGB [H, W, 3].

    Args:
        image: The image.
        value_max: The value that maps to 255 (default: 1 for floats and bools, 255 for integers).

    Raises:
        ValueError: For other shapes.

    Example:
        >>> to_uint8_rgb(np.array([[0.0, 1.0]])).tolist()
        [[[0, 0, 0], [255, 255, 255]]]
    """
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[-1] == 4:
        array = array[..., :3]
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)
    if array.ndim != 3 or array.shape[-1] != 3:
        raise ValueError(f"an image must be [H, W], [H, W, 3] or [H, W, 4], got shape {array.shape}")
    if array.dtype == np.uint8 and value_max is None:
        return array
    if value_max is None:
        value_max = 1.0 if array.dtype.kind in "fb" else 255.0
    return np.clip(np.round(array.astype(np.float64) / value_max * 255.0), 0, 255).astype(np.uint8)


def square_resize(image: np.ndarray, size: int) -> np.ndarray:
    """Centre-crops a uint8 RGB image to a square and resizes it to ``size`` (bicubic, Pillow).

    Example:
        >>> square_resize(np.zeros((10, 20, 3), np.uint8), 4).shape
        (4, 4, 3)
    """
    from PIL import Image

    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    height, width = image.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = Image.fromarray(np.ascontiguousarray(image[top : top + side, left : left + side]))
    return np.asarray(square.resize((size, size), Image.Resampling.BICUBIC))


def _stack(images: Sequence[np.ndarray], ids: Sequence[str], size: int, source: str, value_max=None) -> ProbeImages:
    if not images:
        raise ValueError(f"no images found in {source}")
    resized = np.stack([square_resize(to_uint8_rgb(image, value_max), size) for image in images])
    return ProbeImages(resized, tuple(ids), source)


def load_sklearn_digits(size: int = 32) -> ProbeImages:
    """scikit-learn's 1,797 handwritten digits (8×8, values 0-16), as gray RGB ``size``×``size``.

    Example:
        >>> load_sklearn_digits(16).images.shape
        (1797, 16, 16, 3)
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    ids = [f"digit{index:04d}_label{int(label)}" for index, label in enumerate(digits.target)]
    return _stack(list(digits.images), ids, size, "sklearn:digits", value_max=16.0)


def load_sklearn_sample_images(size: int = 64) -> ProbeImages:
    """scikit-learn's two sample photographs (china, flower).

    Example:
        >>> load_sklearn_sample_images(32).image_ids
        ('china.jpg', 'flower.jpg')
    """
    from sklearn.datasets import load_sample_images

    samples = load_sample_images()
    names = [Path(name).name for name in samples.filenames]
    return _stack(list(samples.images), names, size, "sklearn:sample_images")


def load_skimage_images(size: int = 64, names: Sequence[str] = SKIMAGE_BUNDLED) -> ProbeImages:
    """scikit-image's bundled images (gray ones as gray RGB).

    Raises:
        ValueError: For a name not in :data:`SKIMAGE_BUNDLED`.

    Example:
        >>> load_skimage_images(16, ["astronaut", "camera"]).images.shape
        (2, 16, 16, 3)
    """
    from skimage import data

    unknown = sorted(set(names) - set(SKIMAGE_BUNDLED))
    if unknown:
        raise ValueError(f"unknown scikit-image images {unknown}; bundled ones: {list(SKIMAGE_BUNDLED)}")
    return _stack([getattr(data, name)() for name in names], list(names), size, "skimage:data")


def load_lfw_subset(size: int = 32) -> ProbeImages:
    """scikit-image's ``lfw_subset``: 200 face / non-face crops (25×25 gray).

    Example:
        >>> load_lfw_subset(16).images.shape
        (200, 16, 16, 3)
    """
    from skimage.data import lfw_subset

    faces = lfw_subset()
    ids = [f"{'face' if index < 100 else 'nonface'}{index:03d}" for index in range(len(faces))]
    return _stack(list(faces), ids, size, "skimage:lfw_subset")


def load_image_folder(folder: str | os.PathLike, size: int = 64) -> ProbeImages:
    """Every image file directly in ``folder`` (sorted by name), decoded with Pillow.

    Raises:
        FileNotFoundError: If ``folder`` is not a directory.
        ValueError: If it holds no image files, fewer than 3 or more than
            :data:`~rsa_ray.probe_bounds.MAX_PROBE_IMAGES`, or one cannot be decoded (named).

    Example:
        >>> load_image_folder("photos/", size=64)  # doctest: +SKIP
    """
    from PIL import Image, UnidentifiedImageError

    from rsa_ray.probe_bounds import check_probe_count

    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {os.fspath(root)!r} does not exist")
    paths = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if paths:  # an empty folder is named by _stack; the count is checked before any image is decoded
        check_probe_count(len(paths), f"image folder {os.fspath(root)!r}")
    images = []
    for path in paths:
        try:
            with Image.open(path) as handle:
                images.append(np.asarray(handle.convert("RGB")))
        except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as error:
            raise ValueError(f"cannot decode image {os.fspath(path)!r}: {error}") from error
    return _stack(images, [p.name for p in paths], size, f"folder:{os.fspath(root)}")


def _npz_header(archive: np.lib.npyio.NpzFile, key: str, what: str) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and dtype of ``archive[key]`` read from its header alone (nothing of the data is loaded)."""
    with archive.zip.open(f"{key}.npy") as member:
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(member)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(member)
    if dtype.hasobject:
        raise ValueError(f"{what} holds Python objects (pickles are not loaded); images must be real numbers")
    return shape, dtype


def load_npz_images(path: str | os.PathLike, key: str = "images", size: int | None = None) -> ProbeImages:
    """Images from an .npz array (no pickles): uint8 or float in [0, 1], [M, H, W] or [M, H, W, 3].

    The array's header is checked before its data is read: its rank, dtype (real numbers only) and
    image count (:data:`~rsa_ray.probe_bounds.MIN_PROBE_IMAGES` to ``MAX_PROBE_IMAGES``); then its
    values (finite, in range).

    Args:
        path: The .npz file.
        key: Array name inside it; an optional ``"image_ids"`` array gives the ids.
        size: Resize to ``size``×``size``; None keeps square images as they are.

    Raises:
        ValueError: A file that is not a readable .npz, a missing key, another shape, a dtype that is not
            real numbers, NaN / Inf or out-of-range values, too few or too many images (each naming the file).

    Example:
        >>> load_npz_images("probes.npz")  # doctest: +SKIP
    """
    import zipfile

    from rsa_ray.probe_bounds import check_pixel_values, check_probe_count

    name = os.fspath(path)
    what = f"{name!r}[{key!r}]"
    try:
        archive = np.load(path, allow_pickle=False)
    except (EOFError, OSError, ValueError, zipfile.BadZipFile) as error:
        raise ValueError(f"{name!r} is not a readable .npz file: {error or type(error).__name__}") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{name!r} is a single .npy array, not an .npz file of named arrays")
    with archive:
        if key not in archive:
            raise ValueError(f"{name!r} has no array {key!r}; it has {sorted(archive.files)}")
        shape, dtype = _npz_header(archive, key, what)
        check_pixel_values(np.empty(0, dtype), what)  # the dtype, from the header: before any data is read
        if len(shape) not in (3, 4):
            raise ValueError(f"{what} must be [M, H, W] or [M, H, W, C], got {shape}")
        if len(shape) == 4 and shape[-1] not in (1, 3, 4):
            raise ValueError(f"{what} is {shape}: C must be 1 (grey), 3 (RGB) or 4 (RGBA)")
        check_probe_count(shape[0], what)
        try:  # a member whose data is shorter than its header says, or a damaged archive
            array = archive[key]
            ids = [str(i) for i in archive["image_ids"]] if "image_ids" in archive else [f"{i:05d}" for i in range(len(array))]
        except (EOFError, OSError, ValueError, zipfile.BadZipFile) as error:
            raise ValueError(f"{name!r} is not a readable .npz file: {error or type(error).__name__}") from None
    check_pixel_values(array, what)
    if len(ids) != len(array):
        raise ValueError(f"{name!r}['image_ids'] holds {len(ids)} ids for {len(array)} images")
    if array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    source = f"npz:{name}"
    if size is None:
        images = np.stack([to_uint8_rgb(image) for image in array])
        if images.shape[1] != images.shape[2]:
            raise ValueError(f"{source} images are {images.shape[1:3]}; pass size to crop them square")
        return ProbeImages(images, tuple(ids), source)
    return _stack(list(array), ids, size, source)
