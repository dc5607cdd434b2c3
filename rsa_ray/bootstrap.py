"""Bootstrap confidence for RSA rankings: resampling the probe images.

A bootstrap sample draws N probe images with replacement (as rsatoolbox's
``bootstrap_sample_pattern`` does). Every RDM of the sample holds, for each
pair of *distinct* original images i < j, ``c_i * c_j`` copies of the
original dissimilarity (``c_i``: how often image i was drawn); the pairs of an
image with its own copies are dropped, as rsatoolbox drops them (it marks them
NaN and leaves them out of every comparison). :func:`pair_weights` gives those
multiplicities on the condensed pairs.

The statistic of :func:`bootstrap_rsa_scores` is exact: Spearman's r_s of the
two *expanded* vectors (each condensed value repeated by its multiplicity),
re-ranked in each sample with average ranks for ties. That is what scipy's
``spearmanr`` gives on the resampled RDMs with the self-pairs removed. It is
computed without sorting per sample: each vector is sorted once, and in each
sample a value's average rank in the expanded vector is the running sum of the
multiplicities of the smaller values plus (t + 1) / 2, t being the number of
copies equal to it (integer arithmetic, so ties are exact). Because only the
order of the values matters, RDMs and their rank vectors give identical results.
A sample in which a vector is constant (so r_s is undefined) raises
:class:`rsa_ray.errors.DegenerateInputError` naming the model and the sample;
no sample is dropped silently. The kernels live in :mod:`rsa_ray.resampled_ranks`.

Estimators that read labels are recomputed on the resampled rows
(:func:`bootstrap_scores`); :func:`summarise` turns the scores of either kind into
percentile intervals, the chance of being best and the set of candidates the
bootstrap cannot tell from the top one. Draws with replacement feed copies of
images to an estimator, which inflates scores that grow with the number of
distinct-looking rows (LogME and the H-scores on features wider than the images):
their intervals can miss their own point values. The ranking's intervals therefore
come from subsamples without replacement (:mod:`rsa_ray.resampling`), which
:func:`bootstrap_rsa_scores` and :func:`bootstrap_scores` accept as well.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from rsa_ray.errors import DegenerateInputError, model_label
from rsa_ray.ranks import as_rows, check_finite, for_each_row
from rsa_ray.rdm import n_images_from_length
from rsa_ray.resampled_ranks import (
    Workspace,
    block_size,
    checked_samples,
    doubled_cross,
    pair_weights_of,
    sample_block,
    sorted_vector,
    target_terms,
    undefined_in_sample,
)


def image_samples(n_images: int, n_samples: int, seed: int | np.random.Generator | None = None) -> np.ndarray:
    """Bootstrap samples of the probe images: ``n_images`` indices drawn with replacement, per sample.

    Args:
        n_images: N, the number of probe images (at least 2).
        n_samples: S, the number of bootstrap samples (at least 1).
        seed: Seed or generator for ``numpy.random.default_rng``.

    Returns:
        int64 array [S, N]; each row sorted (copies of one image are adjacent, as in rsatoolbox).

    Raises:
        ValueError: ``n_images`` < 2 or ``n_samples`` < 1.

    Example:
        >>> samples = image_samples(5, 3, seed=0)
        >>> samples.shape, bool((samples >= 0).all() and (samples < 5).all())
        ((3, 5), True)
    """
    if n_images < 2:
        raise ValueError(f"n_images must be at least 2, got {n_images}")
    if n_samples < 1:
        raise ValueError(f"n_samples must be at least 1, got {n_samples}")
    generator = np.random.default_rng(seed)
    return np.sort(generator.integers(0, n_images, size=(n_samples, n_images), dtype=np.int64), axis=1)


def pair_weights(sample: np.ndarray, n_images: int) -> np.ndarray:
    """The multiplicity ``c_i * c_j`` of every condensed pair i < j in a resampled image set.

    Pairs of an image with its own copies are not pairs of distinct images and are dropped,
    so the weights sum to ``(N_s² − Σ c_i²) / 2`` for a sample of N_s draws.

    Args:
        sample: Image indices [N_s] (one sample) or [S, N_s] (several), each in ``0..n_images-1``.
        n_images: N, the number of images of the full RDM.

    Returns:
        int64 weights [L] (or [S, L]) in ``squareform`` order, L = N(N−1)/2.

    Raises:
        ValueError: Indices that are not integers in range, or an empty sample.

    Example:
        >>> pair_weights(np.array([0, 0, 2]), 3).tolist()   # pairs (0,1), (0,2), (1,2)
        [0, 2, 0]
    """
    weights = pair_weights_of(checked_samples(sample, n_images), n_images)
    return weights[0] if np.ndim(sample) == 1 else weights


# Candidates sorted and scored together by one thread: their sort orders stay in cache while each
# sample's table is read by all of them.
CANDIDATE_CHUNK = 8


def bootstrap_rsa_scores(
    candidates: np.ndarray | Sequence[np.ndarray],
    target: np.ndarray,
    samples: np.ndarray,
    names: Sequence[str] | None = None,
    target_name: str = "target",
    workers: int | None = None,
) -> np.ndarray:
    """The RSA score of every candidate in every bootstrap sample of the probe images.

    The score is Spearman's r_s between the candidate's and the target's resampled RDMs: each
    condensed value repeated ``c_i c_j`` times (:func:`pair_weights`), self-pairs dropped, both
    vectors re-ranked with average ranks for ties, then Pearson of those ranks. An all-distinct
    sample (``np.arange(N)``) gives the ordinary r_s of the full RDMs, and a subsample (each image
    at most once, :func:`rsa_ray.resampling.image_subsamples`) the r_s of the sub-RDMs.

    Memory: a block of up to 128 samples' pair tables (16 bytes per pair and sample, about 256 MB),
    plus a few buffers of L values per thread.

    Args:
        candidates: [M, L] condensed RDMs, or their rank vectors (only the order of values matters).
        target: [L] the target's condensed RDM or rank vector.
        samples: [S, N_s] image indices per sample (:func:`rsa_ray.resampling.image_subsamples`, or
            :func:`image_samples` for draws with replacement).
        names: Candidate names for error messages (default ``#index``).
        target_name: The target's name for error messages.
        workers: Threads over candidates (default: the usable cores, at most 8).

    Returns:
        float64 scores [S, M].

    Raises:
        ValueError: Mismatched shapes or bad sample indices.
        DegenerateInputError: A vector holds NaN/Inf or is constant, or is constant over the images
            of one sample (naming the model and the sample).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> rdms = rng.random((3, 45))                 # 10 images
        >>> scores = bootstrap_rsa_scores(rdms[1:], rdms[0], image_samples(10, 4, seed=1))
        >>> scores.shape
        (4, 2)
    """
    rows = as_rows(candidates, "bootstrap_rsa_scores candidates")
    target = np.asarray(target)
    if target.ndim != 1 or target.shape[0] != rows.shape[1]:
        raise ValueError(f"target must be one vector of length {rows.shape[1]}, got shape {target.shape}")
    if names is not None and len(names) != rows.shape[0]:
        raise ValueError(f"got {len(names)} names for {rows.shape[0]} candidates")
    n_images = n_images_from_length(rows.shape[1])
    samples = checked_samples(samples, n_images)
    check_finite(rows, names, "the RDM")
    check_finite(target[None, :], [target_name], "the RDM")
    target_vector = sorted_vector(target, target_name)
    scores = np.empty((samples.shape[0], rows.shape[0]), dtype=np.float64)
    n_candidates = rows.shape[0]
    chunks = [range(start, min(start + CANDIDATE_CHUNK, n_candidates))
              for start in range(0, n_candidates, CANDIDATE_CHUNK)]
    samples_per_block = block_size(rows.shape[1])
    for first in range(0, samples.shape[0], samples_per_block):
        block = sample_block(samples[first:first + samples_per_block], n_images)
        target_variances, square_terms = target_terms(target_vector, block, first, target_name)

        def score_chunk(chunk_index: int) -> None:
            chunk = [(index, model_label(names, index)) for index in chunks[chunk_index]]
            vectors = [sorted_vector(rows[index], label) for index, label in chunk]
            work = Workspace(rows.shape[1])
            for row in range(block.table.shape[0]):
                for (index, label), vector in zip(chunk, vectors):
                    cross, variance = doubled_cross(vector, block, row, square_terms[row], work)
                    if variance < 0.25:
                        raise undefined_in_sample(label, first + row)
                    scores[first + row, index] = cross / (4.0 * np.sqrt(variance * target_variances[row]))

        for_each_row(score_chunk, len(chunks), workers)
    return np.clip(scores, -1.0, 1.0)


def bootstrap_scores(score_one: Callable[[np.ndarray], float | np.ndarray], n_images: int,
                     samples: np.ndarray) -> np.ndarray:
    """Any score recomputed on the resampled rows of every bootstrap sample.

    For estimators that read labels: ``score_one(rows)`` should score
    ``features[rows]`` against ``labels.subset(rows)`` with ``image_ids=rows``, so that an
    estimator keeps the copies of one image on the same side of any split it makes.

    Args:
        score_one: Called once per sample with that sample's image indices [N_s]; returns one
            score or one score per candidate [M].
        n_images: N, the number of images the indices refer to.
        samples: [S, N_s] image indices (:func:`image_samples`).

    Returns:
        float64 [S] or [S, M]: the scores, one row per sample.

    Raises:
        ValueError: Bad sample indices, or ``score_one`` returning different shapes.
        DegenerateInputError: Raised by ``score_one``; its notes name the sample.

    Example:
        >>> values = np.array([1.0, 2.0, 3.0, 4.0])
        >>> bootstrap_scores(lambda rows: values[rows].mean(), 4, np.array([[0, 1, 2, 3], [3, 3, 3, 3]])).tolist()
        [2.5, 4.0]
    """
    samples = checked_samples(samples, n_images)
    results = []
    for index, rows in enumerate(samples):
        try:
            score = np.asarray(score_one(rows.copy()), dtype=np.float64)
        except DegenerateInputError as error:
            error.add_note(f"in bootstrap sample {index}")
            raise
        if results and score.shape != results[0].shape:
            raise ValueError(f"score_one returned shape {score.shape} for sample {index}, {results[0].shape} before")
        if score.ndim > 1:
            raise ValueError(f"score_one must return one score or one per candidate, got shape {score.shape}")
        results.append(score)
    return np.stack(results)


@dataclass(frozen=True)
class BootstrapSummary:
    """One candidate's bootstrap (or subsample) summary.

    Attributes:
        name: The candidate.
        score: Its full-sample score (the point estimate).
        low, high: The central interval at the summary's level: percentiles of its bootstrap scores
            (:func:`summarise`), or of its recentred subsample scores
            (:func:`rsa_ray.resampling.subsample_summary`, which always holds ``score``).
        p_best: Share of samples in which it has the best score (a tie for best splits the sample
            equally among the tied candidates).
        p_not_below_top: Share of samples in which its score is not below the top candidate's
            (1.0 for the top candidate itself).
        indistinguishable_from_top: ``p_not_below_top >= alpha / 2`` with ``alpha = 1 − level``; see
            :func:`summarise`.
    """

    name: str
    score: float
    low: float
    high: float
    p_best: float
    p_not_below_top: float
    indistinguishable_from_top: bool


def checked_scores(scores: np.ndarray, point: np.ndarray, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Resampled scores [S, M] and point scores [M] as float64, checked against each other and the names.

    Raises:
        ValueError: Mismatched shapes, no sample or candidate, or duplicate names.
        DegenerateInputError: A candidate's score is NaN or Inf in some sample or at full sample.

    Example:
        >>> checked_scores([[0.5, 0.1]], [0.4, 0.2], ["a", "b"])[0].shape
        (1, 2)
    """
    scores = np.asarray(scores, dtype=np.float64)
    point = np.asarray(point, dtype=np.float64)
    if scores.ndim != 2 or point.shape != (scores.shape[1],) or len(names) != scores.shape[1]:
        raise ValueError(f"scores must be [S, M] with M point scores and names, got {scores.shape}, "
                         f"{point.shape} and {len(names)} names")
    if scores.shape[0] == 0 or scores.shape[1] == 0:
        raise ValueError(f"scores must hold at least one sample and one candidate, got shape {scores.shape}")
    if len(set(names)) != len(names):
        duplicates = sorted({name for name in names if list(names).count(name) > 1})
        raise ValueError(f"candidate names must be unique, got duplicates {duplicates}")
    undefined = (~np.isfinite(scores)).sum(axis=0)
    if undefined.any():
        index = int(np.flatnonzero(undefined)[0])
        raise DegenerateInputError(str(names[index]), f"its score is undefined (NaN or Inf) in {undefined[index]} "
                                                      f"of {scores.shape[0]} bootstrap samples")
    if not np.isfinite(point).all():
        index = int(np.flatnonzero(~np.isfinite(point))[0])
        raise DegenerateInputError(str(names[index]), "its full-sample score is undefined (NaN or Inf)")
    return scores, point


def summarise(scores: np.ndarray, point: np.ndarray, names: Sequence[str], level: float = 0.95
              ) -> tuple[BootstrapSummary, ...]:
    """Percentile intervals, chance of being best and indistinguishability from the top, best first.

    The top candidate is the one with the best full-sample score (``point``; ties keep the input
    order). For candidate m and sample s let ``d_s = scores[s, m] − scores[s, top]`` (paired: both
    from the same resampled images) and ``p_not_below_top = #{s: d_s >= 0} / S``. With
    ``alpha = 1 − level``, m is *indistinguishable from the top* when ``p_not_below_top >= alpha / 2``:
    the one-sided paired bootstrap test of "m scores below the top", whose p-value is
    ``p_not_below_top``, does not reject at level alpha/2 (the two-sided test at level alpha); up to
    the interpolation of quantiles, the central ``level`` interval of d reaches 0. The top candidate is
    always indistinguishable from itself.

    Args:
        scores: [S, M] bootstrap scores, higher is better (:func:`bootstrap_rsa_scores`,
            :func:`bootstrap_scores`).
        point: [M] full-sample scores.
        names: The M candidate names, unique.
        level: Coverage of the percentile interval, in (0, 1).

    Returns:
        One :class:`BootstrapSummary` per candidate, best point score first.

    Raises:
        ValueError: Mismatched shapes, duplicate names or a level outside (0, 1).
        DegenerateInputError: A candidate's score is NaN or Inf in some sample or at full sample
            (names the candidate and how many samples).

    Example:
        >>> scores = np.array([[0.9, 0.5, 0.85], [0.8, 0.4, 0.82], [0.7, 0.3, 0.6]])
        >>> [(s.name, s.p_best, s.indistinguishable_from_top) for s in summarise(scores, [0.8, 0.4, 0.75], "abc")]
        [('a', 0.666..., True), ('c', 0.333..., True), ('b', 0.0, False)]
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    names = [str(name) for name in names]
    scores, point = checked_scores(scores, point, names)
    order = np.argsort(-point, kind="stable")
    top = int(order[0])
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(scores, [tail, 1.0 - tail], axis=0)
    is_best = scores == scores.max(axis=1, keepdims=True)
    p_best = (is_best / is_best.sum(axis=1, keepdims=True)).mean(axis=0)
    not_below = (scores >= scores[:, [top]]).sum(axis=0)
    # Counted, with a little slack, so that "at least alpha/2 of the samples" holds at exact boundaries.
    indistinguishable = not_below >= tail * scores.shape[0] - 1e-9
    return tuple(
        BootstrapSummary(names[m], float(point[m]), float(low[m]), float(high[m]), float(p_best[m]),
                         float(not_below[m] / scores.shape[0]), bool(indistinguishable[m]))
        for m in (int(i) for i in order))
