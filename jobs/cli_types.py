"""What a subcommand module exports to register itself with ``rsa-ray``, and the light entry naming it."""

from __future__ import annotations

import argparse
import importlib
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


@dataclass(frozen=True)
class SubcommandRef:
    """A subcommand named without importing it: its module is imported only when it is chosen.

    It offers the same ``add_arguments`` and ``run`` as a :class:`Subcommand`.

    Attributes:
        name: What the user types, e.g. ``"taxonomy"``.
        help: One line shown by ``rsa-ray --help``.
        module: The module that defines it, e.g. ``"jobs.taxonomy"``.
        attribute: The module's :class:`Subcommand` value.
        arguments: A lighter module whose ``add_arguments`` adds the same flags (``--help`` and
            usage errors then import only it); default ``module``'s own.
    """

    name: str
    help: str
    module: str
    attribute: str = "SUBCOMMAND"
    arguments: str | None = None

    def load(self) -> Subcommand:
        """Imports the module and returns its :class:`Subcommand`.

        Raises:
            ValueError: The module's value has another name than this entry (the table is out of date).

        Example:
            >>> SubcommandRef("submit", "run as a Ray job", "jobs.submit").load().name
            'submit'
        """
        subcommand = getattr(importlib.import_module(self.module), self.attribute)
        if subcommand.name != self.name:
            raise ValueError(f"{self.module}.{self.attribute} is subcommand {subcommand.name!r}, not {self.name!r}")
        return subcommand

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Adds the subcommand's flags, importing only the module that defines them.

        Example:
            >>> parser = argparse.ArgumentParser()
            >>> SubcommandRef("submit", "run as a Ray job", "jobs.submit").add_arguments(parser)
            >>> parser.parse_args(["--address", "http://head:8265"]).address
            'http://head:8265'
        """
        if self.arguments is None:
            self.load().add_arguments(parser)
        else:
            importlib.import_module(self.arguments).add_arguments(parser)

    def run(self, args: argparse.Namespace) -> int:
        """Imports the subcommand's module and runs it.

        Example:
            >>> SubcommandRef("demo", "the whole workflow", "jobs.demo").run(args)  # doctest: +SKIP
            0
        """
        return self.load().run(args)
