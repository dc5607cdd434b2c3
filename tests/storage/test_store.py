"""The store's API on both backends: probe sets, registry, activations, RDMs, similarity, tables."""

import dataclasses
import json
import pickle

import numpy as np
import pandas as pd
import pytest
import zarr
from hypothesis import given, settings
from hypothesis import strategies as st

from storage import (
    EntryConflictError,
    EntryKind,
    EntryNotFoundError,
    IncompleteEntryError,
    ManifestError,
    Store,
    parse_manifest,
)
from rsa_ray.models import MANIFEST_FORMAT, ModelEntry, WeightsRef, entry_from_dict, entry_to_dict
from tests.storage.builders import features_for, key, model_manifest, probe_images
from tests.support.s3_server import SECRET_KEY


def test_store_is_a_picklable_value_without_credentials_in_repr(target, store):
    clone = pickle.loads(pickle.dumps(store))
    assert clone == store and clone.url == store.url
    assert SECRET_KEY not in repr(store) and SECRET_KEY not in str(store)
    assert repr(store) == f"Store(url={store.url!r})"
    assert clone.probe_set_ids() == ()  # the clone opens its own handles


def test_urls_with_credentials_are_refused_without_echoing_them():
    with pytest.raises(ValueError) as error:
        Store.open("s3://AKIA:topsecret@bucket/x")
    assert "topsecret" not in str(error.value)


def test_probe_set_round_trip_subset_and_content_hash_id(store):
    images = probe_images(10)
    ids = [f"img{i}" for i in range(10)]
    probe_id = store.add_probe_set(images, ids, "test images", rows_per_chunk=3)
    assert store.add_probe_set(images, ids, "test images") == probe_id  # same content, same id, no rewrite
    assert store.add_probe_set(probe_images(10, seed=1), ids, "other") != probe_id
    info = store.probe_set(probe_id)
    assert (info.n_images, info.height, info.width, info.image_ids) == (10, 4, 4, tuple(ids))
    assert info.content_hash.startswith(probe_id)
    np.testing.assert_array_equal(store.read_probe_images(probe_id), images)
    np.testing.assert_array_equal(store.read_probe_images(probe_id, [9, 0, 4, 4]), images[[9, 0, 4, 4]])
    np.testing.assert_array_equal(store.read_probe_images(probe_id, slice(2, 5)), images[2:5])
    assert set(store.probe_set_ids()) == {probe_id, store.add_probe_set(probe_images(10, seed=1), ids, "other")}
    with pytest.raises(EntryNotFoundError, match="'0123abcd'"):
        store.probe_set("0123abcd")


def test_registry_round_trip_and_conflicts(store):
    entries = parse_manifest(model_manifest("m1", "m2"))
    assert store.register_models(entries) == ("m1", "m2")
    assert store.register_models(entries) == ()  # identical: nothing to write
    assert store.model_ids() == ("m1", "m2")
    assert store.model("m2") == entries[1]
    changed = parse_manifest(model_manifest("m1", layers=("other",)))
    with pytest.raises(EntryConflictError, match="'m1'"):
        store.register_models(changed)
    assert store.register_models(changed, replace=True) == ("m1",)
    assert store.model("m1").layers == ("other",)
    with pytest.raises(EntryNotFoundError, match="'nope'"):
        store.model("nope")


def _full_entries():
    """Entries using every field: a zoo checkpoint with its training record, TorchScript, a hub model."""
    training = {"variant": "small", "base_model_id": "depth", "checkpoint_fraction": 0.5, "step": 200, "seed": 7,
                "validation_loss": 0.125, "steps": 400, "batch_size": 32, "learning_rate": 0.002, "n_train": 1500,
                "n_val": 200, "dataset_seed": 0, "image_size": 64}
    checkpoint = {**model_manifest("depth-half")[0], "training": training, "task_type": "3d"}
    scripted = {**model_manifest("scripted")[0], "source": "torchscript", "architecture": None,
                "weights": {"path": "s3://zoo/scripted.pt", "sha256": "ab" * 32}}
    hub = {"model_id": "resnet", "source": "torchvision", "task_type": "semantic",
           "architecture": {"target": "resnet18", "kwargs": {"num_classes": 10, "weights": None}},
           "layers": ["layer3", "layer4"], "default_layer": "layer3", "seed": 0}
    return parse_manifest([checkpoint, scripted, hub])


