"""``rsa-ray probes add``: store a probe set from a built-in set, an .npz file or a folder of images."""

from __future__ import annotations

import argparse

from jobs.cli_types import Subcommand
from jobs.common import open_store
from jobs.config import add_common_arguments

BUILTIN_SETS = ("mini-taskonomy", "sklearn-digits", "skimage", "lfw-subset")  # each of at least 3 images


def load_probe_images(source: str, count: int, seed: int, size: int | None):
    """The images of ``source``: a built-in set name, an ``.npz`` file or a folder.

    ``count`` and ``size`` are checked against :mod:`rsa_ray.probe_bounds` before anything is
    rendered or read, and the images kept against them after.

    Raises:
        ValueError: An unknown source, a bound broken (naming it), or a source the loader refuses.

    Example:
        >>> load_probe_images("mini-taskonomy", 4, 0, None).images.shape
        (4, 64, 64, 3)
    """
    from rsa_ray import datasets
    from rsa_ray.probe_bounds import check_image_side, check_probe_count, check_probe_shape

    check_probe_count(count, "--count")
    if size is not None:
        check_image_side(size, "--size")
    if source == "mini-taskonomy":
        config = datasets.RendererConfig() if size is None else datasets.RendererConfig(image_size=size)
        check_probe_shape(count, config.image_size, config.image_size, "--count")  # before any scene is rendered
        rendered = datasets.render_mini_taskonomy(count, seed=seed, config=config, label_names=())
        return datasets.ProbeImages(rendered.images, tuple(f"scene{seed}-{i}" for i in range(count)), f"mini-taskonomy(seed={seed})")
    loaders = {
        "sklearn-digits": datasets.load_sklearn_digits,
        "skimage": datasets.load_skimage_images,
        "lfw-subset": datasets.load_lfw_subset,
    }
    if source in loaders:
        loaded = loaders[source]() if size is None else loaders[source](size=size)
    elif source.endswith(".npz"):
        loaded = datasets.load_npz_images(source, size=size)
    else:
        import os

        if not os.path.isdir(source):
            raise ValueError(f"probe source {source!r} is neither a built-in set ({', '.join(BUILTIN_SETS)}), an .npz file nor a folder")
        loaded = datasets.load_image_folder(source) if size is None else datasets.load_image_folder(source, size=size)
    if count < len(loaded.images):
        loaded = datasets.ProbeImages(loaded.images[:count], loaded.image_ids[:count], loaded.source)
    check_probe_shape(*loaded.images.shape[:3], f"probe source {source!r}")
    return loaded


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    parser.add_argument("action", choices=["add", "list"], help="add a probe set, or list the stored ones")
    parser.add_argument("source", nargs="?", default="mini-taskonomy", help=f"{', '.join(BUILTIN_SETS)}, an .npz file or a folder")
    parser.add_argument("--count", type=int, default=500, help="images to keep (rendered for mini-taskonomy)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the rendered set")
    parser.add_argument("--size", type=int, default=None, help="image side in pixels (default: the source's)")


def run(args: argparse.Namespace) -> int:
    if args.action == "list":
        store = open_store(args.store)
        for probe_id in store.probe_set_ids():
            info = store.probe_set(probe_id)
            print(f"{probe_id}  {info.n_images} images {info.height}x{info.width}  {info.source}")
        return 0
    if args.count < 1:
        raise ValueError(f"--count must be >= 1, got {args.count}")
    probe = load_probe_images(args.source, args.count, args.seed, args.size)  # checked before the store is opened
    store = open_store(args.store)
    probe_id = store.add_probe_set(probe.images, list(probe.image_ids), probe.source)
    print(f"probe set {probe_id}: {len(probe.images)} images from {probe.source}, stored in {store.url}")
    return 0


SUBCOMMAND = Subcommand("probes", "add or list probe sets", add_arguments, run)
