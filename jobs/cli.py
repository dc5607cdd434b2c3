"""The ``rsa-ray`` command line.

Each subcommand lives in its own module and exports a :class:`~jobs.cli_types.Subcommand`;
:data:`jobs.subcommands.SUBCOMMANDS` names them (name, one-line help, module) so that
``rsa-ray --help``, a usage error or a light subcommand imports no other subcommand's
module (nor Ray, torch or pandas). It dispatches, and turns expected errors into one
clear line on stderr (a traceback only with ``--debug``).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence

from jobs.cli_parser import build_parser, subcommand_parser
from jobs.config import read_config
from jobs.ray_failures import RAY_FAILURE_EXIT_CODE, RERUN_HINT, ray_failure_line
from jobs.signals import TERMINATED_EXIT_CODE, TerminatedError, sigterm_raises, terminated
from jobs.subcommands import SUBCOMMANDS

__all__ = ["SUBCOMMANDS", "main"]


def _show_progress() -> None:
    """Progress lines of long stages (logged by ``cluster`` as ``rsa_ray``) go to stderr."""
    logger = logging.getLogger("rsa_ray")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def _plots_to_files() -> None:
    """Figures are only written to files: the non-interactive Agg backend, selected once for the process.

    Through ``MPLBACKEND`` while matplotlib is not imported yet (a command that draws nothing never imports it).
    """
    if "matplotlib" in sys.modules:
        sys.modules["matplotlib"].use("Agg")
    else:
        os.environ["MPLBACKEND"] = "Agg"


def main(argv: Sequence[str] | None = None) -> int:
    """Runs ``rsa-ray`` with ``argv`` (the process arguments by default).

    Args:
        argv: Arguments without the program name.

    Returns:
        The process exit code: 0 on success, 1 on an error (one line on stderr), 2 on a usage
        error, 3 when the run finished but some models failed (see the failures table), 69 when
        Ray failed under it (a dead Ray, a lost node, object or actor: one line; a rerun resumes),
        143 when stopped by SIGTERM (after releasing its locks).

    Example:
        >>> main([])  # doctest: +SKIP
    """
    _plots_to_files()
    parser = build_parser(SUBCOMMANDS, lazy=True)
    args = parser.parse_args(argv)
    _show_progress()
    if getattr(args, "run", None) is None:
        parser.print_help()
        return 0
    if getattr(args, "config", None):
        child = subcommand_parser(parser, args.subcommand)
        try:
            child.set_defaults(**read_config(args.config, child))
        except ValueError as error:
            print(f"rsa-ray {args.subcommand}: error: {error}", file=sys.stderr)
            return 2
        args = parser.parse_args(argv)
    from cluster import ray_watch  # light (the standard library): a Ray the command connects to is watched

    ray_watch.enable()
    try:
        with sigterm_raises():  # SIGTERM unwinds the run, so its finally blocks release store locks
            return int(args.run(args))
    except TerminatedError:
        return _stopped(args.subcommand)
    except SystemExit:
        if terminated():  # SIGTERM raised inside a blocking Ray call, which ended it with SystemExit(1)
            return _stopped(args.subcommand)
        raise
    except KeyboardInterrupt:
        if ray_watch.lost_ray() is not None:  # the watch interrupted the run: its Ray went away
            if args.debug:
                raise
            print(f"rsa-ray {args.subcommand}: error: {ray_watch.lost_ray()}; {RERUN_HINT}", file=sys.stderr)
            return RAY_FAILURE_EXIT_CODE
        print(f"rsa-ray {args.subcommand}: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except Exception as error:  # one clear line for the user; the traceback with --debug
        if terminated():  # what SIGTERM's unwinding raised on its way (a Ray call cut short)
            return _stopped(args.subcommand)
        if args.debug:
            raise
        return _report(args.subcommand, error)
    finally:
        ray_watch.stop()


def _stopped(subcommand: str) -> int:
    """The line a command stopped by SIGTERM prints (its locks released by then), and exit code 143."""
    print(f"rsa-ray {subcommand}: stopped by SIGTERM; rerun the same command to resume", file=sys.stderr)
    return TERMINATED_EXIT_CODE


def _report(subcommand: str, error: Exception) -> int:
    """Prints the one line telling ``error`` and returns the exit code: 69 for a Ray failure, else 1.

    Example:
        >>> _report("rank", ValueError("unknown model 'x'"))  # doctest: +SKIP
        1
    """
    failure = ray_failure_line(error)
    if failure is not None:
        print(f"rsa-ray {subcommand}: error: {failure}", file=sys.stderr)
        return RAY_FAILURE_EXIT_CODE
    message = error.args[0] if isinstance(error, KeyError) and error.args else error
    kind = "" if isinstance(error, (ValueError, KeyError, OSError)) else f"{type(error).__name__}: "
    print(f"rsa-ray {subcommand}: error: {kind}{message}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
