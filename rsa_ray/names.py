"""Safe names, reduction names and precision names.

A safe name is what an id (probe set, model, layer role, table) may be, so that it can become a path component:
ASCII letters, digits, ``.``, ``_`` and ``-``, starting with a letter or digit, no ``..``, at
most 128 characters. The store raises its ``InvalidIdError`` and the manifest reader its
``ManifestError`` from the same rule.
"""

from __future__ import annotations

import re
import unicodedata

MAX_ID_LENGTH = 128
# Characters that do not show as themselves on one line: control, format (bidirectional marks and overrides
# among them), surrogate, private-use and unassigned characters, and line or paragraph separators.
_UNPRINTABLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*", flags=re.ASCII)


def is_printable_text(value: str) -> bool:
    r"""Whether ``value`` shows as itself on one line (spaces of any width are fine; see above for what is not).

    Example:
        >>> is_printable_text("depth map\u00a02"), is_printable_text("depth\u202e"), is_printable_text("a\nb")
        (True, False, False)
    """
    return not any(unicodedata.category(char) in _UNPRINTABLE_CATEGORIES for char in value)


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


# Forward-pass precision: the flag's name → the ``forward_dtype`` an entry's identity records. The
# stored values are those earlier releases wrote (float32, bfloat16, float16), so existing entries keep
# their identity; ``tf32`` is new (float32 storage, TF32 matmuls and convolutions on CUDA).
PRECISIONS: dict[str, str] = {"fp32": "float32", "tf32": "tf32", "bf16": "bfloat16", "fp16": "float16"}
# The earlier spellings of the flag, accepted as aliases.
PRECISION_ALIASES: dict[str, str] = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}


def precision_name(name: object) -> str:
    """The precision flag name (``fp32``, ``tf32``, ``bf16``, ``fp16``) of ``name`` or of one of its aliases.

    Args:
        name: A flag name, or an earlier spelling (``float32``, ``bfloat16``, ``float16``).

    Returns:
        The flag name.

    Raises:
        ValueError: ``name`` is neither, listing the valid names.

    Example:
        >>> precision_name("bfloat16"), precision_name("tf32")
        ('bf16', 'tf32')
        >>> precision_name("half")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: precision 'half' is not one of fp32, tf32, bf16, fp16 (or float32, bfloat16, float16)
    """
    if isinstance(name, str):
        if name in PRECISIONS:
            return name
        if name in PRECISION_ALIASES:
            return PRECISION_ALIASES[name]
    raise ValueError(f"precision {name!r} is not one of {', '.join(PRECISIONS)} "
                     f"(or {', '.join(PRECISION_ALIASES)})")


def forward_dtype(name: object) -> str:
    """The ``forward_dtype`` an entry's identity records for precision ``name`` (a flag name or an alias).

    Args:
        name: A flag name (``fp32``...), an alias (``float32``...) or a stored value (``tf32``...).

    Returns:
        The stored value: ``float32``, ``tf32``, ``bfloat16`` or ``float16``.

    Raises:
        ValueError: ``name`` is none of these (see :func:`precision_name`).

    Example:
        >>> forward_dtype("fp32"), forward_dtype("float32"), forward_dtype("tf32"), forward_dtype("bf16")
        ('float32', 'float32', 'tf32', 'bfloat16')
    """
    if isinstance(name, str) and name in PRECISIONS.values():
        return name
    return PRECISIONS[precision_name(name)]
