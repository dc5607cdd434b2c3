"""Benchmark: the peak resident memory of one encoder actor reading a wide layer, against its stated bound.

Each configuration runs in a fresh Python process, which prints its peak resident memory (``VmHWM`` of
``/proc/self/status``): nothing one configuration allocated is counted in another.

* ``baseline``: the random-init torchvision ResNet-50 built from its safetensors weights, and one
  preprocessed batch run through it up to ``layer1`` under inference mode (what any reading of
  ``layer1`` costs: torch, the model, the probe images, one forward pass).
* ``actor``: an :class:`cluster.encoder.EncoderActor` (constructed in the process, as Ray would) extracting
  ``layer1`` with ``flatten`` (802,816 values an image at 224 px), a wide layer
  (:mod:`cluster.wide_layers`): batches to the column-block file, the Gram matrix, the RDM and ranks
  stored, the pooled features stored.

The stated bound is the per-layer formula of docs/pipeline.md: 3 × batch × D × 4 (the batch output and
its reduced and stored-dtype copies) + M × M × 8 (the Gram) + one column block (64 MiB), beside the model and
the probe images (which the baseline holds). Printed: each peak, the actor's excess over the baseline, the
ratios measured/stated (whole peak, and excess over the baseline), and the bound docs/pipeline.md states now
(the baseline + M × M × 8 + one block) with the ratio measured/restated.

Run: ``python bench/wide_layer_memory.py --images 256 --batch-size 64``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPOSITORY = Path(__file__).resolve().parents[1]
WIDTH = 256 * 56 * 56  # ResNet-50 layer1 at 224 px


def peak_rss_bytes() -> int:
    """This process's peak resident memory (``VmHWM``), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("/proc/self/status has no VmHWM line (Linux only)")


def write_inputs(folder: Path, n_images: int) -> None:
    """One seeded random-init ResNet-50 (safetensors) and a store holding the probe images and the model."""
    import torch
    import torchvision
    from safetensors.torch import save_file

    from rsa_ray.models import ArchitectureSpec, ModelEntry, PreprocessingSpec, WeightsRef
    from rsa_ray.models.weights import sha256_of_file
    from storage import Store

    torch.manual_seed(0)
    path = folder / "resnet50.safetensors"
    save_file({k: v.contiguous() for k, v in torchvision.models.resnet50().state_dict().items()}, path)
    entry = ModelEntry(
        model_id="resnet50-random", source="torchvision", architecture=ArchitectureSpec("resnet50"),
        weights=WeightsRef(str(path), sha256_of_file(path)), layers=("output", "early"), default_layer="output",
        modules={"output": "avgpool", "early": "layer1"},
        preprocessing=PreprocessingSpec(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)),
        task="random", task_type="other", seed=0)
    images = np.random.default_rng(0).integers(0, 256, size=(n_images, 224, 224, 3), dtype=np.uint8)
    store = Store.open(str(folder / "store"))
    store.add_probe_set(images, [f"i{i}" for i in range(n_images)], "random")
    store.register_models([entry])


def open_inputs(folder: Path):
    from storage import Store

    store = Store.open(str(folder / "store"))
    return store, store.probe_set_ids()[0]


def run_baseline(folder: Path, batch_size: int) -> dict:
    import torch

    from cluster.resolvers import StoreResolver
    from rsa_ray.models import InferenceOptions, LayerSpec, build_model, preprocess_images, reading_layers

    torch.set_num_threads(1)
    store, probe_id = open_inputs(folder)
    images = store.read_probe_images(probe_id)
    source = StoreResolver(store)("resnet50-random")
    model = build_model(source.entry, weights_path=source.weights_path)
    with reading_layers(model, [LayerSpec("early", "layer1", "avg")], InferenceOptions()) as read:
        read(preprocess_images(images[:batch_size], source.entry.preprocessing))
    return {"peak": peak_rss_bytes()}


def run_actor(folder: Path, batch_size: int) -> dict:
    import time

    from cluster.encoder import EncoderActor
    from cluster.options import ExtractionOptions
    from cluster.plan import ExtractionTask
    from cluster.resolvers import StoreResolver

    store, probe_id = open_inputs(folder)
    actor = EncoderActor(store, StoreResolver(store), ExtractionOptions(batch_size=batch_size))
    started = time.perf_counter()
    outcomes = actor.extract(probe_id, ExtractionTask("resnet50-random", ("early",)))
    errors = [outcome.error for outcome in outcomes if outcome.error]
    if errors:
        raise RuntimeError(f"extraction failed: {errors}")
    wide = store.work_records("extract")[-1].get("wide_layers")
    return {"peak": peak_rss_bytes(), "seconds": time.perf_counter() - started, "wide_layers": wide}


def child(configuration: str, folder: Path, batch_size: int) -> dict:
    """Runs one configuration in a fresh process; its printed JSON result."""
    command = [sys.executable, __file__, "--child", configuration, "--folder", str(folder),
               "--batch-size", str(batch_size)]
    env = {**os.environ, "PYTHONPATH": str(REPOSITORY), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{configuration} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=256, help="probe images (M); layer1 is wide above 167")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--child", choices=("baseline", "actor"), help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        runner = run_baseline if args.child == "baseline" else run_actor
        print(json.dumps(runner(args.folder, args.batch_size)))
        return

    from cluster.wide_layers import GRAM_BLOCK_BYTES

    with tempfile.TemporaryDirectory() as root:
        folder = Path(root)
        write_inputs(folder, args.images)
        baseline = child("baseline", folder, args.batch_size)
        actor = child("actor", folder, args.batch_size)
    m, mib = args.images, 2**20
    stated = 3 * args.batch_size * WIDTH * 4 + m * m * 8 + GRAM_BLOCK_BYTES
    excess = actor["peak"] - baseline["peak"]
    print(f"ResNet-50 layer1 flatten at 224 px, {m} images, batch {args.batch_size} "
          f"(wide layers {actor['wide_layers']}, {actor['seconds']:.1f} s)")
    print(f"baseline (torch + model + probe images + one forward pass) peak RSS: {baseline['peak'] / mib:.0f} MiB")
    print(f"actor peak RSS: {actor['peak'] / mib:.0f} MiB; excess over the baseline: {excess / mib:.0f} MiB")
    print(f"stated per-layer bound (3 × batch × D × 4 + M² × 8 + one block): {stated / mib:.0f} MiB")
    print(f"ratio measured/stated: whole peak {actor['peak'] / stated:.2f}, excess over the baseline "
          f"{excess / stated:.2f}")
    # docs/pipeline.md's bound restated from measurement: one forward pass's peak (the baseline), which the
    # kept batch lies within, plus what the end of the layer adds (Gram, one block) at most.
    restated = baseline["peak"] + m * m * 8 + GRAM_BLOCK_BYTES
    print(f"restated bound (baseline + M² × 8 + one block): {restated / mib:.0f} MiB; "
          f"ratio measured/restated {actor['peak'] / restated:.2f}")


if __name__ == "__main__":
    main()
