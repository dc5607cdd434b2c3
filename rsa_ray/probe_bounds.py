"""What a probe set may hold: how many images, how large, and of which values (numpy only).

An RDM needs at least 3 images (with 2 it has one entry, and the similarity of two RDMs is
undefined), so a smaller set is refused where it enters, not when ``similarity`` first reads it.
The upper bounds keep a typo (``--count 1000000000000``, ``--size 100000``) from allocating,
rendering or storing without end; each refusal names its bound.

Example:
    >>> check_probe_shape(500, 64, 64, "probe source 'mini-taskonomy'")
    >>> check_probe_shape(1, 64, 64, "probe source 'one.npz'")
    Traceback (most recent call last):
    ...
    ValueError: probe source 'one.npz': 1 images; a probe set needs at least 3 (an RDM compares pairs of images)
"""

from __future__ import annotations

import numpy as np

#: The fewest images a probe set may hold (an RDM of 3 images has 3 entries to correlate).
MIN_PROBE_IMAGES = 3
#: The most images a probe set may hold.
MAX_PROBE_IMAGES = 100_000
#: The largest stored image side in pixels.
MAX_IMAGE_SIDE = 1024
#: The largest probe set in bytes (uint8 RGB pixels).
MAX_PROBE_BYTES = 8 * 1024**3


def check_probe_count(n_images: int, what: str) -> None:
    """Refuses a probe set of fewer than :data:`MIN_PROBE_IMAGES` or more than :data:`MAX_PROBE_IMAGES` images.

    Args:
        n_images: The number of images.
        what: The input, as the message names it (e.g. ``"--count"``, ``"probe source 'x.npz'"``).

    Raises:
        ValueError: Naming the input and the bound.

    Example:
        >>> check_probe_count(10**12, "--count")
        Traceback (most recent call last):
        ...
        ValueError: --count: 1000000000000 images; a probe set holds at most 100000
    """
    if n_images < MIN_PROBE_IMAGES:
        raise ValueError(f"{what}: {n_images} images; a probe set needs at least {MIN_PROBE_IMAGES} "
                         "(an RDM compares pairs of images)")
    if n_images > MAX_PROBE_IMAGES:
        raise ValueError(f"{what}: {n_images} images; a probe set holds at most {MAX_PROBE_IMAGES}")


def check_image_side(side: int, what: str) -> None:
    """Refuses an image side below 1 or above :data:`MAX_IMAGE_SIDE` pixels.

    Example:
        >>> check_image_side(100000, "--size")
        Traceback (most recent call last):
        ...
        ValueError: --size is 100000 pixels; a probe image side must be between 1 and 1024
    """
    if not 1 <= side <= MAX_IMAGE_SIDE:
        raise ValueError(f"{what} is {side} pixels; a probe image side must be between 1 and {MAX_IMAGE_SIDE}")


def check_probe_shape(n_images: int, height: int, width: int, what: str) -> None:
    """Checks a probe set's image count, sides and total size against the bounds above.

    Raises:
        ValueError: Naming the input and the bound it breaks.

    Example:
        >>> check_probe_shape(100000, 1024, 1024, "--count")
        Traceback (most recent call last):
        ...
        ValueError: --count: 100000 images of 1024x1024 are 293 GiB; a probe set holds at most 8 GiB
    """
    check_probe_count(n_images, what)
    check_image_side(height, f"{what}: the image height")
    check_image_side(width, f"{what}: the image width")
    total = n_images * height * width * 3
    if total > MAX_PROBE_BYTES:
        raise ValueError(f"{what}: {n_images} images of {height}x{width} are {total / 1024**3:.0f} GiB; "
                         f"a probe set holds at most {MAX_PROBE_BYTES // 1024**3} GiB")


def check_pixel_values(array: np.ndarray, what: str) -> None:
    """Refuses pixels that are not real numbers of a known range: bool, complex or text arrays, NaN or Inf,
    floats outside [0, 1], integers outside [0, 255].

    Raises:
        ValueError: Naming the input, the dtype or the values, and the rule.

    Example:
        >>> check_pixel_values(np.array([0.0, np.nan]), "'p.npz'['images']")
        Traceback (most recent call last):
        ...
        ValueError: 'p.npz'['images'] holds NaN or Inf; pixel values must be finite
    """
    kind = array.dtype.kind
    if kind not in "uif":
        raise ValueError(f"{what} has dtype {array.dtype}; images must be real numbers (uint8, or float in [0, 1])")
    if array.size == 0 or kind == "u" and array.dtype.itemsize == 1:
        return
    if kind == "f" and not np.isfinite(array).all():
        raise ValueError(f"{what} holds NaN or Inf; pixel values must be finite")
    low, high = (0.0, 1.0) if kind == "f" else (0, 255)
    smallest, largest = array.min(), array.max()
    if smallest < low or largest > high:
        raise ValueError(f"{what} holds values from {smallest} to {largest}; "
                         + ("float pixels must be in [0, 1]" if kind == "f" else "integer pixels must be in [0, 255]"))
