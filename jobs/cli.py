"""The ``rsa-ray`` command line.

Each subcommand lives in its own module and registers itself through a
:class:`Subcommand` value in :data:`SUBCOMMANDS`; this module only builds the
parser, dispatches, and turns expected errors into one clear line on stderr
(a traceback only with ``--debug``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from jobs.cli_types import Subcommand
from jobs.config import read_config
from jobs.signals import TERMINATED_EXIT_CODE, TerminatedError, sigterm_raises
from rsa_ray._version import __version__


def _subcommands() -> tuple[Subcommand, ...]:
    from jobs import (demo, models, probes, rank, report_command, rerank, settings_command, similarity, submit, taxonomy,
                      train_target, train_zoo, validate)
    from jobs import example_zoo

    return (
        probes.SUBCOMMAND,
        models.SUBCOMMAND,
        similarity.EXTRACT,
        similarity.SIMILARITY,
        taxonomy.SUBCOMMAND,
        rank.SUBCOMMAND,
        rerank.SUBCOMMAND,
        report_command.SUBCOMMAND,
        settings_command.SUBCOMMAND,
        train_target.SUBCOMMAND,
        train_zoo.SUBCOMMAND,
        demo.SUBCOMMAND,
        submit.SUBCOMMAND,
        validate.SUBCOMMAND,
        example_zoo.SUBCOMMAND,
    )


SUBCOMMANDS: tuple[Subcommand, ...] = _subcommands()


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


def _show_progress() -> None:
    """Progress lines of long stages (logged by ``cluster`` as ``rsa_ray``) go to stderr."""
    logger = logging.getLogger("rsa_ray")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    children = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return children.choices[name]


def _plots_to_files() -> None:
    """Figures are only written to files: the non-interactive Agg backend, selected once for the process."""
    import matplotlib

    matplotlib.use("Agg")


def main(argv: Sequence[str] | None = None) -> int:
    """Runs ``rsa-ray`` with ``argv`` (the process arguments by default).

    Args:
        argv: Arguments without the program name.

    Returns:
        The process exit code: 0 on success, 1 on an error (one line on stderr), 2 on a usage
        error, 3 when the run finished but some models failed (see the failures table), 143 when
        stopped by SIGTERM (after releasing its locks).

    Example:
        >>> main([])  # doctest: +SKIP
    """
    _plots_to_files()
    parser = build_parser()
    args = parser.parse_args(argv)
    _show_progress()
    if getattr(args, "run", None) is None:
        parser.print_help()
        return 0
    if getattr(args, "config", None):
        child = _subparser(parser, args.subcommand)
        try:
            child.set_defaults(**read_config(args.config, child))
        except ValueError as error:
            print(f"rsa-ray {args.subcommand}: error: {error}", file=sys.stderr)
            return 2
        args = parser.parse_args(argv)
    try:
        with sigterm_raises():  # SIGTERM unwinds the run, so its finally blocks release store locks
            return int(args.run(args))
    except TerminatedError:
        print(f"rsa-ray {args.subcommand}: stopped by SIGTERM; rerun the same command to resume", file=sys.stderr)
        return TERMINATED_EXIT_CODE
    except KeyboardInterrupt:
        print(f"rsa-ray {args.subcommand}: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except Exception as error:  # one clear line for the user; the traceback with --debug
        if args.debug:
            raise
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        kind = "" if isinstance(error, (ValueError, KeyError, OSError)) else f"{type(error).__name__}: "
        print(f"rsa-ray {args.subcommand}: error: {kind}{message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
