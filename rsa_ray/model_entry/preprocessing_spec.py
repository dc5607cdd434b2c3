"""How a model expects its input images: the preprocessing part of a model entry (plain data, no torch).

The numbers it describes are applied by ``rsa_ray.models.preprocessing``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


#: Input channels a model may take: 1 (single-channel, e.g. a grey text recogniser) or 3 (RGB).
INPUT_CHANNELS = (1, 3)

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
        mean: Per-channel mean subtracted, in ``value_range`` units and model channel order. Its
            number of values is the model's number of input channels: 3 (RGB) or 1 (single-channel:
            the RGB probe images are turned into grey with the ITU-R BT.601 luma weights). None: zeros,
            as many as ``std`` has values (3 when both are None).
        std: Per-channel divisor, same units; all > 0; as many values as ``mean``. None: ones,
            as many as ``mean`` has values.
        channel_order: ``RGB`` or ``BGR`` (single-channel input has no channel order: ``RGB`` only).
        value_range: ``(low, high)`` that pixel values 0 and 255 map to before normalising,
            e.g. ``(0, 1)`` or ``(0, 255)`` or ``(-1, 1)``.
        interpolation: ``"bilinear"``, ``"bicubic"`` or ``"nearest"``.

    Example:
        >>> PreprocessingSpec(resize=256, crop=224, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)).crop
        224
        >>> PreprocessingSpec(mean=(0.5,), std=(0.5,)).channels
        1
    """

    resize: int | None = None
    crop: int | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    channel_order: ChannelOrder = ChannelOrder.RGB
    value_range: tuple[float, float] = (0.0, 1.0)
    interpolation: str = "bilinear"

    def __post_init__(self) -> None:
        object.__setattr__(self, "channel_order", ChannelOrder(self.channel_order))
        mean, std = self.mean, self.std
        if mean is None:
            mean = (0.0,) * (len(std) if std is not None and len(std) in INPUT_CHANNELS else 3)
        if std is None:
            std = (1.0,) * len(mean)
        object.__setattr__(self, "mean", tuple(float(v) for v in mean))
        object.__setattr__(self, "std", tuple(float(v) for v in std))
        object.__setattr__(self, "value_range", tuple(float(v) for v in self.value_range))
        self._check_channels()
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

    def _check_channels(self) -> None:
        """mean and std: 1 or 3 values each, as many as each other; no BGR for one channel."""
        for name, values in (("mean", self.mean), ("std", self.std)):
            if len(values) not in INPUT_CHANNELS:
                raise ValueError(f"{name} needs 3 values (RGB input) or 1 (single-channel input), got {values}")
        if len(self.mean) != len(self.std):
            raise ValueError(f"mean has {len(self.mean)} value(s) and std {len(self.std)}; give both 3 values "
                             f"(RGB input) or both 1 (single-channel input)")
        if len(self.mean) == 1 and self.channel_order is ChannelOrder.BGR:
            raise ValueError("channel_order BGR has no meaning for single-channel input (1-value mean and std); "
                             "leave channel_order out or set RGB")

    @property
    def channels(self) -> int:
        """Input channels the model takes: 3 (RGB) or 1 (grey), the number of ``mean`` values.

        Example:
            >>> PreprocessingSpec().channels
            3
        """
        return len(self.mean)
