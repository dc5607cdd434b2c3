"""A layer too wide to store: its RDM is computed on the actor, and the pipeline does not redo it."""

import functools

import numpy as np
import pytest

from cluster.extract import ExtractionOptions, extract_all
from cluster.inputs import read_layer_inputs
from cluster.pipeline import run_similarity
from cluster.resolvers import ManifestResolver
from rsa_ray import compute_rdm, compute_rdms, similarity_matrix
from rsa_ray.models import InferenceOptions, LayerSpec, extract_layer_features
from storage import EntryKey, EntryKind
from tests.integration.cluster.helpers import write_random_zoo
from tests.integration.cluster.test_extract import LAYERS, make_probe_store

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("local_ray")]

WIDE, NARROW = LAYERS  # encoder.block2: 8,192 values an image at 64 px; encoder.output: 128


def in_process(modules, entries, images, model_id, reduce):
    specs = [LayerSpec(layer, layer, reduce) for layer in LAYERS]
    return extract_layer_features(modules[model_id], images, specs, entries[0].preprocessing, InferenceOptions())


def test_a_wide_layer_gets_its_rdm_and_pooled_features_on_the_actor_and_is_not_redone(tmp_path):
    model_ids = ["p", "q", "r"]
    store, probe_id, images = make_probe_store(tmp_path, model_ids, n_images=30)
    entries, modules = write_random_zoo(tmp_path, model_ids)
    # 30 × 8,192 × 4 bytes ≈ 0.94 MiB: over the threshold; 30 × 128 × 4 is under it.
    options = ExtractionOptions(batch_size=8, wide_layer_mb=0.5)
    extractor = functools.partial(extract_all, resolver=ManifestResolver(entries, str(tmp_path)), options=options)

    summary = run_similarity(store, probe_id, model_ids, list(LAYERS), extractor=extractor, extraction=options)

    assert summary.failures == ()
    assert sorted(summary.computed_rdms) == [(m, NARROW) for m in model_ids]  # the wide RDMs came from the actors
    flattened = {m: in_process(modules, entries, images, m, "flatten") for m in model_ids}
    pooled = {m: in_process(modules, entries, images, m, "avg") for m in model_ids}
    for m in model_ids:
        key = EntryKey(probe_id, m, WIDE)
        assert not store.is_complete(key, EntryKind.ACTIVATIONS)  # never stored whole
        np.testing.assert_allclose(store.read_rdm(key), compute_rdm(flattened[m][WIDE]), atol=2e-6)
        np.testing.assert_allclose(store.read_activations(EntryKey(probe_id, m, WIDE, pooled=True)), pooled[m][WIDE],
                                   rtol=1e-5, atol=1e-6)
    for layer in LAYERS:
        expected = similarity_matrix(compute_rdms([flattened[m][layer] for m in model_ids]))
        np.testing.assert_allclose(store.read_similarity(probe_id, layer).matrix, expected, atol=1e-5)

    state = read_layer_inputs(store, probe_id, model_ids, WIDE, options.settings())
    assert state.complete_rdms == frozenset(model_ids) and state.complete_activations == frozenset()
    extractions = len(store.work_records("extract"))
    again = run_similarity(store, probe_id, model_ids, list(LAYERS), extractor=extractor, extraction=options)
    assert again.computed_rdms == () and again.failures == ()
    assert len(store.work_records("extract")) == extractions  # an RDM-complete model is not extracted again


def test_another_distance_is_computed_on_the_actor_as_the_run_asks(tmp_path):
    from cluster.options import SimilarityOptions

    model_ids = ["p", "q"]
    store, probe_id, images = make_probe_store(tmp_path, model_ids, n_images=20)
    entries, modules = write_random_zoo(tmp_path, model_ids)
    options = ExtractionOptions(batch_size=8, wide_layer_mb=0.1)
    extractor = functools.partial(extract_all, resolver=ManifestResolver(entries, str(tmp_path)), options=options)

    summary = run_similarity(store, probe_id, model_ids, [WIDE], SimilarityOptions(distance="cosine"),
                             extractor=extractor, extraction=options)

    assert summary.failures == () and summary.computed_rdms == ()
    for m in model_ids:
        expected = compute_rdm(in_process(modules, entries, images, m, "flatten")[WIDE], "cosine")
        np.testing.assert_allclose(store.read_rdm(EntryKey(probe_id, m, WIDE)), expected, atol=2e-6)
