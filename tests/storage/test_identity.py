"""Entry identities on both backends: stale entries are found and replaced, library versions are not identity."""

import dataclasses

import numpy as np
import pytest

import rsa_ray
from storage import EntryConflictError, EntryKey, EntryKind, IncompleteEntryError, Provenance
from storage.entries import open_array
from storage.identity import ComputeSettings, expected_identity, model_inputs

DOCUMENT = {
    "model_id": "m1", "source": "safetensors", "task": "depth", "task_type": "3d",
    "architecture": {"target": "rsa_ray.models.encoder_decoder:build_encoder_decoder", "kwargs": {"out_channels": 1}},
    "weights": {"path": "/w/m1.safetensors", "sha256": "a" * 64}, "layers": ["out"], "default_layer": "out",
    "preprocessing": {"resize": 64, "crop": 64}, "training": None,
}


def _digest(kind="rdms", document=DOCUMENT, probe_hash="p" * 64, layer="out", **settings):
    return expected_identity(EntryKind(kind), document, probe_hash, layer, ComputeSettings(**settings)).digest


def _changed(field, value):
    document = {**DOCUMENT, field: value}
    return _digest(document=document)


@pytest.mark.parametrize("kind", ["activations", "rdms", "ranks"])
def test_every_input_changes_the_identity_and_descriptions_do_not(kind):
    base = _digest(kind)
    changed = [
        _digest(kind, document={**DOCUMENT, "weights": {"path": "/w/m1.safetensors", "sha256": "b" * 64}}),
        _digest(kind, document={**DOCUMENT, "architecture": {**DOCUMENT["architecture"], "kwargs": {"out_channels": 2}}}),
        _digest(kind, document={**DOCUMENT, "preprocessing": {"resize": 72, "crop": 64}}),
        _digest(kind, document={**DOCUMENT, "source": "torch_state_dict"}),
        _digest(kind, probe_hash="q" * 64),
        _digest(kind, layer="early"),
        _digest(kind, forward_dtype="bfloat16"),
        _digest(kind, activation_dtype="float16"),
    ]
    assert base not in changed and len(set(changed)) == len(changed)
    # What describes a model but does not shape its outputs: its id, task, training record, weights location.
    same = [
        _digest(kind, document={**DOCUMENT, "model_id": "renamed", "task": "other", "task_type": "2d"}),
        _digest(kind, document={**DOCUMENT, "weights": {"path": "s3://moved/m1.safetensors", "sha256": "a" * 64}}),
    ]
    assert same == [base, base]


def test_rdm_settings_change_rdms_and_ranks_but_not_activations():
    for setting in ({"distance": "cosine"}, {"center_features": False}):
        assert _digest("activations", **setting) == _digest("activations")
        assert _digest("rdms", **setting) != _digest("rdms")
        assert _digest("ranks", **setting) != _digest("ranks")
    assert len({_digest("activations"), _digest("rdms"), _digest("ranks")}) == 3
    assert model_inputs(DOCUMENT)["weights_sha256"] == "a" * 64


def test_library_versions_are_provenance_not_identity(populated):
    store, probe_id = populated
    key = EntryKey(probe_id, "m1", "out")
    identity = store.expected_identities(probe_id, ["m1"], ["out"], EntryKind.ACTIVATIONS, ComputeSettings())[key]
    old_release = dataclasses.replace(store.provenance(key), library_versions={"rsa-ray": "0.0.1", "numpy": "1.0"})
    layout = store.create_activations(key, 6, rows_per_chunk=5, provenance=old_release, identity=identity)
    store.write_activation_rows(key, 0, np.ones((5, 6), np.float32))
    # Resumed by the current release: the finished chunk is kept, no conflict.
    resumed = store.create_activations(key, 6, rows_per_chunk=5, identity=identity)
    assert resumed.pending == ((5, 10),) and layout.pending == ((0, 5), (5, 10))
    store.write_activation_rows(key, 5, np.ones((5, 6), np.float32))
    store.finalize(key)
    assert store.create_activations(key, 6, rows_per_chunk=5, identity=identity).complete
    assert not store.missing(probe_id, ["m1"], ["out"], EntryKind.ACTIVATIONS, ComputeSettings())


