"""compute_rdm / compute_rdms against per-pair loops, scipy's pdist and rsatoolbox."""

import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform

from rsa_ray import DegenerateInputError, compute_rdm, compute_rdms, condense, condensed_length, n_images_from_length
from tests.unit.core.oracles import rdm_by_pairs


@pytest.fixture
def rng():
    return np.random.default_rng(20190616)


@pytest.mark.parametrize("shape", [(30, 64), (3, 5), (12, 4, 4, 3), (40, 1000)])
def test_correlation_rdm_equals_the_authors_pairwise_loop(rng, shape):
    features = rng.normal(size=shape) + rng.normal(size=shape[1:])  # a shared offset, which centring removes
    np.testing.assert_allclose(compute_rdm(features), rdm_by_pairs(features), atol=1e-12)


def test_plain_correlation_equals_pdist_and_differs_from_centred(rng):
    features = rng.normal(size=(25, 16)) + np.linspace(0, 3, 16)
    np.testing.assert_allclose(compute_rdm(features, center_features=False), pdist(features, "correlation"), atol=1e-12)
    np.testing.assert_allclose(compute_rdm(features, center_features=False), rdm_by_pairs(features, center_features=False), atol=1e-12)
    assert not np.allclose(compute_rdm(features), compute_rdm(features, center_features=False), atol=1e-3)


@pytest.mark.parametrize("distance", ["euclidean", "cosine"])
def test_other_distances_equal_pdist(rng, distance):
    features = rng.normal(size=(33, 20)) * 5 + 100.0  # far from the origin: a hard case for Gram identities
    np.testing.assert_allclose(compute_rdm(features, distance=distance), pdist(features, distance), rtol=1e-9, atol=1e-9)


def test_euclidean_with_one_feature_and_three_images():
    features = np.array([[0.0], [3.0], [7.0]])
    np.testing.assert_allclose(compute_rdm(features, distance="euclidean"), [3.0, 7.0, 4.0], atol=1e-12)


def test_condensed_order_is_squareform_order(rng):
    rdm = compute_rdm(rng.normal(size=(9, 6)))
    square = squareform(rdm)
    assert square.shape == (9, 9)
    np.testing.assert_array_equal(condense(square), rdm)
    assert condensed_length(9) == rdm.size == 36
    assert n_images_from_length(36) == 9
    with pytest.raises(ValueError, match="length 35"):
        n_images_from_length(35)


def test_float32_features_give_the_float64_answer(rng):
    features = rng.normal(size=(50, 200)).astype(np.float32)
    np.testing.assert_allclose(compute_rdm(features), rdm_by_pairs(features.astype(np.float64)), atol=1e-12)
    assert compute_rdm(features).dtype == np.float64


def test_matches_rsatoolbox_on_centred_features(rng):
    rsatoolbox = pytest.importorskip("rsatoolbox")
    features = rng.normal(size=(20, 30))
    centred = features - features.mean(axis=0)
    dataset = rsatoolbox.data.Dataset(centred)
    expected = rsatoolbox.rdm.calc_rdm(dataset, method="correlation").get_vectors()[0]
    np.testing.assert_allclose(compute_rdm(features), expected, atol=1e-10)


def test_batched_form_accepts_different_feature_sizes(rng):
    models = [rng.normal(size=(15, d)) for d in (3, 40, 7)]
    rdms = compute_rdms(models, names=["small", "large", "mid"])
    assert rdms.shape == (3, condensed_length(15))
    for row, features in zip(rdms, models):
        np.testing.assert_allclose(row, rdm_by_pairs(features), atol=1e-12)
    stacked = rng.normal(size=(4, 10, 2, 3))
    np.testing.assert_allclose(compute_rdms(stacked)[2], compute_rdm(stacked[2]))


def test_batched_form_rejects_mismatched_image_counts(rng):
    with pytest.raises(ValueError, match="'b'.*expected 10"):
        compute_rdms([rng.normal(size=(10, 3)), rng.normal(size=(11, 3))], names=["a", "b"])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_features_name_the_model_and_images(rng, bad):
    features = rng.normal(size=(8, 5))
    features[2, 1] = bad
    features[6, 4] = bad
    with pytest.raises(DegenerateInputError, match=r"model 'enc'.*NaN or Inf.*images 2, 6") as caught:
        compute_rdm(features, name="enc")
    assert caught.value.images == (2, 6)
    assert caught.value.model == "enc"


def test_constant_image_makes_correlation_undefined(rng):
    features = rng.normal(size=(6, 5))
    features[4] = 3.0
    with pytest.raises(DegenerateInputError, match=r"'net'.*constant feature vector.*images 4"):
        compute_rdm(features, center_features=False, name="net")
    # A single feature per image is constant per image: Pearson is undefined for every image.
    with pytest.raises(DegenerateInputError):
        compute_rdm(rng.normal(size=(3, 1)))


def test_image_equal_to_the_mean_is_degenerate_after_centring(rng):
    features = rng.normal(size=(5, 4))
    features[0] = features[1:].mean(axis=0)
    with pytest.raises(DegenerateInputError, match="images 0"):
        compute_rdm(features)


def test_zero_vector_makes_cosine_undefined_but_euclidean_fine(rng):
    features = rng.normal(size=(5, 4))
    features[3] = 0.0
    with pytest.raises(DegenerateInputError, match="cosine.*images 3"):
        compute_rdm(features, distance="cosine")
    np.testing.assert_allclose(compute_rdm(features, distance="euclidean"), pdist(features), atol=1e-12)


def test_bad_arguments_are_named(rng):
    with pytest.raises(ValueError, match="unknown distance 'manhattan'.*correlation, cosine, euclidean"):
        compute_rdm(rng.normal(size=(4, 3)), distance="manhattan")
    with pytest.raises(ValueError, match="at least 2 images"):
        compute_rdm(rng.normal(size=(1, 3)))
    with pytest.raises(ValueError, match="at least 2 dims"):
        compute_rdm(rng.normal(size=5))
    with pytest.raises(ValueError, match="real numbers"):
        compute_rdm(np.array([["a", "b"], ["c", "d"]]))
