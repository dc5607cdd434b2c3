"""The large zoo network: ≥ 10× the small encoder's parameters, the same layer names and 8-channel code."""

from __future__ import annotations

import pytest
import torch

from rsa_ray.models import ENCODER_LAYERS, build_encoder_decoder
from rsa_ray.models.architectures import find_architecture
from rsa_ray.models.residual_encoder import ResidualBlock, build_residual_encoder_decoder


def _parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_large_encoder_has_at_least_ten_times_the_parameters_and_the_same_code():
    small, large = build_encoder_decoder(1), build_residual_encoder_decoder(1)
    assert _parameters(large.encoder) >= 10 * _parameters(small.encoder)
    images = torch.rand(2, 3, 64, 64)
    assert large.encoder(images).shape == small.encoder(images).shape == (2, 8, 4, 4)
    assert large(images).shape == small(images).shape == (2, 1, 64, 64)


def test_layer_roles_are_those_of_the_small_encoder():
    names = {name for name, _ in build_residual_encoder_decoder(4, head="pooled").named_modules()}
    assert set(ENCODER_LAYERS) <= names


def test_residual_block_adds_its_input():
    block = ResidualBlock(4)
    for parameter in block.conv2.parameters():
        torch.nn.init.zeros_(parameter)
    features = torch.randn(1, 4, 3, 3)
    assert torch.equal(block(features), torch.relu(features))


def test_registered_by_name_and_checks_its_arguments():
    builder = find_architecture("rsa_ray.models.residual_encoder:build_residual_encoder_decoder")
    assert builder.build is build_residual_encoder_decoder
    with pytest.raises(ValueError, match="channels"):
        build_residual_encoder_decoder(1, channels=0)
    with pytest.raises(ValueError, match="decoder_activation"):
        build_residual_encoder_decoder(1, decoder_activation="gelu")
