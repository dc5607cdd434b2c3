"""The transferability estimators together: the registry, the shared input door, and what every score must do.

The per-estimator references (loops, definitions, scikit-learn) are in
test_estimators_linear.py and test_estimators_local.py.
"""

import numpy as np
import pytest

from rsa_ray.errors import DegenerateInputError
from rsa_ray.estimators import ESTIMATORS, applicable_scores, estimator, parse_scores, score_features
from rsa_ray.label_rdm import label_rdm, rsa_labels_score
from rsa_ray.rsa_score import rsa_score
from rsa_ray.target_labels import TargetLabels, image_groups
from tests.unit.core.estimator_oracles import correlation_distance, label_distance, spearman_of_pairs

LABEL_SCORES = [name for name, chosen in ESTIMATORS.items() if chosen.reads == "labels"]
REGRESSION_SCORES = [name for name in LABEL_SCORES if "regression" in ESTIMATORS[name].kinds]


@pytest.fixture
def rng():
    return np.random.default_rng(2021)


def classes_task(rng, n_images=60, n_features=8, n_classes=3, signal=2.0):
    labels = TargetLabels.from_array(np.arange(n_images) % n_classes)
    centres = rng.normal(size=(n_classes, n_features))
    informative = rng.normal(size=(n_images, n_features)) + signal * centres[labels.values]
    return labels, informative, rng.normal(size=(n_images, n_features))


def regression_task(rng, n_images=60, n_features=8, n_targets=2):
    informative = rng.normal(size=(n_images, n_features))
    targets = informative[:, :3] @ rng.normal(size=(3, n_targets)) + 0.3 * rng.normal(size=(n_images, n_targets))
    return TargetLabels.from_array(targets), informative, rng.normal(size=(n_images, n_features))


def test_every_registered_estimator_holds_its_function_and_scores(rng):
    labels, informative, _ = classes_task(rng)
    target = informative @ rng.normal(size=(8, 5))
    assert ESTIMATORS["rsa"].function is rsa_score and ESTIMATORS["rsa-labels"].function is rsa_labels_score
    for name, chosen in ESTIMATORS.items():
        assert callable(chosen.function) and chosen.function.__module__.startswith("rsa_ray."), name
        value = score_features(name, informative, labels, target_features=target, model="m1")
        assert isinstance(value, float) and np.isfinite(value), name
        reference = target if chosen.reads == "target-model" else labels
        assert value == chosen.function(informative, reference, name="m1", image_ids=None), name


def test_registry_refuses_unknown_or_unsupported_input(rng):
    labels, informative, _ = classes_task(rng)
    with pytest.raises(ValueError, match="unknown score 'nope'; choose from rsa, rsa-labels"):
        estimator("nope")
    with pytest.raises(ValueError, match=r"score 'rsa' cannot score this target: the target has no trained model "
                                         r"\(`rsa-ray train-target` trains one\)"):
        score_features("rsa", informative, labels)
    with pytest.raises(ValueError, match="score 'logme' cannot score this target: the target has no labels"):
        score_features("logme", informative)
    regression = TargetLabels.from_array(rng.normal(size=(60, 2)))
    with pytest.raises(ValueError, match=r"it does not support regression targets \(only classes\)"):
        score_features("sfda", informative, regression)
    assert parse_scores("all") == tuple(ESTIMATORS)
    kept, skipped = applicable_scores(list(ESTIMATORS), regression, has_target_model=False)
    assert kept == tuple(REGRESSION_SCORES)
    assert dict(skipped) == {"rsa": "the target has no trained model (`rsa-ray train-target` trains one)",
                             "hscore": "it does not support regression targets (only classes)",
                             "hscore-shrinkage": "it does not support regression targets (only classes)",
                             "sfda": "it does not support regression targets (only classes)"}
    assert applicable_scores(["rsa", "knn"], labels, has_target_model=True) == (("rsa", "knn"), ())


@pytest.mark.parametrize("name", LABEL_SCORES)
def test_each_score_ranks_informative_features_above_noise(rng, name):
    labels, informative, noise = classes_task(rng)
    assert score_features(name, informative, labels) > score_features(name, noise, labels)


@pytest.mark.parametrize("name", REGRESSION_SCORES)
def test_each_regression_score_ranks_informative_features_above_noise(rng, name):
    labels, informative, noise = regression_task(rng)
    assert score_features(name, informative, labels) > score_features(name, noise, labels)


def test_rsa_ranks_a_candidate_like_the_target_above_noise(rng):
    labels, informative, noise = classes_task(rng)
    target = informative @ rng.normal(size=(8, 6)) + 0.5 * rng.normal(size=(60, 6))
    assert rsa_score(informative, target) > 0.5 > rsa_score(noise, target)


