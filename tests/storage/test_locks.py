"""Store-wide locks on both backends: one holder at a time, leases renewed and taken over, fenced commits,
releases that never hide the error, previous-format locks respected, and backends that ignore create-only
writes named."""

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from storage import ExclusiveWritesUnsupportedError, LockLostError, Store, StoreLockedError, StoreUnavailableError
from storage import lock_records
from storage.lock_records import LockHolder
from storage.locks import hold, holder
from tests.support.s3_server import MotoServer, create_bucket

ROOT = Path(__file__).resolve().parents[2]


def test_one_holder_at_a_time_and_released_after(store):
    with store.lock("rerank") as mine:
        assert holder(store._backend, "rerank").owner == mine.owner
        with pytest.raises(StoreLockedError, match=r"lock 'rerank' of .* is held by .* since .* \(generation 1, lease until"):
            with store.lock("rerank"):
                pass
        with store.lock("other-job"):  # locks are independent by name
            pass
        mine.check()
    assert holder(store._backend, "rerank") is None
    with store.lock("rerank") as again:  # free again, with a larger fencing token
        assert again.token == mine.token + 1


def test_tokens_only_grow_and_superseded_generations_are_deleted(store):
    tokens = []
    for _ in range(3):
        with store.lock("rerank") as lock:
            tokens.append(lock.token)
    assert tokens == [1, 2, 3]
    assert lock_records.generations(store._backend, "rerank") == [3]  # the latest is kept, marked released
    assert lock_records.latest(store._backend, "rerank").released


def test_racing_threads_get_exactly_one_lock(store):
    barrier = threading.Barrier(4)
    winners, losers = [], []
    release = threading.Event()

    def contend():
        barrier.wait()
        try:
            with store.lock("race"):
                winners.append(1)
                release.wait(timeout=30)
        except StoreLockedError:
            losers.append(1)

    threads = [threading.Thread(target=contend) for _ in range(4)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while len(losers) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    release.set()
    for thread in threads:
        thread.join(timeout=60)
    assert (len(winners), len(losers)) == (1, 3)


def test_a_renewed_lease_outlives_its_length(store):
    with store.lock("rerank", lease_seconds=0.6, max_clock_skew=0.0) as lock:
        time.sleep(2.0)  # more than three leases: only renewals keep it
        with pytest.raises(StoreLockedError):
            with store.lock("rerank", max_clock_skew=0.0):
                pass
        lock.check()
        assert lock.lease_expires > time.time()


def test_an_expired_lease_is_taken_over_and_the_first_holder_commits_nothing(populated):
    store, probe_id = populated
    models = ["m1", "m2", "m3"]
    with hold(store._backend, "rerank", lease_seconds=0.5, renew_every=float("inf")) as first:  # renewal stopped
        time.sleep(0.8)
        with store.lock("rerank", max_clock_skew=0.1) as second:
            assert second.token == first.token + 1
            with pytest.raises(LockLostError, match=r"generation 1\) is no longer held"):
                first.check()
            with pytest.raises(LockLostError):
                store.write_similarity(probe_id, "out", models, np.eye(3), "spearman", fence=first.check)
            assert store.similarity_versions(probe_id, "out") == ()
            second.check()
            assert store.write_similarity(probe_id, "out", models, np.eye(3), "spearman", fence=second.check) == 2
    assert store.similarity_versions(probe_id, "out") == (2,)  # version 1 was claimed, never completed
    assert lock_records.latest(store._backend, "rerank").token == second.token  # the loser's release wrote nothing


def test_a_holder_past_its_lease_by_its_own_clock_stops_trusting_it(store):
    with hold(store._backend, "rerank", lease_seconds=0.3, renew_every=float("inf")) as lock:
        time.sleep(0.4)
        with pytest.raises(LockLostError, match="lease of 0.3 s expired"):
            lock.check()  # nobody took it over yet: still lost, a taker may be about to


def test_a_previous_format_lock_is_respected_until_stale_then_broken_by_generation_one(store):
    previous = lock_records.previous_format_path("rerank")
    store._backend.put_bytes(previous, json.dumps({"owner": "old-host:1", "since": time.time()}).encode())
    with pytest.raises(StoreLockedError, match="held by old-host:1"):
        with store.lock("rerank"):
            pass
    assert holder(store._backend, "rerank").owner == "old-host:1"

    store._backend.put_bytes(previous, json.dumps({"owner": "dead-host:1", "since": 0.0}).encode())
    assert holder(store._backend, "rerank", stale_after=3600.0) is None
    with store.lock("rerank", stale_after=3600.0) as mine:
        assert mine.token == 1 and holder(store._backend, "rerank").owner == mine.owner
    # Left in place (no conditional delete on every backend): inert, its age only grows.
    assert lock_records.read_previous_format(store._backend, "rerank").owner == "dead-host:1"
    with store.lock("rerank", stale_after=3600.0) as again:
        assert again.token == 2
    store._backend.put_bytes(previous, b"{not json")  # unreadable: never taken for stale
    with pytest.raises(StoreLockedError, match="unknown"):
        with store.lock("rerank"):
            pass


def test_lock_names_and_leases_are_validated(store):
    with pytest.raises(ValueError, match="lock name"):
        with store.lock("../escape"):
            pass
    with pytest.raises(ValueError, match="lease_seconds"):
        with store.lock("rerank", lease_seconds=0):
            pass


# --- a release that fails never hides the error that ended the run ------------------------------------


def _break_lock_folder(store: Store) -> None:
    """A real fault on a local folder: the lock's folder is replaced by a plain file, so writes there fail."""
    folder = Path(store._backend.full_path(lock_records.folder("rerank")))
    shutil.rmtree(folder)
    folder.write_text("not a folder")


def _release_failures(caplog) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.getMessage().startswith("releasing lock")]


