"""Benchmark: the all-pairs similarity of many models whose rank vectors do not fit in memory.

Not a test: prints a table. Writes K synthetic standardised rank vectors of
length L = M(M−1)/2 into a local store, runs the similarity stage on local Ray
with a per-task memory budget, and reports:

* wall time against the GEMM floor (one float32 tile product timed in memory,
  times the number of tiles: the arithmetic every run must do);
* peak resident memory of each Ray worker (VmHWM from /proc), against the budget.

The issue's full size is ``--models 1000 --images 5000`` (L ≈ 12.5 M, 50 GB of
vectors); the default is a size this 2-core, 24 GiB machine runs in minutes.
Run: ``python bench/out_of_core.py [--models 200] [--images 2000] [--tile-memory-mb 512]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def ray_worker_peaks_mb() -> dict[int, float]:
    """Peak resident memory (VmHWM) of every Ray worker process now alive, in MB."""
    peaks = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
            if not title.startswith("ray::"):
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks[int(entry.name)] = int(line.split()[1]) / 1024
        except OSError:
            continue
    return peaks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--tile-memory-mb", type=int, default=512)
    args = parser.parse_args()
    from cluster.connect import connect
    from cluster.options import SimilarityOptions
    from cluster.pipeline import run_similarity
    from rsa_ray import condensed_length, standardized_ranks
    from storage import EntryKey, Provenance, Store

    length = condensed_length(args.images)
    print(f"{args.models} models x L = {length:,} ({args.models * length * 4 / 1e9:.1f} GB of float32 rank vectors); "
          f"tile budget {args.tile_memory_mb} MB")
    with tempfile.TemporaryDirectory(prefix="rsa-ooc-") as folder:
        store = Store.open(str(Path(folder) / "store"))
        images = np.zeros((args.images, 1, 1, 3), dtype=np.uint8)
        images[:, 0, 0, 0] = np.arange(args.images) % 256
        probe_id = store.add_probe_set(images, [f"i{i}" for i in range(args.images)], "synthetic")
        generator = np.random.default_rng(0)
        shared = generator.random(length, dtype=np.float32)
        model_ids = [f"m{i:04d}" for i in range(args.models)]
        start = time.perf_counter()
        for index, model_id in enumerate(model_ids):
            rdm = shared + generator.random(length, dtype=np.float32) * (1 + index % 5)
            vector = standardized_ranks(rdm, workers=2)[0].astype(np.float32)
            store.write_rank_vector(EntryKey(probe_id, model_id, "out"), vector, provenance=Provenance())
        print(f"wrote the vectors in {time.perf_counter() - start:.0f} s")

        options = SimilarityOptions(tile_memory_bytes=args.tile_memory_mb * 2**20)
        block = options.models_per_tile(length)
        n_blocks = -(-args.models // block)
        n_tiles = n_blocks * (n_blocks + 1) // 2
        tile = generator.standard_normal((block, length), dtype=np.float32)
        start = time.perf_counter()
        tile @ tile.T
        floor = (time.perf_counter() - start) * n_tiles
        del tile

        connect()
        start = time.perf_counter()
        summary = run_similarity(store, probe_id, model_ids, ["out"], options)
        wall = time.perf_counter() - start
        peaks = ray_worker_peaks_mb()
        matrix = store.read_similarity(probe_id, "out").matrix
        if summary.failures or not np.isfinite(matrix).all():
            raise RuntimeError(f"the run failed: {summary.failures[:3]}")
    print(f"{'models/tile':>11} {'tiles':>6} {'wall s':>8} {'GEMM floor s':>13} {'ratio':>6} {'peak worker MB':>15}")
    print(f"{block:>11} {n_tiles:>6} {wall:>8.1f} {floor:>13.1f} {wall / floor:>6.2f} {max(peaks.values(), default=0):>15.0f}")
    print("targets (issue, at 1000 x 5000): peak per worker <= 4096 MB; time <= 2x the GEMM floor")


if __name__ == "__main__":
    main()
