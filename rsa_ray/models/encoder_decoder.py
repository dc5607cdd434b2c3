"""The small encoder-decoder of the paper's supplement (Table S1), with task heads.

Encoder: 3×3 convolutions with 16, 32, 64, 64 channels at stride 2 (each
followed by ReLU), then 8 channels at stride 1 (the compressed representation,
no activation). Decoder: conv 32, up×2, conv 16, up×2, conv 4, up×2, conv 4,
up×2, conv n — a dense head back at input resolution. Per-image tasks use a
pooled + linear head on the encoder output instead (optionally with one hidden
layer). ``width`` scales every hidden channel count; the 8-channel bottleneck
stays. ``decoder_activation="leaky_relu"`` keeps the decoder's units from dying:
with plain ReLU behind an 8-channel code, a dense decoder can lose every unit of a
4-channel layer early in training and then predict one constant map.

Stable layer names (for hooks and manifests): ``encoder.block1`` …
``encoder.block4``, ``encoder.output``, and ``head``.
"""

from __future__ import annotations

import torch
from torch import nn

ENCODER_CHANNELS: tuple[int, ...] = (16, 32, 64, 64)
DECODER_CHANNELS: tuple[int, ...] = (32, 16, 4, 4)
BOTTLENECK_CHANNELS = 8
#: Layer names every encoder-decoder has, earliest first.
ENCODER_LAYERS: tuple[str, ...] = ("encoder.block1", "encoder.block2", "encoder.block3", "encoder.block4", "encoder.output")
HEADS: tuple[str, ...] = ("dense", "pooled")
DECODER_ACTIVATIONS: tuple[str, ...] = ("relu", "leaky_relu")
_LEAKY_SLOPE = 0.1


def activation(name: str) -> nn.Module:
    """The activation module called ``name`` (one of :data:`DECODER_ACTIVATIONS`).

    Example:
        >>> activation("leaky_relu")
        LeakyReLU(negative_slope=0.1, inplace=True)
    """
    if name not in DECODER_ACTIVATIONS:
        raise ValueError(f"decoder_activation must be one of {DECODER_ACTIVATIONS}, got {name!r}")
    return nn.ReLU(inplace=True) if name == "relu" else nn.LeakyReLU(_LEAKY_SLOPE, inplace=True)


def _conv(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1)


class Encoder(nn.Module):
    """Table S1 encoder: four stride-2 conv+ReLU blocks, then a stride-1 8-channel conv."""

    def __init__(self, width: int = 1, bottleneck_channels: int = BOTTLENECK_CHANNELS):
        super().__init__()
        channels = [3] + [c * width for c in ENCODER_CHANNELS]
        for index in range(len(ENCODER_CHANNELS)):
            block = nn.Sequential(_conv(channels[index], channels[index + 1], stride=2), nn.ReLU(inplace=True))
            self.add_module(f"block{index + 1}", block)
        self.output = _conv(channels[-1], bottleneck_channels)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = images
        for index in range(len(ENCODER_CHANNELS)):
            features = getattr(self, f"block{index + 1}")(features)
        return self.output(features)


class DenseDecoder(nn.Module):
    """Table S1 decoder: conv 32, up×2, conv 16, up×2, conv 4, up×2, conv 4, up×2 (then the head)."""

    def __init__(self, width: int = 1, bottleneck_channels: int = BOTTLENECK_CHANNELS, activation_name: str = "relu"):
        super().__init__()
        channels = [bottleneck_channels] + [c * width for c in DECODER_CHANNELS]
        layers: list[nn.Module] = []
        for index in range(len(DECODER_CHANNELS)):
            layers += [_conv(channels[index], channels[index + 1]), activation(activation_name), nn.Upsample(scale_factor=2.0)]
        self.layers = nn.Sequential(*layers)
        self.out_channels = channels[-1]

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        return self.layers(code)


