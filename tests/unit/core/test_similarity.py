"""similarity_matrix / similarity_to against per-pair scipy calls, brute force and rsatoolbox."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from rsa_ray import (
    standardize,
    DegenerateInputError,
    compute_rdms,
    kendall_tau_a,
    plan_tiles,
    similarity_matrix,
    similarity_of_vectors,
    similarity_to,
    standardized_ranks,
    tiled_product,
)
from tests.unit.core.oracles import kendall_tau_a_brute_force, similarity_by_pairs


@pytest.fixture
def rng():
    return np.random.default_rng(11)


@pytest.fixture
def rdms(rng):
    # RDMs of real (correlated) features, float32 as they are stored.
    base = rng.normal(size=(40, 30))
    features = [base + rng.normal(scale=s, size=base.shape) for s in np.linspace(0.2, 3.0, 9)]
    return compute_rdms(features).astype(np.float32)


@pytest.mark.parametrize("block_size", [1, 2, 4, 7, 9, 100])
def test_spearman_equals_scipy_per_pair(rdms, block_size):
    expected = similarity_by_pairs(rdms, stats.spearmanr)
    np.testing.assert_allclose(similarity_matrix(rdms, block_size=block_size), expected, atol=1e-12)


def test_pearson_equals_scipy_per_pair(rdms):
    expected = similarity_by_pairs(rdms.astype(np.float64), stats.pearsonr)
    np.testing.assert_allclose(similarity_matrix(rdms, method="pearson", block_size=4), expected, atol=1e-12)


def test_kendall_tau_a_equals_brute_force_with_ties(rng):
    rdms = rng.integers(0, 5, size=(4, 60)).astype(np.float64)  # RDMs of integer labels
    matrix = similarity_matrix(rdms, method="kendall_tau_a")
    for i in range(4):
        for j in range(4):
            expected = 1.0 if i == j else kendall_tau_a_brute_force(rdms[i], rdms[j])
            assert matrix[i, j] == pytest.approx(expected, abs=1e-12)
    # With ties tau-a differs from scipy's tau-b: check we did not return tau-b.
    assert not np.isclose(matrix[0, 1], stats.kendalltau(rdms[0], rdms[1]).statistic)
    assert kendall_tau_a(rdms[0], rdms[1]) == pytest.approx(matrix[0, 1], abs=1e-15)


def test_spearman_with_ties_from_integer_label_rdms(rng):
    labels = rng.integers(0, 3, size=(5, 25))
    rdms = np.stack([(l[:, None] != l[None, :])[np.triu_indices(25, 1)] for l in labels]).astype(np.float32)
    np.testing.assert_allclose(similarity_matrix(rdms, block_size=2), similarity_by_pairs(rdms, stats.spearmanr), atol=1e-12)


def test_three_images_and_a_sequence_input(rng):
    rdms = [rng.random(3), rng.random(3), rng.random(3)]
    np.testing.assert_allclose(similarity_matrix(rdms), similarity_by_pairs(np.stack(rdms), stats.spearmanr), atol=1e-12)


def test_matches_rsatoolbox_compare_spearman(rdms):
    rsatoolbox = pytest.importorskip("rsatoolbox")
    wrapped = rsatoolbox.rdm.RDMs(rdms.astype(np.float64))
    expected = rsatoolbox.rdm.compare(wrapped, wrapped, method="spearman")
    np.testing.assert_allclose(similarity_matrix(rdms), expected, atol=1e-10)


def test_similarity_to_gives_the_new_rows(rdms):
    full = similarity_matrix(rdms)
    np.testing.assert_allclose(similarity_to(rdms[6:], rdms, block_size=2), full[6:], atol=1e-12)
    np.testing.assert_allclose(similarity_to(rdms[6:], rdms[:6]), full[6:, :6], atol=1e-12)
    np.testing.assert_allclose(similarity_to(rdms[2], rdms, method="kendall_tau_a")[0, 5], kendall_tau_a(rdms[2], rdms[5]))


def test_precomputed_float32_rank_vectors_keep_float64_accuracy(rdms):
    vectors = standardized_ranks(rdms).astype(np.float32)
    np.testing.assert_allclose(similarity_of_vectors(vectors, block_size=3), similarity_by_pairs(rdms, stats.spearmanr), atol=1e-6)
    np.testing.assert_allclose(similarity_of_vectors(vectors[:2], vectors), similarity_matrix(rdms)[:2], atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(n_rows=st.integers(1, 23), n_cols=st.integers(1, 23), block_size=st.integers(1, 30), seed=st.integers(0, 2**16))
def test_tiling_equals_the_untiled_product(n_rows, n_cols, block_size, seed):
    generator = np.random.default_rng(seed)
    a = generator.normal(size=(n_rows, 17))
    b = generator.normal(size=(n_cols, 17))
    np.testing.assert_allclose(tiled_product(a, b, block_size=block_size), a @ b.T, atol=1e-12)
    np.testing.assert_allclose(tiled_product(a, block_size=block_size), a @ a.T, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(n_models=st.integers(1, 40), block_size=st.integers(1, 50), symmetric=st.booleans())
def test_tiles_cover_each_needed_cell_exactly_once(n_models, block_size, symmetric):
    covered = np.zeros((n_models, n_models), dtype=int)
    for tile in plan_tiles(n_models, n_models, block_size, symmetric=symmetric):
        covered[tile.row_start : tile.row_stop, tile.col_start : tile.col_stop] += 1
    needed = np.triu(np.ones_like(covered)) if symmetric else np.ones_like(covered)
    # Symmetric tiles on the diagonal cover their lower half too; off-diagonal tiles never overlap.
    assert (covered[needed == 1] == 1).all()
    assert covered.max() == 1


@settings(max_examples=40, deadline=None)
@given(n_models=st.integers(2, 15), block_size=st.integers(1, 20), seed=st.integers(0, 2**16))
def test_similarity_is_independent_of_block_size(n_models, block_size, seed):
    rdms = np.random.default_rng(seed).integers(0, 7, size=(n_models, 21)).astype(np.float64)
    rdms[:, 0] = -1.0  # never constant
    np.testing.assert_allclose(similarity_matrix(rdms, block_size=block_size), similarity_matrix(rdms, block_size=n_models), atol=1e-12)


@pytest.mark.parametrize("method", ["spearman", "pearson", "kendall_tau_a"])
def test_constant_rdm_is_undefined_and_named(rdms, method):
    rdms = rdms.copy()
    rdms[3] = 0.5
    names = [f"m{i}" for i in range(len(rdms))]
    with pytest.raises(DegenerateInputError, match="'m3'.*constant"):
        similarity_matrix(rdms, method=method, names=names)
    with pytest.raises(DegenerateInputError, match="'new'.*constant"):
        similarity_to(rdms[3], rdms[:3], method=method, new_names=["new"])


@pytest.mark.parametrize("method", ["spearman", "pearson", "kendall_tau_a"])
def test_nan_rdm_is_named(rdms, method):
    rdms = rdms.copy()
    rdms[5, 17] = np.nan
    with pytest.raises(DegenerateInputError, match="'#5'.*NaN or Inf"):
        similarity_matrix(rdms, method=method)


def test_bad_arguments_are_named(rdms):
    with pytest.raises(ValueError, match="unknown similarity method 'cosine'.*spearman, pearson, kendall_tau_a"):
        similarity_matrix(rdms, method="cosine")
    with pytest.raises(ValueError, match="block_size must be >= 1"):
        similarity_matrix(rdms, block_size=0)
    with pytest.raises(ValueError, match="length 10.*length"):
        similarity_to(rdms[:, :10], rdms)
    with pytest.raises(ValueError, match="2 names for 9 RDMs"):
        similarity_matrix(rdms, names=["a", "b"])
    with pytest.raises(DegenerateInputError, match=r"vectors_b\[1\]"):
        similarity_of_vectors(np.ones((2, 3)), np.array([[1.0, 0, 0], [np.nan, 0, 0]]))


def test_float32_products_accumulate_in_float64():
    generator = np.random.default_rng(2)
    a = standardize(generator.normal(size=(6, 200_000))).astype(np.float32)
    # Correlated with a, so the products are far from 0 and rounding shows.
    b = standardize(generator.normal(size=(5, 200_000)) + 300 * a[0] + 150 * a[1]).astype(np.float32)
    exact = a.astype(np.float64) @ b.astype(np.float64).T
    naive_float32 = (a @ b.T).astype(np.float64)
    chunked = tiled_product(a, b, block_size=4)
    assert np.abs(chunked - exact).max() < 2e-8
    # The check can tell: a plain float32 product of this length is clearly worse.
    assert np.abs(naive_float32 - exact).max() > 5 * np.abs(chunked - exact).max()
