"""Consistency of rankings across settings (the paper's supplement S3).

How stable is the ranking of candidates when the similarity is computed with
fewer probe images, from an earlier training checkpoint, or with a smaller
model? Each analysis compares two similarity rows (one target) or two
similarity matrices (every target) by the rank correlation of each row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rsa_ray.ranks import standardized_ranks


@dataclass(frozen=True)
class RankingConsistency:
    """Spearman between matching rows of two similarity matrices.

    Attributes:
        per_row: Spearman r_s per row (per target), the row's own model excluded
            for square matrices.
        mean: Mean of ``per_row``.
    """

    per_row: np.ndarray
    mean: float


def ranking_consistency(similarity_a: np.ndarray, similarity_b: np.ndarray, exclude_self: bool = True) -> RankingConsistency:
    """Rank correlation between two similarity rows or row-by-row between two matrices.

    Args:
        similarity_a: (N,) similarities of candidates to one target, or (T, N) for T targets.
        similarity_b: Same shape and order as ``similarity_a``, computed another way.
        exclude_self: For square (N, N) matrices, leave out each row's diagonal entry
            (a model's similarity to itself is 1 and says nothing about the ranking).

    Returns:
        A :class:`RankingConsistency`.

    Raises:
        ValueError: Shapes differ or are not 1-D/2-D.
        DegenerateInputError: A row is constant or holds NaN/Inf (names the row).

    Example:
        >>> round(ranking_consistency(np.array([0.1, 0.5, 0.3]), np.array([0.2, 0.9, 0.4])).mean, 6)
        1.0
    """
    rows_a = np.atleast_2d(np.asarray(similarity_a, dtype=np.float64))
    rows_b = np.atleast_2d(np.asarray(similarity_b, dtype=np.float64))
    if rows_a.shape != rows_b.shape or rows_a.ndim != 2:
        raise ValueError(f"similarities must have the same 1-D or 2-D shape, got {np.shape(similarity_a)} and {np.shape(similarity_b)}")
    n_rows, n_cols = rows_a.shape
    if exclude_self and n_rows == n_cols and n_rows > 1:
        off_diagonal = ~np.eye(n_rows, dtype=bool)
        rows_a = rows_a[off_diagonal].reshape(n_rows, n_cols - 1)
        rows_b = rows_b[off_diagonal].reshape(n_rows, n_cols - 1)
    names = [f"row {i}" for i in range(n_rows)]
    vectors_a = standardized_ranks(rows_a, names=names)
    vectors_b = standardized_ranks(rows_b, names=names)
    per_row = np.clip(np.einsum("ij,ij->i", vectors_a, vectors_b), -1.0, 1.0)
    return RankingConsistency(per_row, float(per_row.mean()))
