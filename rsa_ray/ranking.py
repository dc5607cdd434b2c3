"""Ranking candidate source models for a target by their similarity to it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RankedCandidate:
    """One candidate in a ranking.

    Attributes:
        rank: 1 for the best; candidates with equal scores share the best rank of their group.
        name: The candidate's model id.
        score: Its similarity to the target (higher is better).
    """

    rank: int
    name: str
    score: float


def rank_candidates(scores: Sequence[float] | np.ndarray, names: Sequence[str]) -> tuple[RankedCandidate, ...]:
    """Candidates ordered from most to least similar to the target.

    Ties keep the input order and share a rank ("competition" ranking: 1, 2, 2, 4).

    Args:
        scores: One finite similarity per candidate.
        names: The candidates' ids, unique.

    Returns:
        The candidates, best first.

    Raises:
        ValueError: Length mismatch, duplicate names, or a non-finite score (naming the candidate).

    Example:
        >>> [c.name for c in rank_candidates([0.2, 0.9, 0.5], ["a", "b", "c"])]
        ['b', 'c', 'a']
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1 or scores.shape[0] != len(names):
        raise ValueError(f"got {scores.shape} scores for {len(names)} candidates")
    if len(set(names)) != len(names):
        raise ValueError("candidate names must be unique")
    bad = np.flatnonzero(~np.isfinite(scores))
    if bad.size:
        raise ValueError(f"candidate {names[bad[0]]!r} has a non-finite score {scores[bad[0]]}")
    order = np.argsort(-scores, kind="stable")
    ranked = []
    for position, index in enumerate(order):
        tied_with_previous = position > 0 and scores[index] == scores[order[position - 1]]
        rank = ranked[-1].rank if tied_with_previous else position + 1
        ranked.append(RankedCandidate(rank, str(names[index]), float(scores[index])))
    return tuple(ranked)
