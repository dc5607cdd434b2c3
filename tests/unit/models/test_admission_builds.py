"""``models add`` builds each model once and runs one forward pass for all its roles, however many it has."""

from __future__ import annotations

import copy

import numpy as np
import yaml

import rsa_ray.models.builders as builders
from jobs.cli import main
from storage import Store
from tests.unit.jobs.bad_inputs import good_entry

ROLES = {"early": "encoder.block1", "mid": "encoder.block2", "mid_avg": {"module": "encoder.block2", "reduce": "avg"},
         "out": "encoder.output"}


def _many_roles(model_id: str) -> dict:
    entry = good_entry(model_id)
    entry["layers"], entry["default_layer"] = copy.deepcopy(ROLES), "out"
    return entry


def test_models_add_builds_each_model_once_for_all_its_roles(tmp_path, monkeypatch):
    store = Store.open(str(tmp_path / "store"))
    store.add_probe_set(np.full((3, 64, 64, 3), 100, np.uint8), ["a", "b", "c"], "tiny")
    manifest = tmp_path / "zoo.yaml"
    manifest.write_text(yaml.safe_dump({"models": [_many_roles("m1"), _many_roles("m2")]}))
    built, forwards = [], []
    real_build = builders.build_untrained

    def counting_build(entry, *args, **kwargs):
        module = real_build(entry, *args, **kwargs)
        built.append(entry.model_id)
        module.register_forward_pre_hook(lambda _module, _inputs: forwards.append(entry.model_id))
        return module

    monkeypatch.setattr(builders, "build_untrained", counting_build)

    assert main(["models", "add", str(manifest), "--store", str(tmp_path / "store")]) == 0

    assert built == ["m1", "m2"]  # one build per model, not one per role
    assert forwards == ["m1", "m2"]  # one probe-image forward pass reads all four roles
    shapes = store.layer_shapes(["m1", "m2"])
    assert set(shapes["m1"]) == set(ROLES) and shapes["m1"] == shapes["m2"]
    assert shapes["m1"]["mid_avg"]["width"] == shapes["m1"]["mid"]["shape"][0]