def test_registry_holds_rsa_ray_entries_stored_as_entry_to_dict(store, monkeypatch):
    monkeypatch.setenv("RSA_RAY_ALLOW_TORCHSCRIPT", "1")  # the TorchScript entry is refused unless enabled
    entries = _full_entries()
    assert all(isinstance(entry, ModelEntry) for entry in entries)
    assert store.register_models(entries) == ("depth-half", "scripted", "resnet")
    assert tuple(store.model(entry.model_id) for entry in entries) == entries
    stored = dict(zarr.open_group(store=store._backend.zarr_store, path="models/depth-half", mode="r").attrs)
    assert stored["registry_entry"] == json.loads(json.dumps(entry_to_dict(entries[0])))
    assert entry_from_dict(stored["registry_entry"]) == entries[0] and stored["entry_format"] == MANIFEST_FORMAT
    assert store.fetch_weights("resnet") is None  # a hub model without weights
    probe_id = store.add_probe_set(probe_images(3), ["a", "b", "c"], "p")
    assert store.provenance(key(probe_id, "resnet", "layer3")).weights_sha256 is None


def test_registry_refuses_unhashed_relative_or_foreign_entries(store):
    template = parse_manifest(model_manifest("m1"))[0]
    unhashed = dataclasses.replace(template, weights=WeightsRef("/zoo/m1.safetensors", None))
    with pytest.raises(ManifestError, match=r"'m1'.*'weights\.sha256'"):
        store.register_models([unhashed])
    relative = dataclasses.replace(template, weights=WeightsRef("m1.safetensors", "0" * 64))
    with pytest.raises(ManifestError, match=r"'m1'.*'weights\.path'.*relative|'m1'.*'weights\.path'.*absolute"):
        store.register_models([relative])
    unsafe_layer = dataclasses.replace(template, layers=("a/b",), default_layer="a/b")
    with pytest.raises(ManifestError, match=r"'m1'.*'layers'"):
        store.register_models([unsafe_layer])
    with pytest.raises(TypeError, match="rsa_ray.models.ModelEntry"):
        store.register_models([entry_to_dict(template)])
    with pytest.raises(ManifestError, match="'m1'.*more than one entry"):
        store.register_models([template, template])
    assert store.model_ids() == ()  # nothing was written


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_activations_round_trip_with_provenance(populated, dtype):
    store, probe_id = populated
    features = features_for("m1", 10, 7, dtype)
    store.write_activations(key(probe_id), features, rows_per_chunk=4)
    assert store.is_complete(key(probe_id))
    read = store.read_activations(key(probe_id))
    assert read.dtype == dtype
    np.testing.assert_array_equal(read, features)
    np.testing.assert_array_equal(store.read_activations(key(probe_id), [7, 1]), features[[7, 1]])
    provenance = store.entry_provenance(key(probe_id))
    assert provenance.weights_sha256 == store.model("m1").weights.sha256 == "0" * 64
    assert provenance.probe_hash == store.probe_set(probe_id).content_hash
    assert provenance.preprocessing == entry_to_dict(store.model("m1"))["preprocessing"]
    assert provenance.preprocessing["resize"] == 64 and provenance.preprocessing["std"] == [0.25, 0.25, 0.25]
    assert {"numpy", "zarr", "python"} <= set(provenance.library_versions) and provenance.created


def test_driver_creates_once_and_writers_fill_disjoint_chunks(populated):
    store, probe_id = populated
    features = features_for("m2", 10)
    layout = store.create_activations(key(probe_id, "m2"), 6, rows_per_chunk=3)
    assert layout.pending == ((0, 3), (3, 6), (6, 9), (9, 10)) and not layout.complete
    for start, stop in reversed(layout.pending):  # any order, each chunk once
        store.write_activation_rows(key(probe_id, "m2"), start, features[start:stop])
        assert not store.is_complete(key(probe_id, "m2"))
    assert store.layout(key(probe_id, "m2")).pending == ()
    checksum = store.finalize(key(probe_id, "m2"))
    assert store.finalize(key(probe_id, "m2")) == checksum  # idempotent
    np.testing.assert_array_equal(store.read_activations(key(probe_id, "m2")), features)
    # The driver's rerun finds it complete and changes nothing.
    assert store.create_activations(key(probe_id, "m2"), 6, rows_per_chunk=3).complete
    with pytest.raises(EntryConflictError, match="activations/.*/m2/out"):
        store.create_activations(key(probe_id, "m2"), 8, rows_per_chunk=3)


