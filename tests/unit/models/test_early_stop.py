"""Reading early layers stops the forward pass there: same features, later modules never run."""

import numpy as np
import torch
from torch import nn

from rsa_ray.models import InferenceOptions, PreprocessingSpec, capture_layers, extract_layer_features
from rsa_ray.models.entry import LayerSpec
from rsa_ray.models.layers import ForwardStopped


class _Counting(nn.Module):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return x


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3), nn.Flatten(), _Counting()).eval()


def test_early_layers_are_read_without_running_the_rest_and_equal_a_full_pass():
    model = _model()
    images = np.random.default_rng(0).integers(0, 255, size=(5, 12, 12, 3), dtype=np.uint8)
    specs = [LayerSpec("first", "0"), LayerSpec("second", "2", "avg")]
    features = extract_layer_features(model, images, specs, PreprocessingSpec(resize=12, crop=12),
                                      InferenceOptions(batch_size=2))
    assert model[4].calls == 0  # the pass stopped after module "2"
    with torch.inference_mode(), capture_layers(model, ["0", "2"]) as captured:  # a full pass, no stopping
        from rsa_ray.models.preprocessing import preprocess_images

        model(preprocess_images(images, PreprocessingSpec(resize=12, crop=12)))
    assert model[4].calls == 1
    np.testing.assert_allclose(features["first"], captured["0"].reshape(5, -1).numpy(), rtol=1e-5, atol=1e-6)  # batch 2 vs 5
    np.testing.assert_allclose(features["second"], captured["2"].mean(dim=(2, 3)).numpy(), rtol=1e-6, atol=1e-7)


def test_each_pass_waits_for_every_module_before_stopping():
    model = _model()
    with torch.inference_mode(), capture_layers(model, ["0", "2"], stop_early=True) as captured:
        for _ in range(2):
            try:
                model(torch.zeros(1, 3, 8, 8))
            except ForwardStopped:
                pass
            assert set(captured) == {"0", "2"}
    assert model[4].calls == 0
