"""``rsa`` from stored RDMs against recomputing it from the features, and sub-RDMs against scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import squareform

from rsa_ray.errors import DegenerateInputError
from rsa_ray.rdm import compute_rdm
from rsa_ray.resampling import image_subsamples
from rsa_ray.rsa_score import rsa_score, rsa_scores_from_rdms


def _features(kind: str, rng: np.random.Generator, n: int = 24) -> tuple[np.ndarray, np.ndarray]:
    width = {"random": 10, "ties": 6, "constant-columns": 8, "wide": 200}[kind]
    candidate, target = rng.normal(size=(n, width)), rng.normal(size=(n, 7))
    if kind == "ties":  # few distinct values: tied distances in both RDMs
        candidate, target = np.round(candidate), np.round(target)
        candidate[5], target[5] = candidate[3], target[3]
    if kind == "constant-columns":
        candidate[:, :3] = 2.5
    return candidate, target


def _stored(features: np.ndarray) -> np.ndarray:
    """The RDM as the store keeps it (float32)."""
    return compute_rdm(features, "correlation", center_features=True).astype(np.float32)


@pytest.mark.parametrize("kind", ["random", "ties", "constant-columns", "wide"])
def test_point_equals_the_score_recomputed_from_features(kind):
    candidate, target = _features(kind, np.random.default_rng(7))
    recomputed = rsa_score(candidate, target)
    exact = [compute_rdm(f, "correlation", center_features=True) for f in (candidate, target)]
    assert rsa_scores_from_rdms(*exact)[0] == pytest.approx(recomputed, abs=1e-12)
    # The store keeps float32 RDMs: distances equal to within float32 round-off may tie there.
    assert rsa_scores_from_rdms(_stored(candidate), _stored(target))[0] == pytest.approx(recomputed, abs=1e-3)


@pytest.mark.parametrize("kind", ["random", "ties", "constant-columns", "wide"])
def test_subsamples_equal_scipy_on_the_sub_rdms(kind):
    candidate, target = _features(kind, np.random.default_rng(11))
    candidate_rdm, target_rdm = _stored(candidate), _stored(target)
    samples = image_subsamples(candidate.shape[0], 15, seed=2)
    _, resampled = rsa_scores_from_rdms(candidate_rdm, target_rdm, samples)
    full_candidate, full_target = squareform(candidate_rdm), squareform(target_rdm)
    for index, rows in enumerate(samples):
        expected = stats.spearmanr(squareform(full_candidate[np.ix_(rows, rows)], checks=False),
                                   squareform(full_target[np.ix_(rows, rows)], checks=False)).statistic
        assert resampled[index] == pytest.approx(expected, abs=1e-9)


def test_constant_rdm_is_refused_naming_the_candidate():
    rdm = np.ones(6, dtype=np.float32)
    with pytest.raises(DegenerateInputError, match="net-x"):
        rsa_scores_from_rdms(rdm, np.arange(6.0), name="net-x")
