"""Flags every subcommand shares, and ``--config FILE``: a YAML file with the same keys as the flags."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DEFAULT_STORE = "./rsa-store"
GLOBAL_FLAGS = ("store", "address", "config")  # given before the subcommand, they are passed on to it
_HELP = {
    "store": f"store URL: a folder or s3://bucket/prefix (default {DEFAULT_STORE})",
    "address": "Ray address (default: RAY_ADDRESS, else a local Ray)",
    "config": "YAML file whose keys are this command's flags (flags win)",
    "debug": "show full tracebacks on errors",
}


def store_url(text: str) -> str:
    """An argparse ``type`` for ``--store``: a non-empty URL or path (an empty one would open a store in the
    working folder).

    Example:
        >>> store_url("s3://zoo/store")
        's3://zoo/store'
    """
    if not text.strip():
        raise argparse.ArgumentTypeError(f"the store URL must not be empty, got {text!r}; pass a folder or s3://bucket/prefix")
    return text


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds ``--store``, ``--address``, ``--config`` and ``--debug`` to a subcommand's parser.

    Example:
        >>> parser = argparse.ArgumentParser()
        >>> add_common_arguments(parser)
        >>> parser.parse_args([]).store
        './rsa-store'
    """
    parser.add_argument("--store", default=DEFAULT_STORE, type=store_url, help=_HELP["store"])
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
        parser.add_argument(f"--{flag}", default=argparse.SUPPRESS, type=store_url if flag == "store" else None,
                            help=_HELP[flag])
    parser.add_argument("--debug", action="store_true", help=_HELP["debug"])


def read_config(path: str | Path, parser: argparse.ArgumentParser) -> dict[str, Any]:
    """Reads a config file and checks its keys against the parser's flags.

    Keys may be written as in the flag (``top-k``) or as the attribute (``top_k``).

    Raises:
        ValueError: The file is missing, is not a YAML mapping, or has a key no flag has.

    Example:
        >>> read_config("settings.yaml", argparse.ArgumentParser())  # doctest: +SKIP
    """
    import yaml  # imported here: a command without --config reads no YAML

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
    actions = {action.dest: action for action in parser._actions if action.dest not in ("help", "config")}
    values = {}
    for key, value in document.items():
        dest = str(key).replace("-", "_")
        if dest not in actions:
            raise ValueError(f"config file {str(path)!r}: unknown key {key!r}; valid: {', '.join(sorted(actions))}")
        values[dest] = _config_value(actions[dest], value, f"config file {str(path)!r}: key {key!r}")
    return values


_SCALARS = (str, int, float, bool)


def _config_value(action: argparse.Action, value: Any, what: str) -> Any:
    """A config value checked as its flag would check it: a scalar, or a list where the flag takes several
    values; converted by the flag's ``type`` and checked against its ``choices``.

    Raises:
        ValueError: A mapping, a list for a one-value flag, a nested list, or a value the flag refuses.
    """
    several = action.nargs in ("+", "*") or isinstance(action, argparse._AppendAction)
    if value is None:
        return None
    if isinstance(value, Mapping):
        raise ValueError(f"{what} must be a value{' or a list of values' if several else ''}, got a mapping")
    if isinstance(value, list):
        if not several:
            raise ValueError(f"{what} takes one value, got a list")
        return [_config_scalar(action, item, what) for item in value]
    return [_config_scalar(action, value, what)] if several else _config_scalar(action, value, what)


def _config_scalar(action: argparse.Action, value: Any, what: str) -> Any:
    if not isinstance(value, _SCALARS):
        raise ValueError(f"{what} must be a number, text or true/false, got {type(value).__name__}")
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        if not isinstance(value, bool):
            raise ValueError(f"{what} must be true or false, got {value!r}")
        return value
    if action.type is not None:
        try:
            value = action.type(str(value) if not isinstance(value, str) else value)
        except (ValueError, TypeError, argparse.ArgumentTypeError) as error:
            raise ValueError(f"{what}: {error}") from None
    if action.choices is not None and value not in action.choices:
        raise ValueError(f"{what} must be one of {', '.join(map(str, action.choices))}, got {value!r}")
    return value
