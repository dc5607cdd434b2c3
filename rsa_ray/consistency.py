"""Consistency of rankings across settings (the paper's supplement S3).

How stable is the ranking of candidates when the similarity is computed with
fewer probe images, from an earlier training checkpoint, or with a smaller
model? Each analysis compares two similarity rows (one target) or two
similarity matrices (every target) by the rank correlation of each row.
:func:`ranking_consistency` is the comparison; the three analyses below compute
the similarities from model features and compare them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from rsa_ray.ranks import standardized_ranks
from rsa_ray.rdm import compute_rdms
from rsa_ray.similarity import similarity_matrix, similarity_to


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


def _similarity_of(features: Mapping[str, np.ndarray], rows: slice | None = None) -> np.ndarray:
    chosen = [np.asarray(f)[rows] if rows is not None else np.asarray(f) for f in features.values()]
    return similarity_matrix(compute_rdms(chosen, names=list(features)))


def consistency_vs_probe_count(features: Mapping[str, np.ndarray], counts: Sequence[int]) -> dict[int, RankingConsistency]:
    """Ranking agreement of similarities from the first ``n`` probe images with those from all of them.

    Args:
        features: Model id → [M, D] features on one probe set (same image order for all).
        counts: Probe counts to try, each in 3..M.

    Returns:
        count → the per-target :class:`RankingConsistency` against all M images.

    Raises:
        ValueError: A count outside 3..M.

    Example:
        >>> rng = np.random.default_rng(0); shared = rng.normal(size=(60, 8))
        >>> feats = {f"m{i}": shared * i + rng.normal(size=(60, 8)) for i in range(4)}
        >>> sorted(consistency_vs_probe_count(feats, [20, 40]))
        [20, 40]
    """
    n_images = min(len(f) for f in features.values())
    bad = [count for count in counts if not 3 <= count <= n_images]
    if bad:
        raise ValueError(f"probe counts {bad} are outside 3..{n_images} (the images available)")
    reference = _similarity_of(features)
    return {int(count): ranking_consistency(_similarity_of(features, slice(0, count)), reference) for count in counts}


def consistency_vs_variant(reference: Mapping[str, np.ndarray], variant: Mapping[str, np.ndarray]) -> RankingConsistency:
    """Agreement of every target's ranking when all models are replaced by variants (e.g. earlier checkpoints).

    Args:
        reference: Model id → features of the reference models (e.g. final).
        variant: The same ids (same order of use) → features of their variants.

    Raises:
        ValueError: The two mappings hold different ids.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> feats = {f"m{i}": rng.normal(size=(30, 4)) for i in range(3)}
        >>> round(consistency_vs_variant(feats, feats).mean, 6)
        1.0
    """
    if set(reference) != set(variant):
        raise ValueError(f"variant ids {sorted(set(variant) ^ set(reference))} do not match the reference's")
    ordered = {model_id: variant[model_id] for model_id in reference}
    return ranking_consistency(_similarity_of(ordered), _similarity_of(reference))


def consistency_of_target_swap(features: Mapping[str, np.ndarray], swaps: Mapping[str, np.ndarray]) -> RankingConsistency:
    """Agreement of a target's ranking of the other models when the target model is replaced (e.g. by a wider one).

    Args:
        features: Model id → features of every model (targets and candidates).
        swaps: Target id (a key of ``features``) → features of its replacement.

    Returns:
        One row per swapped target: Spearman between its two similarity rows over the other models.

    Raises:
        ValueError: A swapped id that is not in ``features``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> feats = {f"m{i}": rng.normal(size=(30, 4)) for i in range(4)}
        >>> round(consistency_of_target_swap(feats, {"m1": feats["m1"] * 2.0}).mean, 6)
        1.0
    """
    unknown = sorted(set(swaps) - set(features))
    if unknown:
        raise ValueError(f"swapped targets {unknown} are not among the models {sorted(features)}")
    ids = list(features)
    rdms = compute_rdms([np.asarray(f) for f in features.values()], names=ids)
    base = similarity_matrix(rdms)
    swapped_rows = similarity_to(compute_rdms([np.asarray(f) for f in swaps.values()], names=list(swaps)), rdms)
    rows_a, rows_b = [], []
    for row, target in enumerate(swaps):
        others = [i for i in range(len(ids)) if i != ids.index(target)]
        rows_a.append(base[ids.index(target), others])
        rows_b.append(swapped_rows[row, others])
    return ranking_consistency(np.array(rows_a), np.array(rows_b), exclude_self=False)
