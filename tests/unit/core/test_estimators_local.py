"""k-NN and SFDA against slow references: a plain double loop, explicit scatter matrices and scipy's eigh."""

import numpy as np
import pytest

from rsa_ray.errors import DegenerateInputError
from rsa_ray.knn_score import knn_score, nearest_neighbours, vote
from rsa_ray.sfda import discriminant_scores, sfda_score
from rsa_ray.target_labels import TargetLabels
from tests.unit.core.estimator_oracles import knn_by_loops, sfda_by_steps, sfda_fit_explicit


@pytest.fixture
def rng():
    return np.random.default_rng(2022)


# --- k-NN ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 4, 5])
@pytest.mark.parametrize("block_rows", [None, 7])
def test_knn_classes_equals_the_double_loop(rng, k, block_rows):
    classes = rng.integers(0, 3, size=45)
    features = rng.normal(size=(45, 6)) + 0.8 * np.eye(6)[classes]
    features[:, 5] = 2.0  # a constant feature: standardisation leaves it at zero
    expected = knn_by_loops(features, classes, "classes", k)
    assert knn_score(features, TargetLabels.from_array(classes), k=k, block_rows=block_rows) == pytest.approx(expected, abs=1e-15)


def test_knn_regression_equals_the_double_loop(rng):
    features = rng.normal(size=(40, 5))
    targets = features[:, :2] + 0.3 * rng.normal(size=(40, 2))
    expected = knn_by_loops(features, targets, "regression", 5)
    assert knn_score(features, TargetLabels.from_array(targets), k=5, block_rows=9) == pytest.approx(expected, rel=1e-12)


def test_knn_never_takes_a_copy_of_the_query_as_neighbour(rng):
    base_classes = rng.integers(0, 2, size=20)
    base = rng.normal(size=(20, 4))
    rows = rng.integers(0, 20, size=50)  # a bootstrap sample: many images appear several times
    features, classes = base[rows], base_classes[rows]
    labels = TargetLabels.from_array(classes)
    expected = knn_by_loops(features, classes, "classes", 3, image_ids=rows)
    assert knn_score(features, labels, k=3, image_ids=rows) == pytest.approx(expected, abs=1e-15)
    for block, order in nearest_neighbours(features, rows, 3, block_rows=11):
        assert not np.any(rows[order] == rows[block][:, None])
    # Without the ids, each copy finds its twin at distance 0 and the score is inflated.
    assert knn_score(features, labels, k=1) > knn_score(features, labels, k=1, image_ids=rows)


def test_knn_ties_in_the_vote_go_to_the_nearest_tied_class():
    assert vote(np.array([[1, 0, 0, 1]]), 2).tolist() == [1]
    features = np.array([[0.0], [1.0], [-1.5], [2.2], [-3.0]])
    classes = np.array([0, 1, 0, 1, 0])
    # Image 0's 4 neighbours: 1 (class 1), 2 (class 0), 3 (class 1), 4 (class 0): a 2-2 tie, class 1 is nearest.
    assert knn_by_loops(features, classes, "classes", 4) == knn_score(features, TargetLabels.from_array(classes), k=4)


def test_knn_with_every_row_a_copy_of_one_image_is_refused():
    labels = TargetLabels.from_array(np.array([0, 1, 0]))
    with pytest.raises(DegenerateInputError, match="no image has a neighbour"):
        knn_score(np.array([[0.0], [1.0], [2.0]]), labels, image_ids=np.zeros(3))
    with pytest.raises(ValueError, match="k must be at least 1"):
        knn_score(np.array([[0.0], [1.0], [2.0]]), labels, k=0)


# --- SFDA ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_images, n_features, scale", [(60, 5, 1.0), (60, 5, 0.2), (20, 40, 0.1), (30, 12, 3.0)])
def test_sfda_class_scores_equal_the_generalised_eigenproblem(rng, n_images, n_features, scale):
    classes = rng.integers(0, 3, size=n_images)
    features = (rng.normal(size=(n_images, n_features)) + np.eye(3)[classes] @ rng.normal(size=(3, n_features))) * scale
    codes, counts = np.unique(classes, return_inverse=True)[1], np.bincount(classes)
    scores, shrinkage = discriminant_scores(features, codes, counts)
    expected, expected_shrinkage, _ = sfda_fit_explicit(features, classes)
    assert shrinkage == pytest.approx(expected_shrinkage, rel=1e-10)
    np.testing.assert_allclose(scores, expected, rtol=1e-7, atol=1e-7 * np.abs(expected).max())


@pytest.mark.parametrize("log_probability", [True, False])
@pytest.mark.parametrize("n_images, n_features", [(45, 6), (24, 30)])
def test_sfda_score_equals_the_step_by_step_version(rng, log_probability, n_images, n_features):
    classes = np.arange(n_images) % 3
    features = 0.3 * (rng.normal(size=(n_images, n_features)) + np.eye(3)[classes] @ rng.normal(size=(3, n_features)))
    expected = sfda_by_steps(features, classes, log_probability)
    ours = sfda_score(features, TargetLabels.from_array(classes), log_probability=log_probability)
    assert ours == pytest.approx(expected, rel=1e-8, abs=1e-10)


def test_sfda_with_identical_images_in_every_class_is_refused():
    features = np.array([[0.0, 1.0], [0.0, 1.0], [2.0, 0.0], [2.0, 0.0]])
    with pytest.raises(DegenerateInputError, match="within-class scatter is zero"):
        sfda_score(features, TargetLabels.from_array(np.array([0, 0, 1, 1])), name="m")
