"""Rank transforms and standardised vectors against scipy."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import stats

from rsa_ray import DegenerateInputError, rank_transform, standardize, standardized_ranks


@pytest.fixture
def rng():
    return np.random.default_rng(7)


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_average_ranks_equal_scipy_with_many_ties(rng, workers):
    values = rng.integers(0, 6, size=(9, 500)).astype(np.float64)
    np.testing.assert_array_equal(rank_transform(values, workers=workers), stats.rankdata(values, axis=-1))


def test_float32_values_with_ties_from_rounding(rng):
    values = rng.normal(size=(3, 20000)).astype(np.float32).round(2)
    np.testing.assert_array_equal(rank_transform(values), stats.rankdata(values, axis=-1))


def test_no_ties_and_single_vector(rng):
    values = rng.normal(size=1000)
    ranks = rank_transform(values)
    assert ranks.shape == (1000,)
    np.testing.assert_array_equal(ranks, stats.rankdata(values))


@settings(max_examples=200, deadline=None)
@given(hnp.arrays(np.float64, st.integers(1, 60), elements=st.sampled_from([-1.5, 0.0, 0.25, 2.0, 7.0, 1e9])))
def test_ranks_equal_scipy_for_any_pattern_of_ties(values):
    np.testing.assert_array_equal(rank_transform(values), stats.rankdata(values))


def test_rank_transform_rejects_nan():
    with pytest.raises(ValueError, match="NaN"):
        rank_transform(np.array([1.0, np.nan, 2.0]))


def test_standardised_ranks_turn_spearman_into_a_dot_product(rng):
    rdms = rng.integers(0, 4, size=(5, 300)).astype(np.float64)  # RDMs of integer labels: heavy ties
    vectors = standardized_ranks(rdms)
    np.testing.assert_allclose(vectors.mean(axis=1), 0.0, atol=1e-15)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-14)
    for i in range(5):
        for j in range(5):
            assert vectors[i] @ vectors[j] == pytest.approx(stats.spearmanr(rdms[i], rdms[j]).statistic, abs=1e-12)


def test_standardize_turns_pearson_into_a_dot_product(rng):
    values = rng.normal(size=(3, 100)).astype(np.float32)
    vectors = standardize(values)
    assert vectors[0] @ vectors[2] == pytest.approx(stats.pearsonr(values[0], values[2]).statistic, abs=1e-6)


@pytest.mark.parametrize("function", [standardize, standardized_ranks])
def test_constant_vector_is_undefined_and_named(function, rng):
    rows = rng.normal(size=(3, 50))
    rows[1] = 0.4
    with pytest.raises(DegenerateInputError, match="'beta'.*constant"):
        function(rows, names=["alpha", "beta", "gamma"])
    with pytest.raises(DegenerateInputError, match="'#1'.*constant"):
        function(rows)


@pytest.mark.parametrize("function", [standardize, standardized_ranks])
def test_non_finite_vector_is_named(function, rng):
    rows = rng.normal(size=(3, 50))
    rows[2, 7] = np.inf
    with pytest.raises(DegenerateInputError, match="'gamma'.*NaN or Inf"):
        function(rows, names=["alpha", "beta", "gamma"])


def test_sequences_must_have_one_length(rng):
    with pytest.raises(ValueError, match="same shape"):
        standardized_ranks([rng.normal(size=10), rng.normal(size=11)])
