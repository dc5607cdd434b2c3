"""Leave-one-out k-nearest-neighbour score of a candidate's features (numpy only).

Each image is predicted from its k nearest other images (Euclidean distance on
features standardised over the images): the majority class, ties broken by the
class of the nearest neighbour among the tied classes, or the mean of the
neighbours' regression targets. The score is the accuracy, or minus the mean
squared error.

Distances are computed one block of query rows at a time, so no N x N float64
matrix exists beyond a block. Rows that share an image id are copies of one image
(a bootstrap sample): a query never takes a copy of itself as a neighbour. Equal
distances are ordered by row index.

Example:
    >>> rng = np.random.default_rng(0)
    >>> labels = TargetLabels.from_array(np.repeat([0, 1], 20))
    >>> knn_score(rng.normal(size=(40, 3)) + 3 * labels.values[:, None], labels) > 0.9
    True
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from rsa_ray.errors import DegenerateInputError
from rsa_ray.target_labels import TargetLabels, check_features, class_codes, image_groups

# Distances held at once (float64): a block of query rows times all N images, 32 MiB.
BLOCK_VALUES = 1 << 22


def standardised(features: np.ndarray) -> np.ndarray:
    """Each feature centred and scaled to unit variance over the images (a constant one is left at 0).

    Example:
        >>> standardised(np.array([[1.0, 5.0], [3.0, 5.0]])).tolist()
        [[-1.0, 0.0], [1.0, 0.0]]
    """
    scale = features.std(axis=0)
    return (features - features.mean(axis=0)) / np.where(scale > 0, scale, 1.0)


def nearest_neighbours(points: np.ndarray, groups: np.ndarray, k: int,
                       block_rows: int | None = None) -> Iterator[tuple[slice, np.ndarray]]:
    """For each block of query rows, the indices [B, k] of their k nearest rows, nearest first.

    A row's own group (itself and its copies) is never among its neighbours; equal distances
    are ordered by row index.

    Args:
        points: [N, D] coordinates.
        groups: One group code per row (:func:`rsa_ray.target_labels.image_groups`).
        k: Neighbours per row; at most N minus the largest group.
        block_rows: Query rows per block (default: as many as fit ``BLOCK_VALUES`` distances).

    Example:
        >>> [(rows, order.tolist()) for rows, order in nearest_neighbours(np.array([[0.0], [1.0], [3.0]]), np.arange(3), 1)]
        [(slice(0, 3, None), [[1], [0], [1]])]
    """
    n_rows = points.shape[0]
    block_rows = block_rows or max(1, BLOCK_VALUES // n_rows)
    squared_norms = np.einsum("ij,ij->i", points, points)
    for start in range(0, n_rows, block_rows):
        rows = slice(start, min(start + block_rows, n_rows))
        distances = squared_norms[rows, None] + squared_norms[None, :] - 2.0 * (points[rows] @ points.T)
        distances[groups[rows, None] == groups[None, :]] = np.inf
        yield rows, np.argsort(distances, axis=1, kind="stable")[:, :k]


def vote(neighbour_codes: np.ndarray, n_classes: int) -> np.ndarray:
    """The majority class of each row of neighbours (nearest first); a tie goes to the nearest tied class.

    Example:
        >>> vote(np.array([[2, 1, 1, 2], [0, 1, 1, 1], [1, 0, 0, 1]]), 3).tolist()
        [2, 1, 1]
    """
    rows = np.arange(neighbour_codes.shape[0])
    votes = np.zeros((neighbour_codes.shape[0], n_classes), dtype=np.int64)
    for column in neighbour_codes.T:
        votes[rows, column] += 1
    tied = np.take_along_axis(votes, neighbour_codes, axis=1) == votes.max(axis=1, keepdims=True)
    return neighbour_codes[rows, tied.argmax(axis=1)]


def knn_score(features: np.ndarray, labels: TargetLabels, *, name: str = "candidate",
              image_ids: np.ndarray | None = None, k: int = 5, block_rows: int | None = None) -> float:
    """Leave-one-out k-NN accuracy (classes) or minus the mean squared error (regression).

    Args:
        features: The candidate's features [N, D] on the target's images.
        labels: One label per image.
        name: The candidate's name, for errors.
        image_ids: One id per row; rows that share an id never neighbour each other.
        k: Neighbours per image; fewer when fewer other images exist (N minus the most copies).
        block_rows: Query rows per block of distances (default: a 32 MiB block).

    Returns:
        Accuracy in [0, 1], or minus the mean over images and target columns of the squared
        error of the neighbours' mean; higher is better.

    Raises:
        ValueError: ``k`` below 1.
        DegenerateInputError: Degenerate features or labels, or no image with a neighbour.

    Example:
        >>> labels = TargetLabels.from_array(np.array([0, 0, 1, 1]))
        >>> knn_score(np.array([[0.0], [0.1], [1.0], [1.1]]), labels, k=1)
        1.0
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    features = check_features(features, labels, name)
    n_rows = features.shape[0]
    groups = image_groups(image_ids, n_rows, name)
    available = n_rows - int(np.bincount(groups).max())
    if available < 1:
        raise DegenerateInputError(name, "every row is a copy of one image, so no image has a neighbour")
    neighbours = nearest_neighbours(standardised(features), groups, min(k, available), block_rows)
    if labels.kind == "classes":
        codes, counts = class_codes(labels)
        correct = sum(int(np.sum(vote(codes[order], counts.size) == codes[rows])) for rows, order in neighbours)
        return correct / n_rows
    targets = labels.values
    squared_error = sum(float(np.sum((targets[order].mean(axis=1) - targets[rows]) ** 2)) for rows, order in neighbours)
    return -squared_error / targets.size
