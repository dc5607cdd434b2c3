"""Scores relative to random-init twins against a loop over the candidates."""

from __future__ import annotations

import numpy as np
import pytest

from rsa_ray.resampling import image_subsamples, subsample_summary
from rsa_ray.twin_adjusted import twin_adjusted, twin_indices

NAMES = ["net-a", "net-a-random", "net-b", "net-b-random", "net-b-noisy"]
TWIN_OF = {"net-a": "net-a-random", "net-a-random": "net-a-random", "net-b": "net-b-random",
           "net-b-random": "net-b-random", "net-b-noisy": "net-b-random"}


def _loop(point, samples):
    """The definition, one candidate at a time."""
    adjusted_point = np.empty(len(NAMES))
    adjusted_samples = np.empty_like(samples)
    for k, name in enumerate(NAMES):
        twin = NAMES.index(TWIN_OF[name])
        adjusted_point[k] = point[k] - point[twin]
        for s in range(samples.shape[0]):
            adjusted_samples[s, k] = samples[s, k] - samples[s, twin]
    return adjusted_point, adjusted_samples


@pytest.mark.parametrize("kind", ["random", "ties", "constant"])
def test_equals_the_loop_and_twins_score_zero(kind):
    rng = np.random.default_rng(3)
    point, samples = rng.normal(size=5), rng.normal(size=(40, 5))
    if kind == "ties":
        point, samples = np.round(point), np.round(samples)
    if kind == "constant":
        point, samples = np.full(5, 0.7), np.full((40, 5), 0.7)
    adjusted = twin_adjusted(point, TWIN_OF, NAMES, samples)
    expected_point, expected_samples = _loop(point, samples)
    np.testing.assert_array_equal(adjusted.point, expected_point)
    np.testing.assert_array_equal(adjusted.samples, expected_samples)
    for twin in ("net-a-random", "net-b-random"):
        assert adjusted.point[NAMES.index(twin)] == 0.0
        assert not adjusted.samples[:, NAMES.index(twin)].any()


def test_summary_of_adjusted_scores_holds_each_point_value():
    # A random-init-favouring score: the twins score high, the trained nets a little above their twins.
    rng = np.random.default_rng(0)
    n_images = 60
    samples = image_subsamples(n_images, 50, seed=1)
    base = np.array([0.5, 0.45, 0.9, 0.85, 0.8])
    resampled = base + 0.02 * rng.normal(size=(50, 5))
    adjusted = twin_adjusted(base, TWIN_OF, NAMES, resampled)
    summary = subsample_summary(adjusted.samples, adjusted.point, NAMES, n_images, samples.shape[1])
    assert all(s.low <= s.score <= s.high for s in summary)
    assert summary[0].name in {"net-a", "net-b"}
    assert {s.name: s.score for s in summary}["net-b-noisy"] == pytest.approx(-0.05)


def test_refuses_missing_twins_and_non_finite_scores():
    with pytest.raises(ValueError, match="without a random-init twin: net-c"):
        twin_indices(TWIN_OF, NAMES + ["net-c"])
    with pytest.raises(ValueError, match="twins net-b-random have no score"):
        twin_indices(TWIN_OF, ["net-b", "net-b-noisy"])
    with pytest.raises(ValueError, match="finite"):
        twin_adjusted([np.nan, 0, 0, 0, 0], TWIN_OF, NAMES)
    with pytest.raises(ValueError, match=r"samples must be \[S, 5\]"):
        twin_adjusted(np.zeros(5), TWIN_OF, NAMES, np.zeros((3, 4)))
