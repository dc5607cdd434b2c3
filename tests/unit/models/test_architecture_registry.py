"""The architecture registry: manifests name registered builders; nothing a manifest says is imported or run.

Reading a manifest checks the document alone; the registry is asked at admission
(``check_registered_architectures``, which ``models add`` and ``rerank --models-from`` call on what
they load) and again by ``build_model``, also for hand-made entries that skip the manifest checks (an
entry edited in a store); a canary file shows their code never ran. Entry-point builders are real entry points of a
distribution written to a temporary folder on ``sys.path``.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
import types

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from rsa_ray.models import (
    ENTRY_POINT_GROUP,
    ArchitectureError,
    ArchitectureSpec,
    ModelEntry,
    TorchScriptDisabledError,
    UnknownArchitectureError,
    WeightsRef,
    build_architecture,
    build_model,
    build_zoo_model,
    check_registered_architectures,
    find_architecture,
    read_shipped_zoo,
    registered_architecture_names,
    sha256_of_file,
    shipped_zoo_dir,
)
from storage import ManifestError, Store, load_manifest, parse_manifest
from tests.support.refused_architectures import (
    CANARY_MODULE,
    CASE_IDS,
    ENCODER_DECODER,
    canary,  # noqa: F401 (a fixture)
    manifest_entry,
    refused_architectures,
)

PLUGIN_MODULE = "rsa_ray_test_plugin_builders"
PLUGIN_SOURCE = '''
from torch import nn
from rsa_ray.models import ArchitectureBuilder

def build_tiny(width: int = 2, bias: bool = True):
    return nn.Linear(3, width, bias=bias)

def build_any(**kwargs):
    return nn.Linear(3, kwargs.get("width", 2))

DECLARED_ANY = ArchitectureBuilder(build_any, accepted_kwargs={"width"})

def build_not_a_module(width: int = 2):
    return "a string"
'''
PLUGIN_ENTRY_POINTS = f"""
[{ENTRY_POINT_GROUP}]
testlab.tiny = {PLUGIN_MODULE}:build_tiny
testlab.any = {PLUGIN_MODULE}:build_any
testlab.any-declared = {PLUGIN_MODULE}:DECLARED_ANY
testlab.not-a-module = {PLUGIN_MODULE}:build_not_a_module
testlab.broken = rsa_ray_test_no_such_module:build
"""


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """An installed distribution declaring builders in ``rsa_ray.architectures`` (a real dist-info)."""
    site = tmp_path / "site"
    dist_info = site / "rsa_ray_test_plugin-0.1.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: rsa-ray-test-plugin\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(textwrap.dedent(PLUGIN_ENTRY_POINTS))
    (site / f"{PLUGIN_MODULE}.py").write_text(PLUGIN_SOURCE)
    monkeypatch.syspath_prepend(str(site))
    sys.modules.pop(PLUGIN_MODULE, None)
    yield site
    sys.modules.pop(PLUGIN_MODULE, None)


def _admitted(document) -> tuple[ModelEntry, ...]:
    """The entries of a manifest document that reading and the registry both accept (as ``models add`` asks)."""
    entries = parse_manifest(document)
    check_registered_architectures(entries)
    return entries


def _assert_one_line_naming(message: str, model_id: str, field: str) -> None:
    assert "\n" not in message, message
    assert repr(model_id) in message and repr(field) in message, message


def _hand_made_entry(case, weights_path) -> ModelEntry:
    weights = WeightsRef(str(weights_path), None) if case.source in ("safetensors", "torch_state_dict") else None
    return ModelEntry("evil", case.source, ArchitectureSpec(case.target, case.kwargs), weights, ("encoder.output",),
                      "encoder.output")


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_admission_refuses_with_one_line_naming_model_and_field(case_id, canary):
    case = next(case for case in refused_architectures(canary) if case.case_id == case_id)
    with pytest.raises(ManifestError) as caught:
        _admitted([manifest_entry(case)])
    _assert_one_line_naming(str(caught.value), "evil", case.field)
    assert not canary.exists() and CANARY_MODULE not in sys.modules


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_build_model_refuses_hand_made_entries_that_skip_the_manifest_checks(case_id, canary, tmp_path):
    case = next(case for case in refused_architectures(canary) if case.case_id == case_id)
    weights = tmp_path / "evil.safetensors"
    save_file({"weight": torch.zeros(1)}, weights)
    with pytest.raises(ArchitectureError) as caught:
        build_model(_hand_made_entry(case, weights))
    _assert_one_line_naming(str(caught.value), "evil", case.field)
    assert not canary.exists() and CANARY_MODULE not in sys.modules


def test_the_registry_check_refuses_hand_made_entries_and_reading_them_imports_nothing(canary, tmp_path):
    store = Store.open(str(tmp_path / "store"))
    for case in refused_architectures(canary):
        hub = case.source in ("torchvision", "timm")
        hashed = None if hub else WeightsRef("/zoo/evil.safetensors", "0" * 64)
        entry = dataclasses.replace(_hand_made_entry(case, "/zoo/evil.safetensors"), weights=hashed, task_type="2d",
                                    seed=0 if hub else None)
        with pytest.raises(ManifestError) as caught:
            check_registered_architectures([entry])
        _assert_one_line_naming(str(caught.value), "evil", case.field)
    assert store.model_ids() == () and not canary.exists() and CANARY_MODULE not in sys.modules


def test_the_canaries_are_live(canary):
    # The refused commands and the module do create the canary when run, so the checks above can fail.
    os.system(f"touch {canary}")
    assert canary.exists()
    canary.unlink()
    subprocess.run(f"touch {canary}", shell=True, check=True)
    assert canary.exists()
    canary.unlink()
    __import__(CANARY_MODULE)
    assert canary.exists()


def test_the_shipped_zoo_still_parses_and_builds():
    entries = load_manifest(os.fspath(shipped_zoo_dir() / "manifest.yaml"))
    large = "rsa_ray.models.residual_encoder:build_residual_encoder_decoder"
    assert entries and {entry.architecture.target for entry in entries} == {ENCODER_DECODER, large}
    model = build_zoo_model(read_shipped_zoo().models[0])
    assert isinstance(model, nn.Module) and not model.training


def test_missing_required_arguments_are_named_when_built_and_non_finite_ones_refused():
    missing = {"model_id": "m1", "source": "safetensors", "task_type": "2d", "layers": ["encoder.output"],
               "weights": {"path": "/zoo/m1.safetensors", "sha256": "0" * 64},
               "architecture": {"target": ENCODER_DECODER, "kwargs": {"width": 1}}}
    entry = _admitted([missing])[0]  # registrable; building names what is missing
    with pytest.raises(ArchitectureError, match=r"'m1'.*'architecture\.kwargs\.out_channels' is required"):
        build_model(entry)
    missing["architecture"]["kwargs"] = {"out_channels": 1, "width": float("nan")}
    with pytest.raises(ManifestError, match=r"'m1'.*'architecture\.kwargs\.width' must be a finite number"):
        _admitted([missing])


def test_an_entry_point_builder_validates_builds_and_loads_its_weights(plugin, tmp_path):
    assert "testlab.tiny" in registered_architecture_names()
    assert PLUGIN_MODULE not in sys.modules  # listing names loads nothing
    torch.manual_seed(0)
    trained = nn.Linear(3, 4, bias=False)
    weights = tmp_path / "tiny.safetensors"
    save_file(trained.state_dict(), weights)
    document = {"model_id": "tiny", "source": "safetensors", "task_type": "other",
                "architecture": {"target": "testlab.tiny", "kwargs": {"width": 4, "bias": False}},
                "weights": {"path": str(weights), "sha256": sha256_of_file(weights)}, "layers": ["weight"]}
    entry = _admitted([document])[0]
    assert PLUGIN_MODULE in sys.modules  # loaded when its name was asked for
    model = build_model(entry)
    probe = torch.rand(2, 3)
    with torch.no_grad():
        assert torch.equal(model(probe), trained(probe))
    with pytest.raises(ManifestError, match=r"'tiny'.*'architecture\.kwargs\.depth' is not an argument"):
        _admitted([{**document, "architecture": {"target": "testlab.tiny", "kwargs": {"depth": 2}}}])


def test_entry_points_load_only_when_asked_and_broken_ones_fail_in_one_line(plugin):
    find_architecture(ENCODER_DECODER)
    assert PLUGIN_MODULE not in sys.modules
    with pytest.raises(ArchitectureError) as caught:
        find_architecture("testlab.broken")
    assert "\n" not in str(caught.value) and "rsa_ray_test_no_such_module" in str(caught.value)
    with pytest.raises(UnknownArchitectureError) as unknown:
        find_architecture("testlab.nope")
    assert "'testlab.nope'" in str(unknown.value) and ENCODER_DECODER in str(unknown.value)
    assert "testlab.tiny" in str(unknown.value) and ENTRY_POINT_GROUP in str(unknown.value)


def test_a_builder_with_var_kwargs_needs_declared_argument_names(plugin):
    undeclared = {"model_id": "any", "source": "safetensors", "task_type": "other", "layers": ["weight"],
                  "weights": {"path": "/w.safetensors", "sha256": "0" * 64},
                  "architecture": {"target": "testlab.any", "kwargs": {"width": 3}}}
    with pytest.raises(ManifestError, match=r"'any'.*'architecture\.target'.*\*\*kwargs.*accepted_kwargs"):
        _admitted([undeclared])
    declared = {**undeclared, "architecture": {"target": "testlab.any-declared", "kwargs": {"width": 3}}}
    assert _admitted([declared])[0].architecture.kwargs_dict() == {"width": 3}
    declared["architecture"]["kwargs"] = {"width": 3, "command": "true"}
    with pytest.raises(ManifestError, match=r"'any'.*'architecture\.kwargs\.command'"):
        _admitted([declared])
    assert build_architecture(ArchitectureSpec("testlab.any-declared", {"width": 3})).out_features == 3


def test_a_builder_that_returns_no_module_is_refused_when_built(plugin):
    entry = ModelEntry("odd", "safetensors", ArchitectureSpec("testlab.not-a-module"), WeightsRef("/w"), ("x",), "x")
    with pytest.raises(ArchitectureError, match=r"'odd'.*'architecture\.target'.*not a torch\.nn\.Module"):
        build_model(entry)


@pytest.fixture
def fake_hub_libraries(monkeypatch):
    """Stand-in torchvision and timm modules that record what they are asked to build."""
    calls = []

    def get_model(name, **kwargs):
        calls.append(("torchvision", name, kwargs))
        return nn.Linear(3, kwargs.get("num_classes", 1000))

    def create_model(name, **kwargs):
        calls.append(("timm", name, kwargs))
        return nn.Linear(3, kwargs.get("num_classes", 1000))

    vision_models = types.ModuleType("torchvision.models")
    vision_models.list_models = lambda: ["alexnet", "resnet18"]
    vision_models.get_model = get_model
    vision = types.ModuleType("torchvision")
    vision.models = vision_models
    timm = types.ModuleType("timm")
    timm.list_models = lambda: ["resnet18", "vit_tiny_patch16_224"]
    timm.is_model = lambda name: name in timm.list_models()
    timm.create_model = create_model
    monkeypatch.setitem(sys.modules, "torchvision", vision)
    monkeypatch.setitem(sys.modules, "torchvision.models", vision_models)
    monkeypatch.setitem(sys.modules, "timm", timm)
    return calls


@pytest.mark.parametrize("source", ["torchvision", "timm"])
def test_hub_names_are_checked_where_the_library_is_installed(source, fake_hub_libraries):
    document = {"model_id": "hub", "source": source, "task_type": "semantic", "layers": ["weight"],
                "architecture": {"target": "resnet99"}, "seed": 0}
    with pytest.raises(ManifestError, match=rf"'hub'.*'architecture\.target' 'resnet99' is not a {source} model"):
        _admitted([document])
    no_weights = {"weights": None} if source == "torchvision" else {"pretrained": False}
    document["architecture"] = {"target": "resnet18", "kwargs": {"num_classes": 3, **no_weights}}
    entry = _admitted([document])[0]
    assert build_model(entry).out_features == 3
    forced = {"weights": None} if source == "torchvision" else {"pretrained": False}
    assert fake_hub_libraries == [(source, "resnet18", {**forced, "num_classes": 3})]


def test_torchscript_is_refused_at_the_door_unless_the_run_enables_it(monkeypatch, tmp_path):
    monkeypatch.delenv("RSA_RAY_ALLOW_TORCHSCRIPT", raising=False)
    document = {"model_id": "scripted", "source": "torchscript", "task_type": "2d", "layers": ["out"],
                "weights": {"path": "/zoo/scripted.pt", "sha256": "ab" * 32}}
    with pytest.raises(ManifestError) as caught:
        _admitted([document])
    _assert_one_line_naming(str(caught.value), "scripted", "source")
    assert "TorchScript is disabled" in str(caught.value) and "RSA_RAY_ALLOW_TORCHSCRIPT=1" in str(caught.value)
    entry = ModelEntry("scripted", "torchscript", None, WeightsRef(str(tmp_path / "s.pt")), ("out",), "out")
    with pytest.raises(TorchScriptDisabledError, match="'scripted'.*RSA_RAY_ALLOW_TORCHSCRIPT=1"):
        build_model(entry)
    monkeypatch.setenv("RSA_RAY_ALLOW_TORCHSCRIPT", "1")
    assert _admitted([document])[0].source.value == "torchscript"
