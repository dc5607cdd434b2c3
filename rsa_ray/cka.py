"""Linear centred kernel alignment (CKA) between models' features.

Linear CKA (Kornblith et al., 2019) of features X (M, D1) and Y (M, D2), both
centred over the M images, is ||Yᵀ X||²_F / (||Xᵀ X||_F ||Yᵀ Y||_F). It equals the
cosine between the images' centred Gram matrices K = X Xᵀ and L = Y Yᵀ, so each
model is reduced once to its unit-norm Gram matrix and the (N, N) matrix is one
product, as for Spearman on RDMs. Unlike the RDM measures it needs features.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rsa_ray.errors import DegenerateInputError, model_label
from rsa_ray.tiles import tiled_product


def _unit_gram(features: np.ndarray, name: str) -> np.ndarray:
    matrix = np.asarray(features)
    if matrix.ndim < 2 or matrix.shape[0] < 2:
        raise ValueError(f"model {name!r}: CKA needs features (images >= 2, ...), got shape {matrix.shape}")
    matrix = matrix.reshape(matrix.shape[0], -1).astype(np.float64)
    finite = np.isfinite(matrix).all(axis=1)
    if not finite.all():
        raise DegenerateInputError(name, "features hold NaN or Inf", np.flatnonzero(~finite))
    scale = max(float(np.abs(matrix).max()), np.finfo(np.float64).tiny)
    matrix -= matrix.mean(axis=0)
    if np.linalg.norm(matrix) <= 1e-10 * scale * np.sqrt(matrix.size):
        raise DegenerateInputError(name, "features are the same for every image, so CKA is undefined")
    gram = matrix @ matrix.T
    norm = np.linalg.norm(gram)
    return (gram / norm).reshape(-1)


def cka_matrix(
    features: Sequence[np.ndarray],
    names: Sequence[str] | None = None,
    block_size: int = 32,
) -> np.ndarray:
    """Linear CKA between every pair of N models' features on the same M images.

    Memory is N·M² float64 values (the unit Gram matrices), e.g. 200 MB for
    N = 100, M = 500.

    Args:
        features: N arrays (M, ...); feature sizes may differ, M may not.
        names: Model names for error messages.
        block_size: Models per tile of the product.

    Returns:
        Symmetric float64 (N, N) in [0, 1] with ones on the diagonal.

    Raises:
        DegenerateInputError: Features with NaN/Inf or identical for all images.
        ValueError: Models disagree on the number of images.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> x = rng.normal(size=(20, 5))
        >>> bool(np.isclose(cka_matrix([x, 2 * x + 1])[0, 1], 1.0))
        True
    """
    models = list(features)
    if not models:
        raise ValueError("cka_matrix needs at least one model's features")
    if names is not None and len(names) != len(models):
        raise ValueError(f"got {len(names)} names for {len(models)} models")
    n_images = np.shape(models[0])[0]
    for index, model_features in enumerate(models):
        if np.shape(model_features)[0] != n_images:
            raise ValueError(
                f"model {model_label(names, index)!r}: {np.shape(model_features)[0]} images, expected {n_images}"
            )
    grams = np.stack([_unit_gram(x, model_label(names, i)) for i, x in enumerate(models)])
    matrix = np.clip(tiled_product(grams, block_size=block_size), 0.0, 1.0)
    np.fill_diagonal(matrix, 1.0)
    return matrix


def linear_cka(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Linear CKA of two models' features on the same images.

    Example:
        >>> rng = np.random.default_rng(1)
        >>> x = rng.normal(size=(30, 4))
        >>> round(linear_cka(x, x @ np.diag([1.0, 1.0, 1.0, 1.0])), 6)
        1.0
    """
    return float(cka_matrix([features_a, features_b])[0, 1])
