"""Reruns over an unchanged store compute nothing, and a target model does not make candidates extract again.

Counted by the store's work log (one record per forward pass, RDM and similarity task that really ran),
its similarity versions, its tables and its files; the counts a command prints are checked against the
work log too.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re

import numpy as np
import pytest

from jobs.cli import main
from rsa_ray.models import LayerSpec
from rsa_ray.models.manifest import ZooManifest, write_manifest
from storage import Store
from tests.integration.cluster.helpers import write_random_zoo

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.usefixtures("local_ray")]
SUMMARY = re.compile(r"(\d+) RDMs and (\d+) similarity tasks computed")


def _files(root: str) -> dict[str, int]:
    """Every file of the store but lock and claim records, with its size and modification time."""
    found = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            relative = os.path.relpath(path, root)
            if not relative.startswith(("locks", "claims")):
                found[relative] = (os.stat(path).st_size, os.stat(path).st_mtime_ns)
    return found


def _state(store_url: str) -> dict[str, object]:
    store = Store.open(store_url)
    probes = store.probe_set_ids()
    layers = sorted({(probe_id, layer) for probe_id in probes for entry in store.models(store.model_ids())
                     for layer in (*entry.layers, "default")})
    return {"work": len(store.work_records()), "tables": sorted(store.table_names()),
            "versions": {key: store.similarity_versions(*key) for key in layers if store.similarity_versions(*key)},
            "files": _files(store_url)}


def _printed_counts(records: list[logging.LogRecord]) -> tuple[int, int]:
    """The RDMs and similarity tasks the run's summaries said were computed, summed."""
    rdms = tasks = 0
    for record in records:
        for found in SUMMARY.finditer(record.getMessage()):
            rdms, tasks = rdms + int(found.group(1)), tasks + int(found.group(2))
    return rdms, tasks


@pytest.fixture
def zoo_store(tmp_path):
    """A store with a shared probe set and three registered random encoder-decoders; a labelled task file."""
    store_url = str(tmp_path / "store")
    generator = np.random.default_rng(11)
    np.savez(tmp_path / "probes.npz", images=generator.integers(0, 255, size=(20, 32, 32, 3), dtype=np.uint8))
    entries, _ = write_random_zoo(tmp_path, ["z0", "z1", "z2"])
    write_manifest(ZooManifest(entries), tmp_path / "manifest.yaml")
    images = generator.integers(0, 255, size=(30, 32, 32, 3), dtype=np.uint8)
    np.savez(tmp_path / "task.npz", images=images, labels=(images.mean(axis=(1, 2, 3)) > 127).astype(np.int64))
    assert main(["probes", "add", str(tmp_path / "probes.npz"), "--store", store_url]) == 0
    assert main(["models", "add", str(tmp_path / "manifest.yaml"), "--store", store_url]) == 0
    return store_url, tmp_path


def test_a_second_taxonomy_and_rank_over_an_unchanged_store_write_nothing(zoo_store, caplog):
    store_url, tmp_path = zoo_store
    commands = [["taxonomy", "--store", store_url, "--out", str(tmp_path / "out")],
                ["rank", "--store", store_url, "--target", "bright", "--data", str(tmp_path / "task.npz"),
                 "--image-size", "32", "--target-images", "12", "--score", "knn", "--bootstrap", "0",
                 "--out", str(tmp_path / "out")]]
    counts = []
    for _ in range(2):
        before = Store.open(store_url).work_records()
        with caplog.at_level(logging.INFO, logger="rsa_ray"):
            caplog.clear()
            assert [main(argv) for argv in commands] == [0, 0]
        new = Store.open(store_url).work_records()[len(before):]
        by_stage = {stage: sum(r["stage"] == stage for r in new) for stage in ("extract", "rdm", "similarity-task")}
        assert _printed_counts(caplog.records) == (by_stage["rdm"], by_stage["similarity-task"])
        counts.append((by_stage, _state(store_url)))
    (first, after_first), (second, after_second) = counts
    assert first["extract"] >= 3 and first["rdm"] >= 3  # the zoo on the shared set and on the target's images
    assert second == {"extract": 0, "rdm": 0, "similarity-task": 0}
    assert after_second == after_first  # no entry, version, table or file written


def _zoo_with_roles(tmp_path, model_ids):
    """Random encoder-decoders whose compared role ``output`` (and ``mid``) are aliases of encoder modules."""
    entries, _ = write_random_zoo(tmp_path, model_ids)
    aliased = [dataclasses.replace(entry, layers=(LayerSpec("mid", "encoder.block2"), LayerSpec("output", "encoder.output")),
                                   default_layer="output", modules={}, reductions={}) for entry in entries]
    write_manifest(ZooManifest(tuple(aliased)), tmp_path / "roles.yaml")
    return tmp_path / "roles.yaml"


def test_a_target_model_never_makes_unchanged_candidates_extract_again(tmp_path, caplog):
    store_url = str(tmp_path / "store")
    generator = np.random.default_rng(12)
    np.savez(tmp_path / "probes.npz", images=generator.integers(0, 255, size=(20, 32, 32, 3), dtype=np.uint8))
    images = generator.integers(0, 255, size=(30, 32, 32, 3), dtype=np.uint8)
    np.savez(tmp_path / "task.npz", images=images, labels=(images.mean(axis=(1, 2, 3)) > 127).astype(np.int64))
    assert main(["probes", "add", str(tmp_path / "probes.npz"), "--store", store_url]) == 0
    assert main(["models", "add", str(_zoo_with_roles(tmp_path, ["r0", "r1", "r2"])), "--store", store_url]) == 0
    assert main(["taxonomy", "--store", store_url, "--out", str(tmp_path / "out")]) == 0
    store = Store.open(store_url)
    shared = store.shared_probe_set_ids()[0]
    before = len(store.work_records())
    versions = store.similarity_versions(shared, "output")

    with caplog.at_level(logging.INFO, logger="rsa_ray"):
        caplog.clear()
        assert main(["train-target", "--store", store_url, "--data", str(tmp_path / "task.npz"), "--name", "bright",
                     "--steps", "5", "--image-size", "32", "--target-images", "12", "--bootstrap", "0",
                     "--score", "knn", "--out", str(tmp_path / "out")]) == 0
    new = Store.open(store_url).work_records()[before:]
    on_shared = [r for r in new if r["stage"] == "extract" and r["probe_id"] == shared]
    assert sorted(r["model_id"] for r in on_shared) == ["bright"]  # the candidates' modules did not change
    assert not [r for r in new if r["stage"] == "rdm" and r["probe_id"] == shared and r["model_id"] != "bright"]
    assert _printed_counts(caplog.records) == (sum(r["stage"] == "rdm" for r in new),
                                               sum(r["stage"] == "similarity-task" for r in new))
    assert store.similarity_versions(shared, "output") == (*versions, versions[-1] + 1)  # the zoo's key, kept
    assert not store.similarity_versions(shared, "default")
