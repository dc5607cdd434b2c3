"""Ranking candidate source models for a target by their similarity to it, and choosing which to try."""

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


def competition_ranks(scores: Sequence[float] | np.ndarray, rtol: float = 0.0) -> np.ndarray:
    """Competition ranks ("1224"), 1 for the highest score; scores tied within ``rtol`` share the better rank.

    A tie group starts at its highest score (its leader); a score joins the group while it is within
    ``rtol * scale`` of the leader, where ``scale`` is the largest absolute score over all candidates
    (so round-off on values near zero ties too, and groups never chain). ``rtol = 0`` ties only equal
    scores. NaN scores get rank 0 (unranked).

    Args:
        scores: One score per candidate, higher is better.
        rtol: The relative tolerance within which two scores count as equal (>= 0).

    Returns:
        int64 ranks, one per score, in the input order.

    Raises:
        ValueError: A negative tolerance or scores that are not one-dimensional.

    Example:
        >>> competition_ranks([0.2, 0.9, 0.2, 0.1]).tolist()
        [2, 1, 2, 4]
        >>> competition_ranks([7.000000000000002, 6.999999999999998, 5.0], rtol=1e-9).tolist()
        [1, 1, 3]
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1:
        raise ValueError(f"scores must be one-dimensional, got shape {scores.shape}")
    if not rtol >= 0.0:
        raise ValueError(f"the tie tolerance must be >= 0, got {rtol}")
    ranks = np.zeros(scores.shape[0], dtype=np.int64)
    known = np.flatnonzero(~np.isnan(scores))
    if not known.size:
        return ranks
    scale = float(np.max(np.abs(scores[known])))
    order = known[np.argsort(-scores[known], kind="stable")]
    leader = scores[order[0]]
    for position, index in enumerate(order, start=1):
        if position > 1 and leader - scores[index] <= rtol * scale:
            ranks[index] = ranks[order[position - 2]]
        else:
            ranks[index], leader = position, scores[index]
    return ranks


def rank_candidates(scores: Sequence[float] | np.ndarray, names: Sequence[str]) -> tuple[RankedCandidate, ...]:
    """Candidates ordered from most to least similar to the target.

    Ties keep the input order and share a rank (:func:`competition_ranks`: 1, 2, 2, 4).

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
    ranks = competition_ranks(scores)
    order = np.argsort(-scores, kind="stable")
    return tuple(RankedCandidate(int(ranks[index]), str(names[index]), float(scores[index])) for index in order)


@dataclass(frozen=True)
class RankChange:
    """How one candidate's rank for one target changed between two similarity matrices.

    Attributes:
        target: The target model.
        candidate: The candidate source model.
        old_rank: Its rank before (None if it was not ranked then, e.g. a new model).
        new_rank: Its rank now.
        old_score: Its similarity before (None if new).
        new_score: Its similarity now.
    """

    target: str
    candidate: str
    old_rank: int | None
    new_rank: int
    old_score: float | None
    new_score: float

    @property
    def moved(self) -> int | None:
        """Places gained (positive: moved up), or None for a new candidate."""
        return None if self.old_rank is None else self.old_rank - self.new_rank


def _rankings(ids: Sequence[str], matrix: np.ndarray) -> dict[str, dict[str, RankedCandidate]]:
    rankings = {}
    for row, target in enumerate(ids):
        others = [i for i in range(len(ids)) if i != row]
        ranked = rank_candidates(np.asarray(matrix)[row, others], [ids[i] for i in others]) if others else ()
        rankings[target] = {candidate.name: candidate for candidate in ranked}
    return rankings


def ranking_changes(
    old_ids: Sequence[str], old_matrix: np.ndarray, new_ids: Sequence[str], new_matrix: np.ndarray
) -> tuple[RankChange, ...]:
    """For every target in the new matrix, every candidate's old and new rank.

    Args:
        old_ids: Model ids of the previous similarity matrix (may be empty).
        old_matrix: The previous (N, N) matrix.
        new_ids: Model ids of the new matrix.
        new_matrix: The new (K, K) matrix.

    Returns:
        One :class:`RankChange` per (target, candidate) of the new matrix, targets in
        new order, candidates best first.

    Example:
        >>> old = np.array([[1, .5, .2], [.5, 1, .3], [.2, .3, 1]])
        >>> new = np.array([[1, .5, .2, .9], [.5, 1, .3, .1], [.2, .3, 1, .1], [.9, .1, .1, 1]])
        >>> [(c.candidate, c.old_rank, c.new_rank) for c in ranking_changes("abc", old, "abcd", new) if c.target == "a"]
        [('d', None, 1), ('b', 1, 2), ('c', 2, 3)]
    """
    before = _rankings(list(old_ids), old_matrix) if len(old_ids) else {}
    after = _rankings(list(new_ids), new_matrix)
    changes = []
    for target, ranked in after.items():
        previous = before.get(target, {})
        for candidate in ranked.values():
            old = previous.get(candidate.name)
            changes.append(
                RankChange(target, candidate.name, old.rank if old else None, candidate.rank, old.score if old else None, candidate.score)
            )
    return tuple(changes)


@dataclass(frozen=True)
class CandidateSelection:
    """Which candidates to finetune from: every one, the top K of the RSA ranking, or named ids.

    Attributes:
        top_k: K for the top K; None for every candidate or named ids.
        ids: The named ids (empty for every candidate and the top K).
    """

    top_k: int | None = None
    ids: tuple[str, ...] = ()


def select_candidates(selection: CandidateSelection, ranked: Sequence[str]) -> tuple[str, ...]:
    """The candidates to finetune from, best-ranked first (named ids keep their given order).

    Args:
        selection: Every candidate, the top K or named ids.
        ranked: Every candidate, best RSA similarity first.

    Raises:
        ValueError: A named id that is not a candidate.

    Example:
        >>> select_candidates(CandidateSelection(ids=("b",)), ["a", "b"])
        ('b',)
        >>> select_candidates(CandidateSelection(top_k=2), ["a", "b", "c"])
        ('a', 'b')
    """
    if selection.ids:
        unknown = [name for name in selection.ids if name not in ranked]
        if unknown:
            raise ValueError(f"candidates {unknown} are not among the rankable candidates {list(ranked)}")
        return selection.ids
    if selection.top_k is not None:
        return tuple(ranked[: selection.top_k])
    return tuple(ranked)
