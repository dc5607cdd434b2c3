"""Flags every subcommand shares, and ``--config FILE``: a YAML file with the same keys as the flags."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

DEFAULT_STORE = "./rsa-store"
GLOBAL_FLAGS = ("store", "address", "config")  # given before the subcommand, they are passed on to it
_HELP = {
    "store": f"store URL: a folder or s3://bucket/prefix (default {DEFAULT_STORE})",
    "address": "Ray address (default: RAY_ADDRESS, else a local Ray)",
    "config": "YAML file whose keys are this command's flags (flags win)",
    "debug": "show full tracebacks on errors",
}


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds ``--store``, ``--address``, ``--config`` and ``--debug`` to a subcommand's parser.

    Example:
        >>> parser = argparse.ArgumentParser()
        >>> add_common_arguments(parser)
        >>> parser.parse_args([]).store
        './rsa-store'
    """
    parser.add_argument("--store", default=DEFAULT_STORE, help=_HELP["store"])
    parser.add_argument("--address", default=None, help=_HELP["address"])
    parser.add_argument("--config", default=None, help=_HELP["config"])
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=_HELP["debug"])


def add_global_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the shared flags to the top-level ``rsa-ray`` parser, where they may also be given.

    ``--store``, ``--address`` and ``--config`` set nothing here (their defaults are the
    subcommand's); given before the subcommand, they are handed on to it, so
    ``rsa-ray --store X models list`` and ``rsa-ray models list --store X`` are the same.

    Example:
        >>> parser = argparse.ArgumentParser()
        >>> add_global_arguments(parser)
        >>> vars(parser.parse_args(["--store", "s3://zoo"]))
        {'debug': False, 'store': 's3://zoo'}
    """
    for flag in GLOBAL_FLAGS:
        parser.add_argument(f"--{flag}", default=argparse.SUPPRESS, help=_HELP[flag])
    parser.add_argument("--debug", action="store_true", help=_HELP["debug"])


def read_config(path: str | Path, parser: argparse.ArgumentParser) -> dict[str, Any]:
    """Reads a config file and checks its keys against the parser's flags.

    Keys may be written as in the flag (``top-k``) or as the attribute (``top_k``).

    Raises:
        ValueError: The file is missing, is not a YAML mapping, or has a key no flag has.

    Example:
        >>> read_config("settings.yaml", argparse.ArgumentParser())  # doctest: +SKIP
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"config file {str(path)!r} does not exist")
    try:
        document = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ValueError(f"config file {str(path)!r} is not valid YAML: {str(error).splitlines()[0]}") from None
    if document is None:
        return {}
    if not isinstance(document, Mapping):
        raise ValueError(f"config file {str(path)!r} must hold a mapping of flag names to values, got {type(document).__name__}")
    known = {action.dest for action in parser._actions if action.dest not in ("help", "config")}
    values = {}
    for key, value in document.items():
        dest = str(key).replace("-", "_")
        if dest not in known:
            raise ValueError(f"config file {str(path)!r}: unknown key {key!r}; valid: {', '.join(sorted(known))}")
        values[dest] = value
    return values
