"""Concurrent runs of the real command on one store, on a folder and on the loopback S3 server.

Each test starts real ``rsa-ray`` processes at once (each with its own local Ray), then
checks what a demanding user would: every process succeeded, every entry is complete and
passes its checksums, the similarity equals an undisturbed run's, and — counted from the
store's work log, not from any summary — every model was extracted once and every RDM
computed once.
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

from rsa_ray.models.manifest import ZooManifest, write_manifest
from storage import EntryKey, Store
from tests.integration.cluster.helpers import write_random_zoo
from tests.support.s3_server import ACCESS_KEY, SECRET_KEY, MotoServer, create_bucket

pytestmark = [pytest.mark.ray, pytest.mark.slow]
LAYER = "encoder.output"
RSA_RAY = str(Path(sys.executable).with_name("rsa-ray"))
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def s3_server():
    with MotoServer() as server:
        yield server


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def location(request, tmp_path):
    """(store URL, environment of the processes, storage options for this process)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("RAY_ADDRESS", None)
    if request.param == "local":
        return str(tmp_path / "store"), env, {}
    server = request.getfixturevalue("s3_server")
    bucket = f"rsa-{uuid.uuid4().hex[:16]}"
    create_bucket(server.endpoint_url, bucket)
    # How a cluster gives workers credentials: from their own environment.
    env.update(AWS_ENDPOINT_URL_S3=server.endpoint_url, AWS_ACCESS_KEY_ID=ACCESS_KEY,
               AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_DEFAULT_REGION="us-east-1")
    return f"s3://{bucket}/store", env, server.storage_options()


