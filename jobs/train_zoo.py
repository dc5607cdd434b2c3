"""``rsa-ray train-zoo``: train the demo zoo (a small model per mini-Taskonomy task, large ones for six) on Ray.

Resumable: after a stop, the same command goes on from the last finished segment of every model.
"""

from __future__ import annotations

import argparse
import shlex
from typing import TYPE_CHECKING

from jobs.cli_types import Subcommand

if TYPE_CHECKING:  # the zoo's configuration imports torch: only a run (not --help) needs it
    from cluster.zoo_plan import ZooConfig

_DEFAULT_OUT = "zoo"
#: Flags whose value, when not given, is the zoo configuration's default (left None by the parser).
_CONFIG_FLAGS = ("tasks", "large_tasks", "n_train", "n_train_per_image", "n_val", "image_size", "dataset_seed", "seed",
                 "steps", "batch_size", "learning_rate", "class_steps", "class_learning_rate", "weights_dtype",
                 "gpus_per_task")


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the ``train-zoo`` flags."""
    parser.add_argument("--out", default=_DEFAULT_OUT, help="output folder for weights and manifest.yaml")
    parser.add_argument("--smoke-test", action="store_true", help="2 tasks x 10 steps on tiny images")
    parser.add_argument("--tasks", type=_names, default=None, help="comma-separated tasks (default: all)")
    parser.add_argument("--large-tasks", type=_names, default=None,
                        help="tasks that also get the large residual encoder (default: six across the four types)")
    parser.add_argument("--n-train", type=int, default=None, help="training scenes of the dense tasks")
    parser.add_argument("--n-train-per-image", type=int, default=None,
                        help="training scenes of the per-image tasks (class, count, pose, vanishing directions)")
    parser.add_argument("--n-val", type=int, default=None)
    parser.add_argument("--image-size", type=int, default=None)
    parser.add_argument("--dataset-seed", type=int, default=None)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--learning-rate", type=float, default=None)
    parser.add_argument("--class-steps", type=int, default=None,
                        help="steps of the per-image classification tasks (object class and count)")
    parser.add_argument("--class-learning-rate", type=float, default=None)
    parser.add_argument("--weights-dtype", default=None, choices=("float32", "float16", "bfloat16"))
    parser.add_argument("--gpus-per-task", type=float, default=None)
    parser.add_argument("--address", default=None, help="Ray address (default: start a local Ray)")
    parser.add_argument("--num-cpus", type=int, default=None, help="CPUs for a local Ray (default: all)")


def config_from_args(args: argparse.Namespace) -> ZooConfig:
    """The :class:`ZooConfig` the flags describe (the smoke-test preset with ``--smoke-test``).

    Example:
        >>> parser = argparse.ArgumentParser(); add_arguments(parser)
        >>> config_from_args(parser.parse_args(["--steps", "7"])).steps
        7
    """
    from cluster.zoo_plan import ZooConfig, smoke_test_config

    if args.smoke_test:
        return smoke_test_config(args.out)
    given = {flag: getattr(args, flag) for flag in _CONFIG_FLAGS if getattr(args, flag) is not None}
    for flag in ("tasks", "large_tasks"):
        if flag in given:
            given[flag] = tuple(given[flag])
    return ZooConfig(out_dir=args.out, **given)


def command_for(config: ZooConfig, smoke_test: bool = False) -> str:
    """The ``rsa-ray train-zoo`` command line that reproduces ``config``.

    Example:
        >>> from cluster.zoo_plan import ZooConfig
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
    import ray

    from cluster.connect import connect
    from cluster.train_zoo import train_zoo

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