@pytest.fixture
def own_s3_store():
    """An S3 store on a server of this test's own, so the test can stop it."""
    with MotoServer() as server:
        bucket = f"rsa-{uuid.uuid4().hex[:16]}"
        create_bucket(server.endpoint_url, bucket)
        yield Store.open(f"s3://{bucket}/store", server.storage_options()), server


@pytest.mark.parametrize("backend", ["local", pytest.param("s3", marks=[pytest.mark.s3, pytest.mark.slow])])
def test_a_failed_release_keeps_the_error_that_ended_the_run(backend, tmp_path, caplog, request):
    if backend == "local":
        store, fault = Store.open(str(tmp_path / "store")), _break_lock_folder
    else:
        store, server = request.getfixturevalue("own_s3_store")
        fault = lambda _: server.stop()  # noqa: E731 - the server goes away mid-run
    caplog.set_level(logging.WARNING, logger="rsa_ray")
    with pytest.raises(KeyError, match="the run's own error"):
        with store.lock("rerank"):
            fault(store)
            raise KeyError("the run's own error")
    (warning,) = _release_failures(caplog)
    assert "after KeyError" in warning.getMessage() and "\n" not in warning.getMessage()


def test_a_failed_release_after_a_successful_run_raises(tmp_path, caplog):
    store = Store.open(str(tmp_path / "store"))
    with pytest.raises(StoreUnavailableError, match="releasing lock 'locks/rerank/000000000001.json'"):
        with store.lock("rerank"):
            _break_lock_folder(store)
    assert _release_failures(caplog) == []


# --- real processes -------------------------------------------------------------------------------


