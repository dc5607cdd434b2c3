"""RDMs computed on the encoder actor (the GPU path, forced on CPU torch) equal the RDM stage's, entry for entry.

Two stores get the same probe set and models: one runs the existing path (activations stored, the RDM
stage computes RDMs from them), the other computes each layer's RDM on the actor where the activations
are. Tolerances: stored RDMs and rank vectors (float32) within 1e-6 (the float64 values agree within
1e-10, so the float32 copies differ by at most one rounding step); similarity matrices within 1e-6. On
CPU torch they come out bitwise equal. Identities, work-log records and claims are the same.
"""

import functools
import os

import numpy as np
import pytest

from cluster.extract import ExtractionOptions, extract_all
from cluster.pipeline import run_similarity
from cluster.resolvers import ManifestResolver
from rsa_ray.models import InferenceOptions, LayerSpec, extract_layer_features
from storage import EntryKey, EntryKind
from tests.integration.cluster.helpers import write_random_zoo
from tests.integration.cluster.test_extract import LAYERS, make_probe_store

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("local_ray")]

MODELS = ["p", "q", "r"]
TOLERANCE = 1e-6


def run(folder, options, model_ids=MODELS, n_images=30):
    folder.mkdir()
    store, probe_id, images = make_probe_store(folder, model_ids, n_images=n_images)
    entries, modules = write_random_zoo(folder, model_ids)
    extractor = functools.partial(extract_all, resolver=ManifestResolver(entries, str(folder)), options=options)
    summary = run_similarity(store, probe_id, model_ids, list(LAYERS), extractor=extractor, extraction=options)
    return store, probe_id, images, entries, modules, extractor, summary


def work_done(store):
    """What the work log says was done, without when, where or by which process."""
    kept = ("stage", "probe_id", "model_id", "layer", "layers", "batches", "wide_layers", "wide_layer", "rows", "cols",
            "terms")
    return sorted(repr({name: record.get(name) for name in kept}) for record in store.work_records())


def claims_taken(store):
    return sorted(os.listdir(os.path.join(store.local_folder(), "locks")))


@pytest.fixture(scope="module")
def both_paths(tmp_path_factory):
    folder = tmp_path_factory.mktemp("paths")
    stored = run(folder / "stored", ExtractionOptions(batch_size=8, rdms_on_actor="never"))
    on_actor = run(folder / "on_actor", ExtractionOptions(batch_size=8, rdms_on_actor="always"))
    return stored, on_actor


def test_rdms_ranks_identities_work_log_and_claims_equal_the_rdm_stages(both_paths):
    (store_a, probe_a, *_, summary_a), (store_b, probe_b, *_, summary_b) = both_paths
    assert summary_a.failures == () and summary_b.failures == ()
    assert probe_a == probe_b
    assert sorted(summary_a.computed_rdms) == sorted((m, layer) for m in MODELS for layer in LAYERS)
    assert summary_b.computed_rdms == ()  # every RDM came from the actors
    assert summary_b.precision.startswith("fp32 (strict float32 forward passes, on the CPU)")
    for m in MODELS:
        for layer in LAYERS:
            key = EntryKey(probe_a, m, layer)
            np.testing.assert_allclose(store_b.read_rdm(key), store_a.read_rdm(key), rtol=0, atol=TOLERANCE)
            ranks_a = store_a.read_rank_vectors(probe_a, layer, [m])
            np.testing.assert_allclose(store_b.read_rank_vectors(probe_b, layer, [m]), ranks_a, rtol=0, atol=TOLERANCE)
            for kind in (EntryKind.RDMS, EntryKind.RANKS):
                attributes_a, attributes_b = store_a.entry_attributes(key, kind), store_b.entry_attributes(key, kind)
                assert attributes_b["identity"] == attributes_a["identity"]
                assert attributes_b.get("distance") == attributes_a.get("distance")
    for layer in LAYERS:
        similarity_a, similarity_b = store_a.read_similarity(probe_a, layer), store_b.read_similarity(probe_b, layer)
        assert similarity_b.model_ids == similarity_a.model_ids
        np.testing.assert_allclose(similarity_b.matrix, similarity_a.matrix, rtol=0, atol=TOLERANCE)
    assert work_done(store_b) == work_done(store_a)
    assert claims_taken(store_b) == claims_taken(store_a)


def test_no_full_activations_are_stored_but_pooled_features_are(both_paths):
    _, (store, probe_id, images, entries, modules, _, _) = both_paths
    for m in MODELS:
        specs = [LayerSpec(layer, layer, "avg") for layer in LAYERS]
        pooled = extract_layer_features(modules[m], images, specs, entries[0].preprocessing, InferenceOptions())
        for layer in LAYERS:
            key = EntryKey(probe_id, m, layer)
            assert store.stored_attributes([key], EntryKind.ACTIVATIONS)[key] is None  # never even created
            np.testing.assert_allclose(store.read_activations(EntryKey(probe_id, m, layer, pooled=True)),
                                       pooled[layer], rtol=1e-5, atol=1e-6)


def test_a_rerun_computes_nothing(both_paths):
    _, (store, probe_id, _, _, _, extractor, _) = both_paths
    before = work_done(store)
    options = ExtractionOptions(batch_size=8, rdms_on_actor="always")
    again = run_similarity(store, probe_id, MODELS, list(LAYERS), extractor=extractor, extraction=options)
    assert again.failures == () and again.computed_rdms == () and again.similarity_tasks == 0
    assert all(version is None for _, version in again.versions)
    assert work_done(store) == before


def test_activations_are_stored_when_asked_and_equal_the_stored_paths(both_paths, tmp_path):
    (store_a, probe_id, *_), _ = both_paths
    store, _, _, _, _, _, summary = run(tmp_path / "kept",
                                        ExtractionOptions(batch_size=8, rdms_on_actor="always", keep_activations=True))
    assert summary.failures == () and summary.computed_rdms == ()
    for m in MODELS:
        for layer in LAYERS:
            key = EntryKey(probe_id, m, layer)
            np.testing.assert_allclose(store.read_activations(key), store_a.read_activations(key), rtol=0, atol=1e-6)
            np.testing.assert_allclose(store.read_rdm(key), store_a.read_rdm(key), rtol=0, atol=TOLERANCE)


def test_a_wide_layer_on_the_device_path_goes_through_the_column_blocks(both_paths, tmp_path):
    (store_a, probe_id, *_), _ = both_paths
    wide, narrow = LAYERS
    # 30 × 8,192 × 4 bytes ≈ 0.94 MiB: over the threshold; 30 × 128 × 4 is under it.
    store, *_, summary = run(tmp_path / "wide", ExtractionOptions(batch_size=8, rdms_on_actor="always",
                                                                  wide_layer_mb=0.5))
    assert summary.failures == () and summary.computed_rdms == ()
    assert {record["model_id"] for record in store.work_records("rdm") if record.get("wide_layer")} == set(MODELS)
    for m in MODELS:
        for layer in (wide, narrow):
            key = EntryKey(probe_id, m, layer)
            np.testing.assert_allclose(store.read_rdm(key), store_a.read_rdm(key), rtol=0, atol=2e-6)
