"""Hugging Face transformers vision encoders: built offline from a checked config file and safetensors weights."""

from __future__ import annotations

import json
import os
import sys

import pytest
import torch
from safetensors.torch import save_file

from rsa_ray.models import (
    WeightsIntegrityError,
    build_model,
    capture_layers,
    check_registered_architectures,
    sha256_of_file,
)
from storage import parse_manifest
from storage.errors import ManifestError

transformers = pytest.importorskip("transformers")

TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "image_size": 32, "patch_size": 8}
# Model class -> (its tiny config, a layer to read).
TINY_MODELS = {
    "ViTModel": (lambda: transformers.ViTConfig(intermediate_size=64, **TINY), "layernorm"),
    "Dinov2Model": (lambda: transformers.Dinov2Config(mlp_ratio=2, **TINY), "encoder.layer.1"),
    "CLIPVisionModel": (lambda: transformers.CLIPVisionConfig(intermediate_size=64, **TINY), "post_layernorm"),
}


def _saved(model, folder) -> tuple[dict, dict]:
    """Writes config.json and model.safetensors; returns their manifest references."""
    folder.mkdir()
    config, weights = folder / "config.json", folder / "model.safetensors"
    config.write_text(json.dumps(model.config.to_dict()))
    save_file({name: tensor.contiguous() for name, tensor in model.state_dict().items()}, weights)
    return ({"path": f"{folder.name}/config.json", "sha256": sha256_of_file(config)},
            {"path": f"{folder.name}/model.safetensors", "sha256": sha256_of_file(weights)})


def _document(class_name: str, layer: str, config: dict, **fields) -> dict:
    return {"model_id": f"hf-{class_name}", "source": "transformers", "task_type": "semantic",
            "architecture": {"target": class_name, "config": config}, "layers": [layer], **fields}


@pytest.mark.parametrize("class_name", sorted(TINY_MODELS))
def test_tiny_model_from_config_and_safetensors_equals_the_model_in_memory(class_name, tmp_path, monkeypatch):
    make_config, layer = TINY_MODELS[class_name]
    torch.manual_seed(0)
    in_memory = getattr(transformers, class_name)(make_config()).eval()
    config, weights = _saved(in_memory, tmp_path / "tiny")
    (entry,) = parse_manifest([_document(class_name, layer, config, weights=weights)], base_url=str(tmp_path))
    assert entry.architecture.config.path == os.fspath(tmp_path / "tiny" / "config.json")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    built = build_model(entry)
    assert "HF_HUB_OFFLINE" not in os.environ  # off for the build only (tests/unit/models/test_transformers_config.py)
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad(), capture_layers(in_memory, [layer]) as expected_layer:
        expected = in_memory(pixel_values=images).last_hidden_state
    with torch.no_grad(), capture_layers(built, [layer]) as built_layer:
        output = built(images).last_hidden_state
    assert torch.equal(output, expected) and torch.equal(built_layer[layer], expected_layer[layer])


def test_without_weights_the_seed_fixes_the_network(tmp_path):
    config, _ = _saved(getattr(transformers, "ViTModel")(TINY_MODELS["ViTModel"][0]()), tmp_path / "tiny")
    entries = parse_manifest([_document("ViTModel", "layernorm", config, seed=seed, model_id=f"vit-{index}")
                              for index, seed in enumerate((3, 3, 4))], base_url=str(tmp_path))
    images = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        outputs = [build_model(entry)(images).last_hidden_state for entry in entries]
    assert torch.equal(outputs[0], outputs[1]) and not torch.equal(outputs[0], outputs[2])


def test_a_config_file_with_another_sha256_is_refused(tmp_path):
    config, weights = _saved(getattr(transformers, "ViTModel")(TINY_MODELS["ViTModel"][0]()), tmp_path / "tiny")
    wrong = {**config, "sha256": "0" * 64}
    (entry,) = parse_manifest([_document("ViTModel", "layernorm", wrong, weights=weights)], base_url=str(tmp_path))
    with pytest.raises(WeightsIntegrityError, match="0" * 64) as caught:
        build_model(entry)
    assert sha256_of_file(tmp_path / "tiny" / "config.json") not in str(caught.value)  # the file's digest is not shown


def test_a_config_of_another_model_type_is_refused(tmp_path):
    config, _ = _saved(getattr(transformers, "ViTModel")(TINY_MODELS["ViTModel"][0]()), tmp_path / "tiny")
    (entry,) = parse_manifest([_document("CLIPVisionModel", "post_layernorm", config, seed=0)],
                              base_url=str(tmp_path))
    with pytest.raises(ValueError, match=r"'hf-CLIPVisionModel'.*'architecture\.config'.*'vit' config"):
        build_model(entry)


@pytest.mark.parametrize(("architecture", "field"), [
    ({"target": "AutoModel", "config": {"path": "c.json", "sha256": "a" * 64}}, "architecture.target"),
    ({"target": "os.system", "config": {"path": "c.json", "sha256": "a" * 64}}, "architecture.target"),
    ({"target": "ViTModel"}, "architecture.config"),
    ({"target": "ViTModel", "config": {"path": "c.json"}}, "architecture.config.sha256"),
    ({"target": "ViTModel", "kwargs": {"trust_remote_code": True},
      "config": {"path": "c.json", "sha256": "a" * 64}}, "architecture.kwargs.trust_remote_code"),
])
def test_only_allowed_classes_with_a_checked_config_go_in(architecture, field):
    document = {"model_id": "hf", "source": "transformers", "task_type": "semantic", "architecture": architecture,
                "layers": ["layernorm"], "seed": 0}
    with pytest.raises(ManifestError) as caught:  # read, then asked of the registry as at admission
        check_registered_architectures(parse_manifest([document]))
    assert "\n" not in str(caught.value) and "'hf'" in str(caught.value) and f"field {field!r}" in str(caught.value)


def test_a_config_file_is_only_for_transformers():
    document = {"model_id": "r18", "source": "timm", "task_type": "semantic", "seed": 0, "layers": ["layer4"],
                "architecture": {"target": "resnet18", "config": {"path": "c.json", "sha256": "a" * 64}}}
    with pytest.raises(ManifestError, match=r"'r18'.*'architecture\.config' is only for source transformers"):
        parse_manifest([document])


def test_checking_a_manifest_does_not_import_transformers(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)  # an import would fail
    document = {"model_id": "hf", "source": "transformers", "task_type": "semantic", "seed": 0, "layers": ["x"],
                "architecture": {"target": "ViTModel", "config": {"path": "/c.json", "sha256": "a" * 64}}}
    assert parse_manifest([document])[0].architecture.target == "ViTModel"
