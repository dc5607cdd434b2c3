"""A writer in its own process, for the fault and concurrency tests.

Run as ``python -m tests.storage.writer_process '<json job>'``. The job carries the
store pickled (base64), as a driver ships it to a worker, the entry, and either ``"whole"`` (create, fill and
complete the entry) or ``"pause_after": n`` (write the pending chunks of an
existing entry one at a time, print ``PAUSED`` after ``n`` of them and wait to be killed).
"""

from __future__ import annotations

import base64
import json
import pickle
import sys
import time

from storage import EntryKey
from tests.storage.builders import features_for


def main(job: dict) -> None:
    store = pickle.loads(base64.b64decode(job["store"]))
    key = EntryKey(job["probe_id"], job["model_id"], job["layer"])
    n_images = store.probe_set(key.probe_id).n_images
    features = features_for(key.model_id, n_images, job.get("n_features", 6))
    if job.get("whole"):
        store.write_activations(key, features, rows_per_chunk=job.get("rows_per_chunk"))
        print("DONE", flush=True)
        return
    for written, (start, stop) in enumerate(store.layout(key).pending):
        if written == job["pause_after"]:
            print("PAUSED", flush=True)
            time.sleep(120)  # the test kills us here, between chunks
        store.write_activation_rows(key, start, features[start:stop])
        print(f"WROTE {start}:{stop}", flush=True)
    store.finalize(key)
    print("DONE", flush=True)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
