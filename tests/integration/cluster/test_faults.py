"""Faults on real Ray: the driver killed mid-run, then rerun; a worker killed mid-task; a node removed.

"Nothing done twice" is counted from the store's work log (one record per RDM actually
computed), not from run summaries. A killed worker's claims are handed over when their
lease runs out: the tests shorten it (``RSA_RAY_CLAIM_LEASE_SECONDS``) so that takes seconds.
"""

import collections
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from rsa_ray import compute_rdms, similarity_matrix
from storage import EntryKind
from tests.integration.cluster.helpers import (kill_first_worker_running, make_store, remove_worker_node_mid_run,
                                               run_in_thread)

pytestmark = [pytest.mark.ray, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]


def start_driver(store_url, probe_id, models):
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.cluster.run_driver", store_url, probe_id, ",".join(models)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: killing it takes its local Ray down too
    )


def complete_models(store, probe_id, models):
    missing = {key.model_id for key in store.missing(probe_id, models, ["out"], EntryKind.RANKS)}
    return [m for m in models if m not in missing]


def settled_complete_models(store, probe_id, models, quiet_seconds=4.0):
    """The complete models once tasks already running when the driver died have ended (Ray reaps them)."""
    seen, quiet_since = complete_models(store, probe_id, models), time.monotonic()
    while time.monotonic() - quiet_since < quiet_seconds:
        time.sleep(0.2)
        now = complete_models(store, probe_id, models)
        if now != seen:
            seen, quiet_since = now, time.monotonic()
    return seen


def assert_each_rdm_computed_at_most_once(store):
    counts = collections.Counter(record["model_id"] for record in store.work_records("rdm"))
    assert counts and max(counts.values()) == 1, {m: n for m, n in counts.items() if n > 1}


@pytest.fixture
def short_claim_leases(monkeypatch):
    """Claims of a killed worker are handed over 10 s (+ the clock-skew margin) after it died; Ray workers
    started after this inherit the setting from the driver's environment. Not shorter: a live worker paused
    longer than that on a busy machine would lose its claim, and its RDM would be computed twice."""
    monkeypatch.setenv("RSA_RAY_CLAIM_LEASE_SECONDS", "10")


def test_driver_killed_mid_run_then_rerun_recomputes_only_the_rest(tmp_path, short_claim_leases):
    models = [f"m{i:02d}" for i in range(40)]
    url = str(tmp_path / "store")
    store, probe_id, features = make_store(url, models, n_images=400)

    driver = start_driver(url, probe_id, models)
    deadline = time.monotonic() + 180
    while len(complete_models(store, probe_id, models)) < 3:
        assert driver.poll() is None, f"the driver ended before it could be killed: {driver.communicate()}"
        assert time.monotonic() < deadline, "no RDM was completed in time"
        time.sleep(0.05)
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait(timeout=60)
    done_before_rerun = settled_complete_models(store, probe_id, models)
    assert 3 <= len(done_before_rerun) < len(models), "the kill must land mid-run for this test to mean anything"
    assert store.similarity_versions(probe_id, "out") == ()

    recorded_before_rerun = len(store.work_records("rdm"))
    rerun = start_driver(url, probe_id, models)
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err[-3000:]
    computed_in_rerun = [record["model_id"] for record in store.work_records("rdm")[recorded_before_rerun:]]
    assert set(computed_in_rerun).isdisjoint(done_before_rerun), "a completed model was recomputed"
    assert set(computed_in_rerun) | set(done_before_rerun) == set(models)
    assert_each_rdm_computed_at_most_once(store)
    stored = store.read_similarity(probe_id, "out")
    expected = similarity_matrix(compute_rdms([features[(m, "out")] for m in models]))
    order = [models.index(m) for m in stored.model_ids]
    np.testing.assert_allclose(stored.matrix, expected[np.ix_(order, order)], atol=1e-6)


def test_worker_killed_mid_task_is_retried_with_equal_results(tmp_path, short_claim_leases):
    import ray

    from cluster.connect import connect
    from cluster.options import SimilarityOptions
    from cluster.pipeline import run_similarity

    models = [f"m{i:02d}" for i in range(30)]
    store, probe_id, features = make_store(str(tmp_path / "store"), models, n_images=400)
    connect(num_cpus=2)
    try:
        thread, outcome = run_in_thread(run_similarity, store, probe_id, models, ["out"], SimilarityOptions(block_size=8))
        killed = kill_first_worker_running("compute_and_store_rdm", thread)
        thread.join(timeout=300)
    finally:
        ray.shutdown()
    assert killed, "no worker was caught mid-task, so nothing was tested"
    assert "error" not in outcome, outcome.get("error")
    summary = outcome["result"]
    assert summary.failures == ()
    assert sorted(model for model, _ in summary.computed_rdms) == models
    assert_each_rdm_computed_at_most_once(store)  # the killed task's finished models were not redone
    stored = store.read_similarity(probe_id, "out")
    expected = similarity_matrix(compute_rdms([features[(m, "out")] for m in models]))
    np.testing.assert_allclose(stored.matrix, expected, atol=1e-6)


def test_worker_node_removed_mid_run_completes_with_equal_results(tmp_path, short_claim_leases):
    from cluster.options import SimilarityOptions
    from cluster.pipeline import run_similarity

    models = [f"m{i:02d}" for i in range(30)]
    store, probe_id, features = make_store(str(tmp_path / "store"), models, n_images=400)
    done_at_removal, _, outcome = remove_worker_node_mid_run(
        run_similarity, (store, probe_id, models, ["out"], SimilarityOptions(block_size=8)),
        lambda: len(complete_models(store, probe_id, models)), at_least=3, wait_s=120, join_s=300)
    assert 3 <= done_at_removal < len(models), "the node must be removed mid-run for this test to mean anything"
    assert "error" not in outcome, outcome.get("error")
    assert outcome["result"].failures == ()
    assert_each_rdm_computed_at_most_once(store)  # the claims the removed node held were taken over, not doubled
    assert sorted(store.missing(probe_id, models, ["out"], EntryKind.RANKS)) == []
    stored = store.read_similarity(probe_id, "out")
    expected = similarity_matrix(compute_rdms([features[(m, "out")] for m in models]))
    np.testing.assert_allclose(stored.matrix, expected, atol=1e-6)
