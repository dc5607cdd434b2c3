"""Model manifests: YAML and JSON parse to frozen entries; every malformed field names entry and field."""

import copy
import json

import pytest
import yaml

from storage import ManifestError, ModelEntry, Preprocessing, load_manifest, parse_manifest
from tests.storage.builders import model_manifest


def test_yaml_and_json_manifests_give_the_same_frozen_entries(tmp_path):
    document = {"models": model_manifest("depth", "edges")}
    document["models"][0]["preprocessing"] = {"image_size": 256, "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}
    (tmp_path / "zoo.yaml").write_text(yaml.safe_dump(document))
    (tmp_path / "zoo.json").write_text(json.dumps(document))
    from_yaml = load_manifest(str(tmp_path / "zoo.yaml"))
    assert from_yaml == load_manifest(str(tmp_path / "zoo.json"))
    depth = from_yaml[0]
    assert isinstance(depth, ModelEntry) and depth.model_id == "depth" and depth.layers == ("block4", "out")
    assert depth.preprocessing == Preprocessing(256, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    assert parse_manifest([depth.to_dict()]) == (depth,)  # the stored form reads back
    with pytest.raises(AttributeError):
        depth.task = "other"  # frozen


def _broken(path: str, value, delete: bool = False):
    entry = copy.deepcopy(model_manifest("m1")[0])
    *parents, last = path.split(".")
    target = entry
    for parent in parents:
        target = target[parent]
    if delete:
        del target[last]
    else:
        target[last] = value
    return entry


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        (_broken("task", None, delete=True), "task"),
        (_broken("builder", ""), "builder"),
        (_broken("task_type", "4d"), "task_type"),
        (_broken("weights.sha256", "abc"), "weights.sha256"),
        (_broken("weights.uri", None, delete=True), "weights.uri"),
        (_broken("weights", "file:///w"), "weights"),
        (_broken("layers", []), "layers"),
        (_broken("layers", ["ok", "../up"]), "layers"),
        (_broken("layers", ["a", "a"]), "layers"),
        (_broken("preprocessing", {"std": [1, 0, 1]}), "preprocessing.std"),
        (_broken("preprocessing", {"image_size": "big"}), "preprocessing.image_size"),
        (_broken("preprocessing", {"crop": 3}), "preprocessing.crop"),
        (_broken("colour", "red"), "colour"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_malformed_field_names_entry_and_field(entry, field):
    with pytest.raises(ManifestError) as error:
        parse_manifest([entry])
    assert "'m1'" in str(error.value) and repr(field) in str(error.value)


def test_bad_id_names_the_entry_position():
    entry = _broken("id", "../m1")
    with pytest.raises(ManifestError, match=r"entry #0: field 'id'.*'\.\./m1'"):
        parse_manifest([entry])


def test_duplicate_ids_are_rejected():
    with pytest.raises(ManifestError, match="'m1'.*more than one entry"):
        parse_manifest(model_manifest("m1", "m2") + model_manifest("m1"))


def test_unparseable_file_names_the_file(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ManifestError, match="bad.json"):
        load_manifest(str(tmp_path / "bad.json"))
