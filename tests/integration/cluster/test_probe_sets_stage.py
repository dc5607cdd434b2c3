"""One extraction stage over two probe sets, on real Ray: one pool, each model fetched and built once.

What ran is read from the store's work log (one ``extract`` record per forward pass over a probe
set, with whether the actor kept the model from its previous call).
"""

import numpy as np
import pytest

import cluster.pipeline

from jobs.compute import ComputeOptions, ProbeSelection, compute_similarities, extract_probe_sets
from rsa_ray.models import InferenceOptions, extract_features
from storage import EntryKey, EntryKind, Store
from tests.integration.cluster.helpers import write_random_zoo

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("local_ray")]

LAYER = "encoder.output"


def _two_probe_sets(tmp_path, model_ids):
    store = Store.open(str(tmp_path / "store"))
    rng = np.random.default_rng(0)
    shared_images = rng.integers(0, 255, size=(20, 64, 64, 3), dtype=np.uint8)
    target_images = rng.integers(0, 255, size=(12, 64, 64, 3), dtype=np.uint8)
    shared = store.add_probe_set(shared_images, [f"s{i}" for i in range(20)], "shared")
    target = store.add_probe_set(target_images, [f"t{i}" for i in range(12)], "target")
    entries, modules = write_random_zoo(tmp_path, model_ids, absolute_paths=True)
    store.register_models(entries)
    return store, {shared: shared_images, target: target_images}, entries, modules


def test_one_stage_extracts_each_model_once_per_probe_set_and_builds_it_once(tmp_path, monkeypatch):
    model_ids = ["a", "b", "c"]
    store, images, entries, modules = _two_probe_sets(tmp_path, model_ids)
    shared, target = list(images)
    selections = [ProbeSelection(probe_id, tuple(model_ids), (LAYER,)) for probe_id in (shared, target)]

    stage = extract_probe_sets(store, selections)

    assert sorted((p, o.model_id) for p, o in stage.outcomes) == sorted((p, m) for p in images for m in model_ids)
    assert all(outcome.error is None for _, outcome in stage.outcomes)
    records = store.work_records("extract")
    assert sorted((r["probe_id"], r["model_id"]) for r in records) == sorted((p, m) for p in images for m in model_ids)
    # A model's two probe sets ran one after the other on one actor: built for the first, kept for the second.
    for model_id in model_ids:
        reused = [r["reused_model"] for r in records if r["model_id"] == model_id]
        assert sorted(reused) == [False, True], (model_id, reused)
    for probe_id, probe_images in images.items():  # the kept model gives what a fresh forward pass gives
        for entry in entries:
            expected = extract_features(modules[entry.model_id], probe_images, [LAYER], entry.preprocessing,
                                        InferenceOptions())[LAYER]
            stored = store.read_activations(EntryKey(probe_id, entry.model_id, LAYER))
            np.testing.assert_allclose(stored, expected, rtol=1e-5, atol=1e-6)

    # The runs that follow extract nothing more and compute their similarities from what the stage stored,
    # on the stage's plan (the store's state is not read again to plan them).
    planned_again = []
    monkeypatch.setattr(cluster.pipeline, "plan_run_inputs", lambda *args, **kwargs: planned_again.append(args))
    for probe_id in images:
        summary = compute_similarities(store, probe_id, model_ids, [LAYER], ComputeOptions(), stage=stage)
        assert summary.failures == () and summary.versions == ((LAYER, 1),)
    assert len(store.work_records("extract")) == len(records) and planned_again == []
    assert len(store.work_records("rdm")) == len(model_ids) * len(images)


def test_a_model_that_fails_in_the_stage_is_reported_by_the_run_not_extracted_again(tmp_path):
    model_ids = ["a", "broken"]
    store, images, entries, modules = _two_probe_sets(tmp_path, model_ids)
    (tmp_path / "broken.safetensors").write_bytes(b"not the weights the entry names")
    shared, target = list(images)

    stage = extract_probe_sets(store, [ProbeSelection(p, tuple(model_ids), (LAYER,)) for p in (shared, target)])

    errors = {(p, o.model_id): o.error for p, o in stage.outcomes}
    assert errors[(shared, "a")] is None and errors[(target, "a")] is None
    assert "sha256" in errors[(shared, "broken")] and "sha256" in errors[(target, "broken")]
    records = len(store.work_records("extract"))
    summary = compute_similarities(store, target, model_ids, [LAYER], ComputeOptions(), stage=stage)
    assert [(f.model_id, f.layer) for f in summary.failures] == [("broken", LAYER)]
    assert "sha256" in summary.failures[0].error
    assert len(store.work_records("extract")) == records  # nothing ran again
    assert not store.is_complete(EntryKey(target, "broken", LAYER), EntryKind.ACTIVATIONS)