def test_a_complete_entry_from_other_inputs_is_missing_and_replaced(populated):
    store, probe_id = populated
    key = EntryKey(probe_id, "m1", "out")
    settings = ComputeSettings()
    rdm = rsa_ray.compute_rdm(np.random.default_rng(0).normal(size=(10, 8)))
    identity = store.expected_identities(probe_id, ["m1"], ["out"], EntryKind.RDMS, settings)[key]
    store.write_rdm(key, rdm, identity=identity)
    assert not store.missing(probe_id, ["m1"], ["out"], EntryKind.RDMS, settings)

    # Another forward dtype: the stored RDM no longer describes this run's inputs.
    bf16 = ComputeSettings(forward_dtype="bfloat16")
    assert store.missing(probe_id, ["m1"], ["out"], EntryKind.RDMS, bf16) == (key,)
    # New weights registered for m1: stale under the default settings too; other models untouched.
    entry = store.model("m1")
    store.register_models([dataclasses.replace(entry, weights=dataclasses.replace(entry.weights, sha256="c" * 64))],
                          replace=True)
    assert store.missing(probe_id, ["m1"], ["out"], EntryKind.RDMS, settings) == (key,)
    new_identity = store.expected_identities(probe_id, ["m1"], ["out"], EntryKind.RDMS, settings)[key]
    replacement = rsa_ray.compute_rdm(np.random.default_rng(1).normal(size=(10, 8)))
    store.write_rdm(key, replacement, identity=new_identity)  # stale: replaced, not a conflict
    np.testing.assert_allclose(store.read_rdm(key), replacement.astype(np.float32))
    assert not store.missing(probe_id, ["m1"], ["out"], EntryKind.RDMS, settings)
    # Without an identity a different value is still a conflict (nothing says the old one is stale).
    with pytest.raises(EntryConflictError, match="is complete with"):
        store.write_rdm(key, rdm)


def test_entries_written_before_identities_match_on_their_provenance(populated):
    store, probe_id = populated
    key = EntryKey(probe_id, "m2", "out")
    store.write_activations(key, np.ones((10, 4), np.float32))  # no identity: as the previous release wrote it
    assert "identity" not in store.entry_attributes(key)
    assert not store.missing(probe_id, ["m2"], ["out"], EntryKind.ACTIVATIONS, ComputeSettings())
    entry = store.model("m2")
    store.register_models([dataclasses.replace(entry, weights=dataclasses.replace(entry.weights, sha256="d" * 64))],
                          replace=True)
    assert store.missing(probe_id, ["m2"], ["out"], EntryKind.ACTIVATIONS, ComputeSettings()) == (key,)


def test_a_chunk_rewritten_after_its_marker_keeps_the_entry_incomplete(populated):
    store, probe_id = populated
    key = EntryKey(probe_id, "m3", "out")
    store.create_activations(key, 4, rows_per_chunk=5, provenance=Provenance())
    store.write_activation_rows(key, 0, np.zeros((5, 4), np.float32))
    store.write_activation_rows(key, 5, np.zeros((5, 4), np.float32))
    # A second writer puts other bytes into chunk 1 after its marker was recorded.
    array = open_array(store._backend, key.path(EntryKind.ACTIVATIONS), mode="r+")
    array[5:10] = np.ones((5, 4), np.float32)
    with pytest.raises(IncompleteEntryError, match=r"rows 5:10 changed after their checksum was recorded"):
        store.finalize(key)
    assert not store.is_complete(key)
    assert store.layout(key).pending == ((5, 10),)  # only that chunk is rewritten
    store.write_activation_rows(key, 5, np.ones((5, 4), np.float32))
    store.finalize(key)
    np.testing.assert_array_equal(store.read_activations(key)[5:], np.ones((5, 4), np.float32))


def test_a_similarity_version_records_the_identity_of_each_input(populated):
    store, probe_id = populated
    settings = ComputeSettings()
    rdm = rsa_ray.compute_rdm(np.random.default_rng(0).normal(size=(10, 8)))
    for model_id in ("m1", "m2"):
        key = EntryKey(probe_id, model_id, "out")
        identity = store.expected_identities(probe_id, [model_id], ["out"], EntryKind.RANKS, settings)[key]
        store.write_rank_vector(key, rsa_ray.standardized_ranks(rdm[None])[0].astype(np.float32), identity=identity)
    store.write_similarity(probe_id, "out", ["m1", "m2"], np.eye(2), "spearman")
    inputs = store.read_similarity(probe_id, "out").inputs
    expected = store.expected_identities(probe_id, ["m1", "m2"], ["out"], EntryKind.RANKS, settings)
    assert [item.identity for item in inputs] == [expected[EntryKey(probe_id, m, "out")].digest for m in ("m1", "m2")]
