"""The torch backend (on CPU torch) against the numpy kernels, with the tolerances its docstrings state."""

import doctest
import importlib

import numpy as np
import pytest
from scipy import stats

torch = pytest.importorskip("torch")

from rsa_ray import DegenerateInputError, compute_rdm, compute_rdms, rank_transform, similarity_to, standardize  # noqa: E402
from rsa_ray import similarity_of_vectors, standardized_ranks, tiled_product  # noqa: E402
from rsa_ray.backends import (  # noqa: E402
    BackendChoice,
    rdm_and_rank_vector,
    select_backend,
    similarity_block,
    torch_average_ranks,
    torch_rdm,
    torch_rdms,
    torch_similarity_of_vectors,
    torch_similarity_to,
    torch_standardize,
    torch_standardized_ranks,
    torch_tiled_product,
    vectors_product,
)
from rsa_ray.rdm import DISTANCES  # noqa: E402

FLOAT64_RDM_ATOL = 1e-10
FLOAT32_RDM_ATOL = 1e-5
RANKS_ATOL = 1e-12
FLOAT32_PRODUCT_ATOL = 5e-6  # two float32 sums of up to 2048 unit-vector terms, each off by ~sqrt(2048) u
TORCH = BackendChoice("torch", "cpu")


@pytest.fixture
def rng():
    return np.random.default_rng(20240617)


def tensor(array):
    return torch.from_numpy(np.ascontiguousarray(array))


@pytest.mark.parametrize("distance", DISTANCES)
@pytest.mark.parametrize("center_features", [True, False])
@pytest.mark.parametrize("shape", [(30, 64), (40, 8), (12, 4, 4, 3), (60, 1000)])  # D < M, D > M, image tensors
def test_rdm_equals_numpy_in_float64(rng, distance, center_features, shape):
    features = rng.normal(size=shape) * 3 + rng.normal(size=shape[1:]) + 5.0
    expected = compute_rdm(features, distance, center_features)
    np.testing.assert_allclose(torch_rdm(tensor(features), distance, center_features).numpy(), expected,
                               rtol=FLOAT64_RDM_ATOL, atol=FLOAT64_RDM_ATOL)


@pytest.mark.parametrize("distance", DISTANCES)
def test_rdm_in_float32_is_within_its_bound(rng, distance):
    features = rng.normal(size=(50, 512)).astype(np.float32)
    expected = compute_rdm(features, distance)
    got = torch_rdm(tensor(features), distance, dtype=torch.float32).numpy()
    np.testing.assert_allclose(got, expected, rtol=FLOAT32_RDM_ATOL, atol=FLOAT32_RDM_ATOL)


def test_batched_and_listed_rdms_equal_numpy(rng):
    stacked = rng.normal(size=(4, 20, 33))
    expected = compute_rdms(stacked)
    np.testing.assert_allclose(torch_rdms(tensor(stacked)).numpy(), expected, atol=FLOAT64_RDM_ATOL)
    listed = [rng.normal(size=(20, 7)), rng.normal(size=(20, 90))]
    np.testing.assert_allclose(torch_rdms([tensor(m) for m in listed]).numpy(), compute_rdms(listed), atol=FLOAT64_RDM_ATOL)


def test_duplicated_images_give_exact_ties_as_in_numpy(rng):
    features = rng.normal(size=(15, 40))
    features[7] = features[3]
    got = torch_rdm(tensor(features)).numpy()
    np.testing.assert_allclose(got, compute_rdm(features), atol=FLOAT64_RDM_ATOL)
    np.testing.assert_array_equal(rank_transform(np.round(got, 9)), rank_transform(np.round(compute_rdm(features), 9)))


@pytest.mark.parametrize("distance", ["correlation", "cosine"])
def test_constant_images_raise_naming_them_as_numpy_does(rng, distance):
    features = rng.normal(size=(10, 6))
    features[[2, 5]] = 0.0 if distance == "cosine" else 4.0
    with pytest.raises(DegenerateInputError) as numpy_error:
        compute_rdm(features, distance, center_features=False)
    with pytest.raises(DegenerateInputError) as torch_error:
        torch_rdm(tensor(features), distance, center_features=False)
    assert torch_error.value.images == numpy_error.value.images == (2, 5)
    assert str(torch_error.value) == str(numpy_error.value)


def test_nan_features_raise_naming_the_model_and_images(rng):
    stacked = rng.normal(size=(3, 8, 5))
    stacked[1, 4, 2] = np.nan
    with pytest.raises(DegenerateInputError) as numpy_error:
        compute_rdms(stacked, names=["a", "b", "c"])
    with pytest.raises(DegenerateInputError) as torch_error:
        torch_rdms(tensor(stacked), names=["a", "b", "c"])
    assert (torch_error.value.model, torch_error.value.images) == (numpy_error.value.model, numpy_error.value.images) == ("b", (4,))


def test_bad_arguments_raise_as_numpy_does(rng):
    with pytest.raises(ValueError, match="unknown distance 'manhattan'"):
        torch_rdm(tensor(rng.normal(size=(4, 3))), "manhattan")
    with pytest.raises(ValueError, match="at least 2 images"):
        torch_rdm(tensor(rng.normal(size=(1, 3))))
    with pytest.raises(ValueError, match="expected 5"):
        torch_rdms([tensor(rng.normal(size=(5, 3))), tensor(rng.normal(size=(4, 3)))])


def tied_rdms(rng, n_rows=6, length=500):
    """Rows with many ties (rounded values) and one without."""
    rows = np.round(rng.normal(size=(n_rows, length)), 1)
    rows[0] = rng.normal(size=length)
    return rows


