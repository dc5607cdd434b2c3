"""``rsa-ray settings``: show or change what the operator allows in a store (:mod:`storage.settings`)."""

from __future__ import annotations

import argparse

from jobs.cli_types import Subcommand
from jobs.common import open_store
from jobs.config import add_common_arguments

_CHOICES = {"yes": True, "no": False}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    parser.add_argument("--allow-torchscript", choices=sorted(_CHOICES), default=None,
                        help="register and load TorchScript archives (programs, not weights) for this store's "
                             "models; off unless set to yes")


def run(args: argparse.Namespace) -> int:
    store = open_store(args.store)
    if args.allow_torchscript is not None:
        store.update_settings(allow_torchscript=_CHOICES[args.allow_torchscript])
    current = store.settings()
    print(f"settings of {store.url}: allow_torchscript={'yes' if current.allow_torchscript else 'no'}")
    return 0


SUBCOMMAND = Subcommand("settings", "show or change the store's settings (e.g. whether TorchScript models are allowed)",
                        add_arguments, run)
