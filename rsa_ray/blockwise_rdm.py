"""RDMs of features too wide to hold whole, from blocks of their columns.

Every distance of :mod:`rsa_ray.rdm` is a function of the M × M Gram matrix of the
(centred) image vectors, and a Gram matrix is a sum over feature blocks:
``X X^T = sum_b X_b X_b^T``. Each block holds every image's values of some features, so a
feature's mean over the images is known within its block and the centring is the one
:func:`rsa_ray.rdm.compute_rdm` does. Only one block (M × block × 8 bytes) and the Gram
(M × M × 8 bytes) are held at a time.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from rsa_ray.errors import DegenerateInputError
from rsa_ray.rdm import DISTANCES, GRAM_CENTRING_MIN_RATIO, ZERO_NORM_RELATIVE, condense

# Returns the float32 (or float64) [M, width_b] values of feature block b.
BlockReader = Callable[[int], np.ndarray]


def _float64_block(block: np.ndarray, center_features: bool) -> np.ndarray:
    """An owned float64 copy of one block, each feature's mean over the images subtracted if asked."""
    if not center_features:
        return np.array(block, dtype=np.float64, copy=True)
    return np.subtract(block, block.mean(axis=0, dtype=np.float64), dtype=np.float64)


def _gram(read_block: BlockReader, n_blocks: int, center_features: bool,
          row_means: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """The Gram matrix of the blocks (rows shifted by ``row_means`` if given), their row sums and width."""
    gram, row_sums, width = None, None, 0
    for index in range(n_blocks):
        values = _float64_block(read_block(index), center_features)
        if row_means is not None:
            values -= row_means[:, None]
        if gram is None:
            gram, row_sums = np.zeros((values.shape[0], values.shape[0])), np.zeros(values.shape[0])
        gram += values @ values.T
        row_sums += values.sum(axis=1)
        width += values.shape[1]
    if gram is None:
        raise ValueError("an RDM from blocks needs at least one block")
    return gram, row_sums, width


def _unit_gram(gram: np.ndarray, name: str, what: str) -> np.ndarray:
    """The Gram of the rows scaled to unit norm (the rows' norms are the root of its diagonal)."""
    norms = np.sqrt(np.maximum(np.diag(gram), 0.0))
    zero = norms <= ZERO_NORM_RELATIVE * max(float(norms.max()), np.finfo(np.float64).tiny)
    if zero.any():
        raise DegenerateInputError(name, f"{what} is undefined for images with a constant feature vector",
                                   np.flatnonzero(zero))
    return gram / np.outer(norms, norms)


def _correlation(read_block: BlockReader, n_blocks: int, name: str, center_features: bool) -> np.ndarray:
    gram, row_sums, width = _gram(read_block, n_blocks, center_features)
    row_means = row_sums / width
    raw_squares = np.diag(gram).copy()
    gram -= width * np.outer(row_means, row_means)
    centred_squares = np.diag(gram)
    near_zero = raw_squares <= ZERO_NORM_RELATIVE**2 * max(float(raw_squares.max()), np.finfo(np.float64).tiny)
    if (centred_squares <= GRAM_CENTRING_MIN_RATIO * raw_squares).any() or near_zero.any():
        # Ill-conditioned or constant rows: centre the values themselves, in a second pass.
        gram, _, _ = _gram(read_block, n_blocks, center_features, row_means)
        return 1.0 - condense(_unit_gram(gram, name, "the correlation distance"))
    norms = np.sqrt(centred_squares)
    return 1.0 - condense(gram / np.outer(norms, norms))


def _cosine(read_block: BlockReader, n_blocks: int, name: str, center_features: bool) -> np.ndarray:
    gram, _, _ = _gram(read_block, n_blocks, False)
    return 1.0 - condense(_unit_gram(gram, name, "the cosine distance"))


def _euclidean(read_block: BlockReader, n_blocks: int, name: str, center_features: bool) -> np.ndarray:
    gram, _, _ = _gram(read_block, n_blocks, True)
    squared_norms = np.diag(gram)
    squared = condense(squared_norms[:, None] + squared_norms[None, :] - 2.0 * gram)
    return np.sqrt(np.maximum(squared, 0.0))


_KERNELS = {"correlation": _correlation, "cosine": _cosine, "euclidean": _euclidean}


def compute_rdm_from_blocks(read_block: BlockReader, n_blocks: int, distance: str = "correlation",
                            center_features: bool = True, name: str = "#0") -> np.ndarray:
    """The condensed RDM of features given as column blocks, as :func:`rsa_ray.rdm.compute_rdm` gives it.

    Args:
        read_block: Returns block ``b`` (0 ≤ b < ``n_blocks``): every image's values of some features,
            [M, width_b], finite; together the blocks hold each feature once.
        n_blocks: How many blocks there are.
        distance: See :func:`rsa_ray.rdm.compute_rdm`.
        center_features: See :func:`rsa_ray.rdm.compute_rdm`.
        name: The model's name, used in error messages.

    Returns:
        float64 (M(M−1)/2,), within float64 rounding of :func:`rsa_ray.rdm.compute_rdm` on the
        blocks side by side. A correlation with ill-conditioned rows reads the blocks twice.

    Raises:
        ValueError: Unknown distance, no blocks, or fewer than 2 images.
        DegenerateInputError: Images whose distance is undefined (constant or zero vectors).

    Example:
        >>> features = np.random.default_rng(0).normal(size=(4, 10))
        >>> blocks = [features[:, :6], features[:, 6:]]
        >>> from rsa_ray.rdm import compute_rdm
        >>> bool(np.allclose(compute_rdm_from_blocks(blocks.__getitem__, 2), compute_rdm(features)))
        True
    """
    try:
        kernel = _KERNELS[distance]
    except KeyError:
        raise ValueError(f"unknown distance {distance!r}; valid: {', '.join(DISTANCES)}") from None
    if n_blocks < 1:
        raise ValueError(f"model {name!r}: an RDM from blocks needs at least one block, got {n_blocks}")
    condensed_rdm = kernel(read_block, n_blocks, name, center_features)
    if condensed_rdm.shape[0] == 0:
        raise ValueError(f"model {name!r}: an RDM needs at least 2 images")
    return condensed_rdm