def test_missing_lists_what_is_not_complete(populated):
    store, probe_id = populated
    store.write_activations(key(probe_id, "m1", "out"), features_for("m1", 10))
    store.create_activations(key(probe_id, "m2", "out"), 6)  # created, never filled
    assert set(store.missing(probe_id, ["m1", "m2"], ["out"])) == {key(probe_id, "m2", "out")}
    assert set(store.missing(probe_id, ["m1"])) == {key(probe_id, "m1", "block4")}  # registered layers
    assert store.missing(probe_id, ["m1", "m2"], ["out"], kind="rdms") == (
        key(probe_id, "m1", "out"), key(probe_id, "m2", "out"))


def test_rdms_and_rank_vectors_round_trip(populated):
    store, probe_id = populated
    rng = np.random.default_rng(3)
    rdm = rng.random(45)  # float64 in, stored as float32
    store.write_rdm(key(probe_id), rdm, distance="euclidean", center_features=False)
    np.testing.assert_array_equal(store.read_rdm(key(probe_id)), rdm.astype(np.float32))
    ranks = {model_id: rng.normal(size=45).astype(np.float32) for model_id in ("m1", "m2")}
    for model_id, vector in ranks.items():
        store.write_rank_vector(key(probe_id, model_id), vector)
    stacked = store.read_rank_vectors(probe_id, "out", ["m2", "m1"])
    np.testing.assert_array_equal(stacked, np.stack([ranks["m2"], ranks["m1"]]))
    assert store.missing(probe_id, ["m1", "m2", "m3"], ["out"], kind=EntryKind.RANKS) == (key(probe_id, "m3"),)
    with pytest.raises(IncompleteEntryError, match="ranks/.*/m3/out"):
        store.read_rank_vectors(probe_id, "out", ["m1", "m3"])


def test_similarity_versions_keep_history(populated):
    store, probe_id = populated
    checksums = [store.write_rank_vector(key(probe_id, model_id), np.arange(45.0) * index)
                 for index, model_id in enumerate(["m1", "m2"], start=1)]
    first = np.array([[1.0, 0.5], [0.5, 1.0]])
    assert store.write_similarity(probe_id, "out", ["m1", "m2"], first, "spearman") == 1
    second = np.array([[1.0, 0.5, 0.2], [0.5, 1.0, 0.3], [0.2, 0.3, 1.0]])
    assert store.write_similarity(probe_id, "out", ["m1", "m2", "m3"], second, "spearman") == 2
    latest = store.read_similarity(probe_id, "out")
    assert latest.version == 2 and latest.model_ids == ("m1", "m2", "m3") and latest.method == "spearman"
    np.testing.assert_array_equal(latest.matrix, second)
    old = store.read_similarity(probe_id, "out", version=1)
    assert old.model_ids == ("m1", "m2")
    np.testing.assert_array_equal(old.matrix, first)
    assert store.similarity_versions(probe_id, "out") == (1, 2)
    assert [item.path.split("/")[2] for item in latest.inputs] == ["m1", "m2", "m3"]
    assert [item.checksum for item in latest.inputs] == [*checksums, None]  # m3's ranks are not stored
    with pytest.raises(EntryNotFoundError, match="version 7"):
        store.read_similarity(probe_id, "out", version=7)


def test_tables_snapshot_and_concurrent_appends(store):
    ranking = pd.DataFrame({"model_id": ["m2", "m1"], "similarity": [0.9, 0.4]})
    store.write_table("rankings", ranking)
    pd.testing.assert_frame_equal(store.read_table("rankings"), ranking)
    from concurrent.futures import ThreadPoolExecutor

    failures = [pd.DataFrame({"model_id": [f"m{index}"], "error": ["boom"]}) for index in range(6)]
    with ThreadPoolExecutor(3) as pool:  # appenders at once: each append is its own part, none lost
        list(pool.map(lambda frame: store.append_table("failures", frame), failures))
    assert sorted(store.read_table("failures")["model_id"]) == [f"m{index}" for index in range(6)]
    assert set(store.table_names()) == {"rankings", "failures"}
    store.write_table("failures", pd.DataFrame({"model_id": [], "error": []}))
    assert len(store.read_table("failures")) == 0
    with pytest.raises(EntryNotFoundError, match="'transfer'"):
        store.read_table("transfer")


