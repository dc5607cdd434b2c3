"""How a model expects its input images: the preprocessing part of a model entry (plain data, no torch).

The numbers it describes are applied by ``rsa_ray.models.preprocessing``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


#: The largest ``resize`` or ``crop`` side in pixels (a typo such as 100000 would allocate tens of GiB per image).
MAX_INPUT_SIDE = 4096


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
            if value is not None and value > MAX_INPUT_SIDE:  # before any image of that side is allocated
                raise ValueError(f"{name} is {value} pixels; a model's input side is at most {MAX_INPUT_SIDE}")
        if self.interpolation not in ("bilinear", "bicubic", "nearest"):
            raise ValueError(f"interpolation must be bilinear, bicubic or nearest, got {self.interpolation!r}")
