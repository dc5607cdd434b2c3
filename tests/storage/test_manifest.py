"""Model manifests (the zoo format, ``rsa_ray.zoo/v1``): YAML and JSON parse to ``rsa_ray.models.ModelEntry``
values; every malformed field names the entry and the field."""

import copy
import dataclasses
import json
import os

import pytest
import yaml

from rsa_ray.models import (
    MANIFEST_FORMAT,
    ModelEntry,
    PreprocessingSpec,
    WeightsRef,
    ZooManifest,
    entry_to_dict,
    read_manifest,
    write_manifest,
)
from storage import ManifestError, load_manifest, parse_manifest
from tests.storage.builders import model_manifest


def test_yaml_and_json_manifests_give_the_same_rsa_ray_entries(tmp_path):
    document = {"format": MANIFEST_FORMAT, "description": "two models", "command": "make zoo",
                "dataset": {"name": "mini", "seed": 0}, "models": model_manifest("depth", "edges")}
    (tmp_path / "zoo.yaml").write_text(yaml.safe_dump(json.loads(json.dumps(document))))  # no shared values: no aliases
    (tmp_path / "zoo.json").write_text(json.dumps(document))
    from_yaml = load_manifest(str(tmp_path / "zoo.yaml"))
    assert from_yaml == load_manifest(str(tmp_path / "zoo.json")) == parse_manifest(document["models"])
    depth = from_yaml[0]
    assert isinstance(depth, ModelEntry) and depth.model_id == "depth" and depth.layers == ("block4", "out")
    assert depth.preprocessing == PreprocessingSpec(64, 64, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    assert depth.architecture.kwargs_dict() == {"out_channels": 1} and depth.weights.sha256 == "0" * 64
    assert parse_manifest([entry_to_dict(depth)]) == (depth,)  # the stored form reads back
    with pytest.raises(AttributeError):
        depth.task = "other"  # frozen


def test_a_manifest_written_by_rsa_ray_loads_with_weights_resolved(tmp_path):
    entries = parse_manifest([{**model_manifest("m1")[0], "weights": {"path": "m1.safetensors", "sha256": "1" * 64}}])
    write_manifest(ZooManifest(models=entries, description="zoo"), tmp_path / "manifest.yaml")
    assert read_manifest(tmp_path / "manifest.yaml").models == entries  # rsa_ray keeps the relative path
    loaded = load_manifest(f"file://{tmp_path}/manifest.yaml")
    absolute = WeightsRef(str(tmp_path / "m1.safetensors"), "1" * 64)
    assert loaded == (dataclasses.replace(entries[0], weights=absolute),)


def test_defaults_default_layer_is_the_last_and_hub_models_need_no_weights():
    entry = model_manifest("m1")[0]
    del entry["default_layer"], entry["preprocessing"], entry["task"]
    parsed = parse_manifest([entry])[0]
    assert (parsed.default_layer, parsed.preprocessing, parsed.task) == ("out", PreprocessingSpec(), "")
    hub = {"model_id": "r18", "source": "timm", "task_type": "semantic", "architecture": {"target": "resnet18"},
           "layers": ["layer4"], "seed": 0}
    assert parse_manifest({"models": [hub]})[0].weights is None


def _broken(path: str, value, delete: bool = False, **changes):
    entry = {**copy.deepcopy(model_manifest("m1")[0]), **changes}
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
        (_broken("colour", "red"), "colour"),
        (_broken("task", 3), "task"),
        (_broken("task_type", None, delete=True), "task_type"),
        (_broken("task_type", "4d"), "task_type"),
        (_broken("source", None, delete=True), "source"),
        (_broken("source", "pickle"), "source"),
        (_broken("architecture", None, delete=True), "architecture"),
        (_broken("architecture", "resnet"), "architecture"),
        (_broken("architecture.target", ""), "architecture.target"),
        (_broken("architecture.code", "x"), "architecture.code"),
        (_broken("architecture.kwargs", {"sizes": [1, 2]}), "architecture.kwargs.sizes"),
        (_broken("architecture.kwargs", [1]), "architecture.kwargs"),
        (_broken("weights", None, delete=True), "weights"),
        (_broken("weights", None, source="torchscript", architecture=None), "weights"),
        (_broken("weights", "/zoo/m1.safetensors"), "weights"),
        (_broken("weights.path", None, delete=True), "weights.path"),
        (_broken("weights.path", "s3://AKIA:secret@bucket/w"), "weights.path"),
        (_broken("weights.sha256", None, delete=True), "weights.sha256"),
        (_broken("weights.sha256", "abc"), "weights.sha256"),
        (_broken("weights.sha256", "A" * 64), "weights.sha256"),
        (_broken("weights.uri", "s3://b/w"), "weights.uri"),
        (_broken("layers", None, delete=True), "layers"),
        (_broken("layers", []), "layers"),
        (_broken("layers", "out"), "layers"),
        (_broken("layers", ["ok", "../up"]), "layers"),
        (_broken("layers", ["a", "a"]), "layers"),
        (_broken("default_layer", "head"), "default_layer"),
        (_broken("preprocessing", [64]), "preprocessing"),
        (_broken("preprocessing.std", [1, 0, 1]), "preprocessing.std"),
        (_broken("preprocessing.std", [1, 1]), "preprocessing.std"),
        (_broken("preprocessing.mean", ["a", 0, 0]), "preprocessing.mean"),
        (_broken("preprocessing.resize", "big"), "preprocessing.resize"),
        (_broken("preprocessing.crop", 0), "preprocessing.crop"),
        (_broken("preprocessing.value_range", [1, 1]), "preprocessing.value_range"),
        (_broken("preprocessing.channel_order", "GBR"), "preprocessing.channel_order"),
        (_broken("preprocessing.interpolation", "lanczos"), "preprocessing.interpolation"),
        (_broken("preprocessing.image_size", 224), "preprocessing.image_size"),
        (_broken("training", {"variant": "small"}), "training.base_model_id"),
        (_broken("training", "yes"), "training"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_malformed_field_names_entry_and_field(entry, field):
    with pytest.raises(ManifestError) as error:
        parse_manifest([entry])
    assert "'m1'" in str(error.value) and repr(field) in str(error.value)
    assert "secret" not in str(error.value)


@pytest.mark.parametrize("bad_id", ["../m1", "", None, "a/b"])
def test_bad_id_names_the_entry_position(bad_id):
    entry = _broken("model_id", bad_id)
    with pytest.raises(ManifestError, match=r"entry #1: field 'model_id'"):
        parse_manifest(model_manifest("m0") + [entry])


def test_entry_that_is_not_a_mapping_names_its_position():
    with pytest.raises(ManifestError, match="entry #0 must be a mapping"):
        parse_manifest(["m1"])


def test_duplicate_ids_are_rejected():
    with pytest.raises(ManifestError, match="'m1'.*more than one entry"):
        parse_manifest(model_manifest("m1", "m2") + model_manifest("m1"))


@pytest.mark.parametrize("document", ["models", {"models": "m1"}, {"entries": []}, 3,
                                      {"format": "rsa_ray.zoo/v0", "models": []}])
def test_a_document_that_is_not_a_manifest_is_rejected(document):
    with pytest.raises(ManifestError, match="manifest"):
        parse_manifest(document)


def test_unparseable_or_invalid_file_names_the_file(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ManifestError, match="bad.json"):
        load_manifest(str(tmp_path / "bad.json"))
    (tmp_path / "invalid.yaml").write_text(yaml.safe_dump([_broken("task_type", "4d")]))
    with pytest.raises(ManifestError, match=r"invalid\.yaml.*'m1'.*'task_type'"):
        load_manifest(str(tmp_path / "invalid.yaml"))


@pytest.mark.parametrize(
    ("base_url", "path", "resolved"),
    [
        ("s3://b/zoo", "x.safetensors", "s3://b/zoo/x.safetensors"),
        ("s3://b/zoo", "./sub/../x.safetensors", "s3://b/zoo/x.safetensors"),
        ("s3://b/zoo", "gs://other/x.safetensors", "gs://other/x.safetensors"),
        ("/zoo/v1", "w/../x.pt", "/zoo/v1/x.pt"),
        ("file:///zoo", "x.pt", "/zoo/x.pt"),
        ("/zoo", "/abs/x.pt", "/abs/x.pt"),
    ],
)
def test_relative_weights_paths_resolve_against_the_base_url(base_url, path, resolved):
    entry = _broken("weights.path", path)
    assert parse_manifest([entry], base_url=base_url)[0].weights.path == resolved


def _one_line_error(call) -> str:
    with pytest.raises(ManifestError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message, message
    return message


def test_yaml_aliases_and_anchors_are_refused_before_they_expand(tmp_path):
    laughs = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{name}: &{name} [*{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}]\n"
        for previous, name in zip("abcdefgh", "bcdefghi")) + "models: *i\n"
    (tmp_path / "laughs.yaml").write_text(laughs)
    message = _one_line_error(lambda: load_manifest(str(tmp_path / "laughs.yaml")))
    assert "laughs.yaml" in message and "anchor" in message and "line 1" in message and len(message) < 300
    entry = model_manifest("m1")[0]
    aliased = yaml.safe_dump({"models": [entry, {**entry, "model_id": "m2"}]})  # shared values dump as aliases
    assert "*id" in aliased
    (tmp_path / "aliased.yaml").write_text(aliased)
    assert "aliases and anchors are refused" in _one_line_error(lambda: load_manifest(str(tmp_path / "aliased.yaml")))


@pytest.mark.parametrize(("name", "text"), [("deep.json", "[" * 100_000 + "]" * 100_000),
                                            ("deep.yaml", "models: " + "[" * 100_000 + "]" * 100_000),
                                            ("nested.json", json.dumps({"models": [{"model_id": "m1", "task": {
                                                "a": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}]}))])
def test_nesting_deeper_than_the_bound_is_one_line_not_a_recursion_error(tmp_path, name, text):
    (tmp_path / name).write_text(text)
    message = _one_line_error(lambda: load_manifest(str(tmp_path / name)))
    assert name in message and "deeper than 32 levels" in message


def test_the_bound_leaves_room_for_every_real_manifest(tmp_path):
    document = {"models": [{**model_manifest("m1")[0], "training": None}]}
    text = json.dumps(document)
    (tmp_path / "zoo.json").write_text(text)
    assert load_manifest(str(tmp_path / "zoo.json"))[0].model_id == "m1"


@pytest.mark.parametrize("document", [{"models": []}, {"format": MANIFEST_FORMAT, "models": []}, []])
def test_a_manifest_without_models_is_refused(document):
    assert "manifest has no models" in _one_line_error(lambda: parse_manifest(document))


@pytest.mark.parametrize(("field", "value"), [("task", "depth\nestimation"), ("task", "depth\u202eevil"),
                                              ("task", "a\x1bb"), ("model_id", "m1\u202e"), ("model_id", "m1\n")])
def test_names_that_are_not_printable_are_refused_naming_the_field(field, value):
    entry = _broken(field, value)
    message = _one_line_error(lambda: parse_manifest([entry]))
    assert repr(field) in message and "\u202e" not in message and "\x1b" not in message


def test_a_layer_module_that_is_not_printable_is_refused():
    entry = _broken("layers", {"out": "features\u202e.0"})
    assert "'layers.out.module' must be printable" in _one_line_error(lambda: parse_manifest([entry]))


@pytest.mark.parametrize(("base_url", "path"), [("/zoo/v1", "../v2/x.safetensors"), ("/zoo", "a/../../x.pt"),
                                                ("s3://b/zoo", "../other/x.safetensors"), ("file:///zoo", "../x.pt")])
def test_a_path_climbing_out_of_the_manifest_folder_names_only_the_field_and_the_rule(base_url, path):
    message = _one_line_error(lambda: parse_manifest([_broken("weights.path", path)], base_url=base_url))
    assert message == ("manifest entry 'm1': field 'weights.path' must stay inside the manifest's folder "
                       "(a relative path may not climb out of it with '../')")


def test_a_climbing_path_is_refused_without_opening_hashing_or_looking_at_the_file(tmp_path, monkeypatch):
    secret = tmp_path / "secret.env"
    secret.write_text("TOKEN=abc\n")
    zoo = tmp_path / "zoo"
    zoo.mkdir()
    entry = _broken("weights.path", "../secret.env")
    (zoo / "manifest.json").write_text(json.dumps({"models": [entry]}))
    touched = []
    for module, name in [(os, "stat"), (os, "lstat"), (os, "open"), (os.path, "exists"), (os.path, "getsize")]:
        original = getattr(module, name)

        def spy(target, *args, _original=original, **kwargs):
            if isinstance(target, (str, os.PathLike)) and "secret" in os.fspath(target):
                touched.append(os.fspath(target))
            return _original(target, *args, **kwargs)

        monkeypatch.setattr(module, name, spy)
    message = _one_line_error(lambda: load_manifest(str(zoo / "manifest.json")))
    assert touched == [] and "secret" not in message and "'weights.path'" in message


def test_readers_of_a_file_apply_one_set_of_rules(tmp_path):
    document = {"format": MANIFEST_FORMAT, "extra": 1, "models": model_manifest("m1")}
    (tmp_path / "manifest.yaml").write_text(yaml.safe_dump(json.loads(json.dumps(document))))
    for read in (lambda: read_manifest(tmp_path / "manifest.yaml"), lambda: load_manifest(str(tmp_path / "manifest.yaml"))):
        assert "top-level field 'extra' is not known" in _one_line_error(read)
    document = {"models": model_manifest("m1", "m1")}
    (tmp_path / "manifest.yaml").write_text(yaml.safe_dump(json.loads(json.dumps(document))))
    for read in (lambda: read_manifest(tmp_path / "manifest.yaml"), lambda: load_manifest(str(tmp_path / "manifest.yaml"))):
        assert "manifest entry 'm1': field 'model_id' is used by more than one entry" in _one_line_error(read)
    with pytest.raises(ManifestError, match="more than one entry"):
        ZooManifest(models=parse_manifest(model_manifest("m1")) * 2)
