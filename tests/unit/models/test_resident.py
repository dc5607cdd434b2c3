"""Resident modules, probe batches and forward precision: what the on-device extraction path is built from."""

import dataclasses

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from rsa_ray.models import LayerSpec, build_model, extract_layer_features
from rsa_ray.models.builders import build_untrained, read_weights
from rsa_ray.models.inference import ComputeDtype, InferenceOptions, forward_precision, reading_layers
from rsa_ray.models.manifest import example_entry
from rsa_ray.models.preprocessing import PreprocessingSpec, preprocess_images
from rsa_ray.models.resident import ProbeBatches, ResidentModels
from rsa_ray.models.weights import WeightsIntegrityError, sha256_of_file

LAYERS = [LayerSpec("mid", "encoder.block2", "avg"), LayerSpec("out", "encoder.output")]


def saved_model(folder, seed, **kwargs):
    """A seeded random encoder-decoder saved as safetensors, and its entry."""
    template = example_entry()
    torch.manual_seed(seed)
    architecture = dataclasses.replace(template.architecture, kwargs={**template.architecture.kwargs_dict(), **kwargs})
    entry = dataclasses.replace(template, model_id=f"m{seed}", architecture=architecture)
    path = folder / f"m{seed}.safetensors"
    save_file(build_untrained(entry).state_dict(), path)
    weights = dataclasses.replace(template.weights, path=str(path), sha256=sha256_of_file(path))
    return dataclasses.replace(entry, weights=weights)


def features_of(module, images, entry):
    return extract_layer_features(module, images, LAYERS, entry.preprocessing, InferenceOptions(batch_size=4))


def test_a_resident_module_holds_each_models_weights_in_turn_as_a_fresh_build_does(tmp_path):
    entries = [saved_model(tmp_path, seed) for seed in range(3)]
    images = np.random.default_rng(0).integers(0, 255, size=(6, 64, 64, 3), dtype=np.uint8)
    resident = ResidentModels("cpu")
    modules = []
    for entry in entries:
        module = resident.module_for(entry, read_weights(entry))
        modules.append(module)
        fresh = features_of(build_model(entry), images, entry)
        reused = features_of(module, images, entry)
        for role in fresh:
            np.testing.assert_array_equal(reused[role], fresh[role])
    assert modules[0] is modules[1] is modules[2]  # one architecture: one module, built once


def test_another_architecture_gets_its_own_module_and_the_least_recent_one_goes(tmp_path):
    narrow, wide = saved_model(tmp_path, 0), saved_model(tmp_path, 1, width=2)
    resident = ResidentModels("cpu", capacity=1)
    first = resident.module_for(narrow, read_weights(narrow))
    assert resident.module_for(wide, read_weights(wide)) is not first
    assert resident.module_for(narrow, read_weights(narrow)) is not first  # dropped: capacity 1


def test_weights_that_do_not_fit_the_resident_module_are_refused(tmp_path):
    narrow, wide = saved_model(tmp_path, 0), saved_model(tmp_path, 1, width=2)
    resident = ResidentModels("cpu")
    resident.module_for(narrow, read_weights(narrow))
    impostor = dataclasses.replace(narrow, model_id="impostor", weights=wide.weights)
    with pytest.raises(ValueError, match="weights of model 'impostor' do not fit its architecture"):
        resident.module_for(impostor, read_weights(impostor))


def test_read_weights_checks_the_sha256_before_reading(tmp_path):
    entry = saved_model(tmp_path, 0)
    (tmp_path / "m0.safetensors").write_bytes(b"tampered")
    with pytest.raises(WeightsIntegrityError, match="sha256 mismatch"):
        read_weights(entry)


def test_probe_batches_are_the_per_batch_preprocessing_kept_for_the_latest_spec():
    images = np.random.default_rng(1).integers(0, 255, size=(7, 20, 24, 3), dtype=np.uint8)
    batches = ProbeBatches(images, 3, "cpu")
    spec = PreprocessingSpec(resize=16, crop=16, mean=(0.5, 0.5, 0.5), std=(0.2, 0.2, 0.2))
    got = list(batches.on_device(spec))
    assert [batch.shape[0] for batch in got] == [3, 3, 1] and list(batches.starts()) == [0, 3, 6]
    for start, batch in zip(batches.starts(), got):
        torch.testing.assert_close(batch, preprocess_images(images[start:start + 3], spec), rtol=0, atol=0)
    other = PreprocessingSpec(resize=8, crop=8)
    assert next(iter(batches.on_device(other))).shape[-1] == 8


def test_reading_layers_gives_the_features_extract_layer_features_gives(tmp_path):
    entry = saved_model(tmp_path, 0)
    module = build_model(entry)
    images = np.random.default_rng(2).integers(0, 255, size=(5, 64, 64, 3), dtype=np.uint8)
    expected = features_of(module, images, entry)
    with reading_layers(module, LAYERS, InferenceOptions()) as read:
        parts = [read(batch) for batch in ProbeBatches(images, 4, "cpu").on_device(entry.preprocessing)]
    for role in expected:
        np.testing.assert_array_equal(torch.cat([part[role] for part in parts]).numpy(), expected[role])


def test_tf32_is_float32_on_the_cpu_and_bf16_really_runs_in_bfloat16():
    left, right = torch.randn(64, 64, dtype=torch.float32), torch.randn(64, 64, dtype=torch.float32)
    with forward_precision("cpu", ComputeDtype.FLOAT32):
        strict = left @ right
    with forward_precision("cpu", "tf32"):
        tf32 = left @ right
    with forward_precision("cpu", "bf16"):
        bf16 = left @ right
    torch.testing.assert_close(tf32, strict, rtol=0, atol=0)
    assert bf16.dtype == torch.bfloat16 and not torch.equal(bf16.float(), strict)


def test_forward_precision_restores_the_tf32_flags():
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    with forward_precision("cpu", "tf32"):
        assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == saved  # CUDA only
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == saved
