"""Claims on both backends: one holder of a piece of work, waiters wait, a dead holder's work is taken over."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from storage import LockLostError
from storage import lock_records
from storage.claims import ClaimWaitError, claim_name, default_lease
from storage.lock_records import LockHolder

ROOT = Path(__file__).resolve().parents[2]


def _start_holder(target, work, lease_seconds, hold_seconds) -> subprocess.Popen:
    job = {"url": target.url, "storage_options": target.storage_options, "name": work, "mode": "claim",
           "lease_seconds": lease_seconds, "hold_seconds": hold_seconds}
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-m", "tests.storage.lock_process", json.dumps(job)], cwd=ROOT,
                               env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = process.stdout.readline().strip()
    assert line.startswith("CLAIMED"), f"got {line!r}: {process.stderr.read()[-2000:]}"
    return process


def test_a_waiter_gets_the_claim_when_the_holder_releases_it(store):
    events = []
    released = threading.Event()

    def first():
        with store.claim("rdms/p/m1/out") as held:
            events.append(("first", held.token))
            released.wait(timeout=30)
        events.append(("first released", None))

    thread = threading.Thread(target=first)
    thread.start()
    while not events:
        time.sleep(0.01)
    threading.Timer(1.0, released.set).start()
    started = time.monotonic()
    with store.claim("rdms/p/m1/out") as held:  # waits for the first holder
        events.append(("second", held.token))
    thread.join(timeout=30)
    assert [name for name, _ in events] == ["first", "first released", "second"]
    assert events[2][1] > events[0][1] and time.monotonic() - started >= 0.9
    with store.claim("rdms/p/m2/out"):  # other work is independent
        with store.claim("rdms/p/m3/out"):
            pass


def test_a_waiter_gives_up_after_its_wait_and_says_so(store):
    release = threading.Event()
    held = threading.Event()

    def holder():
        with store.claim("activations/p/m1"):
            held.set()
            release.wait(timeout=30)

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(timeout=30)
    try:
        with pytest.raises(ClaimWaitError, match=r"activations/p/m1: another run has held its claim for over 1 s"):
            with store.claim("activations/p/m1", wait_seconds=1.0):
                pass
    finally:
        release.set()
        thread.join(timeout=30)


@pytest.mark.slow
def test_a_killed_holders_claim_is_taken_over_when_its_lease_runs_out(target):
    store = target.open()
    holder = _start_holder(target, "activations/p/m1", lease_seconds=2.0, hold_seconds=120)
    os.kill(holder.pid, signal.SIGKILL)  # dies holding it: no release, no more renewals
    holder.wait(timeout=30)
    started = time.monotonic()
    with store.claim("activations/p/m1", lease_seconds=2.0) as held:
        waited = time.monotonic() - started
        assert held.token == 2
    assert 0.5 < waited < 30  # the lease (2 s) plus the clock-skew margin (5 s), not the holder's 120 s


@pytest.mark.slow
def test_a_live_holder_in_another_process_keeps_its_claim_past_its_lease(target):
    store = target.open()
    holder = _start_holder(target, "rdms/p/m9/out", lease_seconds=1.5, hold_seconds=6)
    started = time.monotonic()
    with store.claim("rdms/p/m9/out", lease_seconds=1.5) as held:  # renewed by its holder: waits for its release
        assert time.monotonic() - started > 4.0 and held.token == 2
    assert holder.stdout.readline().strip() == "RELEASED"
    holder.wait(timeout=30)


def test_a_lost_claim_is_raised_from_the_body_not_waited_on(store):
    started = time.monotonic()
    with pytest.raises(LockLostError):
        with store.claim("rdms/p/m1/out") as held:
            # Another run took the claim over (as after this holder paused past its lease).
            taker = LockHolder("other-host:1:0", time.time(), held.token + 1, time.time() + 60)
            lock_records.write(store._backend, claim_name("rdms/p/m1/out"), taker)
            held.check()
    assert time.monotonic() - started < 10  # raised at once, not waited on like a held claim


def test_claim_names_are_safe_ids_and_the_lease_setting_is_checked(monkeypatch):
    assert claim_name("a/b") != claim_name("a/c") and claim_name("a/b").startswith("claim-")
    monkeypatch.setenv("RSA_RAY_CLAIM_LEASE_SECONDS", "7.5")
    assert default_lease() == 7.5
    for bad in ("0", "-3", "soon"):
        monkeypatch.setenv("RSA_RAY_CLAIM_LEASE_SECONDS", bad)
        with pytest.raises(ValueError, match=f"RSA_RAY_CLAIM_LEASE_SECONDS='{bad}' must be a positive number"):
            default_lease()
