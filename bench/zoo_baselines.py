"""Benchmark: does every fully trained zoo model beat the trivial baseline of its task?

Not a test: prints a table, figures measured in this run. It reads a zoo manifest (the shipped demo
zoo by default), renders the training and validation splits of the manifest's ``dataset`` section
(same seed, image size and scene indices; only the labels the zoo's tasks need) and fits, per task,
the best constant prediction under the task's loss on the training targets
(``rsa_ray.training.trivial_prediction``: the per-pixel median for L1, the mean for MSE, the
per-pixel positive rate for BCE, the class frequencies for cross-entropy). Its loss on the
validation split is the task's baseline. For every final model (``checkpoint_fraction`` 1.0) it
prints the validation loss the manifest records, the baseline and their ratio; a ratio above
``--max-ratio`` (0.8) marks the row FAIL, and the exit status is 1 if any row fails.

Where the dataset section has ``n_train_per_image``, per-image tasks (a class or a vector) fit their
constant on scenes ``0 .. n_train_per_image - 1`` (their labels only); dense tasks on ``n_train``
scenes. The validation split is the same for both.

Run: ``python bench/zoo_baselines.py [--manifest PATH] [--n-train N] [--max-ratio 0.8]``.
"""

from __future__ import annotations

import argparse
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", default=None, help="a zoo manifest.yaml (default: the shipped zoo's)")
    parser.add_argument("--n-train", type=int, default=None,
                        help="use at most N training scenes for the baselines (default: the manifest's)")
    parser.add_argument("--max-ratio", type=float, default=0.8,
                        help="a model whose validation loss / baseline exceeds this fails (default 0.8)")
    args = parser.parse_args()
    if args.n_train is not None and args.n_train < 1:
        parser.error("--n-train must be >= 1")

    from rsa_ray.datasets import task_by_name
    from rsa_ray.models import read_manifest, read_shipped_zoo, shipped_zoo_dir
    from rsa_ray.training.baselines import dataset_settings, zoo_baselines

    manifest = read_shipped_zoo() if args.manifest is None else read_manifest(args.manifest)
    source = str(shipped_zoo_dir() / "manifest.yaml") if args.manifest is None else args.manifest
    try:
        settings = dataset_settings(manifest.dataset)
    except ValueError as error:
        raise SystemExit(str(error)) from None
    final = [entry for entry in manifest.models
             if entry.training is not None and entry.training.checkpoint_fraction == 1.0]
    known, skipped = [], []
    for entry in final:
        try:
            known.append((entry, task_by_name(entry.task)))
        except ValueError:
            skipped.append(entry.model_id)
    tasks = list({task.name: task for _, task in known}.values())
    if not tasks:
        print(f"{source}: no final model of a mini-Taskonomy task")
        return 0

    start = time.perf_counter()
    baselines, scenes = zoo_baselines(tasks, settings, args.n_train)
    seconds = time.perf_counter() - start
    per_image = f", per-image tasks {settings['n_train_per_image']}" if "n_train_per_image" in settings else ""
    print(f"zoo: {source}: {len(known)} final models of {len(tasks)} tasks; dataset seed {settings['seed']}, "
          f"{settings['image_size']}x{settings['image_size']} px, training scenes {settings['n_train']}{per_image}"
          f"{'' if args.n_train is None else f' (at most {args.n_train} used)'}, validation scenes "
          f"{settings['first_val_index']}..{settings['first_val_index'] + settings['n_val'] - 1}; "
          f"rendering and baselines {seconds:.1f} s")
    print(f"{'model':<32} {'task':<22} {'variant':<8} {'loss':<14} {'train':>6} {'val loss':>10} "
          f"{'baseline':>10} {'ratio':>7}  verdict")
    failed = 0
    for entry, task in known:
        baseline, loss = baselines[task.name], entry.training.validation_loss
        ratio = loss / baseline if baseline > 0 else float("inf")
        fails = not ratio <= args.max_ratio
        failed += fails
        print(f"{entry.model_id:<32} {task.name:<22} {entry.training.variant:<8} {task.loss.value:<14} "
              f"{scenes[task.name]:>6} {loss:>10.4f} {baseline:>10.4f} {ratio:>7.3f}  {'FAIL' if fails else 'ok'}")
    if skipped:
        print(f"skipped (not a mini-Taskonomy task): {', '.join(skipped)}")
    print(f"ratio: the manifest's validation loss / the validation loss of the best constant prediction fitted on "
          f"the training split (train: its scenes); FAIL: ratio > {args.max_ratio}. "
          f"{failed} of {len(known)} models fail.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
