"""Write and read throughput of activations (MB/s) on a local folder and on the loopback S3 server.

Run from the repository root::

    .venv/bin/python bench/store.py                      # 8 models x [500, 2048] float32, 64-row chunks
    .venv/bin/python bench/store.py --models 32 --features 8192

Each model's activations go through the full protocol (create, chunk writes with
chunk markers, completion marker; reads verify every chunk's sha256). The S3
numbers are for moto's server on loopback: they measure this code's request
pattern plus moto's overhead, not a real object store's bandwidth.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from storage import EntryKey, Provenance, Store  # noqa: E402
from tests.support.s3_server import MotoServer, create_bucket  # noqa: E402


def _bench(store: Store, args: argparse.Namespace) -> tuple[float, float]:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (args.rows, 8, 8, 3), dtype=np.uint8)
    probe_id = store.add_probe_set(images, [f"img{i}" for i in range(args.rows)], "bench")
    features = [rng.normal(size=(args.rows, args.features)).astype(args.dtype) for _ in range(args.models)]
    keys = [EntryKey(probe_id, f"model{index}", "out") for index in range(args.models)]
    provenance = Provenance(probe_hash=store.probe_set(probe_id).content_hash)
    started = time.perf_counter()
    for entry_key, values in zip(keys, features):
        store.write_activations(entry_key, values, provenance=provenance, rows_per_chunk=args.rows_per_chunk)
    write_seconds = time.perf_counter() - started
    started = time.perf_counter()
    for entry_key, values in zip(keys, features):
        if not np.array_equal(store.read_activations(entry_key), values):
            raise SystemExit(f"read back differs for {entry_key}")
    read_seconds = time.perf_counter() - started
    megabytes = sum(values.nbytes for values in features) / 1e6
    return megabytes / write_seconds, megabytes / read_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=8)
    parser.add_argument("--rows", type=int, default=500, help="probe images (rows per activations entry)")
    parser.add_argument("--features", type=int, default=2048)
    parser.add_argument("--dtype", choices=["float16", "float32"], default="float32")
    parser.add_argument("--rows-per-chunk", type=int, default=64)
    args = parser.parse_args()
    size = args.models * args.rows * args.features * np.dtype(args.dtype).itemsize / 1e6
    print(f"{args.models} models x [{args.rows}, {args.features}] {args.dtype}, {args.rows_per_chunk}-row chunks "
          f"({size:.1f} MB in all)")
    print(f"{'backend':<10} {'write MB/s':>11} {'read MB/s':>10}")
    with tempfile.TemporaryDirectory() as folder:
        write, read = _bench(Store.open(folder), args)
        print(f"{'local':<10} {write:>11.1f} {read:>10.1f}")
    with MotoServer() as server:
        bucket = f"bench-{uuid.uuid4().hex[:12]}"
        create_bucket(server.endpoint_url, bucket)
        write, read = _bench(Store.open(f"s3://{bucket}/store", server.storage_options()), args)
        print(f"{'s3 (moto)':<10} {write:>11.1f} {read:>10.1f}")


if __name__ == "__main__":
    main()
