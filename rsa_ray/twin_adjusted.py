"""Scores relative to a seeded random-init twin of each candidate's own architecture (numpy only).

On mixed zoos a score can favour an architecture rather than what its weights learned: a
random-init network of a wide or deep architecture already scores high under RDM-type scores.
Comparing each candidate with a twin of its own architecture, built with random weights from a
fixed seed, removes what the architecture alone gives:

    adjusted[k] = score[k] - score[twin(k)]

so every random-init twin scores 0. With resamples of the images (the same rows for every
candidate, :func:`rsa_ray.resampling.image_subsamples`), the adjusted resampled scores are the
paired differences ``samples[s, k] - samples[s, twin(k)]``: the twin's own spread enters the
interval, and :func:`rsa_ray.resampling.subsample_summary` takes them as any other score.

Example:
    >>> twin_adjusted([0.9, 0.4, 0.7], {"a": "r", "r": "r", "b": "r"}, ["a", "r", "b"]).point.tolist()
    [0.5, 0.0, 0.29999999999999993]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TwinAdjusted:
    """Scores minus their twin's.

    Attributes:
        point: [M] full-sample score minus the twin's.
        samples: [S, M] paired resampled differences, or None without resamples.
        names: The M candidates, in the input order.
    """

    point: np.ndarray
    samples: np.ndarray | None
    names: tuple[str, ...]


def twin_indices(twin_of: Mapping[str, str], names: Sequence[str]) -> np.ndarray:
    """Each candidate's twin, as a column index into ``names``.

    Raises:
        ValueError: A candidate without a twin, or a twin that is not among the candidates.

    Example:
        >>> twin_indices({"a": "r", "r": "r"}, ["a", "r"]).tolist()
        [1, 1]
    """
    names = [str(name) for name in names]
    column = {name: index for index, name in enumerate(names)}
    if len(column) != len(names):
        raise ValueError(f"candidate names must be unique, got {names}")
    missing = [name for name in names if name not in twin_of]
    if missing:
        raise ValueError(f"candidates without a random-init twin: {', '.join(missing)}")
    absent = sorted({twin_of[name] for name in names} - set(column))
    if absent:
        raise ValueError(f"twins {', '.join(absent)} have no score: each twin must be scored with its candidates")
    return np.array([column[twin_of[name]] for name in names], dtype=np.intp)


def twin_adjusted(point: Sequence[float] | np.ndarray, twin_of: Mapping[str, str], names: Sequence[str],
                  samples: np.ndarray | None = None) -> TwinAdjusted:
    """Each candidate's score minus that of its random-init twin, on every image and on every resample.

    Args:
        point: [M] full-sample scores, higher is better.
        twin_of: The twin of every candidate (a twin is its own twin).
        names: The M candidates, in the order of ``point`` and of the columns of ``samples``.
        samples: [S, M] the scores on each resample (the same images for every column), or None.

    Returns:
        The adjusted scores; a twin's are exactly 0.

    Raises:
        ValueError: Shapes that do not match ``names``, NaN or Inf, or a twin that is missing.

    Example:
        >>> adjusted = twin_adjusted([2.0, 1.0], {"a": "r", "r": "r"}, "ar", np.array([[2.5, 1.0], [1.5, 0.5]]))
        >>> adjusted.point.tolist(), adjusted.samples.tolist()
        ([1.0, 0.0], [[1.5, 0.0], [1.0, 0.0]])
    """
    twins = twin_indices(twin_of, names)
    point = np.asarray(point, dtype=np.float64)
    if point.shape != (twins.size,):
        raise ValueError(f"point must hold one score per candidate ({twins.size}), got shape {point.shape}")
    if not np.isfinite(point).all():
        raise ValueError("point scores must be finite to be compared with their twins")
    adjusted_samples = None
    if samples is not None:
        samples = np.asarray(samples, dtype=np.float64)
        if samples.ndim != 2 or samples.shape[1] != twins.size:
            raise ValueError(f"samples must be [S, {twins.size}] (one column per candidate), got {samples.shape}")
        if not np.isfinite(samples).all():
            raise ValueError("resampled scores must be finite to be compared with their twins")
        adjusted_samples = samples - samples[:, twins]
    return TwinAdjusted(point - point[twins], adjusted_samples, tuple(str(name) for name in names))
