"""Safe names and reduction names.

A safe name is what an id (probe set, model, layer role, table) may be, so that it can become a path component:
ASCII letters, digits, ``.``, ``_`` and ``-``, starting with a letter or digit, no ``..``, at
most 128 characters. The store raises its ``InvalidIdError`` and the manifest reader its
``ManifestError`` from the same rule.
"""

from __future__ import annotations

import re

MAX_ID_LENGTH = 128
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*", flags=re.ASCII)


def safe_name_problem(value: object, what: str = "id") -> str | None:
    """What makes ``value`` an unsafe name, or None when it is a safe one.

    Args:
        value: The candidate name.
        what: What the name names, for the message (``"model id"``, ``"layer"``...).

    Returns:
        None, or a message naming ``value`` and the rule it breaks.

    Example:
        >>> safe_name_problem("features.14", "layer") is None
        True
        >>> safe_name_problem("../x", "layer")  # doctest: +ELLIPSIS
        "layer '../x' is not a safe name: ..."
    """
    if not isinstance(value, str):
        return f"{what} must be a string, got {type(value).__name__} {value!r}"
    shown = value if len(value) <= 40 else value[:40] + "..."
    if not value:
        return f"{what} must not be empty"
    if len(value) > MAX_ID_LENGTH:
        return f"{what} {shown!r} is {len(value)} characters long; the limit is {MAX_ID_LENGTH}"
    if not _SAFE_ID.fullmatch(value) or ".." in value:
        return (f"{what} {shown!r} is not a safe name: use ASCII letters, digits, '.', '_' and '-', "
                "starting with a letter or digit, and no '..'")
    return None


FLATTEN = "flatten"
REDUCTIONS = ("flatten", "avg", "max", "adaptive:K", "cls", "tokens-mean")


def check_reduction(name: object) -> str:
    """``name`` if it names a layer reduction (``adaptive:K`` with a whole K >= 1), else a ``ValueError`` listing them.

    The reductions themselves are :mod:`rsa_ray.models.reductions` (torch); the names are checked
    here, where a process that only plans work can check a flag without loading torch.

    Example:
        >>> check_reduction("adaptive:4")
        'adaptive:4'
        >>> check_reduction("mean")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: reduction 'mean' is not one of flatten, avg, max, adaptive:K, cls, tokens-mean ...
    """
    if isinstance(name, str):
        if name in REDUCTIONS and name != "adaptive:K":
            return name
        prefix, _, size = name.partition(":")
        if prefix == "adaptive" and size.isdigit() and int(size) >= 1 and size == str(int(size)):
            return name
    raise ValueError(f"reduction {name!r} is not one of {', '.join(REDUCTIONS)} (K a whole number >= 1)")
