"""Degenerate scores are caught before they rank: every estimator made degenerate on purpose, and the
tie-ranking within a tolerance against a direct count."""

import numpy as np
import pytest

from rsa_ray.estimators import ESTIMATORS, score_features
from rsa_ray.score_checks import DEFAULT_RTOL, check_score
from rsa_ray.source_ranking import competition_ranks
from rsa_ray.target_labels import TargetLabels

LABELS = TargetLabels.from_array(np.arange(60) % 3)


def _scores(name, candidates, labels=LABELS, target=None):
    values = [score_features(name, features, labels, target_features=target, model=f"m{i}")
              for i, features in enumerate(candidates)]
    return check_score(name, values, ESTIMATORS[name].ceiling(labels))


@pytest.fixture
def rng():
    return np.random.default_rng(22)


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_candidates_that_are_one_candidate_are_caught_for_every_estimator(rng, name):
    """Column permutations of one feature matrix: every estimator gives one value, up to round-off."""
    centres = rng.normal(size=(3, 8))
    base = rng.normal(size=(60, 8)) + centres[LABELS.values]
    target = base @ rng.normal(size=(8, 5))
    candidates = [base[:, rng.permutation(8)] for _ in range(5)]
    check = _scores(name, candidates, target=target)
    assert not check.informative
    assert check.reason.startswith(("constant", "the values differ only within")), check.reason
    assert check.line == f"score {name}: uninformative ({check.reason})"


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_candidates_of_graded_signal_are_not_flagged(rng, name):
    centres = rng.normal(size=(3, 8))
    target = rng.normal(size=(60, 8)) + 2 * centres[LABELS.values]
    candidates = [rng.normal(size=(60, 8)) + signal * centres[LABELS.values] + signal * target
                  for signal in (0.0, 0.4, 0.8, 1.2, 1.6)]
    check = _scores(name, candidates, target=target)
    assert check.informative, check.reason
    assert check.line == ""


def test_the_hscore_of_features_wider_than_images_is_saturated_at_c_minus_1(rng):
    labels = TargetLabels.from_array(np.arange(30) % 3)
    wide = [rng.normal(size=(30, 40)) for _ in range(5)] + [rng.normal(size=(30, 4))]
    check = _scores("hscore", wide, labels)
    assert check.reason == "saturated: 5 of 6 candidates at its ceiling 2"


@pytest.mark.parametrize("name, ceiling", [("sfda", 0), ("knn", 1), ("linear-probe", 1)])
def test_perfectly_separated_classes_saturate_bounded_scores(rng, name, ceiling):
    centres = rng.normal(size=(3, 8))
    separated = [rng.normal(size=(60, 8)) + 50 * centres[LABELS.values] for _ in range(3)]
    hard = [rng.normal(size=(60, 8)) + 0.5 * centres[LABELS.values]]
    check = _scores(name, separated + hard)
    assert check.reason == f"saturated: 3 of 4 candidates at its ceiling {ceiling}"


def test_rsa_of_copies_of_the_target_is_saturated_at_1(rng):
    target = rng.normal(size=(60, 6))
    check = _scores("rsa", [target, 2 * target, target + 1.0, rng.normal(size=(60, 6))], target=target)
    assert check.reason == "saturated: 3 of 4 candidates at its ceiling 1"


@pytest.mark.parametrize("values, reason", [
    ([0.0, 0.0, 0.0], "all zero"),
    ([0.0, 0.0, -0.3, 0.0, -0.1], "mostly zero: 3 of 5 candidates at 0"),
    ([2.5, 2.5, 2.5], "constant: every candidate 2.5"),
    ([6.999999999999998, 7.000000000000002, 7.0], "the values differ only within 1e-09 relative (spread 3.55e-15)"),
])
def test_each_rule_names_itself(values, reason):
    assert check_score("s", values).reason == reason


def test_fewer_than_half_at_a_ceiling_or_at_zero_still_ranks():
    assert check_score("hscore", [2.0, 1.5, 1.2, 0.3], ceiling=2.0).informative
    assert check_score("sfda", [0.0, -0.5, -0.3, -0.1]).informative
    assert check_score("s", [np.nan, 1.0]).informative  # one value: nothing to tell apart
    assert check_score("s", [np.nan, 1.0, 2.0, np.nan]).informative


def test_the_checks_refuse_bad_arguments():
    with pytest.raises(ValueError, match="one per candidate"):
        check_score("s", np.zeros((2, 2)))
    with pytest.raises(ValueError, match="tolerance must be >= 0"):
        check_score("s", [1.0, 2.0], rtol=-1.0)


def test_ties_within_the_tolerance_against_a_count_of_the_groups_above(rng):
    """Clusters of values far apart, jittered within a tenth of the tolerance: a value's rank is 1 + the
    number of values in the clusters above its own."""
    for _ in range(50):
        centres = rng.choice(np.arange(-20, 20), size=rng.integers(1, 6), replace=False).astype(float)
        cluster = rng.integers(0, centres.size, size=rng.integers(1, 15))
        scale = np.max(np.abs(centres[cluster])) or 1.0
        values = centres[cluster] + rng.uniform(-0.05, 0.05, cluster.size) * DEFAULT_RTOL * scale
        expected = [1 + int(np.sum(centres[cluster] > centres[c])) for c in cluster]
        assert competition_ranks(values, DEFAULT_RTOL).tolist() == expected
        exact = [1 + int(np.sum(values > v)) for v in values]  # rtol 0: only equal values tie
        assert competition_ranks(values).tolist() == exact


def test_round_off_shares_a_rank_and_nan_is_unranked():
    assert competition_ranks([7.000000000000002, 6.999999999999998, 5.0, np.nan], DEFAULT_RTOL).tolist() == [1, 1, 3, 0]
    assert competition_ranks([7.000000000000002, 6.999999999999998]).tolist() == [1, 2]
    with pytest.raises(ValueError, match="tolerance must be >= 0"):
        competition_ranks([1.0], rtol=-0.1)


def test_values_a_thousandth_of_the_spread_from_the_ceiling_are_at_it():
    """SFDA's log-probability at -1e-5 beside candidates at -0.5: the near-ceiling ones tie for best."""
    near = [-1e-5, -3e-5, -0.0, -0.49, -2e-6, -0.44]
    assert check_score("sfda", near, ceiling=0.0).reason == "saturated: 4 of 6 candidates at its ceiling 0"
    spread_out = [-1e-5, -0.01, -0.1, -0.49, -0.3, -0.44]  # one near the ceiling: it still ranks
    assert check_score("sfda", spread_out, ceiling=0.0).informative
