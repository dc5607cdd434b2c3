"""The entry field ``seed``: required for a library model without weights, kept in the registry, part of identity."""

from __future__ import annotations

import pytest

from rsa_ray.models import ArchitectureSpec, ModelEntry, WeightsRef, build_model, entry_from_dict, entry_to_dict
from rsa_ray.models.manifest import example_entry
from rsa_ray.models.seeding import MissingSeedError
from storage import parse_manifest
from storage.errors import ManifestError
from storage.identity import ComputeSettings, expected_identity, model_inputs
from storage.names import EntryKind

HUB_DOCUMENT = {"model_id": "r18", "source": "torchvision", "task_type": "semantic",
                "architecture": {"target": "resnet18"}, "layers": ["layer4"]}


@pytest.mark.parametrize("source", ["torchvision", "timm", "transformers"])
def test_a_library_model_without_weights_or_seed_is_refused_in_one_line(source):
    document = {**HUB_DOCUMENT, "source": source}
    spec = ArchitectureSpec("resnet18")
    if source == "transformers":
        document["architecture"] = {"target": "ViTModel", "config": {"path": "/zoo/config.json", "sha256": "a" * 64}}
        spec = ArchitectureSpec("ViTModel", config=WeightsRef("/zoo/config.json", "a" * 64))
    with pytest.raises(ManifestError) as caught:
        parse_manifest([document])
    message = str(caught.value)
    assert "\n" not in message and "'r18'" in message and "field 'seed' is required" in message
    entry = ModelEntry("r18", source, spec, None, ("layer4",), "layer4")
    with pytest.raises(MissingSeedError, match=r"^model 'r18': field 'seed' is required"):
        build_model(entry)


@pytest.mark.parametrize("seed", [-1, 1.5, True, "7"])
def test_a_seed_that_is_not_a_whole_number_is_refused(seed):
    with pytest.raises(ManifestError, match=r"'r18': field 'seed' must be a whole number"):
        parse_manifest([{**HUB_DOCUMENT, "seed": seed}])


def test_seed_round_trips_and_is_absent_when_unset():
    (entry,) = parse_manifest([{**HUB_DOCUMENT, "seed": 7}])
    assert entry.seed == 7 and entry_to_dict(entry)["seed"] == 7
    assert entry_from_dict(entry_to_dict(entry)) == entry
    assert "seed" not in entry_to_dict(example_entry())  # stored entries without one keep their form
    assert "config" not in entry_to_dict(example_entry())["architecture"]


def test_the_seed_is_part_of_the_model_identity_and_absent_seeds_change_nothing():
    base = entry_to_dict(example_entry())
    identities = {seed: expected_identity(EntryKind.RDMS, {**base, "seed": seed}, "p", "encoder.output",
                                          ComputeSettings()).digest for seed in (1, 2)}
    assert identities[1] != identities[2]
    assert "seed" not in model_inputs(base)
    assert model_inputs({**base, "seed": None}) == model_inputs(base)


def test_a_config_file_counts_by_its_sha256_not_where_it_lies():
    base = {"source": "transformers", "weights": None, "preprocessing": {}, "seed": 0,
            "architecture": {"target": "ViTModel", "kwargs": {}, "config": {"path": "/a/config.json", "sha256": "1" * 64}}}
    moved = {**base, "architecture": {**base["architecture"], "config": {"path": "/b/config.json", "sha256": "1" * 64}}}
    changed = {**base, "architecture": {**base["architecture"], "config": {"path": "/a/config.json", "sha256": "2" * 64}}}
    assert model_inputs(base) == model_inputs(moved) != model_inputs(changed)
