"""A transformers config.json from a manifest names no code, kernels or hub location, and the hub is off
while the model is built: refusals come before transformers is imported or asked to build anything."""

from __future__ import annotations

import json
import os
import sys

import pytest
import torch

from rsa_ray.models import ArchitectureError, build_model, sha256_of_file
from rsa_ray.models.transformers_config import MAX_CONFIG_BYTES
from storage import parse_manifest

transformers = pytest.importorskip("transformers")
huggingface_hub = pytest.importorskip("huggingface_hub")

TINY = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "image_size": 32, "patch_size": 8,
        "intermediate_size": 64}


def _entry(tmp_path, config: dict, name: str = "config.json"):
    """A seeded ViTModel entry whose config file holds ``config``."""
    path = tmp_path / name
    path.write_text(json.dumps(config))
    document = {"model_id": "hf-vit", "source": "transformers", "task_type": "semantic", "seed": 0,
                "layers": ["layernorm"], "architecture": {"target": "ViTModel",
                                                          "config": {"path": name, "sha256": sha256_of_file(path)}}}
    (entry,) = parse_manifest([document], base_url=str(tmp_path))
    return entry


def _vit_config(**extra) -> dict:
    return {**transformers.ViTConfig(**TINY).to_dict(), **extra}


HUB_NAMING = [
    ({"attn_implementation": "kernels-community/flash-attn"}, "attn_implementation"),
    ({"_attn_implementation": "kernels-community/flash-attn3"}, "_attn_implementation"),
    ({"attn_implementation": "flash_attention_2"}, "attn_implementation"),  # may fall back to a hub kernel
    ({"attn_implementation": {"": "org/kernel"}}, "attn_implementation"),
    ({"experts_implementation": "org/experts-kernel"}, "experts_implementation"),
    ({"auto_map": {"AutoModel": "modeling_evil.EvilModel"}}, "auto_map"),
    ({"auto_map": {"AutoConfig": "org/repo--configuration.Config"}}, "auto_map"),
    ({"trust_remote_code": True}, "trust_remote_code"),
    ({"custom_pipelines": {"image": {"impl": "pipe.Pipe"}}}, "custom_pipelines"),
    ({"quantization_config": {"quant_method": "hqq"}}, "quantization_config"),
    ({"kernel_config": {"kernel_mapping": {"RMSNorm": "kernels-community/layer_norm"}}}, "kernel_config"),
    ({"label2id": {"cat": 0}, "id2label": {"0": "cat"}, "vision_config": {"auto_map": {"x": "y.Z"}}},
     "vision_config.auto_map"),
]


@pytest.mark.parametrize(("extra", "key"), HUB_NAMING, ids=[key for _, key in HUB_NAMING])
def test_a_config_naming_code_or_a_hub_location_is_refused_before_transformers_is_imported(
        extra, key, tmp_path, monkeypatch):
    entry = _entry(tmp_path, _vit_config(**extra))
    monkeypatch.setitem(sys.modules, "transformers", None)  # importing it would fail: the refusal comes first
    with pytest.raises(ArchitectureError) as caught:
        build_model(entry)
    message = str(caught.value)
    assert "\n" not in message and message.startswith("model 'hf-vit': field 'architecture.config' key ")
    assert f"key {key!r}" in message


def test_a_key_that_is_no_setting_of_the_class_is_refused_before_anything_is_built(tmp_path, monkeypatch):
    entry = _entry(tmp_path, _vit_config(loader_module="mylab.loaders"))

    def must_not_run(*args, **kwargs):
        raise AssertionError("transformers was asked to build a refused config")

    monkeypatch.setattr(transformers.ViTConfig, "from_dict", must_not_run)
    monkeypatch.setattr(transformers.ViTModel, "__init__", must_not_run)
    with pytest.raises(ArchitectureError, match=r"key 'loader_module' is not a setting of ViTConfig"):
        build_model(entry)


@pytest.mark.parametrize("attention", ["eager", "sdpa", None])
def test_built_in_attention_builds_and_the_checkpoint_name_is_not_passed_on(attention, tmp_path):
    config = _vit_config(_name_or_path="someone/their-vit", attn_implementation=attention)
    built = build_model(_entry(tmp_path, config))
    assert built.config._attn_implementation == (attention or "sdpa")
    assert built.config._name_or_path == ""
    with torch.no_grad():
        assert built(torch.rand(1, 3, 32, 32)).last_hidden_state.shape == (1, 17, 32)


def test_the_hub_is_off_while_building_and_restored_after(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "0")
    seen = {}
    original = transformers.ViTConfig.from_dict.__func__

    def recording_from_dict(cls, document, **kwargs):
        seen["environment"] = (os.environ.get("HF_HUB_OFFLINE"), os.environ.get("TRANSFORMERS_OFFLINE"))
        seen["constant"] = huggingface_hub.constants.HF_HUB_OFFLINE
        seen["kwargs"] = kwargs
        for download in (lambda: huggingface_hub.hf_hub_download("org/repo", "config.json"),
                         lambda: transformers.utils.hub.cached_file("org/repo", "config.json")):
            with pytest.raises(ArchitectureError, match="reaches the Hugging Face hub"):
                download()
        return original(cls, document, **kwargs)

    monkeypatch.setattr(transformers.ViTConfig, "from_dict", classmethod(recording_from_dict))
    constant_before = huggingface_hub.constants.HF_HUB_OFFLINE
    build_model(_entry(tmp_path, _vit_config()))
    assert seen["environment"] == ("1", "1") and seen["constant"] is True
    assert seen["kwargs"] == {"attn_implementation": None, "experts_implementation": None}
    assert "HF_HUB_OFFLINE" not in os.environ and os.environ["TRANSFORMERS_OFFLINE"] == "0"
    assert huggingface_hub.constants.HF_HUB_OFFLINE == constant_before
    assert huggingface_hub.hf_hub_download.__name__ == "hf_hub_download"  # the real one is back


def test_a_hub_call_inside_the_model_build_is_refused_in_one_line(tmp_path, monkeypatch):
    def reaches_the_hub(self):
        transformers.utils.hub.cached_file("org/repo", "modeling.py")

    monkeypatch.setattr(transformers.ViTModel, "post_init", reaches_the_hub)
    with pytest.raises(ArchitectureError, match=r"^model 'hf-vit': field 'architecture' building the model called "
                                                r"cached_file, which reaches the Hugging Face hub; refused"):
        build_model(_entry(tmp_path, _vit_config()))


def test_a_config_file_over_the_limit_is_refused_by_its_size_before_it_is_read(tmp_path, monkeypatch):
    entry = _entry(tmp_path, _vit_config())
    with open(tmp_path / "config.json", "r+b") as handle:
        handle.truncate(MAX_CONFIG_BYTES + 1)  # sparse: nothing written
    import hashlib

    monkeypatch.setattr(hashlib, "sha256", lambda *a: pytest.fail("the file was hashed"))
    with pytest.raises(ArchitectureError, match=r"config.json' is larger than 16 MiB, the limit for a config file"):
        build_model(entry)


def test_a_config_nested_too_deeply_is_refused_in_one_line(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    document = {"model_id": "hf-vit", "source": "transformers", "task_type": "semantic", "seed": 0,
                "layers": ["layernorm"], "architecture": {"target": "ViTModel", "config": {
                    "path": "deep.json", "sha256": sha256_of_file(path)}}}
    (entry,) = parse_manifest([document], base_url=str(tmp_path))
    with pytest.raises(ArchitectureError, match="is not readable JSON: nests too deeply"):
        build_model(entry)
