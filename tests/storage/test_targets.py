"""Targets' labelled probe sets and target records, on a local folder and on the loopback S3 server."""

from __future__ import annotations

import numpy as np
import pytest

from jobs.common import choose_probe
from rsa_ray.target_labels import TargetLabels
from storage import EntryNotFoundError
from storage.probes import content_hash
from storage.targets import TargetRecord


def _images(n: int = 6) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, size=(n, 8, 8, 3), dtype=np.uint8)


def test_labels_round_trip_and_change_the_probe_id(target):
    store = target.open()
    images, ids = _images(), [f"i{k}" for k in range(6)]
    shared = store.add_probe_set(images, ids, "shared")
    classes = TargetLabels.from_array(np.array([0, 1, 1, 0, 2, 2]))
    labelled = store.add_probe_set(images, ids, "target t", labels=classes)
    regression = store.add_probe_set(images, ids, "target r", labels=TargetLabels.from_array(np.linspace(0, 1, 6)))
    assert len({shared, labelled, regression}) == 3
    assert store.probe_set(shared).label_kind is None
    assert store.probe_set(labelled).label_kind == "classes"
    read = store.read_probe_labels(labelled)
    assert read.kind == "classes" and np.array_equal(read.values, classes.values)
    assert store.read_probe_labels(regression).values.shape == (6, 1)
    with pytest.raises(EntryNotFoundError, match="has no labels"):
        store.read_probe_labels(shared)
    # Adding the same labelled set again writes nothing new and returns the same id.
    assert store.add_probe_set(images, ids, "target t", labels=classes) == labelled


def test_the_label_hash_depends_on_every_label():
    images, ids = _images(), [f"i{k}" for k in range(6)]
    base = TargetLabels.from_array(np.array([0, 1, 1, 0, 2, 2]))
    changed = TargetLabels.from_array(np.array([0, 1, 1, 0, 2, 1]))
    assert content_hash(images, ids, base) != content_hash(images, ids, changed)
    assert content_hash(images, ids) != content_hash(images, ids, base)


def test_a_label_count_that_differs_from_the_images_is_refused(target):
    store = target.open()
    with pytest.raises(ValueError, match="6 images but 5 labels"):
        store.add_probe_set(_images(), [f"i{k}" for k in range(6)], "t", labels=TargetLabels.from_array(np.arange(5)))
    assert store.probe_set_ids() == ()


def test_target_records_replace_and_list(target):
    store = target.open()
    assert store.target("digits") is None and store.target_names() == ()
    first = TargetRecord("digits", "a" * 32, "sklearn-digits", "classes", None, 300)
    store.record_target(first)
    assert store.target("digits") == first
    store.record_target(TargetRecord("digits", "a" * 32, "sklearn-digits", "classes", "digits", 300))
    assert store.target("digits").model_id == "digits"
    assert store.target_names() == ("digits",)


def test_default_probe_choice_ignores_targets_labelled_sets(target):
    store = target.open()
    images, ids = _images(), [f"i{k}" for k in range(6)]
    shared = store.add_probe_set(images, ids, "shared")
    store.add_probe_set(images, ids, "target t", labels=TargetLabels.from_array(np.arange(6) % 2))
    assert len(store.probe_set_ids()) == 2
    assert choose_probe(store, None) == shared
