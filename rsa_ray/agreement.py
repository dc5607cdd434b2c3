"""How well RSA similarity predicts measured transfer, and how two task matrices agree.

:func:`transfer_agreement` scores one target's ranking against finetuning
results (the paper's Table 1 and r_s); :func:`table1_counts` sums those over
targets. :func:`column_agreement` compares a task-similarity matrix with a
transfer-affinity matrix column by column (the protocol used against
Taskonomy's published affinities).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from rsa_ray.errors import DegenerateInputError
from rsa_ray.ranks import standardized_ranks
from rsa_ray.similarity import clip_correlations


@dataclass(frozen=True)
class TransferAgreement:
    """Agreement between similarity to a target and measured transfer performance.

    Attributes:
        pearson: Pearson r between similarity and performance.
        spearman: Spearman r_s.
        kendall_tau: Kendall's tau-b.
        weighted_kendall_tau: scipy's weighted tau (top ranks weigh more).
        top_k_hit: k → whether the best candidate by similarity is within the top k by
            performance (ties in performance are resolved in its favour: its rank is
            1 + the number of strictly better candidates).
        rel_at_k: k → best performance within the top k by similarity ÷ best overall
            (NaN when the best overall performance is ≤ 0, where the ratio means nothing).
        regret: Best performance − performance of the similarity's top-1.
        best_by_similarity: Index of the similarity's top-1 (among equal similarities,
            the one with the lowest performance: the pessimistic choice).
    """

    pearson: float
    spearman: float
    kendall_tau: float
    weighted_kendall_tau: float
    top_k_hit: dict[int, bool]
    rel_at_k: dict[int, float]
    regret: float
    best_by_similarity: int


def _finite_vector(values: Sequence[float] | np.ndarray, what: str) -> np.ndarray:
    vector = np.asarray(values, dtype=np.float64)
    if vector.ndim != 1:
        raise ValueError(f"{what} must be one value per candidate, got shape {vector.shape}")
    bad = np.flatnonzero(~np.isfinite(vector))
    if bad.size:
        raise ValueError(f"{what} of candidate #{bad[0]} is {vector[bad[0]]}")
    if vector.size and np.ptp(vector) == 0:
        raise DegenerateInputError(what, "all candidates have the same value, so correlations are undefined")
    return vector


def transfer_agreement(
    similarity_scores: Sequence[float] | np.ndarray,
    transfer_performance: Sequence[float] | np.ndarray,
    ks: Sequence[int] = (1, 3, 5),
) -> TransferAgreement:
    """Scores a similarity ranking of candidates against their measured transfer.

    Args:
        similarity_scores: Similarity of each candidate to the target (higher = better).
        transfer_performance: Performance after finetuning from each candidate
            (higher = better: accuracy, mIoU, negative loss).
        ks: The k of top-k hit and rel@k; each must be between 1 and the number of candidates.

    Returns:
        A :class:`TransferAgreement`.

    Raises:
        ValueError: Mismatched lengths, fewer than 3 candidates, non-finite values or a bad k.
        DegenerateInputError: Either input is constant.

    Example:
        >>> a = transfer_agreement([0.9, 0.5, 0.1, 0.3], [0.8, 0.6, 0.2, 0.7], ks=(1, 2))
        >>> a.top_k_hit, a.regret
        ({1: True, 2: True}, 0.0)
    """
    similarity = _finite_vector(similarity_scores, "similarity_scores")
    performance = _finite_vector(transfer_performance, "transfer_performance")
    if similarity.shape != performance.shape:
        raise ValueError(f"got {similarity.size} similarity scores but {performance.size} performances")
    if similarity.size < 3:
        raise ValueError(f"need at least 3 candidates to score a ranking, got {similarity.size}")
    bad_ks = [k for k in ks if not 1 <= k <= similarity.size]
    if bad_ks:
        raise ValueError(f"ks must lie in 1..{similarity.size}, got {bad_ks}")
    tied_best = np.flatnonzero(similarity == similarity.max())
    best = int(tied_best[np.argmin(performance[tied_best])])
    performance_rank = 1 + int((performance > performance[best]).sum())
    by_similarity = np.argsort(-similarity, kind="stable")
    best_overall = float(performance.max())
    rel_at_k = {
        k: float(performance[by_similarity[:k]].max() / best_overall) if best_overall > 0 else float("nan") for k in ks
    }
    return TransferAgreement(
        pearson=float(stats.pearsonr(similarity, performance).statistic),
        spearman=float(stats.spearmanr(similarity, performance).statistic),
        kendall_tau=float(stats.kendalltau(similarity, performance).statistic),
        weighted_kendall_tau=float(stats.weightedtau(similarity, performance).statistic),
        top_k_hit={k: performance_rank <= k for k in ks},
        rel_at_k=rel_at_k,
        regret=best_overall - float(performance[best]),
        best_by_similarity=best,
    )


@dataclass(frozen=True)
class ColumnAgreement:
    """Per-column Spearman between two matrices and its mean.

    Attributes:
        per_column: Spearman r_s per column; NaN for a column that is constant in
            either matrix (undefined), so one such column does not hide the others.
        mean: Mean over the defined columns (NaN if none is defined).
    """

    per_column: np.ndarray
    mean: float


def _rank_correlation_or_nan(values_a: np.ndarray, values_b: np.ndarray) -> float:
    try:
        vectors = standardized_ranks(np.stack([values_a, values_b]), names=("a", "b"), workers=1)
    except DegenerateInputError:
        return float("nan")
    return float(clip_correlations(vectors[0] @ vectors[1]))


def column_agreement(matrix_a: np.ndarray, matrix_b: np.ndarray) -> ColumnAgreement:
    """Spearman between matching columns of two (N, K) matrices, diagonal included.

    Used to compare a task-similarity matrix (sources × targets) with a transfer
    affinity matrix of the same order.

    Args:
        matrix_a: (N, K) matrix.
        matrix_b: (N, K) matrix with rows and columns in the same order.

    Returns:
        A :class:`ColumnAgreement`.

    Raises:
        ValueError: Shapes differ, fewer than 2 rows, or NaN/Inf values.

    Example:
        >>> a = np.array([[1.0, 0.2], [0.5, 1.0], [0.1, 0.4]])
        >>> round(column_agreement(a, a * 2).mean, 6)
        1.0
    """
    matrix_a = np.asarray(matrix_a, dtype=np.float64)
    matrix_b = np.asarray(matrix_b, dtype=np.float64)
    if matrix_a.ndim != 2 or matrix_a.shape != matrix_b.shape:
        raise ValueError(f"matrices must be 2-D of the same shape, got {matrix_a.shape} and {matrix_b.shape}")
    if matrix_a.shape[0] < 2:
        raise ValueError(f"need at least 2 rows to correlate columns, got {matrix_a.shape[0]}")
    for label, matrix in (("matrix_a", matrix_a), ("matrix_b", matrix_b)):
        if not np.isfinite(matrix).all():
            row, col = np.argwhere(~np.isfinite(matrix))[0]
            raise ValueError(f"{label}[{row}, {col}] is not finite")
    per_column = np.array(
        [_rank_correlation_or_nan(matrix_a[:, j], matrix_b[:, j]) for j in range(matrix_a.shape[1])]
    )
    defined = per_column[np.isfinite(per_column)]
    return ColumnAgreement(per_column, float(defined.mean()) if defined.size else float("nan"))


@dataclass(frozen=True)
class Table1Counts:
    """The paper's Table 1 over targets: how often the RSA top-1 is within the transfer top-k.

    Attributes:
        n_targets: Targets scored.
        top_k_hits: k → number of targets whose RSA top-1 is within the top k by transfer.
        mean_pearson: Mean Pearson r between similarity and performance.
        mean_spearman: Mean Spearman r_s.
    """

    n_targets: int
    top_k_hits: dict[int, int]
    mean_pearson: float
    mean_spearman: float


def table1_counts(hits: Sequence[Mapping[int, bool]], pearson: Sequence[float], spearman: Sequence[float]) -> Table1Counts:
    """Sums per-target top-k hits (:attr:`TransferAgreement.top_k_hit`) and averages the correlations.

    Raises:
        ValueError: Inputs of different lengths, or targets with different ks.

    Example:
        >>> table1_counts([{1: True, 3: True}, {1: False, 3: True}], [0.5, 0.1], [0.4, 0.2]).top_k_hits
        {1: 1, 3: 2}
    """
    if not len(hits) == len(pearson) == len(spearman):
        raise ValueError(f"got {len(hits)} hit records, {len(pearson)} Pearson and {len(spearman)} Spearman values")
    ks = sorted(hits[0]) if hits else []
    if any(sorted(record) != ks for record in hits):
        raise ValueError("every target must have hits for the same ks")
    return Table1Counts(
        n_targets=len(hits),
        top_k_hits={k: int(sum(bool(record[k]) for record in hits)) for k in ks},
        mean_pearson=float(np.mean(pearson)) if len(pearson) else float("nan"),
        mean_spearman=float(np.mean(spearman)) if len(spearman) else float("nan"),
    )
