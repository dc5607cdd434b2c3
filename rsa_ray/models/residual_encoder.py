"""The zoo's large encoder: the Table S1 encoder's first three blocks, a wide residual stage, the same 8-channel code.

The paper compares small encoders with ResNet-50 ones and finds the same task
relations (ρ = 0.95). This is that comparison at this zoo's scale: 12.5× the
small encoder's parameters, but most of them at 4×4 resolution, where a weight
costs 16 multiply-adds per image, so one training step costs about 3–4× a small
model's (:mod:`bench.zoo_baselines` and the zoo README give the measured times).

Blocks (the same layer names as the small encoder, so layers compare by role):
``encoder.block1..3`` = 3×3 convolutions with 16, 32, 64 channels at stride 2
(ReLU), ``encoder.block4`` = a stride-2 convolution to 192 channels and one
residual block (two 3×3 convolutions, identity skip, ReLU after the sum),
``encoder.output`` = a 3×3 convolution to 8 channels. The decoder and heads are
the small model's (:mod:`rsa_ray.models.encoder_decoder`).
"""

from __future__ import annotations

import torch
from torch import nn

from rsa_ray.models.encoder_decoder import BOTTLENECK_CHANNELS, ENCODER_CHANNELS, EncoderDecoder

RESIDUAL_CHANNELS = 192


def _conv(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1)


class ResidualBlock(nn.Module):
    """Two 3×3 convolutions with an identity skip: ``relu(x + conv(relu(conv(x))))``."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = _conv(channels, channels)
        self.conv2 = _conv(channels, channels)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.relu(features + self.conv2(torch.relu(self.conv1(features))))


class ResidualEncoder(nn.Module):
    """Blocks 1–3 of Table S1, a stride-2 conv to ``channels`` plus a residual block, then the 8-channel code."""

    def __init__(self, channels: int = RESIDUAL_CHANNELS, bottleneck_channels: int = BOTTLENECK_CHANNELS):
        super().__init__()
        widths = (3,) + ENCODER_CHANNELS[:3]
        for index in range(3):
            block = nn.Sequential(_conv(widths[index], widths[index + 1], stride=2), nn.ReLU(inplace=True))
            self.add_module(f"block{index + 1}", block)
        self.block4 = nn.Sequential(_conv(widths[-1], channels, stride=2), nn.ReLU(inplace=True), ResidualBlock(channels))
        self.output = _conv(channels, bottleneck_channels)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.block3(self.block2(self.block1(images)))
        return self.output(self.block4(features))


def build_residual_encoder_decoder(
    out_channels: int,
    head: str = "dense",
    pool_size: int = 2,
    head_hidden: int = 0,
    decoder_activation: str = "leaky_relu",
    channels: int = RESIDUAL_CHANNELS,
) -> EncoderDecoder:
    """The large zoo network (registered as ``rsa_ray.models.residual_encoder:build_residual_encoder_decoder``).

    Args:
        out_channels: Output maps (dense head) or logits / values (pooled head).
        head: ``"dense"`` or ``"pooled"``.
        pool_size: Side of the adaptive average pool of the pooled head.
        head_hidden: Hidden units of the pooled head (0: linear).
        decoder_activation: ``"relu"`` or ``"leaky_relu"`` between decoder layers.
        channels: Channels of the residual stage.

    Returns:
        A randomly initialised model with the small model's decoder and head.

    Example:
        >>> model = build_residual_encoder_decoder(1)
        >>> model(torch.zeros(2, 3, 64, 64)).shape, model.encoder(torch.zeros(1, 3, 64, 64)).shape
        (torch.Size([2, 1, 64, 64]), torch.Size([1, 8, 4, 4]))
    """
    if channels < 1:
        raise ValueError(f"channels must be >= 1, got {channels}")
    encoder = ResidualEncoder(channels)
    return EncoderDecoder(out_channels, head, 1, pool_size, head_hidden, decoder_activation, encoder=encoder)
