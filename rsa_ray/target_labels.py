"""A target task's labels, as the label-based transferability estimators read them (numpy only).

A target comes with one label per image: a class (``classes``: int64 [N]) or a
vector of real-valued targets (``regression``: float64 [N, K]; dense maps are
pooled and flattened into K values by the caller). The estimators take features
[N, D] of one candidate on the same N images, in the same order.

Example:
    >>> labels = TargetLabels.from_array(np.array([0, 1, 1, 2]))
    >>> labels.kind, labels.n_images, labels.n_classes
    ('classes', 4, 3)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rsa_ray.errors import DegenerateInputError

LABEL_KINDS = ("classes", "regression")


@dataclass(frozen=True, eq=False)
class TargetLabels:
    """One label per target image.

    Attributes:
        values: int64 [N] class indices (``classes``) or float64 [N, K] targets (``regression``).
        kind: ``classes`` or ``regression``.
    """

    values: np.ndarray
    kind: str

    def __post_init__(self) -> None:
        if self.kind not in LABEL_KINDS:
            raise ValueError(f"label kind must be one of {', '.join(LABEL_KINDS)}, got {self.kind!r}")
        if self.kind == "classes" and self.values.ndim != 1:
            raise ValueError(f"class labels must be one integer per image, got shape {self.values.shape}")
        if self.kind == "regression" and self.values.ndim != 2:
            raise ValueError(f"regression targets must be [N, K], got shape {self.values.shape}")

    @classmethod
    def from_array(cls, targets: np.ndarray) -> "TargetLabels":
        """Class labels from a 1-D integer array; regression targets from anything else ([N] floats or [N, ...]).

        Raises:
            ValueError: Negative class indices, an empty array, NaN / Inf, or a dtype that is not real numbers.

        Example:
            >>> TargetLabels.from_array(np.ones((3, 2, 2))).values.shape
            (3, 4)
        """
        targets = np.asarray(targets)
        if targets.size == 0 or targets.ndim == 0:
            raise ValueError(f"target labels must hold one value per image, got shape {targets.shape}")
        if targets.dtype.kind not in "buif":
            raise ValueError(f"target labels must be real numbers, got dtype {targets.dtype}")
        if targets.dtype.kind == "f" and not np.isfinite(targets).all():
            raise ValueError("target labels hold NaN or Inf; labels must be finite")
        if targets.ndim == 1 and np.issubdtype(targets.dtype, np.integer):
            if targets.min() < 0:
                raise ValueError(f"class labels must be >= 0, got {int(targets.min())}")
            return cls(targets.astype(np.int64), "classes")
        return cls(targets.reshape(len(targets), -1).astype(np.float64), "regression")

    @property
    def n_images(self) -> int:
        """How many images carry a label."""
        return int(len(self.values))

    @property
    def n_classes(self) -> int:
        """Number of distinct classes (classes), or 0 for regression."""
        return int(len(np.unique(self.values))) if self.kind == "classes" else 0

    def subset(self, rows: np.ndarray) -> "TargetLabels":
        """The labels of ``rows`` (a bootstrap sample may repeat rows).

        Example:
            >>> TargetLabels.from_array(np.array([0, 1, 2])).subset(np.array([2, 2])).values
            array([2, 2])
        """
        return TargetLabels(self.values[np.asarray(rows)], self.kind)


def check_features(features: np.ndarray, labels: TargetLabels, name: str = "candidate") -> np.ndarray:
    """Float64 features [N, D] checked against their labels; the shared door of every estimator.

    Raises:
        DegenerateInputError: NaN/Inf features, features constant over the images, a single
            class (classification) or constant targets (regression).
        ValueError: Features that are not [N, D] with one row per label.

    Example:
        >>> check_features(np.eye(3), TargetLabels.from_array(np.array([0, 1, 1]))).dtype
        dtype('float64')
    """
    features = check_feature_matrix(features, labels.n_images, name)
    if labels.kind == "classes" and labels.n_classes < 2:
        raise DegenerateInputError(name, "the target has a single class, so no score can separate classes")
    if labels.kind == "regression" and np.ptp(labels.values, axis=0).max(initial=0.0) == 0.0:
        raise DegenerateInputError(name, "the regression targets are the same for every image")
    return features


def check_feature_matrix(features: np.ndarray, n_images: int | None = None, name: str = "candidate") -> np.ndarray:
    """Float64 features [N, D] without labels (the estimators that compare two models' features).

    Args:
        features: One row per image.
        n_images: The number of rows expected (None: any).
        name: The model's name, for errors.

    Raises:
        DegenerateInputError: NaN/Inf features, or features constant over the images.
        ValueError: Features that are not [N, D] (with ``n_images`` rows when given).

    Example:
        >>> check_feature_matrix(np.eye(3), 3).shape
        (3, 3)
    """
    features = np.asarray(features)
    if features.ndim != 2 or (n_images is not None and features.shape[0] != n_images):
        rows = "N" if n_images is None else f"N={n_images}"
        raise ValueError(f"model {name!r}: features must be [{rows}, D], got shape {features.shape}")
    if not np.issubdtype(features.dtype, np.number) or np.issubdtype(features.dtype, np.complexfloating):
        raise ValueError(f"model {name!r}: features must be real numbers, got dtype {features.dtype}")
    features = features.astype(np.float64, copy=False)
    finite = np.isfinite(features).all(axis=1)
    if not finite.all():
        raise DegenerateInputError(name, "features hold NaN or Inf", np.flatnonzero(~finite))
    if np.ptp(features, axis=0).max(initial=0.0) == 0.0:
        raise DegenerateInputError(name, "features are the same for every image")
    return features


def image_groups(image_ids: np.ndarray | None, n_rows: int, name: str = "candidate") -> np.ndarray:
    """One int64 code per row; rows that share an image id (copies in a bootstrap sample) share a code.

    Args:
        image_ids: One id per row (any hashable dtype), or None: every row is its own image.
        n_rows: The number of rows.
        name: The model's name, for errors.

    Raises:
        ValueError: ``image_ids`` without one id per row.

    Example:
        >>> image_groups(np.array([7, 3, 7]), 3).tolist()
        [1, 0, 1]
    """
    if image_ids is None:
        return np.arange(n_rows, dtype=np.int64)
    image_ids = np.asarray(image_ids)
    if image_ids.shape != (n_rows,):
        raise ValueError(f"model {name!r}: image_ids must hold one id per row ({n_rows}), got shape {image_ids.shape}")
    return np.unique(image_ids, return_inverse=True)[1].astype(np.int64)


def class_codes(labels: TargetLabels) -> tuple[np.ndarray, np.ndarray]:
    """The present classes' codes 0..C-1 per image and each class's image count (classes only).

    A class index absent from these images (a bootstrap sample can miss one) gets no code.

    Example:
        >>> codes, counts = class_codes(TargetLabels.from_array(np.array([4, 1, 4])))
        >>> codes.tolist(), counts.tolist()
        ([1, 0, 1], [1, 2])
    """
    if labels.kind != "classes":
        raise ValueError(f"class codes need class labels, got {labels.kind} targets")
    codes = np.unique(labels.values, return_inverse=True)[1].astype(np.int64)
    return codes, np.bincount(codes)
