"""``rsa-ray settings``: show or change what the operator allows in a store (:mod:`storage.settings`)."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from jobs.cli_types import Subcommand
from jobs.common import open_store
from jobs.config import add_common_arguments

if TYPE_CHECKING:  # importing any storage module opens the storage package (zarr): --help needs none of it
    from storage.settings import StoreSettings

_CHOICES = {"yes": True, "no": False}


def _argument_type(name: str) -> Callable[[str], object]:
    """``storage.weights_policy.<name>`` as an argparse type, imported when a value is converted (so ``--help``
    and a usage error import no storage): its ValueError becomes a usage error (exit 2) with its message."""
    def convert(text: str) -> object:
        check = getattr(importlib.import_module("storage.weights_policy"), name)
        try:
            return check(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    convert.__name__ = name
    return convert


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    parser.add_argument("--allow-torchscript", choices=sorted(_CHOICES), default=None,
                        help="register and load TorchScript archives (programs, not weights) for this store's "
                             "models; off unless set to yes")
    parser.add_argument("--max-weights-size", type=_argument_type("parse_size"), default=None, metavar="SIZE",
                        help="the largest weights file fetched or hashed, e.g. 8GiB (default 4GiB); a larger "
                             "file is refused by its size, before it is read")
    parser.add_argument("--allow-weights-url", type=_argument_type("url_prefix"), action="append", default=None,
                        metavar="PREFIX", help="also fetch weights under this URL prefix (scheme://host/path/); "
                                               "local files and the store's own bucket are always allowed, "
                                               "nothing else unless added; repeatable")
    parser.add_argument("--disallow-weights-url", action="append", default=None, metavar="PREFIX",
                        help="remove a prefix added with --allow-weights-url; repeatable")


@dataclass(frozen=True)
class SettingsRequest:
    """The changes the flags ask for; None or empty: leave that setting as it is.

    Example:
        >>> SettingsRequest(allow_torchscript="yes").changes(())
        {'allow_torchscript': True}
    """

    allow_torchscript: str | None = None
    max_weights_size: int | None = None
    allow_weights_urls: tuple[str, ...] = ()
    disallow_weights_urls: tuple[str, ...] = ()

    def changes(self, current_prefixes: tuple[str, ...]) -> dict[str, object]:
        """The keyword arguments of :meth:`storage.Store.update_settings`, given the store's current URL prefixes."""
        changes: dict[str, object] = {}
        if self.allow_torchscript is not None:
            changes["allow_torchscript"] = _CHOICES[self.allow_torchscript]
        if self.max_weights_size is not None:
            changes["max_weights_size"] = self.max_weights_size
        if self.allow_weights_urls or self.disallow_weights_urls:
            removed = {prefix.strip() for prefix in self.disallow_weights_urls}
            kept = [prefix for prefix in (*current_prefixes, *self.allow_weights_urls) if prefix not in removed]
            changes["allow_weights_urls"] = tuple(kept)
        return changes


def describe(url: str, current: StoreSettings) -> str:
    """The one line ``rsa-ray settings`` prints about a store's settings.

    Example:
        >>> from storage.settings import StoreSettings
        >>> print(describe("s3://lab/store", StoreSettings()))
        settings of s3://lab/store: allow_torchscript=no, max_weights_size=4 GiB, weights from: local files, s3://lab/ (the store's bucket)
    """
    from storage.weights_policy import format_size, own_bucket_prefix

    own = own_bucket_prefix(url)
    sources = ["local files", *([f"{own} (the store's bucket)"] if own else []), *current.allow_weights_urls]
    return (f"settings of {url}: allow_torchscript={'yes' if current.allow_torchscript else 'no'}, "
            f"max_weights_size={format_size(current.max_weights_size)}, weights from: {', '.join(sources)}")


def run(args: argparse.Namespace) -> int:
    request = SettingsRequest(args.allow_torchscript, args.max_weights_size, tuple(args.allow_weights_url or ()),
                              tuple(args.disallow_weights_url or ()))
    store = open_store(args.store)
    changes = request.changes(store.settings().allow_weights_urls)
    current = store.update_settings(**changes) if changes else store.settings()
    print(describe(store.url, current))
    return 0


SUBCOMMAND = Subcommand("settings", "show or change the store's settings (e.g. whether TorchScript models are allowed)",
                        add_arguments, run)
