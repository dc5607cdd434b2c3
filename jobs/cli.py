"""The ``rsa-ray`` command line.

Each subcommand lives in its own module and exports a :class:`~jobs.cli_types.Subcommand`;
this module names them in :data:`SUBCOMMANDS` (name, one-line help, module) so that
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
from jobs.cli_types import SubcommandRef
from jobs.config import read_config
from jobs.signals import TERMINATED_EXIT_CODE, TerminatedError, sigterm_raises

SUBCOMMANDS: tuple[SubcommandRef, ...] = (
    SubcommandRef("probes", "add or list probe sets", "jobs.probes"),
    SubcommandRef("models", "register models from a manifest, or list them", "jobs.models"),
    SubcommandRef("extract", "run the models over the probe set and store their activations", "jobs.similarity", "EXTRACT"),
    SubcommandRef("similarity", "compute RDMs and a new similarity version (extracting what is missing)", "jobs.similarity",
                  "SIMILARITY"),
    SubcommandRef("taxonomy", "build the task taxonomy: extract, RDMs, similarity, clustering, report", "jobs.taxonomy"),
    SubcommandRef("rank", "rank the zoo as sources for a target model", "jobs.rank"),
    SubcommandRef("rerank", "register new models and update similarities and rankings incrementally", "jobs.rerank"),
    SubcommandRef("report", "write the HTML report (heatmaps, dendrograms, rankings, failures) from the store",
                  "jobs.report_command"),
    SubcommandRef("export-rdms", "write a layer's RDMs, or its model similarity, as an rsatoolbox HDF5 file",
                  "jobs.export_rdms"),
    SubcommandRef("settings", "show or change the store's settings (e.g. whether TorchScript models are allowed)",
                  "jobs.settings_command"),
    SubcommandRef("train-target", "train a small model on a new task's examples, register it and rank the zoo for it",
                  "jobs.train_target"),
    SubcommandRef("train-zoo", "train the demo zoo (small and large encoders per mini-Taskonomy task) on Ray, resumably",
                  "jobs.train_zoo"),
    SubcommandRef("demo", "the whole workflow on the built-in zoo, local Ray and a local store", "jobs.demo"),
    SubcommandRef("submit", "run an rsa-ray command as a Ray job (resubmitting the same command is a no-op)", "jobs.submit"),
    SubcommandRef("validate", "finetune from each candidate on Ray Tune and test the RSA ranking against the results",
                  "jobs.validate", arguments="jobs.validate_options"),
    SubcommandRef("example-zoo", "set up the example zoo of real pretrained nets and their random twins, offline",
                  "jobs.example_zoo"),
)


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
        error, 3 when the run finished but some models failed (see the failures table), 143 when
        stopped by SIGTERM (after releasing its locks).

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
