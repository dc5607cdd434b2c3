"""What an architecture's keyword argument may hold: a finite scalar that points nowhere.

Arguments are data: scalars only, finite, never a URL. An argument that would make a
builder fetch weights from a hub is refused, since weights come only from the entry's
checked file. Which names a builder accepts is the architecture registry's business
(``rsa_ray.models.architecture_kwargs``), asked when a model is admitted and built.
"""

from __future__ import annotations

import math

SCALAR_TYPES = (str, int, float, bool, type(None))
_HUB_URL_PREFIXES = ("hf-hub:", "hf_hub:")


def looks_like_url(value: object) -> bool:
    """Whether a value is a string that points somewhere to download from.

    Example:
        >>> looks_like_url("https://example.org/w.pth"), looks_like_url("hf-hub:org/model"), looks_like_url("dense")
        (True, True, False)
    """
    return isinstance(value, str) and ("://" in value or value.strip().lower().startswith(_HUB_URL_PREFIXES))


def value_problem(value: object) -> str | None:
    """What is wrong with one argument's value, or None if it is a finite scalar that is not a URL.

    Example:
        >>> value_problem(2) is None, value_problem([1, 2])
        (True, 'must be a scalar (str, int, float, bool, null), got [1, 2]')
    """
    if not isinstance(value, SCALAR_TYPES):
        return f"must be a scalar (str, int, float, bool, null), got {value!r}"
    if isinstance(value, float) and not math.isfinite(value):
        return f"must be a finite number, got {value!r}"
    if looks_like_url(value):
        return "must not be a URL: weights come only from the entry's checked weights file"
    return None
