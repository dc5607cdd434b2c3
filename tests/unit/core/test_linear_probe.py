"""The linear probe's fit in the features' own coordinates against the direct fit and scikit-learn."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from rsa_ray import DegenerateInputError
from rsa_ray.linear_probe import (
    _standardiser,
    fit_softmax,
    fit_softmax_rotated,
    group_folds,
    linear_probe_score,
    softmax_objective,
)
from rsa_ray.target_labels import TargetLabels

L2 = 1e-2


def relu_features(seed, n_images, n_features, n_classes):
    """Correlated, non-negative features (a low-rank class signal through a ReLU) and their classes."""
    rng = np.random.default_rng(seed)
    classes = rng.integers(0, n_classes, n_images)
    latent = rng.normal(size=(n_images, 12))
    latent[:, :n_classes] += np.eye(n_classes)[classes]
    features = np.maximum(latent @ rng.normal(size=(12, n_features)) + 0.5 * rng.normal(size=(n_images, n_features)), 0)
    return features, classes


CASES = {
    "narrow": dict(n_images=90, n_features=6, n_classes=3),
    "wide (D > N)": dict(n_images=60, n_features=300, n_classes=4),
    "two classes, wide": dict(n_images=50, n_features=120, n_classes=2),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_rotated_fit_reaches_the_direct_fits_optimum(case):
    features, classes = relu_features(0, **CASES[case])
    mean, scale = _standardiser(features)
    x = (features - mean) / scale
    n_classes = CASES[case]["n_classes"]
    weights, intercepts, loss = fit_softmax_rotated(x, classes, n_classes, L2)
    direct_weights, direct_intercepts, direct_loss = fit_softmax(x, classes, n_classes, L2)
    assert loss == pytest.approx(direct_loss, rel=1e-7, abs=1e-9)
    # The reported loss is the objective at the returned weights (nothing lost when mapping back to D columns).
    recomputed, gradient = softmax_objective(np.concatenate([weights.ravel(), intercepts]), x, np.eye(n_classes)[classes], L2)
    assert recomputed == pytest.approx(loss, rel=1e-10)
    assert np.abs(gradient).max() < 1e-4
    # Strictly convex in the weights: the same weights, and intercepts up to a shared shift.
    np.testing.assert_allclose(weights, direct_weights, atol=2e-3 * np.abs(direct_weights).max())
    centred = intercepts - intercepts.mean()
    np.testing.assert_allclose(centred, direct_intercepts - direct_intercepts.mean(), atol=2e-3 * max(1, np.abs(centred).max()))


def test_the_rotated_fit_agrees_with_scikit_learn_on_wide_features():
    features, classes = relu_features(1, n_images=70, n_features=250, n_classes=3)
    mean, scale = _standardiser(features)
    x = (features - mean) / scale
    weights, intercepts, loss = fit_softmax_rotated(x, classes, 3, L2)
    model = LogisticRegression(C=1 / (L2 * 70), tol=1e-10, max_iter=10_000).fit(x, classes)
    their_loss, _ = softmax_objective(np.concatenate([model.coef_.T.ravel(), model.intercept_]), x, np.eye(3)[classes], L2)
    assert loss == pytest.approx(their_loss, rel=1e-6)
    assert np.mean(np.argmax(x @ weights + intercepts, axis=1) == model.predict(x)) >= 0.98


def direct_probe(features, classes, folds=5, seed=0):
    """The probe as it was computed before: each fold fitted on every standardised column."""
    fold = group_folds(np.arange(classes.size), folds, seed)
    predictions = np.empty(classes.size, dtype=np.int64)
    for index in range(folds):
        train, test = fold != index, fold == index
        mean, scale = _standardiser(features[train])
        weights, intercepts, _ = fit_softmax((features[train] - mean) / scale, classes[train], classes.max() + 1, L2)
        predictions[test] = np.argmax((features[test] - mean) / scale @ weights + intercepts, axis=1)
    return float(np.mean(predictions == classes))


@pytest.mark.parametrize("seed", [2, 3])
def test_the_probe_score_equals_the_direct_probe(seed):
    features, classes = relu_features(seed, n_images=80, n_features=200, n_classes=3)
    assert linear_probe_score(features, TargetLabels.from_array(classes), l2=L2) == pytest.approx(
        direct_probe(features, classes), abs=1.5 / 80)  # at most one near-tie prediction may flip


def test_ties_constant_columns_and_duplicated_columns_are_fitted_as_directly():
    features, classes = relu_features(4, n_images=40, n_features=30, n_classes=2)
    features[:, 5] = 3.0                      # constant: standardised to zeros
    features[:, 6] = features[:, 7]           # duplicated column (rank-deficient)
    features[:10] = features[10:20]           # duplicated images (tied rows)
    classes[:10] = classes[10:20]
    mean, scale = _standardiser(features)
    x = (features - mean) / scale
    rotated, direct = fit_softmax_rotated(x, classes, 2, L2), fit_softmax(x, classes, 2, L2)
    assert rotated[2] == pytest.approx(direct[2], rel=1e-7)
    assert np.abs(rotated[0][5]).max() == 0.0  # no weight on a column that carries nothing
    np.testing.assert_allclose(rotated[0][6], rotated[0][7], atol=1e-10)  # the penalty splits a duplicate evenly


def test_features_with_nan_or_constant_over_images_are_refused():
    labels = TargetLabels.from_array(np.repeat([0, 1], 10))
    with pytest.raises(DegenerateInputError, match="'m'"):
        linear_probe_score(np.full((20, 3), np.nan), labels, name="m")
    with pytest.raises(DegenerateInputError, match="'m'"):
        linear_probe_score(np.ones((20, 3)), labels, name="m")
