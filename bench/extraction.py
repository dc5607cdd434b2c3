"""Benchmark: extraction on CPU encoder actors through Ray and the store, against a plain torch loop.

Two zoos over the same random probe images (224 px): the example zoo (``rsa-ray example-zoo``:
MobileNetV2 and MTCNN's nets, pretrained and seeded random twins) and seeded random-init
torchvision ResNet-50s (weights saved as safetensors). Each is extracted twice on the same
machine: by :func:`cluster.extract.extract_all` on ``--actors`` CPU actors (weights prefetched,
batches written to a local folder store), and by one process that builds each model and runs
the images through it with every core (``torch.set_num_threads(os.cpu_count())``). Both read each
model's default layer. Prints models/min and the ratio (goal ≥ 1.5×).

Then one actor extracts ResNet-50 ``layer1`` with ``flatten`` (802,816 values an image), a wide
layer (:mod:`cluster.wide_layers`), and its peak resident memory is printed beside what the bound of
docs/pipeline.md adds to one forward pass (``bench/wide_layer_memory.py`` measures the whole bound).

Run: ``python bench/extraction.py --images 500 --resnets 20`` (smaller counts for a quick run).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import ray

from cluster.extract import EncoderActor, ExtractionOptions, extract_all
from cluster.plan import ExtractionTask
from cluster.resolvers import ManifestResolver
from cluster.wide_layers import GRAM_BLOCK_BYTES
from storage import Store


def resnet_zoo(out_dir: Path, count: int):
    """``count`` seeded random-init torchvision ResNet-50s, saved as safetensors; their entries."""
    import torch
    import torchvision
    from safetensors.torch import save_file

    from rsa_ray.models import ArchitectureSpec, ModelEntry, PreprocessingSpec, WeightsRef
    from rsa_ray.models.weights import sha256_of_file

    entries = []
    for seed in range(count):
        torch.manual_seed(seed)
        path = out_dir / f"resnet50-random-{seed}.safetensors"
        save_file({k: v.contiguous() for k, v in torchvision.models.resnet50().state_dict().items()}, path)
        entries.append(ModelEntry(
            model_id=f"resnet50-random-{seed}", source="torchvision", architecture=ArchitectureSpec("resnet50"),
            weights=WeightsRef(str(path), sha256_of_file(path)), layers=("output", "early"), default_layer="output",
            modules={"output": "avgpool", "early": "layer1"},
            preprocessing=PreprocessingSpec(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)),
            task="random", task_type="other", seed=seed))
    return tuple(entries)


def example_zoo(out_dir: Path):
    """The example zoo's entries, weights paths made absolute."""
    from rsa_ray.models.real_zoo import write_example_zoo

    manifest = write_example_zoo(out_dir)
    return tuple(dataclasses.replace(e, weights=dataclasses.replace(e.weights, path=str(out_dir / e.weights.path)))
                 if e.weights else e for e in manifest.models)


def store_with(folder: Path, images: np.ndarray, entries) -> tuple[Store, str]:
    store = Store.open(str(folder))
    probe_id = store.add_probe_set(images, [f"i{i}" for i in range(len(images))], "random")
    store.register_models(list(entries))
    return store, probe_id


def loop_seconds(entries, images: np.ndarray, batch_size: int) -> float:
    """One process, every core: build each model, run the images through it, keep its default layer."""
    import torch

    from rsa_ray.models import InferenceOptions, build_model, extract_layer_features

    torch.set_num_threads(os.cpu_count() or 1)
    begin = time.perf_counter()
    for entry in entries:
        path = entry.weights.path if entry.weights else None
        model = build_model(entry, weights_path=path)
        spec = dataclasses.replace(entry.layer(entry.default_layer), role="default")
        extract_layer_features(model, images, [spec], entry.preprocessing, InferenceOptions(batch_size=batch_size))
    return time.perf_counter() - begin


def actors_seconds(folder: Path, entries, images: np.ndarray, actors: int, batch_size: int) -> float:
    store, probe_id = store_with(folder, images, entries)
    tasks = [ExtractionTask(e.model_id, ("default",)) for e in entries]
    begin = time.perf_counter()
    outcomes = extract_all(store, probe_id, tasks, ManifestResolver(tuple(entries), "/"),
                           ExtractionOptions(batch_size=batch_size, n_actors=actors))
    seconds = time.perf_counter() - begin
    failed = [o for o in outcomes if o.error]
    if failed:
        raise RuntimeError(f"{len(failed)} extractions failed; first: {failed[0]}")
    return seconds


def wide_layer_peak(folder: Path, entry, images: np.ndarray, batch_size: int) -> tuple[int, float]:
    """Peak RSS of one actor extracting ``layer1`` flatten (its RDM computed on the actor), and seconds."""
    store, probe_id = store_with(folder, images, [entry])
    resolver = ManifestResolver((entry,), "/")
    actor = ray.remote(num_cpus=1)(EncoderActor).remote(store, resolver, ExtractionOptions(batch_size=batch_size))
    begin = time.perf_counter()
    outcomes = ray.get(actor.extract.remote(probe_id, ExtractionTask(entry.model_id, ("early",))))
    seconds = time.perf_counter() - begin
    if outcomes[0].error:
        raise RuntimeError(outcomes[0].error)
    peak = ray.get(actor.peak_memory_bytes.remote())
    ray.kill(actor)
    return peak, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--wide-images", type=int, default=500, help="probe images of the layer1 memory run")
    parser.add_argument("--resnets", type=int, default=20)
    parser.add_argument("--actors", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    ray.init(num_cpus=args.actors, include_dashboard=False, log_to_driver=False)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(max(args.images, args.wide_images), 224, 224, 3), dtype=np.uint8)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        (root / "example").mkdir(); (root / "resnet").mkdir()
        zoos = {"example zoo": example_zoo(root / "example"), f"{args.resnets} ResNet-50s": resnet_zoo(root / "resnet", args.resnets)}
        print(f"{os.cpu_count()} CPU cores, no GPU; {args.images} probe images at 224 px; {args.actors} actors; "
              f"batch {args.batch_size}\n")
        print("| zoo | models | loop s | loop models/min | actors s | actors models/min | ratio |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for name, entries in zoos.items():
            loop = loop_seconds(entries, images[: args.images], args.batch_size)
            actors = actors_seconds(root / f"store-{len(entries)}", entries, images[: args.images], args.actors,
                                    args.batch_size)
            n = len(entries)
            print(f"| {name} | {n} | {loop:.1f} | {60 * n / loop:.1f} | {actors:.1f} | {60 * n / actors:.1f} | "
                  f"{loop / actors:.2f}× |", flush=True)
        m, width = args.wide_images, 256 * 56 * 56
        gram_and_block = m * m * 8 + GRAM_BLOCK_BYTES  # beyond one forward pass of one batch (docs/pipeline.md)
        peak, seconds = wide_layer_peak(root / "store-wide", zoos[f"{args.resnets} ResNet-50s"][0], images[:m],
                                        args.batch_size)
        print(f"\nResNet-50 layer1 flatten, {m} images ({m * width * 4 / 2**30:.2f} GiB if stored whole): "
              f"one actor's peak RSS {peak / 2**20:.0f} MiB in {seconds:.1f} s; the bound is the peak of one "
              f"forward pass of one batch up to the layer + {gram_and_block / 2**20:.0f} MiB (M² × 8 + one block); "
              f"bench/wide_layer_memory.py measures that forward pass and prints measured / bound")


if __name__ == "__main__":
    main()