def test_average_ranks_equal_scipy_exactly_with_ties(rng):
    rows = tied_rdms(rng)
    np.testing.assert_array_equal(torch_average_ranks(tensor(rows)).numpy(), stats.rankdata(rows, axis=-1))
    np.testing.assert_array_equal(torch_average_ranks(tensor(rows[1])).numpy(), rank_transform(rows[1]))
    np.testing.assert_array_equal(torch_average_ranks(tensor(rows.astype(np.float32)), dtype=torch.float32).numpy(),
                                  stats.rankdata(rows.astype(np.float32), axis=-1))
    with pytest.raises(ValueError, match="NaN"):
        torch_average_ranks(torch.tensor([1.0, float("nan")]))


def test_standardised_ranks_and_vectors_equal_numpy(rng):
    rows = tied_rdms(rng)
    np.testing.assert_allclose(torch_standardized_ranks(tensor(rows)).numpy(), standardized_ranks(rows), atol=RANKS_ATOL)
    np.testing.assert_allclose(torch_standardize(tensor(rows)).numpy(), standardize(rows), atol=RANKS_ATOL)


@pytest.mark.parametrize("function", [torch_standardized_ranks, torch_standardize])
def test_constant_or_nan_vectors_raise_naming_the_model(rng, function):
    rows = rng.normal(size=(3, 20))
    rows[1] = 0.25
    with pytest.raises(DegenerateInputError, match="'b'.*constant"):
        function(tensor(rows), names=["a", "b", "c"])
    rows[1, 0] = np.nan
    with pytest.raises(DegenerateInputError, match="'b'.*NaN"):
        function(tensor(rows), names=["a", "b", "c"])


@pytest.mark.parametrize("dtype, atol", [(np.float64, RANKS_ATOL), (np.float32, FLOAT32_PRODUCT_ATOL)])
@pytest.mark.parametrize("length", [300, 5000])  # one accumulation chunk, then several
def test_tiled_product_equals_numpy(rng, dtype, atol, length):
    vectors_a = standardized_ranks(tied_rdms(rng, 9, length)).astype(dtype)
    vectors_b = standardized_ranks(rng.random((5, length))).astype(dtype)
    for other in (None, vectors_b):
        expected = tiled_product(vectors_a, other, block_size=4)
        got = torch_tiled_product(tensor(vectors_a), None if other is None else tensor(other), block_size=4)
        assert got.dtype == torch.float64
        np.testing.assert_allclose(got.numpy(), expected, atol=atol)
    np.testing.assert_allclose(torch_similarity_of_vectors(tensor(vectors_a)).numpy(), similarity_of_vectors(vectors_a), atol=atol)


def test_new_rows_equal_numpy_similarity_to(rng):
    rdms = tied_rdms(rng, 8, 400)
    for method in ("spearman", "pearson"):
        np.testing.assert_allclose(torch_similarity_to(tensor(rdms[5:]), tensor(rdms), method).numpy(),
                                   similarity_to(rdms[5:], rdms, method=method), atol=RANKS_ATOL)
    with pytest.raises(ValueError, match="valid: spearman, pearson"):
        torch_similarity_to(tensor(rdms), tensor(rdms), "kendall_tau_a")


def test_nan_vectors_in_the_product_are_named(rng):
    vectors = standardized_ranks(rng.random((3, 50)))
    vectors[2, 7] = np.nan
    with pytest.raises(DegenerateInputError, match=r"vectors_a\[2\]"):
        torch_similarity_of_vectors(tensor(vectors))


def test_select_backend_by_name_and_automatically(monkeypatch):
    from rsa_ray.backends import select

    assert select_backend("numpy") == BackendChoice("numpy", "cpu")
    assert select_backend("torch", "cpu") == TORCH
    monkeypatch.setattr(select, "_gpu_present", lambda: False)
    assert select_backend() == BackendChoice("numpy")
    monkeypatch.setattr(select, "_gpu_present", lambda: True)
    assert select_backend() == BackendChoice("torch", "cuda")
    with pytest.raises(ValueError, match="valid: auto, numpy, torch"):
        select_backend("jax")


def test_dispatch_gives_the_numpy_results_on_either_backend(rng):
    features = rng.normal(size=(25, 300)).astype(np.float32)
    numpy_rdm, numpy_ranks = rdm_and_rank_vector(features, name="m")
    np.testing.assert_array_equal(numpy_rdm, compute_rdm(features))
    torch_rdm_values, torch_ranks = rdm_and_rank_vector(tensor(features), name="m", backend=TORCH)
    np.testing.assert_allclose(torch_rdm_values, numpy_rdm, atol=FLOAT64_RDM_ATOL)
    np.testing.assert_allclose(torch_ranks, numpy_ranks, atol=RANKS_ATOL)
    vectors = np.stack([numpy_ranks, standardized_ranks(rng.random(numpy_ranks.size))[0]]).astype(np.float32)
    np.testing.assert_allclose(vectors_product(vectors, backend=TORCH), vectors_product(vectors), atol=FLOAT32_PRODUCT_ATOL)
    rdms = tied_rdms(rng, 4, 100)
    for method in ("spearman", "kendall_tau_a"):
        np.testing.assert_allclose(similarity_block(rdms[:1], rdms, method, backend=TORCH),
                                   similarity_to(rdms[:1], rdms, method=method), atol=RANKS_ATOL)


@pytest.mark.parametrize("module", ["", ".select", ".dispatch", ".torch_rdm", ".torch_ranks", ".torch_products"])
def test_docstring_examples(module):
    result = doctest.testmod(importlib.import_module("rsa_ray.backends" + module),
                             optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
