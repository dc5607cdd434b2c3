"""``rsa-ray models add MANIFEST`` and ``rsa-ray models list``: the store's model registry."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from jobs.cli_types import Subcommand
from jobs.common import open_store
from jobs.config import add_common_arguments

if TYPE_CHECKING:
    from rsa_ray.model_entry import ModelEntry
    from storage import Store

# The exit code of a run that finished with some models refused (as for failed models elsewhere).
REFUSED_EXIT_CODE = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    parser.add_argument("action", choices=["add", "list"], help="register models from a manifest, or list them")
    parser.add_argument("manifest", nargs="?", default=None, help="manifest URL (YAML or JSON; a path, file:// or s3://)")
    parser.add_argument("--replace", action="store_true", help="replace models registered with a different entry")


def listing_line(entry: ModelEntry) -> str:
    """One line of ``models list``: id, task type, task and layer roles (reading entries loads no torch).

    Example:
        >>> from rsa_ray.model_entry import ArchitectureSpec, ModelEntry
        >>> listing_line(ModelEntry("depth-small", "timm", ArchitectureSpec("resnet18"), None, ("mid", "output"),
        ...                         "output", task="depth", task_type="3d", seed=0))
        'depth-small                      3d         depth                    layers: mid, output'
    """
    return (f"{entry.model_id:<32} {entry.task_type or '-':<10} {entry.task or '-':<24} "
            f"layers: {', '.join(entry.layers)}")


def run(args: argparse.Namespace) -> int:
    from storage import load_manifest

    store = open_store(args.store)
    if args.action == "list":
        from jobs.twins import is_twin

        registered = store.model_ids()
        for entry in store.models([m for m in registered if not is_twin(m)]):
            print(listing_line(entry))
        twins = [m for m in registered if is_twin(m)]
        if twins:
            print(f"and {len(twins)} random-init twin{'s' if len(twins) > 1 else ''} of rank --twin-adjust, "
                  f"hidden from candidates and taxonomies: {', '.join(twins)}")
        return 0
    if args.manifest is None:
        raise ValueError("models add needs a manifest URL")
    from rsa_ray.models import check_registered_architectures
    from storage.redaction import redact_url

    entries = load_manifest(args.manifest, allow_torchscript=store.settings().allow_torchscript)
    check_registered_architectures(entries, redact_url(args.manifest))  # asked before anything is fetched or written
    return add_checked_models(store, entries, args.replace)


def add_checked_models(store: Store, entries: Sequence[ModelEntry], replace: bool = False) -> int:
    """Registers the models that pass their checks (:mod:`jobs.admission`); returns the exit code.

    A model registered with a different entry (without ``replace``) stops the command before anything
    is checked or written. Each refused model is one line on stderr; the others are registered with
    their layer shapes. Exit code 0, or 3 when some model was refused.

    Example:
        >>> add_checked_models(store, load_manifest("zoo/manifest.yaml"))  # doctest: +SKIP
        rsa-ray models: model 'm2' refused: weights /zoo/m2.safetensors do not exist
        1 of 2 models registered in file:///tmp/store (0 were already there, 1 refused)
        3
    """
    from jobs.admission import admit_models
    from storage.redaction import redact_text

    pending = store.pending_models(entries, replace=replace)
    admission = admit_models(store, pending)
    for refusal in admission.refused:
        print(f"rsa-ray models: {redact_text(refusal.line)}", file=sys.stderr)
    added = store.register_models(admission.admitted, replace=replace, layer_shapes=admission.layer_shapes)
    refused = len(admission.refused)
    print(f"{len(added)} of {len(entries)} models registered in {store.url} "
          f"({len(entries) - len(pending)} were already there" + (f", {refused} refused)" if refused else ")"))
    return REFUSED_EXIT_CODE if refused else 0


SUBCOMMAND = Subcommand("models", "register models from a manifest, or list them", add_arguments, run)
