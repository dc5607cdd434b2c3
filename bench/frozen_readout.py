"""Benchmark: one frozen-encoder validation trial on cached codes against running the encoder every step.

Not a test: prints a table. For each task it renders ``--n-train`` + ``--n-val`` mini-Taskonomy
scenes (64 px), takes the shipped zoo's small encoder of another task as the candidate and times
one ``validate --freeze-encoder`` trial two ways in the same run:

* the baseline, the whole network on images at every step with its encoder untrainable (what
  ``--freeze-encoder`` ran before codes were cached);
* ours, ``finetune_and_evaluate(..., FinetuneSettings(freeze_encoder=True))``: the encoder's codes
  computed once, each step running the decoder / head alone.

It prints both held-out metrics (they agree to float rounding) and the ratio baseline / ours.
The cores may be shared with other work: the baseline is measured in the same run, so the
ratios, not the seconds, are the result.
Run: ``python bench/frozen_readout.py [--steps 150] [--n-train 500] [--n-val 300]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--n-train", type=int, default=500)
    parser.add_argument("--n-val", type=int, default=300)
    parser.add_argument("--tasks", default="depth,object_class", help="comma-separated target tasks")
    args = parser.parse_args()
    torch.set_num_threads(1)

    from rsa_ray.datasets import RendererConfig, render_mini_taskonomy
    from rsa_ray.datasets.target_splits import RenderedTargets
    from rsa_ray.models import build_zoo_model, read_shipped_zoo
    from rsa_ray.training import FinetuneSettings, encoder_state, finetune_and_evaluate
    from rsa_ray.training.evaluation import held_out_score
    from rsa_ray.training.loop import as_tensors, optimise, sampled_batches
    from rsa_ray.training.task_network import build_transfer_model

    tasks = args.tasks.split(",")
    labels = sorted(set(tasks))
    config = RendererConfig(image_size=64)
    scenes = RenderedTargets(render_mini_taskonomy(args.n_train, 1, config, labels),
                             render_mini_taskonomy(args.n_val, 1, config, labels, first_index=args.n_train))
    manifest = read_shipped_zoo()
    print(f"{args.steps} steps of {args.batch_size}, {args.n_train} train / {args.n_val} held-out scenes, 1 torch thread")
    print(f"{'target':<16} {'candidate':<22} {'every step s':>12} {'cached s':>9} {'ratio':>6} {'metric every step':>18} {'metric cached':>14}")
    for task_name in tasks:
        splits = scenes.splits(task_name)
        entry = next(e for e in manifest.models if e.task != task_name and e.model_id.endswith("-small"))
        state = build_zoo_model(entry).state_dict()
        weights = {k: v.float().numpy() for k, v in encoder_state(state).items()}
        settings = FinetuneSettings(steps=args.steps, batch_size=args.batch_size, freeze_encoder=True)

        start = time.perf_counter()
        model = build_transfer_model(splits.task, weights, 1, settings.seed)
        model.encoder.requires_grad_(False)
        optimise(model, splits.task, as_tensors(splits.train, splits.task), settings.steps, settings.learning_rate,
                 sampled_batches(args.n_train, settings.batch_size, np.random.default_rng(settings.seed)), lambda step: None)
        slow = held_out_score(model, splits.task, splits.held_out)
        every_step = time.perf_counter() - start

        start = time.perf_counter()
        cached = finetune_and_evaluate(splits, weights, settings)
        ours = time.perf_counter() - start
        print(f"{task_name:<16} {entry.model_id:<22} {every_step:>12.2f} {ours:>9.2f} {every_step / ours:>6.1f} "
              f"{slow:>18.5f} {cached:>14.5f}")


if __name__ == "__main__":
    main()
