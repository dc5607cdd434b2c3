"""The ``rsa-ray`` command line.

Each subcommand lives in its own module and registers itself through a
:class:`Subcommand` value in :data:`SUBCOMMANDS`; this module only builds the
parser, dispatches, and turns expected errors into one clear line on stderr
(a traceback only with ``--debug``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rsa_ray._version import __version__


@dataclass(frozen=True)
class Subcommand:
    """One ``rsa-ray`` subcommand.

    Attributes:
        name: What the user types, e.g. ``"taxonomy"``.
        help: One line shown by ``rsa-ray --help``.
        add_arguments: Adds the subcommand's flags to its parser.
        run: Runs it with the parsed arguments; returns the exit code.
    """

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


SUBCOMMANDS: tuple[Subcommand, ...] = ()


def build_parser(subcommands: Sequence[Subcommand] = SUBCOMMANDS) -> argparse.ArgumentParser:
    """Builds the ``rsa-ray`` argument parser.

    Args:
        subcommands: The subcommands to offer.

    Returns:
        The parser; ``parse_args`` on it gives a namespace with ``subcommand`` set.

    Example:
        >>> build_parser().parse_args(["--debug"]).debug
        True
    """
    parser = argparse.ArgumentParser(
        prog="rsa-ray",
        description=(
            "Representational Similarity Analysis for model zoos: which pretrained "
            "encoder to finetune from, and how tasks relate."
        ),
    )
    parser.add_argument("--version", action="version", version=f"rsa-ray {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    children = parser.add_subparsers(dest="subcommand", metavar="COMMAND")
    for subcommand in subcommands:
        child = children.add_parser(subcommand.name, help=subcommand.help, description=subcommand.help)
        subcommand.add_arguments(child)
        child.set_defaults(run=subcommand.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs ``rsa-ray`` with ``argv`` (the process arguments by default).

    Args:
        argv: Arguments without the program name.

    Returns:
        The process exit code: 0 on success, 2 on a usage error, 1 on any other error.

    Example:
        >>> main([])  # doctest: +SKIP
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "run", None) is None:
        parser.print_help()
        return 0
    try:
        return int(args.run(args))
    except (ValueError, FileNotFoundError, KeyError, PermissionError) as error:
        if args.debug:
            raise
        print(f"rsa-ray {args.subcommand}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
