"""``rsa-ray train-zoo``: train the demo zoo (a small model per mini-Taskonomy task, large ones for six) on Ray.

Resumable: after a stop, the same command goes on from the last finished segment of every model.
"""

from __future__ import annotations

import argparse
import shlex

import ray

from cluster.connect import connect
from cluster.train_zoo import train_zoo
from cluster.zoo_plan import ZooConfig, smoke_test_config
from jobs.cli_types import Subcommand

_DEFAULTS = ZooConfig(out_dir="zoo")


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the ``train-zoo`` flags."""
    parser.add_argument("--out", default=_DEFAULTS.out_dir, help="output folder for weights and manifest.yaml")
    parser.add_argument("--smoke-test", action="store_true", help="2 tasks x 10 steps on tiny images")
    parser.add_argument("--tasks", type=_names, default=_DEFAULTS.tasks, help="comma-separated tasks (default: all)")
    parser.add_argument("--large-tasks", type=_names, default=_DEFAULTS.large_tasks,
                        help="tasks that also get the large residual encoder (default: six across the four types)")
    parser.add_argument("--n-train", type=int, default=_DEFAULTS.n_train, help="training scenes of the dense tasks")
    parser.add_argument("--n-train-per-image", type=int, default=_DEFAULTS.n_train_per_image,
                        help="training scenes of the per-image tasks (class, count, pose, vanishing directions)")
    parser.add_argument("--n-val", type=int, default=_DEFAULTS.n_val)
    parser.add_argument("--image-size", type=int, default=_DEFAULTS.image_size)
    parser.add_argument("--dataset-seed", type=int, default=_DEFAULTS.dataset_seed)
    parser.add_argument("--seed", type=int, default=_DEFAULTS.seed)
    parser.add_argument("--steps", type=int, default=_DEFAULTS.steps)
    parser.add_argument("--batch-size", type=int, default=_DEFAULTS.batch_size)
    parser.add_argument("--learning-rate", type=float, default=_DEFAULTS.learning_rate)
    parser.add_argument("--class-steps", type=int, default=_DEFAULTS.class_steps,
                        help="steps of the per-image classification tasks (object class and count)")
    parser.add_argument("--class-learning-rate", type=float, default=_DEFAULTS.class_learning_rate)
    parser.add_argument("--weights-dtype", default=_DEFAULTS.weights_dtype, choices=("float32", "float16", "bfloat16"))
    parser.add_argument("--gpus-per-task", type=float, default=_DEFAULTS.gpus_per_task)
    parser.add_argument("--address", default=None, help="Ray address (default: start a local Ray)")
    parser.add_argument("--num-cpus", type=int, default=None, help="CPUs for a local Ray (default: all)")


def config_from_args(args: argparse.Namespace) -> ZooConfig:
    """The :class:`ZooConfig` the flags describe (the smoke-test preset with ``--smoke-test``).

    Example:
        >>> parser = argparse.ArgumentParser(); add_arguments(parser)
        >>> config_from_args(parser.parse_args(["--steps", "7"])).steps
        7
    """
    if args.smoke_test:
        return smoke_test_config(args.out)
    return ZooConfig(
        out_dir=args.out,
        tasks=tuple(args.tasks),
        large_tasks=tuple(args.large_tasks),
        n_train=args.n_train,
        n_train_per_image=args.n_train_per_image,
        n_val=args.n_val,
        image_size=args.image_size,
        dataset_seed=args.dataset_seed,
        seed=args.seed,
        steps=args.steps,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        class_steps=args.class_steps,
        class_learning_rate=args.class_learning_rate,
        weights_dtype=args.weights_dtype,
        gpus_per_task=args.gpus_per_task,
    )


def command_for(config: ZooConfig, smoke_test: bool = False) -> str:
    """The ``rsa-ray train-zoo`` command line that reproduces ``config``.

    Example:
        >>> command_for(ZooConfig(out_dir="zoo"))[:38]
        'rsa-ray train-zoo --out zoo --tasks au'
    """
    if smoke_test:
        return shlex.join(["rsa-ray", "train-zoo", "--out", config.out_dir, "--smoke-test"])
    words = ["rsa-ray", "train-zoo", "--out", config.out_dir, "--tasks", ",".join(config.tasks)]
    words += ["--large-tasks", ",".join(config.large_tasks)]
    for flag, value in (
        ("--n-train", config.n_train),
        ("--n-train-per-image", config.n_train_per_image),
        ("--n-val", config.n_val),
        ("--image-size", config.image_size),
        ("--dataset-seed", config.dataset_seed),
        ("--seed", config.seed),
        ("--steps", config.steps),
        ("--batch-size", config.batch_size),
        ("--learning-rate", config.learning_rate),
        ("--class-steps", config.class_steps),
        ("--class-learning-rate", config.class_learning_rate),
        ("--weights-dtype", config.weights_dtype),
    ):
        words += [flag, str(value)]
    return shlex.join(words)


def run(args: argparse.Namespace) -> int:
    """Runs ``train-zoo``; starts a local Ray unless one is running or ``--address`` is given."""
    config = config_from_args(args)
    started_here = not ray.is_initialized()
    if started_here:
        connect(args.address, args.num_cpus)
    try:
        train_zoo(config, command=command_for(config, args.smoke_test))
    finally:
        if started_here:
            ray.shutdown()
    return 0


SUBCOMMAND = Subcommand(
    name="train-zoo",
    help="train the demo zoo (small and large encoders per mini-Taskonomy task) on Ray, resumably",
    add_arguments=add_arguments,
    run=run,
)

__all__ = ["SUBCOMMAND", "add_arguments", "command_for", "config_from_args", "run"]
