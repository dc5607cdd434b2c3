"""Per-model input preprocessing: resize, centre crop, value range, channel order, mean/std.

The order is fixed and documented so the same spec always means the same
numbers: uint8 RGB ``[M, H, W, 3]`` → float in [0, 1] → resize (shorter side,
antialiased) → centre crop → scale to ``value_range`` → reorder channels →
``(x - mean) / std`` (mean and std in ``value_range`` units, in the model's
channel order) → float32 ``[M, 3, crop, crop]``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


class ChannelOrder(str, enum.Enum):
    """Channel order a model expects."""

    RGB = "RGB"
    BGR = "BGR"


@dataclass(frozen=True)
class PreprocessingSpec:
    """How a model expects its input images.

    Attributes:
        resize: Target length of the shorter side (aspect ratio kept); None keeps the size.
        crop: Side of the centre square crop after resizing; None skips cropping
            (images must then already be square).
        mean: Per-channel mean subtracted, in ``value_range`` units and model channel order.
        std: Per-channel divisor, same units; all > 0.
        channel_order: ``RGB`` or ``BGR``.
        value_range: ``(low, high)`` that pixel values 0 and 255 map to before normalising,
            e.g. ``(0, 1)`` or ``(0, 255)`` or ``(-1, 1)``.
        interpolation: ``"bilinear"``, ``"bicubic"`` or ``"nearest"``.

    Example:
        >>> PreprocessingSpec(resize=256, crop=224, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)).crop
        224
    """

    resize: int | None = None
    crop: int | None = None
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    channel_order: ChannelOrder = ChannelOrder.RGB
    value_range: tuple[float, float] = (0.0, 1.0)
    interpolation: str = "bilinear"

    def __post_init__(self) -> None:
        object.__setattr__(self, "channel_order", ChannelOrder(self.channel_order))
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        object.__setattr__(self, "value_range", tuple(float(v) for v in self.value_range))
        if len(self.mean) != 3 or len(self.std) != 3:
            raise ValueError(f"mean and std need 3 values each, got mean={self.mean}, std={self.std}")
        if min(self.std) <= 0:
            raise ValueError(f"std values must be > 0, got {self.std}")
        if len(self.value_range) != 2 or self.value_range[0] == self.value_range[1]:
            raise ValueError(f"value_range must be two different numbers, got {self.value_range}")
        for name in ("resize", "crop"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be a positive number of pixels or None, got {value}")
        if self.interpolation not in ("bilinear", "bicubic", "nearest"):
            raise ValueError(f"interpolation must be bilinear, bicubic or nearest, got {self.interpolation!r}")


def _resize_shorter_side(batch: torch.Tensor, size: int, interpolation: str) -> torch.Tensor:
    height, width = batch.shape[-2:]
    scale = size / min(height, width)
    new_size = (max(1, round(height * scale)), max(1, round(width * scale)))
    if new_size == (height, width):
        return batch
    antialias = interpolation != "nearest"
    kwargs = {"align_corners": False} if interpolation != "nearest" else {}
    return F.interpolate(batch, size=new_size, mode=interpolation, antialias=antialias, **kwargs)


def _centre_crop(batch: torch.Tensor, size: int) -> torch.Tensor:
    height, width = batch.shape[-2:]
    if size > min(height, width):
        raise ValueError(f"crop {size} is larger than the resized image {height}x{width}")
    top, left = (height - size) // 2, (width - size) // 2
    return batch[..., top : top + size, left : left + size]


def preprocess_images(images: np.ndarray, spec: PreprocessingSpec) -> torch.Tensor:
    """Turns uint8 RGB images into the tensor a model expects.

    Args:
        images: uint8 array [M, H, W, 3] in RGB order (the probe-set format).
        spec: The model's preprocessing.

    Returns:
        float32 tensor [M, 3, h, w].

    Raises:
        ValueError: If ``images`` is not uint8 [M, H, W, 3], or the crop exceeds the resized image.

    Example:
        >>> spec = PreprocessingSpec(resize=2, value_range=(0, 255), mean=(100, 100, 100))
        >>> preprocess_images(np.full((1, 4, 4, 3), 200, np.uint8), spec)[0, 0].tolist()
        [[100.0, 100.0], [100.0, 100.0]]
    """
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be uint8 [M, H, W, 3], got {images.dtype} {images.shape}")
    batch = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255.0
    if spec.resize is not None:
        batch = _resize_shorter_side(batch, spec.resize, spec.interpolation).clamp(0.0, 1.0)
    if spec.crop is not None:
        batch = _centre_crop(batch, spec.crop)
    elif batch.shape[-1] != batch.shape[-2]:
        raise ValueError(f"images are {tuple(batch.shape[-2:])} after resizing; set crop for a square input")
    low, high = spec.value_range
    batch = low + batch * (high - low)
    if spec.channel_order is ChannelOrder.BGR:
        batch = batch.flip(1)
    mean = torch.tensor(spec.mean).view(1, 3, 1, 1)
    std = torch.tensor(spec.std).view(1, 3, 1, 1)
    return ((batch - mean) / std).contiguous()
