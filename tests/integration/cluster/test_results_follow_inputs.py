"""Results follow their inputs, on real Ray: replacing one model's weights recomputes exactly that model.

What ran is read from the store's work log (one record per forward pass, RDM and similarity
task actually computed), not from the run summary.
"""

import dataclasses
import functools
import hashlib

import numpy as np
import pytest

from cluster.extract import ExtractionOptions, extract_all
from cluster.pipeline import run_similarity
from cluster.resolvers import StoreResolver
from rsa_ray import compute_rdms, similarity_matrix
from rsa_ray.models import InferenceOptions, build_encoder_decoder, extract_features
from storage import EntryKey, EntryKind, Store
from tests.integration.cluster.helpers import write_random_zoo

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("local_ray")]

LAYER = "encoder.output"


def _models_in(records, stage):
    return sorted(record["model_id"] for record in records if record["stage"] == stage)


def _zoo_store(tmp_path, model_ids):
    store = Store.open(str(tmp_path / "store"))
    images = np.random.default_rng(0).integers(0, 255, size=(20, 64, 64, 3), dtype=np.uint8)
    probe_id = store.add_probe_set(images, [f"i{i}" for i in range(20)], "random")
    entries, modules = write_random_zoo(tmp_path, model_ids, absolute_paths=True)
    store.register_models(entries)
    return store, probe_id, images, entries, modules


def _run(store, probe_id, model_ids, dtype="float32"):
    options = ExtractionOptions(batch_size=10, n_actors=1, dtype=dtype)
    extractor = functools.partial(extract_all, resolver=StoreResolver(store), options=options)
    return run_similarity(store, probe_id, model_ids, [LAYER], extractor=extractor, extraction=options)


def test_replaced_weights_recompute_that_model_only_and_its_row_changes(tmp_path):
    from safetensors.torch import save_file
    import torch

    model_ids = ["a", "b", "c"]
    store, probe_id, images, entries, modules = _zoo_store(tmp_path, model_ids)
    first = _run(store, probe_id, model_ids)
    assert first.failures == () and first.versions == ((LAYER, 1),)
    before = store.read_similarity(probe_id, LAYER)
    records_before = len(store.work_records())

    # New weights for "b" only, registered over the old entry (what `models add --replace` does).
    torch.manual_seed(99)
    replacement = build_encoder_decoder(out_channels=1).eval()
    path = tmp_path / "b-v2.safetensors"
    save_file(replacement.state_dict(), path)
    old_b = next(entry for entry in entries if entry.model_id == "b")
    new_b = dataclasses.replace(old_b, weights=dataclasses.replace(
        old_b.weights, path=str(path), sha256=hashlib.sha256(path.read_bytes()).hexdigest()))
    assert store.register_models([new_b], replace=True) == ("b",)

    second = _run(store, probe_id, model_ids)

    assert second.failures == () and second.versions == ((LAYER, 2),)
    new_records = store.work_records()[records_before:]
    assert _models_in(new_records, "extract") == ["b"]
    assert _models_in(new_records, "rdm") == ["b"]
    after = store.read_similarity(probe_id, LAYER)
    order = {model_id: index for index, model_id in enumerate(after.model_ids)}
    old = {model_id: index for index, model_id in enumerate(before.model_ids)}
    # The a-c cell is reused as it was; every cell of b's row changed and equals a direct computation.
    assert after.matrix[order["a"], order["c"]] == before.matrix[old["a"], old["c"]]
    assert abs(after.matrix[order["a"], order["b"]] - before.matrix[old["a"], old["b"]]) > 1e-6
    modules["b"] = replacement
    features = [extract_features(modules[m], images, [LAYER], entries[0].preprocessing, InferenceOptions())[LAYER]
                for m in after.model_ids]
    np.testing.assert_allclose(after.matrix, similarity_matrix(compute_rdms(features)), atol=1e-5)
    identity = store.stored_attributes([EntryKey(probe_id, "b", LAYER)], EntryKind.ACTIVATIONS)[
        EntryKey(probe_id, "b", LAYER)]["identity_inputs"]["model"]["weights_sha256"]
    assert identity == new_b.weights.sha256

    third = _run(store, probe_id, model_ids)  # nothing changed: nothing runs
    assert third.versions == ((LAYER, None),)
    assert len(store.work_records()) == records_before + len(new_records)


def test_another_forward_dtype_recomputes_every_model(tmp_path):
    model_ids = ["a", "b"]
    store, probe_id, *_ = _zoo_store(tmp_path, model_ids)
    _run(store, probe_id, model_ids)
    count = len(store.work_records())

    summary = _run(store, probe_id, model_ids, dtype="bfloat16")

    assert summary.failures == () and summary.versions == ((LAYER, 2),)
    new_records = store.work_records()[count:]
    assert _models_in(new_records, "extract") == ["a", "b"]
    inputs = store.entry_attributes(EntryKey(probe_id, "a", LAYER))["identity_inputs"]
    assert inputs["forward_dtype"] == "bfloat16"
