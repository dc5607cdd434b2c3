"""The structure of the task space as numbers (Dwivedi & Roig 2019, Figs. 3-5 and §4.3).

:func:`type_clustering` asks whether a flat cut of the task dendrogram recovers the task
types (the adjusted Rand index, :func:`adjusted_rand_index`); :func:`depth_trend` whether
tasks grow apart with depth (the mean similarity per layer, the paper's Fig. 5);
:func:`off_diagonal_column_agreement` compares a transfer-affinity matrix with the RSA
matrix column by column without the diagonal (§4.3); and :func:`noise_ratio` says whether
a transfer measurement is precise enough to rank candidates at all (seed noise against
the spread between candidates).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from rsa_ray.taxonomy import cluster_tasks

#: The largest seed noise, as a share of the spread between candidates, that still ranks them.
MAX_NOISE_RATIO = 1.0 / 3.0
#: Fewest finite pairs for a column's correlation in :func:`off_diagonal_column_agreement`.
MIN_PAIRS = 3


def _codes(labels: Sequence[Hashable], what: str) -> np.ndarray:
    if isinstance(labels, np.ndarray) and labels.ndim != 1:
        raise ValueError(f"{what} must be one label per item, got shape {labels.shape}")
    index: dict[Hashable, int] = {}
    return np.array([index.setdefault(label, len(index)) for label in labels], dtype=np.int64)


def _pairs(counts: np.ndarray) -> float:
    counts = np.asarray(counts, dtype=np.float64)
    return float((counts * (counts - 1.0) / 2.0).sum())


def adjusted_rand_index(labels_a: Sequence[Hashable], labels_b: Sequence[Hashable]) -> float:
    """Hubert and Arabie's adjusted Rand index of two partitions, from their contingency table.

    With n_ij the items in cluster i of ``labels_a`` and cluster j of ``labels_b``, a_i and
    b_j the row and column sums, and C(x) = x(x−1)/2 the pairs among x items:
    ARI = (Σ C(n_ij) − E) / (½[Σ C(a_i) + Σ C(b_j)] − E) with E = Σ C(a_i) Σ C(b_j) / C(n).
    Label names do not matter, only which items share a label. Two identical partitions
    (one cluster each, all singletons, or any other) score 1.0, where the formula is 0/0,
    as in scikit-learn's ``adjusted_rand_score``.

    Args:
        labels_a: One hashable label per item.
        labels_b: One label per item, same items in the same order.

    Returns:
        The index: 1.0 for identical partitions, about 0 for independent ones, negative below chance.

    Raises:
        ValueError: Different lengths, or labels that are not one per item.

    Example:
        >>> adjusted_rand_index(["a", "a", "b", "b"], [1, 1, 0, 0])
        1.0
        >>> round(adjusted_rand_index([0, 0, 1, 1], [0, 1, 0, 1]), 6)
        -0.5
    """
    codes_a, codes_b = _codes(labels_a, "labels_a"), _codes(labels_b, "labels_b")
    if codes_a.shape != codes_b.shape:
        raise ValueError(f"labels_a has {codes_a.size} items but labels_b has {codes_b.size}")
    n_items = codes_a.size
    if n_items == 0:
        return 1.0
    table = np.zeros((int(codes_a.max()) + 1, int(codes_b.max()) + 1), dtype=np.int64)
    np.add.at(table, (codes_a, codes_b), 1)
    together = _pairs(table)
    rows, columns = _pairs(table.sum(axis=1)), _pairs(table.sum(axis=0))
    if together == rows == columns:  # the same partition: no pair is split by one and joined by the other
        return 1.0
    expected = rows * columns / _pairs(np.array([n_items]))
    return float((together - expected) / ((rows + columns) / 2.0 - expected))


@dataclass(frozen=True)
class TypeClustering:
    """How well a flat cut of the task dendrogram recovers the task types.

    Attributes:
        clusters: Flat cluster index (1..n_clusters) per task, in input order.
        ari: :func:`adjusted_rand_index` of ``clusters`` against the task types.
        n_clusters: Clusters the cut made (the number asked for, unless tied merge heights
            make that cut impossible, when scipy makes fewer).
        method: The scipy linkage method.
    """

    clusters: tuple[int, ...]
    ari: float
    n_clusters: int
    method: str


def type_clustering(
    similarity: np.ndarray,
    names: Sequence[str],
    task_types: Sequence[Hashable],
    n_clusters: int = 4,
    method: str = "average",
) -> TypeClustering:
    """Cuts the task dendrogram into ``n_clusters`` clusters and scores them against the task types.

    The dendrogram is the project's taxonomy (:func:`rsa_ray.taxonomy.cluster_tasks`: scipy
    linkage on the distance 1 − similarity, average linkage unless told otherwise), cut with
    ``fcluster(..., criterion="maxclust")``; the score is the adjusted Rand index.

    Args:
        similarity: Symmetric (N, N) task similarity, finite.
        names: The N task (model) names, unique.
        task_types: The N task types (e.g. ``2d``, ``3d``, ``semantic``, ``geometric``).
        n_clusters: Clusters of the cut, in 2..N (the paper's four types by default).
        method: scipy linkage method.

    Returns:
        A :class:`TypeClustering`.

    Raises:
        ValueError: A non-square matrix, names or types that do not match it, or an ``n_clusters``
            outside 2..N (and as :func:`rsa_ray.taxonomy.cluster_tasks`).

    Example:
        >>> s = np.array([[1, .9, .1, .2], [.9, 1, .2, .1], [.1, .2, 1, .8], [.2, .1, .8, 1]])
        >>> result = type_clustering(s, ["a", "b", "c", "d"], ["2d", "2d", "3d", "3d"], n_clusters=2)
        >>> result.clusters, result.ari
        ((1, 1, 2, 2), 1.0)
    """
    shape = np.shape(similarity)
    if len(shape) != 2 or shape[0] != shape[1]:
        raise ValueError(f"similarity must be a square (N, N) matrix, got shape {shape}")
    n_tasks = shape[0]
    if len(names) != n_tasks or len(task_types) != n_tasks:
        raise ValueError(f"got {len(names)} names and {len(task_types)} task types for a similarity of {n_tasks} tasks")
    if not 2 <= n_clusters <= n_tasks:
        raise ValueError(f"n_clusters must lie in 2..{n_tasks} (the tasks), got {n_clusters}")
    clusters = cluster_tasks(similarity, names, method=method, k=n_clusters).labels
    assert clusters is not None
    return TypeClustering(clusters, adjusted_rand_index(clusters, list(task_types)), len(set(clusters)), method)


@dataclass(frozen=True)
class DepthTrend:
    """Mean task similarity layer by layer, earliest layer first (the paper's Fig. 5).

    Attributes:
        layers: Layer names, earliest first.
        mean_similarity: Per layer, the mean of the finite off-diagonal similarities (NaN if none).
        spearman: Spearman r_s between ``mean_similarity`` and the depth index 0, 1, ...
            (negative: tasks grow apart with depth), over the layers with a finite mean;
            NaN when fewer than 2 are finite or they are all equal.
        falls: Whether each layer's mean is strictly below the previous layer's.
    """

    layers: tuple[str, ...]
    mean_similarity: tuple[float, ...]
    spearman: float
    falls: bool


def _mean_off_diagonal(matrix: np.ndarray) -> float:
    values = matrix[~np.eye(matrix.shape[0], dtype=bool)]
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else float("nan")


def depth_trend(similarities: Mapping[str, np.ndarray]) -> DepthTrend:
    """Whether the tasks' similarity falls with depth: the mean off-diagonal similarity per layer.

    Args:
        similarities: Layer name → (N, N) task-similarity matrix, layers earliest first; every
            matrix of the same N >= 2 tasks in the same order. NaN entries are left out of the mean.

    Returns:
        A :class:`DepthTrend`.

    Raises:
        ValueError: Fewer than 2 layers, or a matrix that is not square or not of the others' size.

    Example:
        >>> eye = np.eye(3)
        >>> trend = depth_trend({"block1": eye * 0.4 + 0.6, "block2": eye * 0.7 + 0.3, "output": eye})
        >>> [round(m, 6) for m in trend.mean_similarity], trend.spearman, trend.falls
        ([0.6, 0.3, 0.0], -1.0, True)
    """
    if len(similarities) < 2:
        raise ValueError(f"a depth trend needs at least 2 layers, got {len(similarities)}")
    layers = tuple(str(layer) for layer in similarities)
    matrices = [np.asarray(matrix, dtype=np.float64) for matrix in similarities.values()]
    size = matrices[0].shape
    for layer, matrix in zip(layers, matrices):
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] < 2:
            raise ValueError(f"similarity of layer {layer!r} must be a square (N, N) matrix, N >= 2, got {matrix.shape}")
        if matrix.shape != size:
            raise ValueError(f"similarity of layer {layer!r} has shape {matrix.shape}, layer {layers[0]!r} {size}")
    means = np.array([_mean_off_diagonal(matrix) for matrix in matrices])
    finite = np.isfinite(means)
    if finite.sum() >= 2 and np.ptp(means[finite]) > 0:
        spearman = float(stats.spearmanr(np.flatnonzero(finite), means[finite]).statistic)
    else:
        spearman = float("nan")
    falls = bool(np.all(means[1:] < means[:-1]))
    return DepthTrend(layers, tuple(float(m) for m in means), spearman, falls)


@dataclass(frozen=True)
class OffDiagonalAgreement:
    """Column-by-column correlation of two square matrices, each column's diagonal entry left out.

    Attributes:
        per_column_spearman: Spearman r_s per column (NaN where undefined: fewer than
            :data:`MIN_PAIRS` finite pairs, or constant values in either matrix).
        per_column_pearson: Pearson r per column (NaN where the Spearman is).
        n_pairs: Finite pairs per column.
        mean_spearman: Mean of the defined per-column Spearman values (NaN if none).
        mean_pearson: Mean of the defined per-column Pearson values (NaN if none).
    """

    per_column_spearman: np.ndarray
    per_column_pearson: np.ndarray
    n_pairs: tuple[int, ...]
    mean_spearman: float
    mean_pearson: float


def _pearson(values_a: np.ndarray, values_b: np.ndarray) -> float:
    centred_a, centred_b = values_a - values_a.mean(), values_b - values_b.mean()
    return float(np.clip(centred_a @ centred_b / np.sqrt((centred_a @ centred_a) * (centred_b @ centred_b)), -1.0, 1.0))


def _defined_mean(values: np.ndarray) -> float:
    defined = values[np.isfinite(values)]
    return float(defined.mean()) if defined.size else float("nan")


def off_diagonal_column_agreement(matrix_a: np.ndarray, matrix_b: np.ndarray) -> OffDiagonalAgreement:
    """Spearman and Pearson between matching columns of two square matrices, the diagonal left out.

    The paper's §4.3 protocol: a transfer-affinity matrix (sources × targets, one column per
    target) against the RSA matrix of the same tasks in the same order; a target's own entry
    says nothing about its ranking of the sources. Column j correlates the rows i ≠ j where
    both matrices are finite (NaN entries, e.g. transfers never measured, drop out pairwise).

    Args:
        matrix_a: (N, N) matrix; NaN allowed.
        matrix_b: (N, N) matrix, rows and columns in the same order; NaN allowed.

    Returns:
        An :class:`OffDiagonalAgreement`.

    Raises:
        ValueError: Matrices not square of the same order, or an infinite entry off the diagonal.

    Example:
        >>> a = np.array([[0, 1, 4, 2], [3, 0, 2, 1], [2, 3, 0, 3], [1, 2, 1, 0]], dtype=float)
        >>> b = a ** 2; np.fill_diagonal(b, 100.0)  # the diagonal does not count
        >>> result = off_diagonal_column_agreement(a, b)
        >>> result.mean_spearman, round(result.mean_pearson, 3), result.n_pairs
        (1.0, 0.99, (3, 3, 3, 3))
    """
    matrix_a = np.asarray(matrix_a, dtype=np.float64)
    matrix_b = np.asarray(matrix_b, dtype=np.float64)
    if matrix_a.ndim != 2 or matrix_a.shape[0] != matrix_a.shape[1] or matrix_a.shape != matrix_b.shape:
        raise ValueError(f"matrices must be square of the same order, got {matrix_a.shape} and {matrix_b.shape}")
    off_diagonal = ~np.eye(matrix_a.shape[0], dtype=bool)
    for label, matrix in (("matrix_a", matrix_a), ("matrix_b", matrix_b)):
        infinite = np.isinf(matrix) & off_diagonal
        if infinite.any():
            row, column = np.argwhere(infinite)[0]
            raise ValueError(f"{label}[{row}, {column}] is {matrix[row, column]}")
    spearman, pearson, n_pairs = [], [], []
    for column in range(matrix_a.shape[1]):
        keep = off_diagonal[:, column] & np.isfinite(matrix_a[:, column]) & np.isfinite(matrix_b[:, column])
        values_a, values_b = matrix_a[keep, column], matrix_b[keep, column]
        n_pairs.append(int(keep.sum()))
        if values_a.size < MIN_PAIRS or np.ptp(values_a) == 0 or np.ptp(values_b) == 0:
            spearman.append(float("nan"))
            pearson.append(float("nan"))
            continue
        spearman.append(_pearson(stats.rankdata(values_a), stats.rankdata(values_b)))
        pearson.append(_pearson(values_a, values_b))
    per_spearman, per_pearson = np.array(spearman), np.array(pearson)
    return OffDiagonalAgreement(per_spearman, per_pearson, tuple(n_pairs), _defined_mean(per_spearman),
                                _defined_mean(per_pearson))


@dataclass(frozen=True)
class NoiseRatio:
    """Seed noise of a transfer measurement against the spread between candidates.

    Attributes:
        seed_std: Median over candidates of the sample standard deviation (ddof=1) across seeds.
        spread: Sample standard deviation (ddof=1) across candidates of their mean over seeds.
        ratio: ``seed_std / spread`` (inf when the spread is 0; NaN when fewer than 2 candidates
            have at least 2 finite seeds).
        passes: Whether ``ratio <= MAX_NOISE_RATIO`` (False for NaN).
        n_candidates: Candidates with at least 2 finite seeds (the ones both statistics use).
    """

    seed_std: float
    spread: float
    ratio: float
    passes: bool
    n_candidates: int


def noise_ratio(metric: np.ndarray) -> NoiseRatio:
    """Whether seed noise is small next to the differences between candidates.

    Only candidates with at least 2 finite seeds count, for both the seed noise and the spread,
    so the two statistics describe the same candidates; NaN marks a missing seed.

    Args:
        metric: (candidates, seeds) held-out metric; NaN for a seed that did not run.

    Returns:
        A :class:`NoiseRatio`; ``passes`` when the ratio is at most :data:`MAX_NOISE_RATIO`.

    Raises:
        ValueError: ``metric`` is not 2-D.

    Example:
        >>> result = noise_ratio(np.array([[0.50, 0.52], [0.70, 0.72], [0.90, np.nan]]))
        >>> round(result.ratio, 4), result.passes, result.n_candidates
        (0.1, True, 2)
    """
    metric = np.asarray(metric, dtype=np.float64)
    if metric.ndim != 2:
        raise ValueError(f"metric must be (candidates, seeds), got shape {metric.shape}")
    rows = [row[np.isfinite(row)] for row in metric]
    rows = [row for row in rows if row.size >= 2]
    if len(rows) < 2:
        return NoiseRatio(float("nan"), float("nan"), float("nan"), False, len(rows))
    seed_std = float(np.median([row.std(ddof=1) for row in rows]))
    spread = float(np.std([row.mean() for row in rows], ddof=1))
    ratio = seed_std / spread if spread > 0 else float("inf")
    return NoiseRatio(seed_std, spread, ratio, bool(ratio <= MAX_NOISE_RATIO), len(rows))
