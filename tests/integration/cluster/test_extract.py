"""Encoder actors on real Ray: stored activations equal an in-process forward pass; faults."""


import numpy as np
import pytest

from cluster.extract import ExtractionOptions, extract_all
from cluster.plan import ExtractionTask
from cluster.resolvers import ManifestResolver
from rsa_ray.models import InferenceOptions, extract_features
from storage import EntryKey, Store
from tests.integration.cluster.helpers import kill_first_worker_running, registry_entries, run_in_thread, write_random_zoo

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("local_ray")]

LAYERS = ("encoder.block2", "encoder.output")


def make_probe_store(tmp_path, model_ids, n_images=24):
    store = Store.open(str(tmp_path / "store"))
    images = np.random.default_rng(0).integers(0, 255, size=(n_images, 64, 64, 3), dtype=np.uint8)
    probe_id = store.add_probe_set(images, [f"i{i}" for i in range(n_images)], "random")
    store.register_models(registry_entries(model_ids, LAYERS))
    return store, probe_id, images


def assert_activations_equal_in_process(store, probe_id, images, entries, modules, model_ids):
    for model_id in model_ids:
        entry = next(e for e in entries if e.model_id == model_id)
        expected = extract_features(modules[model_id], images, LAYERS, entry.preprocessing, InferenceOptions())
        for layer in LAYERS:
            stored = store.read_activations(EntryKey(probe_id, model_id, layer))
            np.testing.assert_allclose(stored, expected[layer], rtol=1e-5, atol=1e-6)


def test_actors_write_what_an_in_process_forward_gives_and_report_bad_weights(tmp_path):
    model_ids = ["a", "b", "c", "tampered"]
    store, probe_id, images = make_probe_store(tmp_path, model_ids)
    entries, modules = write_random_zoo(tmp_path, model_ids)
    (tmp_path / "tampered.safetensors").write_bytes(b"not the weights the entry names")
    tasks = [ExtractionTask(m, LAYERS) for m in model_ids]

    outcomes = extract_all(store, probe_id, tasks, ManifestResolver(entries, str(tmp_path)), ExtractionOptions(batch_size=10, n_actors=2))

    errors = {(o.model_id, o.layer): o.error for o in outcomes}
    assert set(errors) == {(m, l) for m in model_ids for l in LAYERS}
    assert all(errors[("tampered", l)] and "sha256" in errors[("tampered", l)] for l in LAYERS)
    assert all(errors[(m, l)] is None for m in "abc" for l in LAYERS)
    assert_activations_equal_in_process(store, probe_id, images, entries, modules, ["a", "b", "c"])
    assert not store.is_complete(EntryKey(probe_id, "tampered", "encoder.output"))


def test_actor_killed_mid_extraction_restarts_and_results_are_equal(tmp_path):
    model_ids = [f"m{i}" for i in range(6)]
    store, probe_id, images = make_probe_store(tmp_path, model_ids, n_images=200)
    entries, modules = write_random_zoo(tmp_path, model_ids)
    tasks = [ExtractionTask(m, LAYERS) for m in model_ids]
    resolver = ManifestResolver(entries, str(tmp_path))

    thread, outcome = run_in_thread(extract_all, store, probe_id, tasks, resolver, ExtractionOptions(batch_size=20, n_actors=2))
    killed = kill_first_worker_running("EncoderActor.extract", thread)
    thread.join(timeout=300)
    assert killed, "no actor was caught mid-extraction, so nothing was tested"
    assert "error" not in outcome, outcome.get("error")
    assert all(o.error is None for o in outcome["result"]), [o.error for o in outcome["result"] if o.error]
    assert_activations_equal_in_process(store, probe_id, images, entries, modules, model_ids)


def test_run_similarity_extracts_missing_models_then_compares(tmp_path):
    import functools

    from cluster.pipeline import run_similarity
    from rsa_ray import compute_rdms, similarity_matrix

    model_ids = ["p", "q", "r"]
    store, probe_id, images = make_probe_store(tmp_path, model_ids, n_images=30)
    entries, modules = write_random_zoo(tmp_path, model_ids)
    extractor = functools.partial(extract_all, resolver=ManifestResolver(entries, str(tmp_path)), options=ExtractionOptions(batch_size=16))

    summary = run_similarity(store, probe_id, model_ids, list(LAYERS), extractor=extractor)

    assert summary.failures == ()
    for layer in LAYERS:
        features = [
            extract_features(modules[m], images, [layer], entries[0].preprocessing, InferenceOptions())[layer] for m in model_ids
        ]
        expected = similarity_matrix(compute_rdms(features))
        np.testing.assert_allclose(store.read_similarity(probe_id, layer).matrix, expected, atol=1e-5)
