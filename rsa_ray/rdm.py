"""Representational dissimilarity matrices (RDMs) from features.

An RDM is kept as its condensed upper triangle: ``L = M(M-1)/2`` values in
``scipy.spatial.distance.squareform`` order, the same for every model.
Every distance is computed from one Gram matrix (a BLAS product) in float64.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np

from rsa_ray.errors import DegenerateInputError, model_label

# A row whose norm is below this fraction of the largest row norm is treated as zero:
# far above float64 round-off of a centring, far below any real signal.
ZERO_NORM_RELATIVE = 1e-10


def condensed_length(n_images: int) -> int:
    """Number of values in the condensed triangle of an ``n_images`` RDM.

    Example:
        >>> condensed_length(500)
        124750
    """
    return n_images * (n_images - 1) // 2


def n_images_from_length(length: int) -> int:
    """Inverse of :func:`condensed_length`.

    Raises:
        ValueError: If ``length`` is not ``M(M-1)/2`` for an integer ``M >= 2``.

    Example:
        >>> n_images_from_length(124750)
        500
    """
    n_images = int(round((1 + np.sqrt(1 + 8 * length)) / 2))
    if n_images < 2 or condensed_length(n_images) != length:
        raise ValueError(f"a condensed RDM of length {length} does not match any number of images")
    return n_images


@functools.lru_cache(maxsize=8)
def _upper_flat_indices(n_images: int) -> np.ndarray:
    rows, cols = np.triu_indices(n_images, k=1)
    return rows * n_images + cols


def condense(square: np.ndarray) -> np.ndarray:
    """The strict upper triangle of a square matrix, in ``squareform`` order.

    Example:
        >>> condense(np.arange(9.0).reshape(3, 3)).tolist()
        [1.0, 2.0, 5.0]
    """
    n_images = square.shape[0]
    return square.reshape(-1)[_upper_flat_indices(n_images)]


def _as_image_matrix(features: np.ndarray, name: str) -> np.ndarray:
    features = np.asarray(features)
    if features.ndim < 2:
        raise ValueError(f"model {name!r}: features must be (images, ...) with at least 2 dims, got shape {features.shape}")
    if features.shape[0] < 2:
        raise ValueError(f"model {name!r}: an RDM needs at least 2 images, got {features.shape[0]}")
    matrix = features.reshape(features.shape[0], -1)
    if matrix.shape[1] == 0:
        raise ValueError(f"model {name!r}: features have no values per image (shape {features.shape})")
    if not np.issubdtype(matrix.dtype, np.number) or np.issubdtype(matrix.dtype, np.complexfloating):
        raise ValueError(f"model {name!r}: features must be real numbers, got dtype {matrix.dtype}")
    finite = np.isfinite(matrix)
    if not finite.all():
        bad = np.flatnonzero(~finite.all(axis=1))
        raise DegenerateInputError(name, "features hold NaN or Inf", bad)
    return matrix


def _float64_copy(matrix: np.ndarray, center_features: bool) -> np.ndarray:
    """An owned float64 copy, each feature's mean over the images subtracted if asked (one pass)."""
    if not center_features:
        return np.array(matrix, dtype=np.float64, copy=True)
    return np.subtract(matrix, matrix.mean(axis=0, dtype=np.float64), dtype=np.float64)


def _unit_rows(matrix: np.ndarray, name: str, what: str) -> np.ndarray:
    """Scales the rows of an owned float64 matrix to unit norm, in place."""
    norms = np.linalg.norm(matrix, axis=1)
    zero = norms <= ZERO_NORM_RELATIVE * max(float(norms.max()), np.finfo(np.float64).tiny)
    if zero.any():
        raise DegenerateInputError(name, f"{what} is undefined for images with a constant feature vector", np.flatnonzero(zero))
    matrix /= norms[:, None]
    return matrix


# Centring rows on the Gram matrix (below) is exact enough while a row's spread is not tiny next to its
# mean; for rows whose centred square norm falls under this fraction of the raw one, the direct path is used.
GRAM_CENTRING_MIN_RATIO = 1e-6