def _start(env, *args) -> subprocess.Popen:
    return subprocess.Popen([RSA_RAY, *args], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def _finish(*processes, timeout=600) -> None:
    for process in processes:
        output, _ = process.communicate(timeout=timeout)
        assert process.returncode == 0, f"{process.args[1:3]} exited {process.returncode}:\n{output[-3000:]}"


def _zoo(tmp_path, model_ids, name="zoo"):
    folder = tmp_path / name
    folder.mkdir()
    entries, _ = write_random_zoo(folder, model_ids, absolute_paths=True)
    write_manifest(ZooManifest(entries), folder / "manifest.yaml")
    return folder / "manifest.yaml"


def _probes(tmp_path):
    images = np.random.default_rng(7).integers(0, 255, size=(40, 64, 64, 3), dtype=np.uint8)
    np.savez(tmp_path / "probes.npz", images=images)
    return str(tmp_path / "probes.npz")


def _prepare(url, env, probes, manifest):
    _finish(_start(env, "probes", "add", probes, "--store", url))
    _finish(_start(env, "models", "add", str(manifest), "--store", url))


def _assert_done_once(store, model_ids):
    """Each model extracted, and its RDM computed, exactly once on the shared probe set, and at most once
    on any other (a target's labelled images)."""
    records = store.work_records()
    shared = store.shared_probe_set_ids()[0]
    extracted = collections.Counter((r["probe_id"], r["model_id"]) for r in records if r["stage"] == "extract")
    rdms = collections.Counter((r["probe_id"], r["model_id"], r["layer"]) for r in records if r["stage"] == "rdm")
    assert {m: n for (p, m), n in extracted.items() if p == shared} == {m: 1 for m in model_ids}, extracted
    assert {(m, layer): n for (p, m, layer), n in rdms.items() if p == shared} == {(m, LAYER): 1 for m in model_ids}, rdms
    assert set(extracted.values()) == {1} and set(rdms.values()) == {1}, (extracted, rdms)


def _assert_complete_and_readable(store, probe_id, model_ids):
    for model_id in model_ids:
        key = EntryKey(probe_id, model_id, LAYER)
        assert store.read_activations(key).shape[0] == 40  # reading verifies every chunk's checksum
        assert store.read_rdm(key).shape == (780,)


def _matrix_by_id(similarity):
    return {(a, b): similarity.matrix[i, j] for i, a in enumerate(similarity.model_ids)
            for j, b in enumerate(similarity.model_ids)}


def _reference(tmp_path, probes, manifest, env):
    url = str(tmp_path / "undisturbed")
    _prepare(url, env, probes, manifest)
    _finish(_start(env, "similarity", "--store", url))
    store = Store.open(url)
    return store.read_similarity(store.shared_probe_set_ids()[0], LAYER)


def test_two_similarity_runs_at_once_do_each_piece_once_and_match_an_undisturbed_run(location, tmp_path):
    url, env, storage_options = location
    model_ids = ["a", "b", "c", "d"]
    probes, manifest = _probes(tmp_path), _zoo(tmp_path, model_ids)
    _prepare(url, env, probes, manifest)

    _finish(_start(env, "similarity", "--store", url), _start(env, "similarity", "--store", url))

    store = Store.open(url, storage_options)
    probe_id = store.shared_probe_set_ids()[0]
    _assert_done_once(store, model_ids)
    _assert_complete_and_readable(store, probe_id, model_ids)
    assert store.similarity_versions(probe_id, LAYER) == (1,)  # the second run found the first's version
    latest = store.read_similarity(probe_id, LAYER)
    reference = _reference(tmp_path, probes, manifest, env)
    expected = _matrix_by_id(reference)
    for cell, value in _matrix_by_id(latest).items():
        assert value == pytest.approx(expected[cell], abs=1e-6), cell


def test_extract_beside_rerank_of_new_models(location, tmp_path):
    url, env, storage_options = location
    model_ids, new_ids = ["a", "b", "c"], ["n0", "n1"]
    probes, manifest = _probes(tmp_path), _zoo(tmp_path, model_ids)
    landed = _zoo(tmp_path, new_ids, name="landed").parent
    _prepare(url, env, probes, manifest)

    _finish(_start(env, "extract", "--store", url),
            _start(env, "rerank", "--store", url, "--models-from", str(landed), "--out", str(tmp_path / "out")))

    store = Store.open(url, storage_options)
    probe_id = store.shared_probe_set_ids()[0]
    everyone = model_ids + new_ids
    _assert_done_once(store, everyone)
    _assert_complete_and_readable(store, probe_id, everyone)
    latest = store.read_similarity(probe_id, LAYER)
    assert sorted(latest.model_ids) == sorted(everyone)


def test_two_train_targets_at_once_rank_the_zoo_each_and_share_its_work(location, tmp_path):
    url, env, storage_options = location
    model_ids = ["a", "b", "c"]
    probes, manifest = _probes(tmp_path), _zoo(tmp_path, model_ids)
    _prepare(url, env, probes, manifest)
    generator = np.random.default_rng(11)
    images = generator.integers(0, 255, size=(40, 32, 32, 3), dtype=np.uint8)
    np.savez(tmp_path / "bright.npz", images=images, labels=(images.mean(axis=(1, 2, 3)) > 127).astype(np.int64))
    np.savez(tmp_path / "red.npz", images=images, labels=(images[..., 0].mean(axis=(1, 2)) > 127).astype(np.int64))

    def train(name):
        return _start(env, "train-target", "--store", url, "--data", str(tmp_path / f"{name}.npz"), "--name", name,
                      "--steps", "5", "--image-size", "32", "--weights-dir", str(tmp_path / "weights"),
                      "--out", str(tmp_path / f"out-{name}"))

    _finish(train("bright"), train("red"))

    store = Store.open(url, storage_options)
    probe_id = store.shared_probe_set_ids()[0]
    everyone = model_ids + ["bright", "red"]
    _assert_done_once(store, everyone)
    _assert_complete_and_readable(store, probe_id, everyone)
    latest = store.read_similarity(probe_id, LAYER)
    assert sorted(latest.model_ids) == sorted(everyone)
    for target in ("bright", "red"):
        table = store.read_table(f"ranking.{target}.{LAYER}")
        assert set(model_ids) <= set(table["candidate"])
