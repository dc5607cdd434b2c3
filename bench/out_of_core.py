"""Benchmark: the all-pairs similarity of many models whose rank vectors do not fit in memory.

Not a test: prints a table. Writes K synthetic standardised vectors of length
L = M(M−1)/2 into a local store (what the RDM stage stores as rank vectors: zero
mean, unit norm, float32), runs the similarity stage on local Ray with a per-task
memory budget, and reports:

* wall time against the GEMM floor: the float32 product ``X @ X.T`` of all K
  vectors in memory with every CPU (timed on a sample of the terms, scaled to L),
  the arithmetic any implementation must do;
* how many bytes the tasks read, against the size of the vectors (1.0: each
  stored chunk read once);
* peak resident memory of each Ray worker (VmHWM from /proc), against the budget.

The issue's full size is ``--models 1000 --images 5000`` (L ≈ 12.5 M, 50 GB of
vectors: it needs that much free disk, and reads from disk what the page cache
cannot hold). Run: ``python bench/out_of_core.py [--models 200] [--images 2000]
[--task-memory-mb 1024]``.
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


def gemm_floor(n_models: int, length: int, sample_bytes: int = 2**30) -> float:
    """Seconds for the float32 Gram of n_models vectors of ``length`` in memory, from a timed sample."""
    sample = max(1, min(length, sample_bytes // (4 * n_models)))
    vectors = np.random.default_rng(1).standard_normal((n_models, sample), dtype=np.float32)
    vectors[:, :4096] @ vectors[:, :4096].T  # warm the BLAS
    start = time.perf_counter()
    vectors @ vectors.T
    return (time.perf_counter() - start) * length / sample


def write_vectors(store, probe_id: str, model_ids: list[str], length: int) -> None:
    from rsa_ray import standardize
    from storage import EntryKey, Provenance

    generator = np.random.default_rng(0)
    shared = generator.random(length, dtype=np.float32)
    for index, model_id in enumerate(model_ids):
        noisy = shared + generator.random(length, dtype=np.float32) * np.float32(1 + index % 5)
        vector = standardize(noisy)[0].astype(np.float32)
        store.write_rank_vector(EntryKey(probe_id, model_id, "out"), vector, provenance=Provenance())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--task-memory-mb", type=int, default=1024)
    parser.add_argument("--folder", default=None, help="where to put the store (default: a temporary folder)")
    args = parser.parse_args()
    from cluster.connect import connect
    from cluster.options import SimilarityOptions
    from cluster.pipeline import run_similarity
    from cluster.plan import similarity_work
    from rsa_ray import condensed_length
    from storage import Store

    length = condensed_length(args.images)
    vector_bytes = args.models * length * 4
    print(f"{args.models} models x L = {length:,} ({vector_bytes / 1e9:.1f} GB of float32 vectors); "
          f"task budget {args.task_memory_mb} MB")
    with tempfile.TemporaryDirectory(prefix="rsa-ooc-", dir=args.folder) as folder:
        store = Store.open(str(Path(folder) / "store"))
        images = np.zeros((args.images, 1, 1, 3), dtype=np.uint8)
        images[:, 0, 0, 0] = np.arange(args.images) % 256
        probe_id = store.add_probe_set(images, [f"i{i}" for i in range(args.images)], "synthetic")
        model_ids = [f"m{i:04d}" for i in range(args.models)]
        start = time.perf_counter()
        write_vectors(store, probe_id, model_ids, length)
        print(f"wrote the vectors in {time.perf_counter() - start:.0f} s")
        floor = gemm_floor(args.models, length)

        resources = connect()
        options = SimilarityOptions(tile_memory_bytes=args.task_memory_mb * 2**20)
        work = similarity_work(options, args.models, length, store.vector_chunk_terms(probe_id), resources.cpus)
        blocks = -(-args.models // work.block_size)
        tiles = blocks * (blocks + 1) // 2
        # Each tile reads its row block and, off the diagonal, its column block, once per segment.
        read_bytes = sum(
            (min(work.block_size, args.models - r * work.block_size)
             + (min(work.block_size, args.models - c * work.block_size) if c != r else 0)) * length * 4
            for r in range(blocks) for c in range(r, blocks)
        )
        start = time.perf_counter()
        summary = run_similarity(store, probe_id, model_ids, ["out"], options)
        wall = time.perf_counter() - start
        peaks = ray_worker_peaks_mb()
        matrix = store.read_similarity(probe_id, "out").matrix
        if summary.failures or not np.isfinite(matrix).all():
            raise RuntimeError(f"the run failed: {summary.failures[:3]}")
    print(f"{'models/tile':>11} {'tiles':>6} {'segments':>9} {'read/size':>10} {'wall s':>8} {'GEMM floor s':>13} "
          f"{'ratio':>6} {'peak worker MB':>15}")
    print(f"{work.block_size:>11} {tiles:>6} {len(work.segments):>9} {read_bytes / vector_bytes:>10.2f} {wall:>8.1f} "
          f"{floor:>13.1f} {wall / floor:>6.2f} {max(peaks.values(), default=0):>15.0f}")
    print("targets (issue, at 1000 x 5000): peak per worker <= 4096 MB; time <= 2x the GEMM floor")


if __name__ == "__main__":
    main()
