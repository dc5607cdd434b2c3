"""The ``rsa-ray`` parser: subcommands loaded only when chosen, shared flags before or after them.

``rsa-ray --help`` lists the subcommands from their one-line help alone; a subcommand's
module (and what it imports: Ray, torch, pandas...) is imported only when that subcommand
is parsed. ``--store``, ``--address`` and ``--config`` given before the subcommand are
handed on to it as if written after it, so defaults, ``--config`` values and "flags win"
work the same in either position.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from jobs.cli_types import Subcommand, SubcommandRef
from jobs.config import GLOBAL_FLAGS, add_global_arguments
from jobs.subcommands import SUBCOMMANDS
from rsa_ray._version import __version__

DESCRIPTION = (
    "Representational Similarity Analysis for model zoos: which pretrained "
    "encoder to finetune from, and how tasks relate. Global flags (--store, --address, "
    "--config, --debug) may be given before or after the command."
)


class SubcommandParser(argparse.ArgumentParser):
    """A subcommand's parser, whose flags are added the first time it is needed."""

    source: Subcommand | SubcommandRef | None = None
    _loaded = False

    def load(self) -> SubcommandParser:
        """Adds the subcommand's flags and its ``run`` default (importing its module), once.

        Example:
            >>> parser = build_parser([SubcommandRef("submit", "as a Ray job", "jobs.submit")], lazy=True)
            >>> "--wait" in subcommand_parser(parser, "submit").load()._option_string_actions
            True
        """
        if not self._loaded and self.source is not None:
            self.source.add_arguments(self)
            self.set_defaults(run=self.source.run)
            self._loaded = True
        return self

    def parse_known_args(self, args=None, namespace=None):
        self.load()
        return super().parse_known_args(args, namespace)


class _Subcommands(argparse._SubParsersAction):
    """Dispatches to the chosen subcommand, handing it the shared flags given before its name."""

    def __call__(self, parser, namespace, values, option_string=None):
        name, *rest = values
        child = self._name_parser_map[name].load()
        before = []
        for flag in GLOBAL_FLAGS:
            if flag in vars(namespace):
                value = vars(namespace).pop(flag)
                if f"--{flag}" not in child._option_string_actions:
                    child.error(f"--{flag} is not an option of {name}")
                before += [f"--{flag}", value]
        super().__call__(parser, namespace, [name, *before, *rest], option_string)


def build_parser(subcommands: Sequence[Subcommand | SubcommandRef] | None = None, *, lazy: bool = False) -> argparse.ArgumentParser:
    """Builds the ``rsa-ray`` argument parser.

    Args:
        subcommands: The subcommands to offer (default: all of ``jobs.subcommands.SUBCOMMANDS``).
        lazy: Import a subcommand's module only when it is parsed (what the command does);
            by default every subcommand's flags are added at once.

    Returns:
        The parser; ``parse_args`` on it gives a namespace with ``subcommand`` set.

    Example:
        >>> build_parser(lazy=True).parse_args(["--debug"]).debug
        True
    """
    if subcommands is None:
        subcommands = SUBCOMMANDS
    parser = argparse.ArgumentParser(prog="rsa-ray", description=DESCRIPTION)
    parser.register("action", "parsers", _Subcommands)
    parser.add_argument("--version", action="version", version=f"rsa-ray {__version__}")
    add_global_arguments(parser)
    children = parser.add_subparsers(dest="subcommand", metavar="COMMAND", parser_class=SubcommandParser)
    for subcommand in subcommands:
        child = children.add_parser(subcommand.name, help=subcommand.help, description=subcommand.help)
        child.source = subcommand
        if not lazy:
            child.load()
    return parser


def subcommand_parser(parser: argparse.ArgumentParser, name: str) -> SubcommandParser:
    """The parser of one subcommand, with its flags added.

    Example:
        >>> subcommand_parser(build_parser(lazy=True), "models").get_default("store")
        './rsa-store'
    """
    children = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    return children.choices[name].load()