def pooled_head(pool_size: int, out_channels: int, hidden: int, bottleneck_channels: int = BOTTLENECK_CHANNELS) -> nn.Module:
    """A per-image head: linear on the flattened pooled code, or one hidden ReLU layer of ``hidden`` units first.

    Example:
        >>> pooled_head(2, 4, 0)
        Linear(in_features=32, out_features=4, bias=True)
    """
    features = bottleneck_channels * pool_size * pool_size
    if hidden == 0:
        return nn.Linear(features, out_channels)
    return nn.Sequential(nn.Linear(features, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, out_channels))


def check_input_size(shape: tuple[int, ...]) -> None:
    """Raises unless the last two sizes of ``shape`` (height, width) are multiples of 16 (four stride-2 blocks).

    Example:
        >>> check_input_size((2, 3, 64, 64))
        >>> check_input_size((2, 3, 64, 60))
        Traceback (most recent call last):
        ...
        ValueError: input height and width must be multiples of 16, got (64, 60)
    """
    if shape[-2] % 16 or shape[-1] % 16:
        raise ValueError(f"input height and width must be multiples of 16, got {tuple(shape[-2:])}")


class EncoderDecoder(nn.Module):
    """An encoder, optional dense decoder, and head (``dense``: conv to n maps; ``pooled``: pool + linear)."""

    def __init__(
        self,
        out_channels: int,
        head: str = "dense",
        width: int = 1,
        pool_size: int = 2,
        head_hidden: int = 0,
        decoder_activation: str = "relu",
        encoder: nn.Module | None = None,
    ):
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, got {head!r}")
        if out_channels < 1 or width < 1 or pool_size < 1 or head_hidden < 0:
            raise ValueError(
                f"out_channels, width and pool_size must be >= 1 and head_hidden >= 0, got "
                f"{out_channels}, {width}, {pool_size}, {head_hidden}"
            )
        activation(decoder_activation)  # raises on an unknown name
        self.encoder = encoder if encoder is not None else Encoder(width)
        self.head_kind = head
        if head == "dense":
            self.decoder = DenseDecoder(width, activation_name=decoder_activation)
            self.head = _conv(self.decoder.out_channels, out_channels)
        else:
            self.pool = nn.AdaptiveAvgPool2d(pool_size)
            self.head = pooled_head(pool_size, out_channels, head_hidden)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        check_input_size(images.shape)
        return self.readout(self.encoder(images))

    def readout(self, code: torch.Tensor) -> torch.Tensor:
        """The decoder and head on the encoder's code (what :meth:`forward` does after the encoder).

        Example:
            >>> model = EncoderDecoder(out_channels=3, head="pooled")
            >>> tuple(model.readout(torch.zeros(2, 8, 4, 4)).shape)
            (2, 3)
        """
        if self.head_kind == "dense":
            return self.head(self.decoder(code))
        return self.head(torch.flatten(self.pool(code), 1))


def build_encoder_decoder(
    out_channels: int,
    head: str = "dense",
    width: int = 1,
    pool_size: int = 2,
    head_hidden: int = 0,
    decoder_activation: str = "relu",
) -> EncoderDecoder:
    """Builds the Table S1 network (registered as ``rsa_ray.models.encoder_decoder:build_encoder_decoder``).

    Args:
        out_channels: Output maps (dense head) or logits / values (pooled head).
        head: ``"dense"`` or ``"pooled"``.
        width: Multiplier of the hidden channel counts (1 = the paper's small model).
        pool_size: Side of the adaptive average pool of the pooled head.
        head_hidden: Hidden units of the pooled head (0: linear).
        decoder_activation: ``"relu"`` (Table S1) or ``"leaky_relu"`` (slope 0.1) between decoder layers.

    Returns:
        A randomly initialised model.

    Example:
        >>> model = build_encoder_decoder(1)
        >>> model(torch.zeros(2, 3, 64, 64)).shape
        torch.Size([2, 1, 64, 64])
    """
    return EncoderDecoder(out_channels, head, width, pool_size, head_hidden, decoder_activation)
