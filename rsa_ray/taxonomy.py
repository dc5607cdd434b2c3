"""Task taxonomy: agglomerative clustering of models on 1 − similarity."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.cluster import hierarchy
from scipy.spatial.distance import squareform

LINKAGE_METHODS: tuple[str, ...] = ("average", "complete", "single", "weighted", "centroid", "median", "ward")


@dataclass(frozen=True)
class TaskClusters:
    """The outcome of :func:`cluster_tasks`.

    Attributes:
        linkage: scipy linkage matrix (N−1, 4) on distance = 1 − similarity.
        leaf_order: Indices of the models in dendrogram order.
        leaf_names: The model names in dendrogram order.
        labels: Flat cluster label (1..k) per model in input order, or None if no k was asked.
    """

    linkage: np.ndarray
    leaf_order: tuple[int, ...]
    leaf_names: tuple[str, ...]
    labels: tuple[int, ...] | None


def similarity_to_distance(similarity: np.ndarray, names: Sequence[str] | None = None) -> np.ndarray:
    """The condensed distance 1 − similarity of a symmetric similarity matrix.

    Args:
        similarity: (N, N) symmetric matrix, finite.
        names: Model names for error messages.

    Returns:
        Condensed distances (N(N−1)/2,), clipped at 0.

    Raises:
        ValueError: Not square, not symmetric, or not finite (naming the first bad model).

    Example:
        >>> similarity_to_distance(np.array([[1.0, 0.25], [0.25, 1.0]])).tolist()
        [0.75]
    """
    similarity = np.asarray(similarity, dtype=np.float64)
    if similarity.ndim != 2 or similarity.shape[0] != similarity.shape[1]:
        raise ValueError(f"similarity must be a square (N, N) matrix, got shape {similarity.shape}")
    label = (lambda i: repr(names[i])) if names is not None else (lambda i: f"#{i}")
    finite = np.isfinite(similarity).all(axis=1)
    if not finite.all():
        raise ValueError(f"similarity of model {label(int(np.flatnonzero(~finite)[0]))} holds NaN or Inf")
    asymmetric = np.abs(similarity - similarity.T) > 1e-9
    if asymmetric.any():
        i, j = np.argwhere(asymmetric)[0]
        raise ValueError(f"similarity is not symmetric: models {label(int(i))} and {label(int(j))}")
    distance = 1.0 - (similarity + similarity.T) / 2.0
    np.fill_diagonal(distance, 0.0)
    return np.maximum(squareform(distance, checks=False), 0.0)


def cluster_tasks(
    similarity: np.ndarray,
    names: Sequence[str],
    method: str = "average",
    k: int | None = None,
) -> TaskClusters:
    """Hierarchical clustering of tasks (models) by their similarity.

    Args:
        similarity: Symmetric (N, N) similarity (e.g. Spearman of RDMs), N >= 2.
        names: The N model or task names.
        method: scipy linkage method (``"average"`` by default).
        k: If given, also cut the tree into k flat clusters.

    Returns:
        A :class:`TaskClusters`.

    Raises:
        ValueError: Bad shape, names, method or k.

    Example:
        >>> s = np.array([[1, .9, .1], [.9, 1, .2], [.1, .2, 1]])
        >>> cluster_tasks(s, ["a", "b", "c"], k=2).labels
        (1, 1, 2)
    """
    if method not in LINKAGE_METHODS:
        raise ValueError(f"unknown linkage method {method!r}; valid: {', '.join(LINKAGE_METHODS)}")
    names = tuple(str(name) for name in names)
    if np.ndim(similarity) != 2 or len(names) != np.shape(similarity)[0]:
        raise ValueError(f"got {len(names)} names for a similarity of shape {np.shape(similarity)}")
    condensed = similarity_to_distance(similarity, names)
    if len(names) < 2:
        raise ValueError("clustering needs at least 2 models")
    if len(set(names)) != len(names):
        raise ValueError(f"model names must be unique, got duplicates {sorted({n for n in names if names.count(n) > 1})}")
    linkage = hierarchy.linkage(condensed, method=method)
    leaf_order = tuple(int(i) for i in hierarchy.leaves_list(linkage))
    labels = None
    if k is not None:
        if not 1 <= k <= len(names):
            raise ValueError(f"k must be between 1 and {len(names)}, got {k}")
        labels = tuple(int(label) for label in hierarchy.fcluster(linkage, t=k, criterion="maxclust"))
    return TaskClusters(linkage, leaf_order, tuple(names[i] for i in leaf_order), labels)
