"""``rsa-ray models add MANIFEST`` and ``rsa-ray models list``: the store's model registry."""

from __future__ import annotations

import argparse

from jobs.cli_types import Subcommand
from jobs.common import open_store
from jobs.config import add_common_arguments
from storage import load_manifest


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    parser.add_argument("action", choices=["add", "list"], help="register models from a manifest, or list them")
    parser.add_argument("manifest", nargs="?", default=None, help="manifest URL (YAML or JSON; a path, file:// or s3://)")
    parser.add_argument("--replace", action="store_true", help="replace models registered with a different entry")


def run(args: argparse.Namespace) -> int:
    store = open_store(args.store)
    if args.action == "list":
        for entry in store.models(store.model_ids()):
            print(f"{entry.model_id:<32} {entry.task_type or '-':<10} {entry.task or '-':<24} layers: {', '.join(entry.layers)}")
        return 0
    if args.manifest is None:
        raise ValueError("models add needs a manifest URL")
    entries = load_manifest(args.manifest, allow_torchscript=store.settings().allow_torchscript)
    added = store.register_models(entries, replace=args.replace)
    print(f"{len(added)} of {len(entries)} models registered in {store.url} ({len(entries) - len(added)} were already there)")
    return 0


SUBCOMMAND = Subcommand("models", "register models from a manifest, or list them", add_arguments, run)
