"""Layer roles in manifests and registry documents: both forms of ``layers``, the reserved ``default``, and
documents of the previous release."""

from __future__ import annotations

import numpy as np
import pytest

from rsa_ray.models import (
    LayerSpec,
    ManifestError,
    MissingRoleError,
    PreprocessingSpec,
    entry_from_dict,
    entry_to_dict,
    extract_layer_features,
    parse_entry,
    read_shipped_zoo,
)
from rsa_ray.models.encoder_decoder import build_encoder_decoder
from storage import ManifestError as StorageManifestError
from storage import parse_manifest
from storage.identity import ComputeSettings, expected_identity
from storage.names import EntryKind

SHA = "a" * 64
# A registry document as the previous release stored it (the list form of layers, every field written).
PREVIOUS_RELEASE_DOCUMENT = {
    "model_id": "depth-small", "source": "safetensors",
    "architecture": {"target": "rsa_ray.models.encoder_decoder:build_encoder_decoder",
                     "kwargs": {"head": "dense", "out_channels": 1, "pool_size": 2, "width": 1}},
    "weights": {"path": "/zoo/depth-small.safetensors", "sha256": SHA},
    "layers": ["encoder.block1", "encoder.block2", "encoder.block3", "encoder.block4", "encoder.output"],
    "default_layer": "encoder.output",
    "preprocessing": {"resize": 64, "crop": 64, "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0],
                      "channel_order": "RGB", "value_range": [0.0, 1.0], "interpolation": "bilinear"},
    "task": "depth", "task_type": "3d", "training": None,
}


def _mapped(**changes):
    return {"model_id": "mnet", "source": "torchvision", "task_type": "semantic", "seed": 0,
            "architecture": {"target": "mobilenet_v2"},
            "layers": {"output": "classifier.0", "mid": {"module": "features.14", "reduce": "avg"}},
            "default_layer": "output", **changes}


def test_a_previous_release_document_parses_and_round_trips_unchanged():
    entry = entry_from_dict(PREVIOUS_RELEASE_DOCUMENT)
    assert entry.layers[-1] == "encoder.output" and entry.modules == () and entry.reductions == ()
    assert entry.layer("encoder.block2") == LayerSpec("encoder.block2", "encoder.block2", "flatten")
    assert entry_to_dict(entry) == {**PREVIOUS_RELEASE_DOCUMENT, "preprocessing": entry_to_dict(entry)["preprocessing"]}
    assert entry_to_dict(entry)["layers"] == PREVIOUS_RELEASE_DOCUMENT["layers"]


def test_the_shipped_zoo_passes_the_strict_reader():
    assert len(read_shipped_zoo().models) > 10


def test_roles_map_to_modules_and_reductions_and_round_trip():
    entry = parse_entry(_mapped())
    assert entry.layers == ("output", "mid")
    assert entry.layer("mid") == LayerSpec("mid", "features.14", "avg")
    assert entry.layer("default") == LayerSpec("output", "classifier.0", "flatten")
    assert entry_to_dict(entry)["layers"] == {"output": "classifier.0", "mid": {"module": "features.14", "reduce": "avg"}}
    assert entry_from_dict(entry_to_dict(entry)) == entry
    with pytest.raises(MissingRoleError, match="'mnet' has no layer 'late'"):
        entry.layer("late")


@pytest.mark.parametrize(("layers", "default", "match"), [
    ({"default": "classifier.0"}, None, "'default' is reserved"),
    ({"out/x": "classifier.0"}, None, "not a safe name"),
    ({"output": {"module": "classifier.0", "reduce": "mean"}}, "output", r"'layers\.output\.reduce'.*flatten, avg"),
    ({"output": {"module": "classifier.0", "pool": "avg"}}, "output", r"'layers\.output\.pool' is not a known field"),
    ({"output": "classifier.0"}, "mid", r"'default_layer' must be one of the layers \['output'\]"),
])
def test_bad_roles_are_refused_naming_the_field(layers, default, match):
    raw = _mapped(layers=layers, default_layer=default) if default else {**_mapped(layers=layers)}
    if default is None:
        raw.pop("default_layer")
    with pytest.raises(ManifestError, match=match):
        parse_manifest([raw])


def test_one_manifest_error_class():
    assert StorageManifestError is ManifestError


def test_the_identity_follows_the_module_and_the_reduction_of_a_role():
    document = entry_to_dict(parse_entry(_mapped()))
    base = expected_identity(EntryKind.ACTIVATIONS, document, "p1", "mid", ComputeSettings())
    assert base.inputs["module"] == "features.14" and base.inputs["reduce"] == "avg"
    moved = {**document, "layers": {**document["layers"], "mid": {"module": "features.13", "reduce": "avg"}}}
    assert expected_identity(EntryKind.ACTIVATIONS, moved, "p1", "mid", ComputeSettings()).digest != base.digest
    flagged = expected_identity(EntryKind.ACTIVATIONS, document, "p1", "mid", ComputeSettings(reduce="max"))
    assert flagged.digest != base.digest
    default = expected_identity(EntryKind.ACTIVATIONS, document, "p1", "default", ComputeSettings())
    assert default.inputs["module"] == "classifier.0"
    # list-form entries keep the identity they had: neither module nor reduce is recorded
    old = expected_identity(EntryKind.RANKS, PREVIOUS_RELEASE_DOCUMENT, "p1", "encoder.output", ComputeSettings())
    assert "module" not in expected_identity(EntryKind.ACTIVATIONS, PREVIOUS_RELEASE_DOCUMENT, "p1",
                                             "encoder.output", ComputeSettings()).inputs
    assert len(old.digest) == 64


def test_roles_sharing_a_module_read_it_once_and_reduce_each_their_way():
    model = build_encoder_decoder(1)
    images = np.random.default_rng(0).integers(0, 255, (3, 64, 64, 3), dtype=np.uint8)
    features = extract_layer_features(model, images, [LayerSpec("whole", "encoder.block2"),
                                                      LayerSpec("pooled", "encoder.block2", "avg")], PreprocessingSpec())
    whole = features["whole"].reshape(3, 32, -1)
    np.testing.assert_allclose(features["pooled"], whole.mean(axis=2), rtol=1e-5, atol=1e-6)


def test_an_entry_keeps_each_role_as_its_layer_spec_whichever_way_it_is_given():
    from rsa_ray.model_entry import ArchitectureSpec, ModelEntry

    specs = (LayerSpec("mid", "features.14", "avg"), LayerSpec("output", "classifier.0"), LayerSpec("fc", "fc"))
    given_as_specs = ModelEntry("m1", "timm", ArchitectureSpec("resnet18"), None, specs, "output", task_type="2d", seed=0)
    given_as_roles = ModelEntry("m1", "timm", ArchitectureSpec("resnet18"), None, ("mid", "output", "fc"), "output",
                                task_type="2d", seed=0, modules={"mid": "features.14", "output": "classifier.0"},
                                reductions={"mid": "avg"})
    assert given_as_specs == given_as_roles and given_as_specs.specs == specs == given_as_roles.specs
    assert given_as_specs.layer("default") is given_as_specs.specs[1]
    assert entry_from_dict(entry_to_dict(given_as_specs)) == given_as_specs
    with pytest.raises(ValueError, match="either all LayerSpec values"):
        ModelEntry("m1", "timm", ArchitectureSpec("resnet18"), None, (specs[0], "fc"), "fc", seed=0)