def _correlation(matrix: np.ndarray, name: str, center_features: bool) -> np.ndarray:
    values = _float64_copy(matrix, center_features)
    # Row centring and scaling act on the M×M Gram rather than the M×D features (M < D usually):
    # (x_i − m_i)·(x_j − m_j) = x_i·x_j − D m_i m_j.
    row_means = values.mean(axis=1)
    gram = values @ values.T
    raw_squares = np.diag(gram).copy()
    gram -= values.shape[1] * np.outer(row_means, row_means)
    centred_squares = np.diag(gram)
    near_zero = raw_squares <= ZERO_NORM_RELATIVE**2 * max(float(raw_squares.max()), np.finfo(np.float64).tiny)
    if (centred_squares <= GRAM_CENTRING_MIN_RATIO * raw_squares).any() or near_zero.any():
        values -= row_means[:, None]  # ill-conditioned or constant rows: centre the features directly
        unit = _unit_rows(values, name, "the correlation distance")
        return 1.0 - condense(unit @ unit.T)
    norms = np.sqrt(centred_squares)
    return 1.0 - condense(gram / np.outer(norms, norms))


def _cosine(matrix: np.ndarray, name: str, center_features: bool) -> np.ndarray:
    unit = _unit_rows(_float64_copy(matrix, False), name, "the cosine distance")
    return 1.0 - condense(unit @ unit.T)


def _euclidean(matrix: np.ndarray, name: str, center_features: bool) -> np.ndarray:
    # Distances do not depend on a shift; centring keeps the Gram identity well conditioned.
    values = _float64_copy(matrix, True)
    gram = values @ values.T
    squared_norms = np.diag(gram)
    squared = condense(squared_norms[:, None] + squared_norms[None, :] - 2.0 * gram)
    return np.sqrt(np.maximum(squared, 0.0))


_DISTANCES: dict[str, Callable[[np.ndarray, str, bool], np.ndarray]] = {
    "correlation": _correlation,
    "cosine": _cosine,
    "euclidean": _euclidean,
}

DISTANCES: tuple[str, ...] = tuple(_DISTANCES)


def compute_rdm(
    features: np.ndarray,
    distance: str = "correlation",
    center_features: bool = True,
    name: str = "#0",
) -> np.ndarray:
    """The condensed RDM of one model's features.

    Args:
        features: Array of shape (M, ...): one row per probe image, flattened per image.
        distance: ``"correlation"`` (1 − Pearson between image vectors), ``"cosine"``
            or ``"euclidean"``.
        center_features: For ``"correlation"``, subtract each feature's mean over the
            M images first, as the paper's reference code does. ``"euclidean"`` does not
            depend on it and ``"cosine"`` ignores it (cosine is defined on raw vectors).
        name: The model's name, used in error messages.

    Returns:
        float64 array of shape (M(M−1)/2,) in ``scipy.spatial.distance.squareform`` order.

    Raises:
        ValueError: Unknown distance, fewer than 2 images, or non-numeric features.
        DegenerateInputError: NaN/Inf features, or images whose correlation/cosine
            distance is undefined (constant or zero feature vectors), naming them.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> compute_rdm(rng.normal(size=(4, 10))).shape
        (6,)
    """
    try:
        kernel = _DISTANCES[distance]
    except KeyError:
        raise ValueError(f"unknown distance {distance!r}; valid: {', '.join(DISTANCES)}") from None
    return kernel(_as_image_matrix(features, name), name, center_features)


def compute_rdms(
    features: np.ndarray | Sequence[np.ndarray],
    distance: str = "correlation",
    center_features: bool = True,
    names: Sequence[str] | None = None,
) -> np.ndarray:
    """Condensed RDMs of many models on the same probe images.

    Args:
        features: A stacked array (N, M, ...) or a sequence of N arrays (M, ...);
            the feature size may differ between models, M may not.
        distance: See :func:`compute_rdm`.
        center_features: See :func:`compute_rdm`.
        names: Model names for error messages (default: ``#index``).

    Returns:
        float64 array of shape (N, M(M−1)/2).

    Raises:
        ValueError: If the models disagree on the number of images, or as :func:`compute_rdm`.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> compute_rdms([rng.normal(size=(5, 3)), rng.normal(size=(5, 7))]).shape
        (2, 10)
    """
    models = list(features)
    if not models:
        raise ValueError("compute_rdms needs at least one model's features")
    if names is not None and len(names) != len(models):
        raise ValueError(f"got {len(names)} names for {len(models)} models")
    n_images = np.shape(models[0])[0] if np.ndim(models[0]) else 0
    rdms = np.empty((len(models), condensed_length(max(n_images, 0))), dtype=np.float64)
    for index, model_features in enumerate(models):
        label = model_label(names, index)
        if np.ndim(model_features) == 0 or np.shape(model_features)[0] != n_images:
            raise ValueError(
                f"model {label!r}: features have {np.shape(model_features)[:1]} images, expected {n_images} like the first model"
            )
        rdms[index] = compute_rdm(model_features, distance, center_features, name=label)
    return rdms
