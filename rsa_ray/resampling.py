"""Confidence for a ranking from subsamples of the images, each image at most once (numpy only).

Resampling images *with* replacement (the classical bootstrap) hands an estimator copies of
images. Scores that grow with the number of rows that look distinct are then inflated: on
features wider than the images one such draw moved LogME from -0.02 to 7.77, and the
bootstrap intervals missed their own point values. Here every sample is a subsample of
``m`` distinct images drawn without replacement (half of them by default, *half-sampling*),
so every estimator sees real images only.

A subsample score estimates the score at m images, not at the full n: estimators whose value
moves with the sample size (LogME, the H-scores, k-NN accuracy) sit off centre there. So only
the spread is taken from the subsamples. Each candidate's subsample scores are centred on
their own median and scaled by ``sqrt(m / (n - m))``, the ratio of the spread of a statistic
at n images to that of its subsamples of m without replacement (for a mean:
``Var_n / Var_m|data = (1/n) / (1/m - 1/n)``; 1 for half-samples), then placed at the
full-sample score:

    adjusted[s, k] = point[k] + sqrt(m / (n - m)) * (scores[s, k] - median_s scores[s, k])

The interval is the central ``level`` range of ``adjusted``, which always holds the point value.
The top candidate and the others are compared on paired values (both scores from the same
images): ``diff[s, k] = point[k] - point[top] + sqrt(m / (n - m)) * (d[s, k] - median_s d[s, k])``
with ``d = scores[:, k] - scores[:, top]``. ``p_not_below_top`` is the share of samples with
``diff >= 0``, a candidate *cannot be told apart from the top* when that share is at least
``(1 - level) / 2`` (the one-sided test at ``alpha / 2``, as :func:`rsa_ray.bootstrap.summarise`),
and ``p_best`` is the share of samples in which a candidate's ``diff`` is the largest (the
top's own is 0; ties split the sample). A candidate far below the top therefore gets a small
``p_best`` even when its subsample scores are shifted. tests/unit/core/test_resampling.py measures
how often the intervals hold the true value and the top set holds the true best on simulated
zoos, against the nominal level; ``bench/bootstrap.py --coverage`` measured 0.93-0.97 for logme,
hscore, hscore-shrinkage, knn and sfda at nominal 0.95 (0.66-0.94 with replacement), 0.875 for
rsa-labels (0.88 with replacement), and the true best in the top set in all 40 zoos.

Example:
    >>> samples = image_subsamples(10, 3, seed=0)
    >>> samples.shape, bool((np.diff(samples, axis=1) > 0).all())
    ((3, 5), True)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rsa_ray.bootstrap import BootstrapSummary, checked_scores


def image_subsamples(n_images: int, n_samples: int, seed: int | np.random.Generator | None = None,
                     size: int | None = None) -> np.ndarray:
    """Subsamples of the probe images: ``size`` distinct indices drawn without replacement, per sample.

    Args:
        n_images: n, the number of images (at least 2).
        n_samples: S, the number of subsamples (at least 1).
        seed: Seed or generator for ``numpy.random.default_rng``.
        size: m, the images per subsample, in ``1..n_images - 1`` (default ``n_images // 2``).

    Returns:
        int64 array [S, m]; each row sorted and free of repeats.

    Raises:
        ValueError: ``n_images`` < 2, ``n_samples`` < 1, or ``size`` outside ``1..n_images - 1``.

    Example:
        >>> image_subsamples(6, 2, seed=1).tolist()
        [[2, 4, 5], [1, 3, 5]]
    """
    if n_images < 2:
        raise ValueError(f"n_images must be at least 2, got {n_images}")
    if n_samples < 1:
        raise ValueError(f"n_samples must be at least 1, got {n_samples}")
    size = n_images // 2 if size is None else size
    if not 1 <= size < n_images:
        raise ValueError(f"size must be in 1..{n_images - 1} (fewer images than the {n_images} there are), got {size}")
    generator = np.random.default_rng(seed)
    keys = generator.random((n_samples, n_images))
    # The images with the ``size`` smallest of S x n uniform keys: a uniform subset per row.
    return np.sort(np.argpartition(keys, size - 1, axis=1)[:, :size], axis=1).astype(np.int64)


def subsample_scale(n_images: int, subsample_size: int) -> float:
    """``sqrt(m / (n - m))``: the spread at n images over the spread of subsamples of m without replacement.

    Raises:
        ValueError: ``subsample_size`` outside ``1..n_images - 1``.

    Example:
        >>> subsample_scale(100, 50), round(subsample_scale(100, 80), 3)
        (1.0, 2.0)
    """
    if not 1 <= subsample_size < n_images:
        raise ValueError(f"subsample_size must be in 1..{n_images - 1} for {n_images} images, got {subsample_size}")
    return float(np.sqrt(subsample_size / (n_images - subsample_size)))


def adjusted_scores(scores: np.ndarray, point: np.ndarray, scale: float) -> np.ndarray:
    """Each column's subsample scores centred on their median, scaled, and placed at its point score.

    Example:
        >>> adjusted_scores(np.array([[5.0], [7.0], [6.0]]), np.array([1.0]), 1.0).ravel().tolist()
        [0.0, 2.0, 1.0]
    """
    scores = np.asarray(scores, dtype=np.float64)
    return np.asarray(point, dtype=np.float64) + scale * (scores - np.median(scores, axis=0))


def subsample_summary(scores: np.ndarray, point: np.ndarray, names: Sequence[str], n_images: int,
                      subsample_size: int, level: float = 0.95) -> tuple[BootstrapSummary, ...]:
    """Intervals, chance of being best and the set the subsamples cannot tell from the top, best first.

    See the module docstring for the adjusted values every number here is computed from.

    Args:
        scores: [S, M] each candidate's score on each subsample (higher is better), e.g. from
            :func:`rsa_ray.bootstrap.bootstrap_scores` or :func:`rsa_ray.bootstrap.bootstrap_rsa_scores`
            on :func:`image_subsamples`.
        point: [M] full-sample scores.
        names: The M candidate names, unique.
        n_images: n, the images the point scores were computed on.
        subsample_size: m, the images of every subsample.
        level: Coverage of the intervals, in (0, 1).

    Returns:
        One :class:`rsa_ray.bootstrap.BootstrapSummary` per candidate, best point score first (ties
        keep the input order); ``low <= score <= high`` always.

    Raises:
        ValueError: Mismatched shapes, duplicate names, a level outside (0, 1) or a subsample size
            outside ``1..n_images - 1``.
        DegenerateInputError: A candidate's score is NaN or Inf in some sample or at full sample.

    Example:
        >>> scores = np.array([[9.0, 1.0], [9.5, 1.2], [8.5, 0.8]])    # shifted from the point values
        >>> [(s.name, s.low, s.high, s.p_best) for s in subsample_summary(scores, [2.0, 1.5], "ab", 20, 10, 0.5)]
        [('a', 1.75, 2.25, 1.0), ('b', 1.4, 1.6, 0.0)]
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    names = [str(name) for name in names]
    scores, point = checked_scores(scores, point, names)
    scale = subsample_scale(n_images, subsample_size)
    order = np.argsort(-point, kind="stable")
    top = int(order[0])
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(adjusted_scores(scores, point, scale), [tail, 1.0 - tail], axis=0)
    # Quantiles interpolate between samples, so the point (the median's image) lies within them; clip round-off.
    low, high = np.minimum(low, point), np.maximum(high, point)
    paired = adjusted_scores(scores - scores[:, [top]], point - point[top], scale)
    paired[:, top] = 0.0
    is_best = paired == paired.max(axis=1, keepdims=True)
    p_best = (is_best / is_best.sum(axis=1, keepdims=True)).mean(axis=0)
    not_below = (paired >= 0.0).sum(axis=0)
    # Counted, with a little slack, so that "at least alpha/2 of the samples" holds at exact boundaries.
    indistinguishable = not_below >= tail * scores.shape[0] - 1e-9
    return tuple(
        BootstrapSummary(names[m], float(point[m]), float(low[m]), float(high[m]), float(p_best[m]),
                         float(not_below[m] / scores.shape[0]), bool(indistinguishable[m]))
        for m in (int(i) for i in order))
