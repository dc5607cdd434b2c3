"""The paper's Table S1 encoder-decoder: channels, strides, heads, and the wide variant."""

from __future__ import annotations

import pytest
import torch

from rsa_ray.models import ENCODER_LAYERS, build_encoder_decoder, capture_layers


def _layer_shapes(model, size=64):
    with torch.no_grad(), capture_layers(model, ENCODER_LAYERS) as captured:
        output = model(torch.zeros(2, 3, size, size))
    return {name: tuple(t.shape[1:]) for name, t in captured.items()}, output


def test_encoder_matches_table_s1():
    shapes, output = _layer_shapes(build_encoder_decoder(out_channels=5))
    assert shapes == {
        "encoder.block1": (16, 32, 32),
        "encoder.block2": (32, 16, 16),
        "encoder.block3": (64, 8, 8),
        "encoder.block4": (64, 4, 4),
        "encoder.output": (8, 4, 4),
    }
    assert output.shape == (2, 5, 64, 64)


def test_decoder_matches_table_s1():
    model = build_encoder_decoder(out_channels=5)
    convs = [m for m in model.decoder.layers if isinstance(m, torch.nn.Conv2d)]
    ups = [m for m in model.decoder.layers if isinstance(m, torch.nn.Upsample)]
    assert [c.out_channels for c in convs] + [model.head.out_channels] == [32, 16, 4, 4, 5]
    assert len(ups) == 4 and all(c.kernel_size == (3, 3) for c in convs)


def test_pooled_head_outputs_one_vector_per_image():
    model = build_encoder_decoder(out_channels=4, head="pooled")
    assert model(torch.zeros(3, 3, 64, 64)).shape == (3, 4)
    assert not hasattr(model, "decoder")


def test_wide_variant_doubles_hidden_channels_and_keeps_the_bottleneck():
    small = build_encoder_decoder(out_channels=1)
    wide = build_encoder_decoder(out_channels=1, width=2)
    shapes, _ = _layer_shapes(wide)
    assert shapes["encoder.block1"] == (32, 32, 32) and shapes["encoder.block4"] == (128, 4, 4)
    assert shapes["encoder.output"] == (8, 4, 4)
    n_small = sum(p.numel() for p in small.parameters())
    n_wide = sum(p.numel() for p in wide.parameters())
    assert 3.5 * n_small < n_wide < 4.5 * n_small


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="head"):
        build_encoder_decoder(1, head="conv")
    with pytest.raises(ValueError, match="width"):
        build_encoder_decoder(1, width=0)
    with pytest.raises(ValueError, match="multiples of 16"):
        build_encoder_decoder(1)(torch.zeros(1, 3, 40, 40))
