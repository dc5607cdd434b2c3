"""Store-wide locks on both backends: one holder at a time, released on exit, stale locks broken."""

import json
import threading
import time

import pytest

from storage import StoreLockedError
from storage.locks import holder


def test_one_holder_at_a_time_and_released_after(store):
    with store.lock("rerank") as mine:
        assert holder(store._backend, "rerank").owner == mine.owner
        with pytest.raises(StoreLockedError, match=r"lock 'rerank' of .* is held by .* since"):
            with store.lock("rerank"):
                pass
        with store.lock("other-job"):  # locks are independent by name
            pass
    assert holder(store._backend, "rerank") is None
    with store.lock("rerank"):  # free again
        pass


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


def test_a_stale_lock_is_broken_and_a_fresh_one_is_not(store):
    store._backend.put_bytes("locks/rerank.json", json.dumps({"owner": "dead-host:1", "since": 0.0}).encode())
    with store.lock("rerank", stale_after=3600.0) as mine:
        assert holder(store._backend, "rerank").owner == mine.owner
    with store.lock("rerank"):
        with pytest.raises(StoreLockedError):
            with store.lock("rerank", stale_after=3600.0):
                pass


def test_lock_names_are_validated(store):
    with pytest.raises(ValueError, match="lock name"):
        with store.lock("../escape"):
            pass
