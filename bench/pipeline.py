"""Benchmark: the RDM + similarity stages on local Ray with a local store, against the
single-process numpy floor for the same work; and the extraction stage on encoder actors.

Not a test: prints a table. For each N it:

1. writes N small random-init encoders (the paper's Table S1 network) and a probe set
   of M images, and runs the extraction stage on the actor pool (timed, reported
   on its own: the floor has no extraction);
2. times ``run_similarity`` (RDM tasks + similarity tiles, everything through the
   store) from the stored activations;
3. times the floor: the same activations in memory, ``compute_rdm`` per model and
   one ``similarity_matrix``, in one process;
4. prints (Ray + store) / floor. Target: ≤ 1.5 at N = 500.

Run: ``python bench/pipeline.py [--sizes 50 200 500] [--images 500]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import logging
import tempfile
import time
from pathlib import Path

import numpy as np


def write_random_zoo(folder: Path, n_models: int):
    import torch
    from safetensors.torch import save_file

    from rsa_ray.models import build_encoder_decoder
    from rsa_ray.models.manifest import example_entry

    template = example_entry()
    entries = []
    for index in range(n_models):
        torch.manual_seed(index)
        path = folder / f"enc{index:04d}.safetensors"
        save_file(build_encoder_decoder(out_channels=1).state_dict(), path)
        weights = dataclasses.replace(template.weights, path=str(path.resolve()),
                                      sha256=hashlib.sha256(path.read_bytes()).hexdigest())
        entries.append(dataclasses.replace(template, model_id=f"enc{index:04d}", weights=weights))
    return tuple(entries)


def run_once(n_models: int, n_images: int, layer: str, folder: Path) -> dict[str, float]:
    from cluster.extract import ExtractionOptions, extract_all
    from cluster.options import SimilarityOptions
    from cluster.pipeline import run_similarity
    from cluster.plan import ExtractionTask
    from cluster.resolvers import ManifestResolver
    from rsa_ray import compute_rdm, similarity_matrix
    from storage import EntryKey, Store

    entries = write_random_zoo(folder, n_models)
    model_ids = [e.model_id for e in entries]
    store = Store.open(str(folder / "store"))
    images = np.random.default_rng(0).integers(0, 255, size=(n_images, 64, 64, 3), dtype=np.uint8)
    probe_id = store.add_probe_set(images, [f"i{i}" for i in range(n_images)], "random")
    store.register_models(entries)  # the same rsa_ray.models entries the resolver builds from

    start = time.perf_counter()
    outcomes = extract_all(store, probe_id, [ExtractionTask(m, (layer,)) for m in model_ids],
                           ManifestResolver(entries, str(folder)), ExtractionOptions(batch_size=100))
    extraction = time.perf_counter() - start
    failed = [o for o in outcomes if o.error]
    if failed:
        raise RuntimeError(f"extraction failed: {failed[:3]}")

    start = time.perf_counter()
    summary = run_similarity(store, probe_id, model_ids, [layer], SimilarityOptions())
    pipeline = time.perf_counter() - start
    if summary.failures:
        raise RuntimeError(f"similarity failed: {summary.failures[:3]}")

    activations = [store.read_activations(EntryKey(probe_id, m, layer)) for m in model_ids]
    start = time.perf_counter()
    rdms = np.stack([compute_rdm(a) for a in activations])
    floor_matrix = similarity_matrix(rdms)
    floor = time.perf_counter() - start
    stored = store.read_similarity(probe_id, layer).matrix
    if np.abs(stored - floor_matrix).max() > 1e-5:
        raise RuntimeError("the pipeline's matrix differs from the in-memory one")
    return {"extraction": extraction, "pipeline": pipeline, "floor": floor}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 200, 500])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--layer", default="encoder.output")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from cluster.connect import connect

    resources = connect()
    print(f"local Ray: {resources.cpus} CPUs, {resources.gpus} GPUs; M = {args.images} images; layer {args.layer}")
    print(f"{'N':>5} {'extract s':>10} {'models/min':>11} {'RDM+sim s':>10} {'floor s':>8} {'ratio':>6}")
    for n_models in args.sizes:
        with tempfile.TemporaryDirectory(prefix="rsa-bench-") as folder:
            seconds = run_once(n_models, args.images, args.layer, Path(folder))
        print(f"{n_models:>5} {seconds['extraction']:>10.2f} {60 * n_models / seconds['extraction']:>11.0f} "
              f"{seconds['pipeline']:>10.2f} {seconds['floor']:>8.2f} {seconds['pipeline'] / seconds['floor']:>6.2f}")
    print("ratio = (Ray + store RDM and similarity stages) / (single-process numpy floor); target ≤ 1.5 at N = 500")


if __name__ == "__main__":
    main()
