"""Whether a transferability score tells the candidates apart at all, checked before it ranks them (numpy only).

A score is *uninformative* over a set of candidates when ranking by it would rank round-off
or a ceiling rather than the candidates. The rules, applied in this order to the candidates
that have a value (fewer than two values are never flagged):

1. **all zero**: every value is exactly 0.
2. **saturated**: the estimator reports a ceiling (the H-score's C - 1, an accuracy's 1, SFDA's
   log-probability 0; :attr:`rsa_ray.estimators.Estimator.ceiling`) and at least half the
   candidates (and at least two) are at it: within ``rtol`` of it, or within
   :data:`SATURATION_SHARE_OF_SPREAD` (0.1 %) of the values' spread from it (SFDA at -1e-5 next to
   candidates at -0.5). Then at least half the zoo ties for best, up to differences a thousand
   times smaller than those between the candidates, so no "best" can be named; fewer at the
   ceiling still rank.
3. **constant**: every value is the same.
4. **within tolerance**: the values differ, but only by at most ``rtol`` times the largest
   absolute value (round-off: 6.999999999999998 vs 7.000000000000002).
5. **mostly zero**: at least half the candidates (and at least two) are 0 within the tolerance
   (an estimator that collapsed on them).

Values within the same tolerance of each other share a rank
(:func:`rsa_ray.source_ranking.competition_ranks` with ``rtol``); :data:`DEFAULT_RTOL` is the
tolerance both use.

Example:
    >>> check_score("hscore", [7.000000000000002, 6.999999999999998, 7.0, 5.1], ceiling=7.0).reason
    'saturated: 3 of 4 candidates at its ceiling 7'
    >>> check_score("logme", [0.1, 0.5, 0.3]).informative
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Relative tolerance under which two values of one score count as equal (ties and the checks above).
DEFAULT_RTOL = 1e-9
#: The share of candidates at a ceiling (or at 0) from which a score is uninformative.
SATURATED_SHARE = 0.5
#: How close to its ceiling, as a share of the spread of the values, a value counts as at the ceiling.
SATURATION_SHARE_OF_SPREAD = 1e-3


@dataclass(frozen=True)
class ScoreCheck:
    """The outcome of checking one score's values over the candidates.

    Attributes:
        name: The score.
        reason: Why it is uninformative, or None when it tells the candidates apart.
        n_values: How many candidates had a value.
    """

    name: str
    reason: str | None
    n_values: int

    @property
    def informative(self) -> bool:
        """Whether the score may rank the candidates (and enter the consensus and "best" claims)."""
        return self.reason is None

    @property
    def line(self) -> str:
        """The one line printed for an uninformative score ("" for an informative one).

        Example:
            >>> check_score("sfda", [0.0, 0.0, 0.0]).line
            'score sfda: uninformative (all zero)'
        """
        return "" if self.reason is None else f"score {self.name}: uninformative ({self.reason})"


def _count_needed(n_values: int) -> int:
    return max(2, int(np.ceil(SATURATED_SHARE * n_values)))


def _at_ceiling(values: np.ndarray, ceiling: float, tolerance: float) -> int:
    """How many values are at the ceiling: within ``tolerance``, or within a small share of the spread."""
    near = max(tolerance, SATURATION_SHARE_OF_SPREAD * float(np.ptp(values)))
    return int(np.sum(np.abs(values - ceiling) <= near))


def check_score(name: str, values: Sequence[float] | np.ndarray, ceiling: float | None = None,
                rtol: float = DEFAULT_RTOL) -> ScoreCheck:
    """Checks one score's values over the candidates (NaN: a candidate without a value, ignored).

    Args:
        name: The score's name, for the message.
        values: One value per candidate.
        ceiling: The highest value the estimator can report for this target, if it has one.
        rtol: The relative tolerance (see the module's rules).

    Returns:
        The :class:`ScoreCheck`: ``reason`` None, or the first rule the values break.

    Raises:
        ValueError: A negative tolerance, or values that are not one-dimensional.

    Example:
        >>> check_score("knn", [0.5, 0.5, 0.5]).reason
        'constant: every candidate 0.5'
        >>> check_score("sfda", [0.0, 0.0, -0.3, 0.0, -0.1]).reason
        'mostly zero: 3 of 5 candidates at 0'
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"score {name!r}: values must be one per candidate, got shape {values.shape}")
    if not rtol >= 0.0:
        raise ValueError(f"the tolerance must be >= 0, got {rtol}")
    known = values[np.isfinite(values)]
    n_values = int(known.size)
    if n_values < 2:
        return ScoreCheck(name, None, n_values)
    scale = float(np.max(np.abs(known)))
    tolerance = rtol * scale
    needed = _count_needed(n_values)
    reason = None
    if scale == 0.0:
        reason = "all zero"
    elif ceiling is not None and _at_ceiling(known, ceiling, rtol * max(scale, abs(ceiling))) >= needed:
        at_ceiling = _at_ceiling(known, ceiling, rtol * max(scale, abs(ceiling)))
        reason = f"saturated: {at_ceiling} of {n_values} candidates at its ceiling {ceiling:.6g}"
    elif np.ptp(known) == 0.0:
        reason = f"constant: every candidate {known[0]:.6g}"
    elif np.ptp(known) <= tolerance:
        reason = f"the values differ only within {rtol:g} relative (spread {np.ptp(known):.3g})"
    elif np.sum(np.abs(known) <= tolerance) >= needed:
        reason = f"mostly zero: {int(np.sum(np.abs(known) <= tolerance))} of {n_values} candidates at 0"
    return ScoreCheck(name, reason, n_values)
