"""Benchmark: one extraction stage over two probe sets against one pool per probe set.

What ``rerank`` extracts when models land and a target's table must be re-scored: every new model
on the shared probe set and on the target's images. Two ways, each on a fresh local folder store,
on the same local Ray (``--cpus`` CPUs, one CPU actor each) and the same models
(``bench/scale_zoo.py``: the example zoo's pretrained nets and seeded random torchvision nets of
9 architectures, 64 px inputs):

* ``per probe set`` (the baseline, how commands extracted before): :func:`cluster.extract.extract_all`
  once per probe set, each call starting its own actor pool and building every model again;
* ``one stage``: :func:`cluster.extract.run_extractions` over both probe sets on one pool, a model's
  probe sets one after the other on one actor, which keeps it built.

Prints, per run, wall time, (model, probe set) pairs per minute and, from the store's work log, how many
forward passes ran per probe set and how many models were built (``reused_model`` false); then the ratio
of the median times (baseline / stage). The two ways alternate in order over ``--repeats`` runs.

Run: ``python bench/probe_sets_stage.py --models 16 --images 64 --target-images 40``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ray  # noqa: E402

from bench.scale_zoo import labelled_target, probe_images, write_scale_zoo  # noqa: E402
from cluster.extract import ExtractionOptions, extract_all, run_extractions  # noqa: E402
from cluster.plan import ExtractionTask, ProbeExtraction  # noqa: E402
from cluster.resolvers import StoreResolver  # noqa: E402
from storage import Store, load_manifest  # noqa: E402


def fresh_store(folder: Path, entries, n_images: int, n_target: int) -> tuple[Store, str, str]:
    """A local store with the zoo registered, a shared probe set and a target's images."""
    store = Store.open(str(folder))
    shared = store.add_probe_set(probe_images(n_images), [f"s{i}" for i in range(n_images)], "shared")
    target_images, _ = labelled_target(n_target)
    target = store.add_probe_set(target_images, [f"t{i}" for i in range(n_target)], "target")
    store.register_models(entries)
    return store, shared, target


def work_counts(store: Store) -> dict:
    """Forward passes per probe set and models built, from the work log."""
    records = store.work_records("extract")
    per_probe: dict[str, int] = {}
    for record in records:
        per_probe[record["probe_id"]] = per_probe.get(record["probe_id"], 0) + 1
    return {"forward_passes": per_probe, "built": sum(not r.get("reused_model", False) for r in records)}


def run_way(way: str, folder: Path, entries, n_images: int, n_target: int, options: ExtractionOptions) -> dict:
    """Extracts every model on both probe sets one way; its seconds, failures and work counts."""
    store, shared, target = fresh_store(folder, entries, n_images, n_target)
    tasks = [ExtractionTask(entry.model_id, ("output",)) for entry in entries]
    resolver = StoreResolver(store)
    begin = time.perf_counter()
    if way == "per probe set":
        outcomes = [o for probe_id in (shared, target) for o in extract_all(store, probe_id, tasks, resolver, options)]
    else:
        work = [ProbeExtraction(probe_id, task) for probe_id in (shared, target) for task in tasks]
        outcomes = [o for _, o in run_extractions(store, work, resolver, options)]
    seconds = time.perf_counter() - begin
    failed = sorted({o.model_id for o in outcomes if o.error})
    return {"seconds": seconds, "failed": failed, **work_counts(store)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=int, default=16)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--target-images", type=int, default=40)
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2, help="runs of each way, in alternating order")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    ray.init(num_cpus=args.cpus, include_dashboard=False, logging_level="ERROR")
    options = ExtractionOptions(batch_size=32)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        manifest, _, _, _ = write_scale_zoo(work / "zoo", args.models, 0)
        entries = list(load_manifest(str(manifest)))  # weights paths made absolute
        # A warm-up on a throwaway store: the first pool pays the workers' torch import.
        run_way("one stage", work / "warm", entries[:2], 8, 8, options)
        runs: dict[str, list[dict]] = {"per probe set": [], "one stage": []}
        for repeat in range(args.repeats):  # the order alternates, so neither way always runs first
            ways = list(runs) if repeat % 2 == 0 else list(runs)[::-1]
            for way in ways:
                folder = work / f"{way.replace(' ', '-')}-{repeat}"
                r = run_way(way, folder, entries, args.images, args.target_images, options)
                runs[way].append(r)
                print(f"{way:>14} (run {repeat + 1}): {r['seconds']:6.1f} s, "
                      f"{2 * args.models / r['seconds'] * 60:6.1f} (model, probe set)/min, forward passes "
                      f"{sorted(r['forward_passes'].values())}, models built {r['built']}, failed {r['failed'] or 'none'}")
    median = {way: statistics.median(r["seconds"] for r in results) for way, results in runs.items()}
    ratio = median["per probe set"] / median["one stage"]
    print(f"ratio per-probe-set / one-stage (medians over {args.repeats} runs): {ratio:.2f} ({args.models} models, "
          f"{args.images} + {args.target_images} images, {args.cpus} CPU actors)")
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": runs, "median_s": median, "ratio": ratio, "args": vars(args)},
                                              indent=2))
    ray.shutdown()


if __name__ == "__main__":
    main()
