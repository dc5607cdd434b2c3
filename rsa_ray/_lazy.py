"""Lazy package attributes: a package names what it exports, each loaded from its module on first use.

Keeps ``import rsa_ray`` (and its torch subpackages) cheap: a Ray worker that needs one kernel
imports only that kernel's module.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any


def lazy_attributes(package: str, exports: Mapping[str, str],
                    namespace: MutableMapping[str, Any]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module-level ``__getattr__`` and ``__dir__`` of a package whose ``exports`` map names to modules.

    A name is imported from its module the first time it is asked for and then kept in
    ``namespace`` (the package's ``globals()``), so later look-ups cost nothing.

    Example:
        >>> namespace = {}
        >>> getattr_, dir_ = lazy_attributes("example", {"sqrt": "math"}, namespace)
        >>> getattr_("sqrt")(9.0), "sqrt" in namespace, dir_()
        (3.0, True, ['sqrt'])
    """

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name]), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted((set(namespace) | set(exports)) - {name for name in namespace if name.startswith("__")})

    return __getattr__, __dir__
