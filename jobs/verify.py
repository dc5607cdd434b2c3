"""``rsa-ray verify [--repair]``: check a whole store's entries and documents, and repair what is damaged.

Every complete entry's chunks are read and checked against their checksums, and the
root, group, registry and target documents are parsed (:mod:`storage.verification`).
One line per problem, then a summary. ``--repair`` withdraws the damaged entries, so the
next ``rsa-ray similarity`` or ``taxonomy`` recomputes exactly them, and says what that
run will recompute. Exit 0 when the store is sound or every problem was repaired, 1 when
something is left for the operator (a damaged root document, a model to register again,
a probe set to add again, or damage found without ``--repair``).
"""

from __future__ import annotations

import argparse

from jobs.cli_types import Subcommand
from jobs.common import open_store
from jobs.config import add_common_arguments

_LEFT_FOR_THE_OPERATOR = ("not changed", "removed:", "left as it is")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    parser.add_argument("--repair", action="store_true",
                        help="withdraw the damaged entries (the next run recomputes exactly them) and rewrite "
                             "damaged group documents; remove damaged registry documents (register those models again)")


def _open(url: str):
    """The store, and the problem of its root document when that is damaged (the scan then reports it)."""
    from storage import CorruptEntryError, Store
    from storage.backend import normalize_url

    try:
        return open_store(url)
    except CorruptEntryError as error:
        if error.path != "zarr.json":
            raise
        return Store(normalize_url(url))


def run(args: argparse.Namespace) -> int:
    store = _open(args.store)
    found = store.verify()
    for problem in found.problems:
        print(f"DAMAGED {problem.path}: {problem.what}")
    print(f"{store.url}: {found.summary()}")
    if not found.problems:
        return 0
    if not args.repair:
        print("run `rsa-ray verify --repair` to withdraw the damaged entries, so the next run recomputes them")
        return 1
    outcomes = store.repair(found)
    for problem, outcome in outcomes:
        print(f"REPAIRED {problem.path}: {outcome}" if not outcome.startswith(_LEFT_FOR_THE_OPERATOR)
              else f"TO DO {problem.path}: {outcome}")
    from storage.verification import next_run

    recomputed = next_run(outcomes)
    print(f"the next `rsa-ray similarity` / `rsa-ray taxonomy` recomputes {len(recomputed)} "
          f"entr{'y' if len(recomputed) == 1 else 'ies'}" + (":" if recomputed else ""))
    for line in recomputed:
        print(f"  {line}")
    return 1 if any(outcome.startswith(_LEFT_FOR_THE_OPERATOR) for _, outcome in outcomes) else 0


SUBCOMMAND = Subcommand("verify", "check every entry's checksums and the store's documents; --repair withdraws what is "
                                  "damaged", add_arguments, run)
