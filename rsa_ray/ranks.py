"""Rank transforms and standardised vectors: the core of a fast Spearman.

A Spearman correlation between two vectors is the Pearson correlation of their
average ranks. Once each vector's ranks are centred and scaled to unit norm
(a *standardised rank vector*), every Spearman correlation is one dot product,
so a whole matrix of them is one matrix product.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from rsa_ray.errors import DegenerateInputError, model_label


def sorted_runs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """The argsort of ``values`` and, if there are ties, the start and end of each run of equal values.

    Returns:
        ``(order, starts, ends)``: sorted position k holds ``values[order[k]]``; run r of equal values
        covers sorted positions ``starts[r]`` to ``ends[r] - 1``. ``starts`` and ``ends`` are None
        when all values differ.

    Example:
        >>> order, starts, ends = sorted_runs(np.array([0.3, 0.1, 0.3]))
        >>> order.tolist(), starts.tolist(), ends.tolist()
        ([1, 0, 2], [0, 1], [1, 3])
    """
    order = np.argsort(values)
    sorted_values = values[order]
    run_starts = np.flatnonzero(sorted_values[1:] != sorted_values[:-1]) + 1
    if run_starts.size == values.shape[0] - 1:
        return order, None, None
    return order, np.concatenate(([0], run_starts)), np.concatenate((run_starts, [values.shape[0]]))


def _average_ranks_1d(values: np.ndarray, out: np.ndarray) -> None:
    """Writes the 1-based average ranks of ``values`` into ``out`` (float64)."""
    order, starts, ends = sorted_runs(values)
    if starts is None:  # no ties: ranks are the positions
        out[order] = np.arange(1, values.shape[0] + 1, dtype=np.float64)
        return
    # The mean of the 1-based positions start+1 .. end.
    out[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)


def _standardized_ranks_1d(values: np.ndarray, out: np.ndarray, label: str) -> None:
    """Writes the centred, unit-norm average ranks of ``values`` into ``out`` in one scatter.

    The centred ranks are multiples of 0.5, exact in float64, so a constant vector
    is exactly the zero vector.
    """
    if not np.isfinite(values).all():
        raise DegenerateInputError(label, "the RDM holds NaN or Inf")
    length = values.shape[0]
    order, starts, ends = sorted_runs(values)
    if starts is None:
        centred = np.arange(length, dtype=np.float64) - (length - 1) / 2.0
        counts = None
    else:
        centred = (starts + ends - length) / 2.0  # run's average rank − (L + 1) / 2
        counts = ends - starts
    squared_norm = centred @ centred if counts is None else (counts * centred) @ centred
    if squared_norm == 0.0:
        raise DegenerateInputError(label, "the RDM is constant, so its correlation is undefined")
    centred /= np.sqrt(squared_norm)
    out[order] = centred if counts is None else np.repeat(centred, counts)


def as_rows(vectors: np.ndarray | Sequence[np.ndarray], what: str) -> np.ndarray:
    """One vector or stacked vectors as a 2-D array of real numbers [N, L] (not copied when it is one).

    Raises:
        ValueError: Vectors of different shapes, no vectors, more than 2 dimensions, or values
            that are not real numbers (``what`` starts the message).

    Example:
        >>> as_rows([[1, 2], [3, 4]], "rows").shape, as_rows(np.arange(3), "rows").shape
        ((2, 2), (1, 3))
    """
    if isinstance(vectors, np.ndarray):
        rows = vectors
    else:
        rows = list(vectors)
        lengths = {np.shape(row) for row in rows}
        if len(lengths) > 1:
            raise ValueError(f"{what}: all vectors must have the same shape, got {sorted(lengths)}")
        rows = np.asarray(rows)
    if rows.ndim == 1:
        rows = rows[None, :]
    if rows.ndim != 2:
        raise ValueError(f"{what}: expected one vector (L,) or stacked vectors (N, L), got shape {rows.shape}")
    if rows.shape[0] == 0:
        raise ValueError(f"{what}: got no vectors")
    if not np.issubdtype(rows.dtype, np.number) or np.issubdtype(rows.dtype, np.complexfloating):
        raise ValueError(f"{what}: vectors must be real numbers, got dtype {rows.dtype}")
    return rows


def check_finite(rows: np.ndarray, names: Sequence[str] | None, what: str) -> None:
    """Refuses the first row holding NaN or Inf, naming its model.

    Raises:
        DegenerateInputError: ``"model NAME: WHAT holds NaN or Inf"``.

    Example:
        >>> check_finite(np.array([[1.0, np.nan]]), ["m"], "the RDM")
        Traceback (most recent call last):
        ...
        rsa_ray.errors.DegenerateInputError: model 'm': the RDM holds NaN or Inf
    """
    finite = np.isfinite(rows).all(axis=1)
    if not finite.all():
        index = int(np.flatnonzero(~finite)[0])
        raise DegenerateInputError(model_label(names, index), f"{what} holds NaN or Inf")


def default_workers() -> int:
    """Threads to use by default: the cores this process may run on, at most 8.

    Example:
        >>> 1 <= default_workers() <= 8
        True
    """
    return max(1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def rank_transform(values: np.ndarray, workers: int | None = None) -> np.ndarray:
    """Average ranks (1-based, ties get the mean of their positions) along the last axis.

    Equal to ``scipy.stats.rankdata(values, axis=-1)`` but several times faster:
    one argsort per row plus a vectorised pass over runs of ties, rows in parallel
    threads (numpy releases the GIL while sorting).

    Args:
        values: Array (L,) or (N, L) of finite real numbers.
        workers: Threads to rank rows with (default: the usable cores, at most 8).

    Returns:
        float64 array of the same shape.

    Raises:
        ValueError: If ``values`` holds NaN (its rank would be meaningless).

    Example:
        >>> rank_transform(np.array([0.3, 0.1, 0.3, 0.2])).tolist()
        [3.5, 1.0, 3.5, 2.0]
    """
    values = np.asarray(values)
    rows = as_rows(values, "rank_transform")
    if np.isnan(rows).any():
        raise ValueError("rank_transform: values hold NaN")
    ranks = np.empty(rows.shape, dtype=np.float64)
    _rank_rows_into(rows, ranks, workers)
    return ranks.reshape(values.shape)


def for_each_row(work, n_rows: int, workers: int | None) -> None:
    """Runs ``work(index)`` for every row, in threads (numpy releases the GIL while sorting).

    The first error raised by ``work`` is raised again here.

    Example:
        >>> seen = []
        >>> for_each_row(seen.append, 3, workers=1)
        >>> seen
        [0, 1, 2]
    """
    workers = default_workers() if workers is None else workers
    if workers <= 1 or n_rows == 1:
        for index in range(n_rows):
            work(index)
        return
    with ThreadPoolExecutor(max_workers=min(workers, n_rows)) as pool:
        list(pool.map(work, range(n_rows)))  # list() re-raises the first error


def _rank_rows_into(rows: np.ndarray, ranks: np.ndarray, workers: int | None) -> None:
    for_each_row(lambda index: _average_ranks_1d(rows[index], ranks[index]), rows.shape[0], workers)


def _unit_norm_centred_rows(rows: np.ndarray, names: Sequence[str] | None, what: str) -> np.ndarray:
    """Centres and scales the rows of an owned float64 array in place."""
    # Judge constancy against the values' own size: centring a constant row leaves round-off only.
    scale = np.maximum(np.abs(rows).max(axis=1), np.finfo(np.float64).tiny)
    rows -= rows.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(rows, axis=1)
    constant = norms <= 1e-12 * scale * np.sqrt(rows.shape[1])
    if constant.any():
        index = int(np.flatnonzero(constant)[0])
        raise DegenerateInputError(model_label(names, index), f"{what} is constant, so its correlation is undefined")
    rows /= norms[:, None]
    return rows


def standardize(vectors: np.ndarray | Sequence[np.ndarray], names: Sequence[str] | None = None) -> np.ndarray:
    """Rows centred to zero mean and scaled to unit norm, so Pearson r is a dot product.

    Args:
        vectors: (L,), (N, L) or a sequence of N vectors of length L.
        names: Model names for error messages (default: ``#index``).

    Returns:
        float64 array (N, L); a single vector gives (1, L).

    Raises:
        DegenerateInputError: A vector is constant or holds NaN/Inf (names the model).

    Example:
        >>> unit = standardize(np.array([1.0, 2.0, 4.0]))
        >>> round(float((unit @ unit.T)[0, 0]), 12)
        1.0
    """
    rows = as_rows(vectors, "standardize").astype(np.float64, copy=True)
    check_finite(rows, names, "the vector")
    return _unit_norm_centred_rows(rows, names, "the vector")


def standardized_ranks(
    vectors: np.ndarray | Sequence[np.ndarray],
    names: Sequence[str] | None = None,
    workers: int | None = None,
) -> np.ndarray:
    """Standardised rank vectors: average ranks, centred, unit norm.

    The dot product of two such rows is Spearman's r_s of the original vectors.

    Args:
        vectors: (L,), (N, L) or a sequence of N condensed RDMs.
        names: Model names for error messages (default: ``#index``).
        workers: Threads for ranking (see :func:`rank_transform`).

    Returns:
        float64 array (N, L).

    Raises:
        DegenerateInputError: A vector is constant or holds NaN/Inf (names the model).

    Example:
        >>> a = standardized_ranks(np.array([[1.0, 5.0, 2.0, 8.0], [2.0, 9.0, 3.0, 7.0]]))
        >>> round(float(a[0] @ a[1]), 6)
        0.8
    """
    rows = as_rows(vectors, "standardized_ranks")
    vectors_out = np.empty(rows.shape, dtype=np.float64)
    for_each_row(
        lambda index: _standardized_ranks_1d(rows[index], vectors_out[index], model_label(names, index)),
        rows.shape[0],
        workers,
    )
    return vectors_out


# The names these helpers had before they were shared; kept for callers that still use them.
_sorted_runs, _as_rows, _check_finite = sorted_runs, as_rows, check_finite
_for_each_row, _default_workers = for_each_row, default_workers
