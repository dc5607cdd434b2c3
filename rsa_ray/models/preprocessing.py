"""Per-model input preprocessing: resize, centre crop, value range, channel order, mean/std.

The order is fixed and documented so the same spec always means the same
numbers: uint8 RGB ``[M, H, W, 3]`` → float in [0, 1] → resize (shorter side,
antialiased) → centre crop → scale to ``value_range`` → reorder channels →
``(x - mean) / std`` (mean and std in ``value_range`` units, in the model's
channel order) → float32 ``[M, 3, crop, crop]``.

A single-channel model (1-value mean and std) gets grey instead of the reordering: after
scaling to ``value_range``, ``0.299 R + 0.587 G + 0.114 B`` (the ITU-R BT.601 luma weights),
then ``(x - mean) / std`` → float32 ``[M, 1, crop, crop]``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from rsa_ray.model_entry.preprocessing_spec import ChannelOrder, PreprocessingSpec

__all__ = ["ChannelOrder", "LUMA_WEIGHTS", "PreprocessingSpec", "preprocess_images"]

#: ITU-R BT.601 luma weights (R, G, B) that turn an RGB probe image into grey for a single-channel model.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


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
        float32 tensor [M, C, h, w]: C is 3, or 1 for a single-channel spec (grey by BT.601 luma).

    Raises:
        ValueError: If ``images`` is not uint8 [M, H, W, 3], or the crop exceeds the resized image.

    Example:
        >>> spec = PreprocessingSpec(resize=2, value_range=(0, 255), mean=(100, 100, 100))
        >>> preprocess_images(np.full((1, 4, 4, 3), 200, np.uint8), spec)[0, 0].tolist()
        [[100.0, 100.0], [100.0, 100.0]]
        >>> grey = PreprocessingSpec(value_range=(0, 255), mean=(0,), std=(1,))
        >>> preprocess_images(np.full((1, 2, 2, 3), (255, 0, 0), np.uint8), grey).shape
        torch.Size([1, 1, 2, 2])
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
    if spec.channels == 1:
        batch = (batch * torch.tensor(LUMA_WEIGHTS).view(1, 3, 1, 1)).sum(dim=1, keepdim=True)
    elif spec.channel_order is ChannelOrder.BGR:
        batch = batch.flip(1)
    mean = torch.tensor(spec.mean).view(1, spec.channels, 1, 1)
    std = torch.tensor(spec.std).view(1, spec.channels, 1, 1)
    return ((batch - mean) / std).contiguous()
