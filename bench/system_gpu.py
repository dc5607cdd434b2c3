"""Benchmark: the system on one device, end to end through Ray and the store, against plain single-process loops.

Not a test: prints two tables, figures measured in this run.

1. **Encoders.** N torchvision ResNet-50s (25 M parameters, seeded random init, safetensors; the N registry
   entries share ``--weight-files`` distinct files round-robin, so the disk holds only those) over M random
   probe images at ``--size`` px, each read at ``avgpool`` (2,048 values an image). Timed from an empty
   store to the similarity version: ``run_similarity`` with the extraction on the actor pool (one actor
   per GPU; each layer's RDM on the actor where ``--rdms-on-actor`` says, default ``always``, the GPU
   path), RDMs, rank vectors and the similarity stage, every result through the store, Ray's start-up
   of the actors included. Against it, the tuned loop: one process, one resident ResNet-50 on the
   device, the preprocessed probe set already there; per model ``load_state_dict(load_file(path,
   device=...))``, the forward passes at the same precision, RDM and rank vector on the device, then
   the N × N product (the loop checks no sha256; the system checks every file's, once per model).
   Printed: both times, models/min, the ratio to the fastest loop, and the largest difference between
   the two similarity matrices (on the CPU the actors run one torch thread; a loop at another thread
   count rounds its float32 forward passes differently, and that is the whole difference).
2. **Similarity.** K synthetic rank vectors of L = M(M−1)/2 terms (written to the store and
   registered first, not timed); the similarity stage through Ray and the store with the torch
   backend on the device, against the product of the same vectors held in device memory in one
   process (``torch_similarity_of_vectors``).

Defaults are the GPU sizes: N = 500, M = 500 at 224 px; K = 1,000, M = 2,000 (8 GB of rank
vectors). ``--smoke`` is a CPU-sized run that checks the script end to end (N = 4, M = 16 at 64 px;
K = 40, M = 200) and runs the extraction both with RDMs on the actor and through the stored
activations. Run: ``python bench/system_gpu.py [--smoke] [--dtype bf16]``.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import logging
import os
import tempfile
import time
from pathlib import Path

import numpy as np

LAYER = "pool"


def write_encoders(folder: Path, n_models: int, n_files: int):
    """``n_models`` registry entries of ResNet-50s over ``n_files`` distinct seeded weight files."""
    import torch
    import torchvision
    from safetensors.torch import save_file

    from rsa_ray.models import ArchitectureSpec, ModelEntry, PreprocessingSpec, WeightsRef

    paths = []
    for seed in range(min(n_files, n_models)):
        torch.manual_seed(seed)
        path = folder / f"resnet50-{seed}.safetensors"
        save_file({k: v.contiguous() for k, v in torchvision.models.resnet50().state_dict().items()}, path)
        paths.append((path, hashlib.sha256(path.read_bytes()).hexdigest()))
    preprocessing = PreprocessingSpec(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    return tuple(ModelEntry(
        model_id=f"resnet50-{index:04d}", source="torchvision", architecture=ArchitectureSpec("resnet50"),
        weights=WeightsRef(str(paths[index % len(paths)][0]), paths[index % len(paths)][1]), layers=(LAYER,),
        default_layer=LAYER, modules={LAYER: "avgpool"}, preprocessing=preprocessing, task="random",
        task_type="other") for index in range(n_models))


def system_run(store, probe_id: str, entries, folder: Path, dtype: str, batch_size: int, rdms_on_actor: str):
    """Seconds of ``run_similarity`` from an empty store to the version, and the matrix it stored."""
    from cluster.extract import ExtractionOptions, extract_all
    from cluster.options import SimilarityOptions
    from cluster.pipeline import run_similarity
    from cluster.resolvers import ManifestResolver

    options = ExtractionOptions(dtype=dtype, batch_size=batch_size, rdms_on_actor=rdms_on_actor)
    extractor = functools.partial(extract_all, resolver=ManifestResolver(entries, str(folder)), options=options)
    model_ids = [entry.model_id for entry in entries]
    start = time.perf_counter()
    summary = run_similarity(store, probe_id, model_ids, [LAYER], SimilarityOptions(backend="auto"),
                             extractor=extractor, extraction=options)
    seconds = time.perf_counter() - start
    if summary.failures:
        raise RuntimeError(f"the run failed: {summary.failures[:3]}")
    return seconds, store.read_similarity(probe_id, LAYER).matrix, summary.precision


def tuned_loop(entries, images: np.ndarray, dtype: str, batch_size: int, device: str) -> tuple[float, np.ndarray]:
    """Seconds of the single-process loop over ``entries`` (after a warm-up model), and its similarity matrix."""
    import torch
    import torchvision
    from safetensors.torch import load_file

    from rsa_ray.backends.torch_products import torch_similarity_of_vectors
    from rsa_ray.backends.torch_ranks import torch_standardized_ranks
    from rsa_ray.backends.torch_rdm import torch_rdm
    from rsa_ray.models.inference import forward_precision
    from rsa_ray.models.preprocessing import preprocess_images

    module = torchvision.models.resnet50().to(device).eval()
    trunk = torch.nn.Sequential(*list(module.children())[:-1])  # up to avgpool: what the entries read
    inputs = preprocess_images(images, entries[0].preprocessing).to(device)

    def rank_vector(path: str) -> torch.Tensor:
        module.load_state_dict(load_file(path, device=device))
        with torch.inference_mode(), forward_precision(device, dtype):
            features = torch.cat([trunk(inputs[first:first + batch_size]).flatten(1).float()
                                  for first in range(0, inputs.shape[0], batch_size)])
            return torch_standardized_ranks(torch_rdm(features))[0].float()

    def synchronize() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    rank_vector(entries[0].weights.path)  # warm-up: kernels chosen, caches filled
    synchronize()
    start = time.perf_counter()
    vectors = torch.stack([rank_vector(entry.weights.path) for entry in entries])
    with torch.inference_mode():
        matrix = torch_similarity_of_vectors(vectors)
    synchronize()
    return time.perf_counter() - start, matrix.cpu().numpy()


def encoders_part(args, device: str, folder: Path) -> None:
    import torch

    from storage import Store

    entries = write_encoders(folder, args.models, args.weight_files)
    images = np.random.default_rng(0).integers(0, 255, size=(args.images, args.size, args.size, 3), dtype=np.uint8)
    print(f"\n1. {len(entries)} ResNet-50s ({args.weight_files} distinct weight files) × M = {args.images} images at "
          f"{args.size} px, layer avgpool (2,048), batch {args.batch_size}")
    print(f"{'path':>34} {'seconds':>8} {'models/min':>11} {'÷ loop':>7} {'max |Δsim|':>11}")
    loops = {}
    for threads in args.loop_threads or [torch.get_num_threads()]:
        torch.set_num_threads(threads)
        loops[threads] = tuned_loop(entries, images, args.dtype, args.batch_size, device)
    torch.set_num_threads(max(loops))
    loop_seconds, loop_matrix = min(loops.values(), key=lambda timed: timed[0])  # the loop at its best
    for threads, (seconds, _) in loops.items():
        label = f"tuned loop, {threads} torch thread{'s' if threads > 1 else ''}"
        print(f"{label:>34} {seconds:>8.2f} {60 * len(entries) / seconds:>11.1f} {seconds / loop_seconds:>7.2f} "
              f"{'':>11}")
    paths = ["always", "never"] if args.smoke else [args.rdms_on_actor]
    precision = ""
    for rdms_on_actor in paths:
        store = Store.open(str(folder / f"store-{rdms_on_actor}"))
        probe_id = store.add_probe_set(images, [f"i{i}" for i in range(args.images)], "random")
        store.register_models(entries)
        seconds, matrix, precision = system_run(store, probe_id, entries, folder, args.dtype, args.batch_size,
                                                rdms_on_actor)
        label = f"Ray + store, rdms_on_actor={rdms_on_actor}"
        print(f"{label:>34} {seconds:>8.2f} {60 * len(entries) / seconds:>11.1f} {seconds / loop_seconds:>7.2f} "
              f"{np.abs(matrix - loop_matrix).max():>11.2e}")
    print(f"precision: {precision}")


def write_rank_vectors(store, probe_id: str, n_models: int) -> list[str]:
    """K registered synthetic models with standardised rank vectors (zero mean, unit norm) stored as complete."""
    from rsa_ray import standardize
    from storage import EntryKey, EntryKind, parse_manifest
    from storage.identity import ComputeSettings

    model_ids = [f"m{index:04d}" for index in range(n_models)]
    store.register_models(parse_manifest([{
        "model_id": model_id, "source": "safetensors", "task": model_id, "task_type": "2d",
        "architecture": {"target": "rsa_ray.models.encoder_decoder:build_encoder_decoder",
                         "kwargs": {"out_channels": 1}},
        "weights": {"path": f"/synthetic/{model_id}.safetensors", "sha256": f"{index:064x}"}, "layers": ["out"],
    } for index, model_id in enumerate(model_ids)]))
    identities = store.expected_identities(probe_id, model_ids, ["out"], EntryKind.RANKS, ComputeSettings())
    length = store.vector_terms(probe_id)
    generator = np.random.default_rng(0)
    shared = generator.random(length, dtype=np.float32)
    for index, model_id in enumerate(model_ids):
        noisy = shared + generator.random(length, dtype=np.float32) * np.float32(1 + index % 5)
        key = EntryKey(probe_id, model_id, "out")
        store.write_rank_vector(key, standardize(noisy)[0].astype(np.float32), identity=identities[key])
    return model_ids


def similarity_part(args, device: str, folder: Path) -> None:
    import torch

    from cluster.options import SimilarityOptions
    from cluster.pipeline import run_similarity
    from rsa_ray import condensed_length
    from rsa_ray.backends.torch_products import torch_similarity_of_vectors
    from storage import Store

    length = condensed_length(args.similarity_images)
    print(f"\n2. similarity of K = {args.similarity_models} models × M = {args.similarity_images} images "
          f"(L = {length:,}: {args.similarity_models * length * 4 / 1e9:.2f} GB of float32 rank vectors) on {device}")
    store = Store.open(str(folder / "store-similarity"))
    images = np.zeros((args.similarity_images, 1, 1, 3), dtype=np.uint8)
    images[:, 0, 0, 0] = np.arange(args.similarity_images) % 256
    probe_id = store.add_probe_set(images, [f"i{i}" for i in range(args.similarity_images)], "synthetic")
    start = time.perf_counter()
    model_ids = write_rank_vectors(store, probe_id, args.similarity_models)
    print(f"   (vectors written and registered in {time.perf_counter() - start:.1f} s, not timed)")
    vectors = torch.from_numpy(store.read_rank_vectors(probe_id, "out", model_ids)).to(device)
    torch_similarity_of_vectors(vectors[:2])  # warm-up
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    floor_matrix = torch_similarity_of_vectors(vectors)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    floor = time.perf_counter() - start
    del vectors
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    start = time.perf_counter()
    summary = run_similarity(store, probe_id, model_ids, ["out"], SimilarityOptions(backend="torch"))
    seconds = time.perf_counter() - start
    if summary.failures:
        raise RuntimeError(f"the similarity run failed: {summary.failures[:3]}")
    difference = np.abs(store.read_similarity(probe_id, "out").matrix - floor_matrix.cpu().numpy()).max()
    print(f"{'path':>34} {'seconds':>8} {'÷ floor':>8} {'tasks':>6} {'max |Δsim|':>11}")
    print(f"{'product in device memory':>34} {floor:>8.3f} {1.0:>8.2f} {'':>6} {'':>11}")
    print(f"{'Ray + store, torch backend':>34} {seconds:>8.3f} {seconds / floor:>8.2f} {summary.similarity_tasks:>6d} "
          f"{difference:>11.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=500, help="N encoders")
    parser.add_argument("--images", type=int, default=500, help="M probe images of the encoders part")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--weight-files", type=int, default=20, help="distinct weight files the N entries share")
    parser.add_argument("--batch-size", type=int, default=250)
    parser.add_argument("--dtype", default="fp32", help="fp32, tf32, bf16 or fp16")
    parser.add_argument("--rdms-on-actor", default="always", choices=["auto", "always", "never"])
    parser.add_argument("--similarity-models", type=int, default=1000, help="K models of the similarity part")
    parser.add_argument("--similarity-images", type=int, default=2000, help="M images of the similarity part")
    parser.add_argument("--loop-threads", type=int, nargs="+", default=None,
                        help="torch CPU threads of the loop, each timed (default torch's); the ratio is to the fastest")
    parser.add_argument("--smoke", action="store_true", help="a CPU-sized run that checks the script end to end")
    args = parser.parse_args()
    if args.smoke:
        args.models, args.images, args.size, args.weight_files, args.batch_size = 4, 16, 64, 2, 8
        args.loop_threads = args.loop_threads or [1, 2]
        args.similarity_models, args.similarity_images = 40, 200
    logging.basicConfig(level=logging.WARNING)
    import torch

    from cluster.connect import connect

    resources = connect()
    device = "cuda" if resources.gpus else "cpu"
    name = torch.cuda.get_device_name() if device == "cuda" else f"CPU only, {torch.get_num_threads()} torch threads"
    print(f"local Ray: {resources.cpus} CPUs, {resources.gpus} GPUs ({name}); precision {args.dtype}"
          + ("; --smoke: CPU-sized, not the figures the defaults measure" if args.smoke else ""))
    print("load average at the start: " + " ".join(f"{load:.1f}" for load in os.getloadavg()))
    with tempfile.TemporaryDirectory(prefix="rsa-system-") as folder:
        encoders_part(args, device, Path(folder))
        similarity_part(args, device, Path(folder))
    print("load average at the end: " + " ".join(f"{load:.1f}" for load in os.getloadavg()))


if __name__ == "__main__":
    main()