def _start(target, job: dict) -> subprocess.Popen:
    full_job = {"url": target.url, "storage_options": target.storage_options, "name": "race", **job}
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.Popen([sys.executable, "-m", "tests.storage.lock_process", json.dumps(full_job)], cwd=ROOT,
                            env=environment, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _expect_line(process: subprocess.Popen, prefix: str) -> str:
    line = process.stdout.readline().strip()
    assert line.startswith(prefix), f"expected {prefix}, got {line!r}; stderr: {process.stderr.read()[-2000:]}"
    return line


@pytest.mark.slow
@pytest.mark.parametrize("before", ["free", "expired"])
def test_racing_processes_get_exactly_one_holder(target, before):
    """Four processes at once, on a free lock or on one whose holder's lease ran out: one breaker wins."""
    store = target.open()
    if before == "expired":
        lock_records.write(store._backend, "race", LockHolder("dead-host:1:0", 0.0, 1, 10.0))
    contenders = [_start(target, {"mode": "contend", "hold_seconds": 4.0}) for _ in range(4)]
    for contender in contenders:
        _expect_line(contender, "READY")
    for contender in contenders:  # all at once
        contender.stdin.write("go\n")
        contender.stdin.flush()
    outcomes = [contender.communicate(timeout=120)[0].strip() for contender in contenders]
    expected_token = 2 if before == "expired" else 1
    assert sorted(outcomes) == ["LOCKED"] * 3 + [f"WON {expected_token}"], outcomes
    assert holder(store._backend, "race") is None  # the winner released it


@pytest.mark.slow
def test_a_paused_holder_loses_its_lease_and_its_fenced_write_completes_nothing(target, populated):
    """The holder process is stopped (SIGSTOP: its heartbeat too) past its lease; another run takes over."""
    store, probe_id = populated
    paused = _start(target, {"mode": "fenced_write", "name": "rerank", "lease_seconds": 2.0, "probe_id": probe_id})
    assert _expect_line(paused, "HELD") == "HELD 1"
    os.kill(paused.pid, signal.SIGSTOP)
    try:
        time.sleep(2.0 + 0.3 + 0.5)  # its lease, the skew allowed, and its last renewal's head start
        with store.lock("rerank", max_clock_skew=0.3) as mine:
            assert mine.token == 2
            os.kill(paused.pid, signal.SIGCONT)
            stdout, stderr = paused.communicate("go\n", timeout=60)
            assert paused.returncode == 0, stderr
            assert stdout.startswith("LOST ") and "is no longer held" in stdout, stdout
            assert store.similarity_versions(probe_id, "out") == ()
            assert holder(store._backend, "rerank").owner == mine.owner  # its release did not touch ours
    finally:
        if paused.poll() is None:
            os.kill(paused.pid, signal.SIGCONT)
            paused.kill()
            paused.wait()


# --- SIGTERM ----------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("every", [[], ["--every", "1h"]])
def test_sigterm_during_a_rerank_releases_its_lock_within_seconds(tmp_path, every):
    """A real ``rsa-ray rerank`` holds the lock while it waits on a manifest that never arrives (a FIFO)."""
    store = Store.open(str(tmp_path / "store"))
    landing = tmp_path / "landing.yaml"
    os.mkfifo(landing)
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "jobs.cli", "rerank", "--store", store.url, "--models-from", str(landing), *every]
    rerank = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    try:
        deadline = time.monotonic() + 120
        while holder(store._backend, "rerank") is None and rerank.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert holder(store._backend, "rerank") is not None, rerank.communicate(timeout=10)
        time.sleep(0.3)  # into the blocking read
        rerank.send_signal(signal.SIGTERM)
        started = time.monotonic()
        _, stderr = rerank.communicate(timeout=30)
        assert time.monotonic() - started < 5.0
    finally:
        rerank.kill()
    assert rerank.returncode == 143, stderr
    assert "stopped by SIGTERM" in stderr
    assert holder(store._backend, "rerank") is None


@pytest.mark.slow
def test_sigterm_between_scheduled_reranks_stops_quietly(tmp_path):
    store = Store.open(str(tmp_path / "store"))  # no probe set: each run fails at once, then waits
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "jobs.cli", "rerank", "--store", store.url, "--every", "1h"]
    rerank = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    try:
        assert "retrying in 1h" in rerank.stdout.readline()
        rerank.send_signal(signal.SIGTERM)
        started = time.monotonic()
        rerank.communicate(timeout=30)
        assert time.monotonic() - started < 5.0
    finally:
        rerank.kill()
    assert rerank.returncode == 0
    assert holder(store._backend, "rerank") is None


# --- backends that ignore create-only writes -----------------------------------------------------


def test_the_s3_server_and_local_folders_honour_create_only_writes(store):
    assert store.exclusive_writes is True
    assert store._backend.list_names("locks/.probe") == []  # the probe object is gone


@pytest.fixture
def ignoring_store_url():
    """A filesystem whose create-only writes silently overwrite, as some S3-compatible servers do."""
    import fsspec
    from fsspec.implementations.memory import MemoryFileSystem

    class OverwritingFileSystem(MemoryFileSystem):
        protocol = ("ignores-create",)

        @classmethod
        def _strip_protocol(cls, path):
            return super()._strip_protocol(path.removeprefix("ignores-create://"))

        def pipe_file(self, path, value, mode="overwrite", **kwargs):
            return super().pipe_file(path, value, mode="overwrite", **kwargs)

    fsspec.register_implementation("ignores-create", OverwritingFileSystem, clobber=True)
    return f"ignores-create://store-{uuid.uuid4().hex[:12]}"


def test_a_backend_that_ignores_create_only_writes_is_named_once_and_refuses_locks(ignoring_store_url, caplog):
    caplog.set_level(logging.WARNING, logger="rsa_ray")
    store = Store.open(ignoring_store_url)
    Store.open(ignoring_store_url)  # the same URL again: no second warning
    warnings = [r.getMessage() for r in caplog.records if "does not honour create-only writes" in r.getMessage()]
    assert warnings == [f"store {store.url} does not honour create-only writes (If-None-Match: *): a second create "
                        "of one object succeeded. Locks on it are refused, and concurrent writers of one entry are "
                        "not kept apart."]
    assert store.exclusive_writes is False
    with pytest.raises(ExclusiveWritesUnsupportedError, match="does not honour create-only writes"):
        with store.lock("rerank"):
            pass
    assert holder(store._backend, "rerank") is None
