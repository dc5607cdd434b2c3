"""Kendall's tau-a between vectors, through scipy's O(L log L) tau-b.

tau-a = (concordant − discordant) / (L(L−1)/2), ties counting as neither. scipy
computes tau-b = (C − D) / sqrt((n0 − n1)(n0 − n2)) exactly by sorting and
merge counting, where n1 and n2 are the pairs tied within each vector, so
tau-a = tau-b · sqrt((n0 − n1)(n0 − n2)) / n0. Unlike Spearman it is no matrix
product: a matrix of N models costs N(N−1)/2 such sorts.
"""

from __future__ import annotations

import numpy as np


def tied_pairs(values: np.ndarray) -> int:
    """Number of pairs (i < j) with equal values.

    Example:
        >>> tied_pairs(np.array([1.0, 2.0, 1.0, 1.0]))
        3
    """
    _, counts = np.unique(values, return_counts=True)
    return int((counts * (counts - 1) // 2).sum())


def kendall_tau_a(values_a: np.ndarray, values_b: np.ndarray, ties_a: int | None = None, ties_b: int | None = None) -> float:
    """Kendall's tau-a of two finite, non-constant vectors of equal length.

    Args:
        values_a: First vector (L,).
        values_b: Second vector (L,).
        ties_a: ``tied_pairs(values_a)`` if already known (saves a sort).
        ties_b: ``tied_pairs(values_b)`` if already known.

    Returns:
        tau-a in [-1, 1].

    Example:
        >>> kendall_tau_a(np.array([1.0, 2.0, 3.0]), np.array([1.0, 3.0, 2.0]))
        0.3333333333333333
    """
    from scipy import stats  # imported on first use: scipy.stats takes most of a second to load

    n_pairs = values_a.shape[0] * (values_a.shape[0] - 1) // 2
    ties_a = tied_pairs(values_a) if ties_a is None else ties_a
    ties_b = tied_pairs(values_b) if ties_b is None else ties_b
    tau_b = stats.kendalltau(values_a, values_b, variant="b").statistic
    return float(tau_b * np.sqrt(float(n_pairs - ties_a) * float(n_pairs - ties_b)) / n_pairs)
