"""Similarity between models' RDMs: the all-pairs matrix and the incremental rows.

Methods are chosen by name. ``spearman`` (the paper's measure) and ``pearson``
standardise each RDM once and take one tiled matrix product; ``kendall_tau_a``
is computed per pair (it has no product form). Linear CKA compares features,
not RDMs: see :mod:`rsa_ray.cka`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from rsa_ray.errors import DegenerateInputError
from rsa_ray.kendall import kendall_tau_a, tied_pairs
from rsa_ray.ranks import _as_rows, standardize, standardized_ranks
from rsa_ray.tiles import tiled_product

RDMs = np.ndarray | Sequence[np.ndarray]


def clip_correlations(values: np.ndarray) -> np.ndarray:
    """Correlations computed as sums of products of unit vectors, with the rounding past ±1 clipped.

    Example:
        >>> clip_correlations(np.array([1.0000001, -0.5]))
        array([ 1. , -0.5])
    """
    return np.clip(values, -1.0, 1.0)


def _product_similarity(
    standardise: Callable[..., np.ndarray],
) -> Callable[[np.ndarray, np.ndarray | None, int, Sequence[str] | None, Sequence[str] | None], np.ndarray]:
    def similarity(rows_a, rows_b, block_size, names_a, names_b):
        vectors_a = standardise(rows_a, names=names_a)
        vectors_b = None if rows_b is None else standardise(rows_b, names=names_b)
        return clip_correlations(tiled_product(vectors_a, vectors_b, block_size=block_size))

    return similarity


def _checked_kendall_inputs(rows: np.ndarray, names: Sequence[str] | None) -> list[int]:
    # Standardising checks finiteness and constancy with the same rules and messages as the other methods.
    standardize(rows, names=names)
    return [tied_pairs(row) for row in rows]


def _kendall_similarity(rows_a, rows_b, block_size, names_a, names_b):
    ties_a = _checked_kendall_inputs(rows_a, names_a)
    symmetric = rows_b is None
    rows_b, ties_b = (rows_a, ties_a) if symmetric else (rows_b, _checked_kendall_inputs(rows_b, names_b))
    result = np.empty((rows_a.shape[0], rows_b.shape[0]), dtype=np.float64)
    for i in range(rows_a.shape[0]):
        for j in range(i if symmetric else 0, rows_b.shape[0]):
            result[i, j] = 1.0 if symmetric and i == j else kendall_tau_a(rows_a[i], rows_b[j], ties_a[i], ties_b[j])
            if symmetric:
                result[j, i] = result[i, j]
    return result


_METHODS = {
    "spearman": _product_similarity(standardized_ranks),
    "pearson": _product_similarity(standardize),
    "kendall_tau_a": _kendall_similarity,
}

METHODS: tuple[str, ...] = tuple(_METHODS)


def _method(method: str):
    try:
        return _METHODS[method]
    except KeyError:
        raise ValueError(f"unknown similarity method {method!r}; valid: {', '.join(METHODS)}") from None


def _check_names(names: Sequence[str] | None, rows: np.ndarray, what: str) -> None:
    if names is not None and len(names) != rows.shape[0]:
        raise ValueError(f"got {len(names)} names for {rows.shape[0]} {what}")


def similarity_matrix(
    rdms: RDMs,
    method: str = "spearman",
    block_size: int = 128,
    names: Sequence[str] | None = None,
) -> np.ndarray:
    """The (N, N) similarity matrix of N condensed RDMs.

    Args:
        rdms: Stacked (N, L) array or a sequence of N condensed RDMs of equal length.
        method: ``"spearman"`` (default, the paper's r_s with average ranks for ties),
            ``"pearson"`` or ``"kendall_tau_a"``.
        block_size: Models per tile of the product; bounds the temporaries to
            ``block_size * L`` float64 values per side.
        names: Model names for error messages.

    Returns:
        Symmetric float64 (N, N) with ones on the diagonal.

    Raises:
        ValueError: Unknown method, mismatched lengths.
        DegenerateInputError: An RDM is constant or holds NaN/Inf (names the model).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> similarity_matrix(rng.random((3, 45))).shape
        (3, 3)
    """
    compute = _method(method)
    rows = _as_rows(rdms, "similarity_matrix")
    _check_names(names, rows, "RDMs")
    matrix = compute(rows, None, block_size, names, None)
    np.fill_diagonal(matrix, 1.0)
    return matrix


def similarity_to(
    new_rdms: RDMs,
    rdms: RDMs,
    method: str = "spearman",
    block_size: int = 128,
    new_names: Sequence[str] | None = None,
    names: Sequence[str] | None = None,
) -> np.ndarray:
    """Only the rows of new models against existing ones: the incremental case.

    Adding K models to N costs K·N dot products instead of (N+K)² for a recompute.

    Args:
        new_rdms: (K, L) condensed RDMs of the new models (or one (L,) vector).
        rdms: (N, L) condensed RDMs to compare with (may include the new ones).
        method: As in :func:`similarity_matrix`.
        block_size: As in :func:`similarity_matrix`.
        new_names: Names of the new models, for error messages.
        names: Names of the existing models, for error messages.

    Returns:
        float64 (K, N): entry [k, n] is the similarity of new model k and model n.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> rdms = rng.random((4, 45))
        >>> bool(np.allclose(similarity_to(rdms[3], rdms), similarity_matrix(rdms)[3]))
        True
    """
    compute = _method(method)
    rows_new = _as_rows(new_rdms, "similarity_to new_rdms")
    rows_old = _as_rows(rdms, "similarity_to rdms")
    if rows_new.shape[1] != rows_old.shape[1]:
        raise ValueError(f"new RDMs have length {rows_new.shape[1]}, existing ones have length {rows_old.shape[1]}")
    _check_names(new_names, rows_new, "new RDMs")
    _check_names(names, rows_old, "RDMs")
    return compute(rows_new, rows_old, block_size, new_names, names)


def similarity_of_vectors(vectors_a: np.ndarray, vectors_b: np.ndarray | None = None, block_size: int = 128) -> np.ndarray:
    """Similarity from precomputed standardised vectors (e.g. stored rank vectors).

    Args:
        vectors_a: (N, L) standardised rows (from :func:`standardized_ranks` or
            :func:`standardize`), float32 or float64.
        vectors_b: (K, L) rows, or None for the symmetric all-pairs matrix of ``vectors_a``.
        block_size: Rows per tile.

    Returns:
        float64 (N, K) or (N, N), clipped to [-1, 1].

    Example:
        >>> v = standardized_ranks(np.array([[1.0, 3.0, 2.0], [1.0, 2.0, 3.0]]))
        >>> round(float(similarity_of_vectors(v)[0, 1]), 6)
        0.5
    """
    vectors_a = np.asarray(vectors_a)
    vectors_b = None if vectors_b is None else np.asarray(vectors_b)
    product = tiled_product(vectors_a, vectors_b, block_size=block_size)
    # NaN or Inf in an input row spreads to its row or column of the product: checking the (N, K)
    # product is as sure as checking the (N, L) inputs and far cheaper; the inputs are read only to name the row.
    if not np.isfinite(product).all():
        for label, vectors in (("vectors_a", vectors_a), ("vectors_b", vectors_b)):
            if vectors is not None:
                bad_rows = np.flatnonzero(~np.isfinite(vectors).all(axis=-1))
                if bad_rows.size:
                    raise DegenerateInputError(f"{label}[{bad_rows[0]}]", "standardised vectors hold NaN or Inf")
        raise ValueError("the product of the standardised vectors overflowed: they are not unit vectors")
    product = clip_correlations(product)
    if vectors_b is None:
        np.fill_diagonal(product, 1.0)
    return product
