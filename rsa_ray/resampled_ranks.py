"""Expanded ranks of resampled RDMs: the kernels shared by the bootstraps of rankings and taxonomies.

A resampled image set (indices, each image drawn ``c_i`` times) turns every condensed RDM into an
*expanded* vector in which the dissimilarity of images i < j appears ``c_i * c_j`` times (its pair
weight, :func:`pair_weights_of`); the pairs of an image with its own copies are dropped. With each
image drawn at most once (a subsample) the weights are 0 or 1 and the expanded vector is the
sub-RDM. These kernels give, per sample, every pair's average rank in the expanded vector without
sorting it: each vector is sorted once (:func:`sorted_vector`), and a value's rank is the running
sum of the weights of the smaller values plus (t + 1) / 2 for its t copies (integer arithmetic, so
ties are exact). :func:`rsa_ray.bootstrap.bootstrap_rsa_scores` and
:func:`rsa_ray.branch_support.bootstrap_similarity` are built on them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from rsa_ray.errors import DegenerateInputError
from rsa_ray.ranks import sorted_runs


@functools.lru_cache(maxsize=8)
def _pair_images(n_images: int) -> tuple[np.ndarray, np.ndarray]:
    """The two images (i < j) of every condensed pair, in ``squareform`` order."""
    first, second = np.triu_indices(n_images, k=1)
    first.flags.writeable = second.flags.writeable = False
    return first, second


def checked_samples(samples: np.ndarray, n_images: int) -> np.ndarray:
    """Image indices per sample as an [S, N_s] intp array, checked to index ``n_images`` images.

    Raises:
        ValueError: An empty sample, indices that are not integers or out of range.

    Example:
        >>> checked_samples(np.array([2, 0]), 3).tolist()
        [[2, 0]]
    """
    samples = np.asarray(samples)
    if samples.ndim == 1:
        samples = samples[None, :]
    if samples.ndim != 2 or samples.shape[0] == 0 or samples.shape[1] == 0:
        raise ValueError(f"samples must be image indices [S, N] with S, N >= 1, got shape {samples.shape}")
    if not np.issubdtype(samples.dtype, np.integer):
        raise ValueError(f"samples must be integer image indices, got dtype {samples.dtype}")
    if samples.min() < 0 or samples.max() >= n_images:
        raise ValueError(f"samples must index {n_images} images (0..{n_images - 1}), "
                         f"got {samples.min()}..{samples.max()}")
    return samples.astype(np.intp, copy=False)


def _image_counts(samples: np.ndarray, n_images: int) -> np.ndarray:
    """How often each image was drawn, per sample: [S, N] int64."""
    offsets = np.arange(samples.shape[0], dtype=np.intp)[:, None] * n_images
    return np.bincount((samples + offsets).ravel(), minlength=samples.shape[0] * n_images).reshape(-1, n_images)


def pair_weights_of(samples: np.ndarray, n_images: int) -> np.ndarray:
    """The multiplicity ``c_i * c_j`` of every condensed pair per sample: [S, L] int64 (checked samples).

    Example:
        >>> pair_weights_of(np.array([[0, 0, 2], [0, 1, 2]]), 3).tolist()   # pairs (0,1), (0,2), (1,2)
        [[0, 2, 0], [1, 1, 1]]
    """
    counts = _image_counts(samples, n_images)
    first, second = _pair_images(n_images)
    # Row-major: each sample's weights are gathered as one contiguous table.
    return np.ascontiguousarray(counts[:, first] * counts[:, second])



@dataclass(frozen=True)
class SortedVector:
    """One vector's sort order and its runs of tied values.

    Attributes:
        order: The argsort of the values.
        tied: Sorted positions whose value equals a neighbour's (None when there are no ties).
        tied_run: For each of those positions, which run of ties it belongs to.
        run_first, run_last: The first and last sorted position of each run of ties.
    """

    order: np.ndarray
    tied: np.ndarray | None = None
    tied_run: np.ndarray | None = None
    run_first: np.ndarray | None = None
    run_last: np.ndarray | None = None


def sorted_vector(values: np.ndarray, label: str) -> SortedVector:
    """One vector's sort order and runs of ties, computed once for every sample.

    Raises:
        DegenerateInputError: A constant vector (``label`` names it).

    Example:
        >>> vector = sorted_vector(np.array([0.2, 0.1, 0.2]), "m")
        >>> vector.order.tolist(), vector.tied.tolist(), vector.run_first.tolist(), vector.run_last.tolist()
        ([1, 0, 2], [1, 2], [1], [2])
    """
    order, starts, ends = sorted_runs(values)
    if starts is None:
        return SortedVector(order)
    if starts.size == 1:
        raise DegenerateInputError(label, "the RDM is constant, so its correlation is undefined")
    lengths = ends - starts
    runs = lengths > 1
    run_first, run_lengths = starts[runs], lengths[runs]
    run_offsets = np.cumsum(run_lengths) - run_lengths
    tied = np.repeat(run_first - run_offsets, run_lengths) + np.arange(int(run_lengths.sum()))
    return SortedVector(order, tied, np.repeat(np.arange(run_first.size), run_lengths), run_first,
                         run_first + run_lengths - 1)


class Workspace:
    """Buffers reused for every sample of a vector: fresh megabyte arrays on every call cost page faults."""

    def __init__(self, length: int):
        self.pairs = np.empty((length, 2), dtype=np.int64)
        self.sorted_weights = np.empty(length, dtype=np.int64)
        self.cumulative = np.empty(length, dtype=np.int64)
        self.doubled = np.empty(length, dtype=np.float64)
        self.dot_buffers = (np.empty(length, dtype=np.float64), np.empty(length, dtype=np.float64))


# Integer dot products are exact while n³ stays below this (n: the expanded length, Σ|C g| <= n³).
EXACT_INTEGER_LIMIT = 2.0**62


@dataclass(frozen=True)
class SampleBlock:
    """A block of samples: their pair weights and what every vector's expanded ranks share.

    Attributes:
        table: [B, L, 2] int64: the pair weights w, and (filled by the caller) w times the target's
            doubled centred rank, side by side so that one gather reads both.
        totals: [B] float64: n_s, the length of the expanded vectors (Σ w).
        tie_free_variance: [B] float64: Σ (rank − mean)² over the expanded vector of a vector with no
            ties of its own, where each pair's copies form one tie group of size w: (n³ − n − Σ (w³ − w)) / 12.
        exact: Whether integer dot products are exact for every sample of the block.
    """

    table: np.ndarray
    totals: np.ndarray
    tie_free_variance: np.ndarray
    exact: bool

    @property
    def weights(self) -> np.ndarray:
        return self.table[:, :, 0]


def sample_block(samples: np.ndarray, n_images: int) -> SampleBlock:
    """The pair weights of a block of checked samples and what every vector's expanded ranks share.

    Example:
        >>> block = sample_block(np.array([[0, 1, 2]]), 3)
        >>> block.weights.tolist(), block.totals.tolist(), block.tie_free_variance.tolist()
        ([[1, 1, 1]], [3.0], [2.0])
    """
    weights = pair_weights_of(samples, n_images)
    table = np.zeros(weights.shape + (2,), dtype=np.int64)
    table[:, :, 0] = weights
    totals = weights.sum(axis=1).astype(np.float64)
    as_float = weights.astype(np.float64)
    cubes = np.einsum("sl,sl,sl->s", as_float, as_float, as_float) - totals
    exact = bool(totals.max() ** 3 < EXACT_INTEGER_LIMIT)
    return SampleBlock(table, totals, (totals**3 - totals - cubes) / 12.0, exact)


def block_size(length: int) -> int:
    """Samples per block: the block's table ([B, L, 2] int64) stays near 256 MB.

    Example:
        >>> block_size(4950), block_size(2**26)
        (128, 1)
    """
    return max(1, min(128, 2**28 // (16 * length)))


def _dot(first: np.ndarray, second: np.ndarray, exact: bool, work: Workspace) -> float:
    # einsum, not BLAS: a threaded BLAS dot inside the worker threads oversubscribes the cores.
    if exact:
        return float(np.einsum("i,i->", first, second))
    np.copyto(work.dot_buffers[0], first)
    np.copyto(work.dot_buffers[1], second)
    return float(np.einsum("i,i->", *work.dot_buffers))


def _tie_terms(vector: SortedVector, cumulative: np.ndarray, weights: np.ndarray, total: float
               ) -> tuple[np.ndarray, np.ndarray, float]:
    """What the runs of ties change: each tied position's doubled rank as a run and as if untied, and the variance.

    A run of ties over sorted positions a..b holds ``T = C_b − C_{a−1}`` copies, all with the doubled centred
    rank ``C_{a−1} + C_b − n``; untied, position k would have ``2 C_k − w_k − n``.
    """
    before_run = (cumulative[vector.run_first] - weights[vector.run_first]).astype(np.float64)
    run_end = cumulative[vector.run_last].astype(np.float64)
    run_weight = run_end - before_run
    as_run = (before_run + run_end - total)[vector.tied_run]
    tied_weights = weights[vector.tied].astype(np.float64)
    as_untied = 2.0 * cumulative[vector.tied] - tied_weights - total
    # The tie-free variance counted Σ (w³ − w) over these positions; as runs they count Σ (T³ − T).
    variance_shift = float((tied_weights**3 - tied_weights).sum() - (run_weight**3 - run_weight).sum()) / 12.0
    return as_run, as_untied, variance_shift


def doubled_centred_ranks(vector: SortedVector, block: SampleBlock, row: int, work: Workspace,
                          out: np.ndarray) -> float:
    """Writes twice each pair's centred average rank in the expanded vector of one sample into ``out``.

    A pair at sorted position k has the expanded average rank ``C_{k−1} + (w_k + 1) / 2`` (C: running sum
    of the sorted weights), so ``2 (rank − (n + 1)/2) = 2 C_k − w_k − n``, an exact integer.

    Returns:
        Σ (rank − mean)² over the expanded vector.

    Example:
        >>> out = np.empty(3)
        >>> variance = doubled_centred_ranks(sorted_vector(np.array([0.3, 0.1, 0.2]), "m"),
        ...                                  sample_block(np.array([[0, 1, 2]]), 3), 0, Workspace(3), out)
        >>> out.tolist(), variance                     # ranks 3, 1, 2 around their mean 2, doubled
        ([2.0, -2.0, 0.0], 2.0)
    """
    total = block.totals[row]
    sorted_weights = work.sorted_weights
    np.take(block.weights[row], vector.order, out=sorted_weights, mode="clip")
    np.cumsum(sorted_weights, out=work.cumulative)
    doubled = work.doubled
    np.multiply(work.cumulative, 2.0, out=doubled)
    doubled -= sorted_weights
    doubled -= total
    variance = float(block.tie_free_variance[row])
    if vector.tied is not None:
        as_run, _, variance_shift = _tie_terms(vector, work.cumulative, sorted_weights, total)
        doubled[vector.tied] = as_run
        variance += variance_shift
    out[vector.order] = doubled
    return variance


def doubled_cross(vector: SortedVector, block: SampleBlock, row: int, target_square_term: float,
                  work: Workspace) -> tuple[float, float]:
    """4 Σ w r_c r_t (centred expanded ranks of candidate and target) and the candidate's Σ w r_c².

    With ``g = w · 2 r_t`` gathered beside w in the candidate's order, Σ_k (2 C_k − w_k − n) g_k
    = 2 C·g − Σ w g − n Σ g, and Σ g = 0 (weighted centred ranks sum to zero): no scatter is needed.
    ``block`` must have been filled by :func:`target_terms`, whose square term is ``target_square_term``.

    Example:
        >>> block = sample_block(np.array([[0, 1, 2]]), 3)
        >>> _, squares = target_terms(sorted_vector(np.array([0.1, 0.2, 0.3]), "t"), block, 0, "t")
        >>> cross, variance = doubled_cross(sorted_vector(np.array([0.3, 0.2, 0.1]), "m"), block, 0, squares[0],
        ...                                 Workspace(3))
        >>> float(cross / (4 * variance))              # r_s of reversed orders
        -1.0
    """
    np.take(block.table[row], vector.order, axis=0, out=work.pairs, mode="clip")
    sorted_weights, sorted_target = work.pairs[:, 0], work.pairs[:, 1]
    np.cumsum(sorted_weights, out=work.cumulative)
    cross = 2.0 * _dot(work.cumulative, sorted_target, block.exact, work) - target_square_term
    variance = float(block.tie_free_variance[row])
    if vector.tied is not None:
        as_run, as_untied, variance_shift = _tie_terms(vector, work.cumulative, sorted_weights, block.totals[row])
        cross += float(np.einsum("i,i->", as_run - as_untied, sorted_target[vector.tied].astype(np.float64)))
        variance += variance_shift
    return cross, variance


def undefined_in_sample(label: str, sample: int) -> DegenerateInputError:
    """The error for a vector constant over the images of one sample.

    Example:
        >>> str(undefined_in_sample("m", 3))
        "model 'm': the RDM is constant over the images of bootstrap sample 3, so its Spearman is undefined"
    """
    return DegenerateInputError(
        label, f"the RDM is constant over the images of bootstrap sample {sample}, so its Spearman is undefined")


def target_terms(target: SortedVector, block: SampleBlock, first: int, target_name: str
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Fills the block's second table column with w · 2 r_t; returns the target's variances and Σ w g.

    Raises:
        DegenerateInputError: The target is constant over one sample's images (``first``: the index of
            the block's first sample, for the message).

    Example:
        >>> block = sample_block(np.array([[0, 1, 2]]), 3)
        >>> variances, squares = target_terms(sorted_vector(np.array([0.1, 0.2, 0.3]), "t"), block, 0, "t")
        >>> variances.tolist(), squares.tolist(), block.table[0, :, 1].tolist()
        ([2.0], [0.0], [-2, 0, 2])
    """
    work = Workspace(block.table.shape[1])
    doubled = np.empty(block.table.shape[1])
    variances = np.empty(block.table.shape[0])
    square_terms = np.empty(block.table.shape[0])
    for row in range(block.table.shape[0]):
        variances[row] = doubled_centred_ranks(target, block, row, work, doubled)
        if variances[row] < 0.25:  # a non-constant expanded vector has a variance sum of at least 1/2
            raise undefined_in_sample(target_name, first + row)
        block.table[row, :, 1] = block.table[row, :, 0] * doubled  # exact: integers
        square_terms[row] = _dot(block.table[row, :, 0], block.table[row, :, 1], block.exact, work)
    return variances, square_terms

