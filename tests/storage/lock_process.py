"""A lock contender in its own process, for the lock tests.

Run as ``python -m tests.storage.lock_process '<json job>'``. The job carries the
store's URL and storage options (the test server's dummy credentials), the lock's
name and a ``mode``:

- ``"contend"``: print ``READY``, wait for a line on stdin, try the lock once; print
  ``WON <token>`` and hold it ``hold_seconds``, or print ``LOCKED``.
- ``"fenced_write"``: take the lock (lease ``lease_seconds``), print ``HELD <token>``,
  wait for a line on stdin, then write a similarity version fenced by the lock; print
  ``WROTE <version>`` or ``LOST <message>``.
- ``"claim"``: claim the work named ``name`` (:mod:`storage.claims`, lease ``lease_seconds``),
  print ``CLAIMED <token>``, hold it ``hold_seconds`` (or until killed), print ``RELEASED``.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from storage import LockLostError, Store, StoreLockedError


def main(job: dict) -> None:
    store = Store.open(job["url"], job["storage_options"])
    lease = job.get("lease_seconds", 60.0)
    if job["mode"] == "contend":
        print("READY", flush=True)
        sys.stdin.readline()
        try:
            with store.lock(job["name"], lease_seconds=lease) as lock:
                print(f"WON {lock.token}", flush=True)
                time.sleep(job.get("hold_seconds", 5.0))
        except StoreLockedError:
            print("LOCKED", flush=True)
        return
    if job["mode"] == "claim":
        with store.claim(job["name"], lease_seconds=lease) as held:
            print(f"CLAIMED {held.token}", flush=True)
            time.sleep(job.get("hold_seconds", 5.0))
        print("RELEASED", flush=True)
        return
    with store.lock(job["name"], lease_seconds=lease) as lock:
        print(f"HELD {lock.token}", flush=True)
        sys.stdin.readline()
        models = ["m1", "m2", "m3"]
        try:
            version = store.write_similarity(job["probe_id"], "out", models, np.eye(3), "spearman", fence=lock.check)
            print(f"WROTE {version}", flush=True)
        except LockLostError as error:
            print(f"LOST {error}", flush=True)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
