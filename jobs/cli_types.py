"""The value a subcommand module exports to register itself with ``rsa-ray``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass


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