@pytest.mark.parametrize("name", LABEL_SCORES)
def test_more_features_than_images_gives_a_finite_score(rng, name):
    labels, informative, noise = classes_task(rng, n_images=30, n_features=80)
    value = score_features(name, informative, labels)
    assert np.isfinite(value)


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_nan_features_are_refused_naming_the_model_and_image(rng, name):
    labels, informative, _ = classes_task(rng)
    informative[7, 2] = np.nan
    target = rng.normal(size=(60, 4))
    with pytest.raises(DegenerateInputError, match=r"model 'm9': features hold NaN or Inf \(images 7\)"):
        score_features(name, informative, labels, target_features=target, model="m9")


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_constant_features_are_refused(rng, name):
    labels, _, _ = classes_task(rng)
    with pytest.raises(DegenerateInputError, match="features are the same for every image"):
        score_features(name, np.full((60, 4), 3.0), labels, target_features=rng.normal(size=(60, 4)), model="m")


@pytest.mark.parametrize("name", LABEL_SCORES)
def test_a_single_class_is_refused(rng, name):
    with pytest.raises(DegenerateInputError, match="single class"):
        score_features(name, rng.normal(size=(20, 4)), TargetLabels.from_array(np.zeros(20, dtype=np.int64)))


@pytest.mark.parametrize("name", REGRESSION_SCORES)
def test_constant_regression_targets_are_refused(rng, name):
    with pytest.raises(DegenerateInputError, match="regression targets are the same"):
        score_features(name, rng.normal(size=(20, 4)), TargetLabels.from_array(np.ones((20, 2))))


def test_features_without_one_row_per_label_are_a_value_error(rng):
    labels, _, _ = classes_task(rng)
    with pytest.raises(ValueError, match=r"features must be \[N=60, D\], got shape \(59, 4\)"):
        score_features("knn", rng.normal(size=(59, 4)), labels)
    with pytest.raises(ValueError, match="image_ids must hold one id per row"):
        score_features("knn", rng.normal(size=(60, 4)), labels, image_ids=np.arange(59))


def test_image_groups_code_copies_alike():
    assert image_groups(np.array(["b", "a", "b"]), 3).tolist() == [1, 0, 1]
    assert image_groups(None, 3).tolist() == [0, 1, 2]


# --- rsa and rsa-labels against scipy's Spearman on the pairs ------------------------------------------------


def test_rsa_score_equals_scipy_spearman_of_the_two_rdms(rng):
    target = rng.normal(size=(25, 6))
    candidate = target @ rng.normal(size=(6, 40)) + rng.normal(size=(25, 40))
    expected = spearman_of_pairs(candidate, correlation_distance(target))
    assert rsa_score(candidate, target) == pytest.approx(expected, abs=1e-12)


def test_rsa_score_leaves_out_the_pairs_of_copies(rng):
    image_rows = np.array([0, 1, 2, 2, 3, 4, 4, 4, 5, 6, 7, 8])  # a bootstrap sample of 9 images
    target = rng.normal(size=(9, 5))[image_rows]
    candidate = (target @ rng.normal(size=(5, 7)) + rng.normal(size=(9, 7))[image_rows])
    expected = spearman_of_pairs(candidate, correlation_distance(target), image_ids=image_rows)
    assert rsa_score(candidate, target, image_ids=image_rows) == pytest.approx(expected, abs=1e-12)
    assert rsa_score(candidate, target) != pytest.approx(expected, abs=1e-6)


def test_rsa_score_refuses_a_target_with_other_images(rng):
    with pytest.raises(ValueError, match="target model"):
        rsa_score(rng.normal(size=(10, 3)), rng.normal(size=(9, 3)))


@pytest.mark.parametrize("kind", ["classes", "regression"])
def test_label_rdm_is_its_definition_pair_by_pair(rng, kind):
    values = rng.integers(0, 4, size=15) if kind == "classes" else rng.integers(0, 3, size=(15, 2)).astype(float)
    labels = TargetLabels.from_array(values)
    distance = label_distance(labels.values, kind)
    expected = [distance(i, j) for i in range(15) for j in range(i + 1, 15)]
    np.testing.assert_allclose(label_rdm(labels), expected, atol=0)


@pytest.mark.parametrize("kind", ["classes", "regression"])
def test_rsa_labels_equals_scipy_spearman_with_its_ties(rng, kind):
    # Integer targets: the label RDM is almost all ties, which scipy ranks by averages too.
    values = rng.integers(0, 3, size=30) if kind == "classes" else rng.integers(0, 4, size=(30, 1)).astype(float)
    labels = TargetLabels.from_array(values)
    features = rng.normal(size=(30, 12)) + np.atleast_2d(values.T).T
    image_ids = np.repeat(np.arange(15), 2)[rng.permutation(30)]
    for ids in (None, image_ids):
        expected = spearman_of_pairs(features, label_distance(labels.values, kind), image_ids=ids)
        assert rsa_labels_score(features, labels, image_ids=ids) == pytest.approx(expected, abs=1e-12)


def test_a_constant_label_rdm_is_refused(rng):
    every_image_its_own_class = TargetLabels.from_array(np.arange(12))
    with pytest.raises(DegenerateInputError, match="'target labels': the RDM is constant"):
        rsa_labels_score(rng.normal(size=(12, 4)), every_image_its_own_class)