def test_no_stored_object_holds_the_credentials(target, populated):
    store, probe_id = populated
    store.write_activations(key(probe_id), features_for("m1", 10))
    store.write_table("rankings", pd.DataFrame({"a": [1]}))
    fs = store._backend.fs
    files = [path for path in fs.find(store._backend.root)]
    assert len(files) > 10
    for path in files:
        assert SECRET_KEY.encode() not in fs.cat_file(path), path


def test_local_paths_and_file_urls_name_the_same_store(tmp_path):
    by_path = Store.open(tmp_path / "store")
    assert Store.open(f"file://{tmp_path}/store") == by_path
    assert by_path.url == f"file://{tmp_path}/store"


@pytest.mark.s3
def test_endpoint_and_credentials_from_the_standard_aws_environment(s3_server, monkeypatch):
    import uuid

    from tests.support.s3_server import ACCESS_KEY, create_bucket

    bucket = f"rsa-env-{uuid.uuid4().hex[:12]}"
    create_bucket(s3_server.endpoint_url, bucket)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_server.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    store = Store.open(f"s3://{bucket}/from-env")  # no storage options at all
    assert store.storage_options == {}
    probe_id = store.add_probe_set(probe_images(3), ["a", "b", "c"], "env")
    np.testing.assert_array_equal(store.read_probe_images(probe_id), probe_images(3))
    assert SECRET_KEY not in repr(store)


# The Parquet folder is beside the Zarr nodes, not one of them; Zarr says so when it walks the root.
@pytest.mark.filterwarnings("ignore:Object at tables is not recognized")
def test_the_store_is_one_zarr_v3_hierarchy_that_zarr_can_walk(populated):
    import zarr

    store, probe_id = populated
    store.write_activations(key(probe_id), features_for("m1", 10))
    store.write_similarity(probe_id, "out", ["m1", "m2"], np.eye(2), "spearman")
    store.append_table("failures", pd.DataFrame({"model_id": ["m3"]}))  # Parquet beside the Zarr nodes
    root = zarr.open_group(store=store._backend.zarr_store, mode="r", zarr_format=3)
    assert {"probes", "models", "activations", "rdms", "ranks", "similarity"} <= set(root.group_keys())
    members = dict(root.members(max_depth=None))
    activations = members[f"activations/{probe_id}/m1/out"]
    assert isinstance(activations, zarr.Array) and activations.shape == (10, 6)
    assert activations.attrs["provenance"]["probe_hash"] == store.probe_set(probe_id).content_hash
    assert members["models/m2"].attrs["registry_entry"]["model_id"] == "m2"
    assert isinstance(members[f"similarity/{probe_id}/out/v00001"], zarr.Array)


@pytest.fixture(scope="module")
def rows_entry(tmp_path_factory):
    """One complete [23, 5] activations entry in 4-row chunks (the last chunk short) on a local store."""
    store = Store.open(tmp_path_factory.mktemp("rows") / "store")
    probe_id = store.add_probe_set(probe_images(23), [f"img{i}" for i in range(23)], "rows")
    store.register_models(parse_manifest(model_manifest("m1")))
    features = features_for("m1", 23, 5)
    store.write_activations(key(probe_id), features, rows_per_chunk=4)
    return store, key(probe_id), features


@settings(max_examples=40, deadline=None)
@given(rows=st.lists(st.integers(-23, 22), max_size=30))
def test_reading_any_list_of_rows_matches_numpy(rows_entry, rows):
    store, entry_key, features = rows_entry
    np.testing.assert_array_equal(store.read_activations(entry_key, rows), features[rows])


@settings(max_examples=25, deadline=None)
@given(start=st.integers(-30, 30) | st.none(), stop=st.integers(-30, 30) | st.none(), step=st.integers(1, 5) | st.none())
def test_reading_any_slice_matches_numpy(rows_entry, start, stop, step):
    store, entry_key, features = rows_entry
    selection = slice(start, stop, step)
    np.testing.assert_array_equal(store.read_activations(entry_key, selection), features[selection])


def test_out_of_range_rows_name_the_entry(rows_entry):
    store, entry_key, _ = rows_entry
    with pytest.raises(IndexError, match="activations/.*/m1/out"):
        store.read_activations(entry_key, [23])
