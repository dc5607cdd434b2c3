"""LogME, the H-scores and the linear probe against definitions, a grid search and scikit-learn (test only)."""

import numpy as np
import pytest
from sklearn.covariance import LedoitWolf
from sklearn.linear_model import LogisticRegression, Ridge

from rsa_ray.errors import DegenerateInputError
from rsa_ray.hscore import hscore, ledoit_wolf_shrinkage, shrinkage_hscore
from rsa_ray.linear_probe import (fit_softmax, group_folds, linear_probe_score, out_of_fold_predictions,
                                  softmax_objective)
from rsa_ray.logme import PLAIN_STEPS, _step, column_evidence, fixed_point_ratio, logme_score, target_columns, thin_spectrum
from rsa_ray.target_labels import TargetLabels
from tests.unit.core.estimator_oracles import (hscore_by_definition, log_evidence_by_definition,
                                               max_evidence_by_grid, shrinkage_hscore_by_definition)

# The grid's best point after three refinements is within ~1e-3 per image of the true maximum.
GRID_TOLERANCE = 1e-3


@pytest.fixture
def rng():
    return np.random.default_rng(110)


# --- LogME ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_images, n_features", [(40, 6), (16, 30)])
@pytest.mark.parametrize("column_kind", ["one-hot", "linear", "noise"])
def test_logme_fixed_point_reaches_the_grid_maximum(rng, n_images, n_features, column_kind):
    features = rng.normal(size=(n_images, n_features))
    column = {"one-hot": (rng.random(n_images) < 0.4).astype(float),
              "linear": features[:, 0] - features[:, 1] + 0.5 * rng.normal(size=n_images),
              "noise": rng.normal(size=n_images)}[column_kind]
    evidence, alpha, beta = column_evidence(*thin_spectrum(features), column)
    # Its value is the evidence by definition (explicit log det and solve) at its own alpha and beta ...
    assert evidence == pytest.approx(log_evidence_by_definition(features, column, alpha, beta), abs=1e-9)
    # ... and no point of a fine grid does better (beyond the grid's own resolution).
    grid_best, _, _ = max_evidence_by_grid(features, column)
    assert evidence >= grid_best - 1e-9
    if column_kind != "noise":  # noise: the maximum is at alpha -> infinity, outside any grid
        assert evidence == pytest.approx(grid_best, abs=GRID_TOLERANCE)


def test_logme_solves_a_slowly_converging_fixed_point():
    # D > N with a weak class signal: the plain iteration needs about 500 steps here.
    rng = np.random.default_rng(110)
    classes = np.arange(40) % 4
    features = 0.3 * np.eye(4)[classes] @ rng.normal(size=(4, 100)) + rng.normal(size=(40, 100))
    squares, left = thin_spectrum(features)
    projections2 = (left.T @ (classes == 3).astype(float)) ** 2
    ratio, steps = 1.0, 0
    while abs(_step(squares, projections2, 0.0, 40, ratio) / ratio - 1) > 1e-12:
        ratio, steps = _step(squares, projections2, 0.0, 40, ratio), steps + 1
    assert steps > PLAIN_STEPS
    assert fixed_point_ratio(squares, projections2, 0.0, 40) == pytest.approx(ratio, rel=1e-8)
    column = (classes == 3).astype(float)
    evidence, alpha, beta = column_evidence(squares, left, column)
    assert evidence == pytest.approx(log_evidence_by_definition(features, column, alpha, beta), abs=1e-9)
    for factor_alpha, factor_beta in [(0.98, 1), (1.02, 1), (1, 0.98), (1, 1.02), (0.98, 0.98), (1.02, 1.02)]:
        assert evidence >= log_evidence_by_definition(features, column, alpha * factor_alpha, beta * factor_beta)


def test_logme_score_is_the_mean_over_one_hot_columns(rng):
    labels = TargetLabels.from_array(np.array([5, 2, 2, 9, 5, 9, 2, 5, 9, 9, 2, 5]))  # indices with gaps
    features = rng.normal(size=(12, 4))
    columns = target_columns(labels)
    assert columns.shape == (12, 3) and columns.sum(axis=0).tolist() == [4.0, 4.0, 4.0]
    expected = np.mean([max_evidence_by_grid(features, columns[:, c])[0] for c in range(3)])
    assert logme_score(features, labels) == pytest.approx(expected, abs=GRID_TOLERANCE)


def test_logme_regression_uses_each_target_column(rng):
    features = rng.normal(size=(30, 5))
    targets = np.stack([features[:, 0] + 0.1 * rng.normal(size=30), rng.normal(size=30)], axis=1)
    both = logme_score(features, TargetLabels.from_array(targets))
    first = logme_score(features, TargetLabels.from_array(targets[:, :1]))
    second = logme_score(features, TargetLabels.from_array(targets[:, 1:]))
    assert both == pytest.approx((first + second) / 2, abs=1e-12)
    assert first > second


def test_logme_leaves_out_a_target_column_of_zeros_and_refuses_targets_of_zeros(rng):
    features, column = rng.normal(size=(20, 3)), rng.normal(size=20)
    with_zeros = logme_score(features, TargetLabels.from_array(np.stack([column, np.zeros(20)], axis=1)))
    assert with_zeros == logme_score(features, TargetLabels.from_array(column[:, None]))
    # A column of zeros alone: check_features refuses constant targets before LogME sees them.
    with pytest.raises(DegenerateInputError, match="model 'm': the regression targets are the same for every image"):
        logme_score(features, TargetLabels.from_array(np.zeros((20, 2))), name="m")
    # Constant but non-zero columns beside a zero one: the zero one is left out, the evidence stays finite.
    assert np.isfinite(logme_score(features, TargetLabels.from_array(np.stack([np.ones(20), np.zeros(20), column], 1))))


# --- H-score and its shrinkage form ------------------------------------------------------------------------


def labelled(rng, n_images, n_features, n_classes=3):
    classes = rng.integers(0, n_classes, size=n_images)
    features = rng.normal(size=(n_images, n_features)) + np.eye(n_classes)[classes] @ rng.normal(size=(n_classes, n_features))
    return features, classes


@pytest.mark.parametrize("n_images, n_features", [(50, 6), (80, 30)])
def test_hscore_equals_its_definition_with_explicit_covariances(rng, n_images, n_features):
    features, classes = labelled(rng, n_images, n_features)
    features[:, 1] = features[:, 0]  # a repeated feature: the covariance is singular, the pseudo-inverse matters
    expected = hscore_by_definition(features, classes)
    assert hscore(features, TargetLabels.from_array(classes)) == pytest.approx(expected, rel=1e-9)


def test_hscore_is_classes_minus_one_when_features_span_every_image(rng):
    features, classes = labelled(rng, 20, 50)
    assert hscore(features, TargetLabels.from_array(classes)) == pytest.approx(2.0, abs=1e-9)


@pytest.mark.parametrize("n_images, n_features", [(60, 8), (25, 70), (40, 1)])
def test_ledoit_wolf_shrinkage_equals_scikit_learn(rng, n_images, n_features):
    features = rng.normal(size=(n_images, n_features)) * rng.uniform(0.5, 3, size=n_features) + 4.0
    fitted = LedoitWolf().fit(features)
    shrinkage = ledoit_wolf_shrinkage(features)
    assert shrinkage == pytest.approx(fitted.shrinkage_, abs=1e-12)
    centred = features - features.mean(axis=0)
    biased = centred.T @ centred / n_images
    shrunk = (1 - shrinkage) * biased + shrinkage * np.trace(biased) / n_features * np.eye(n_features)
    np.testing.assert_allclose(shrunk, fitted.covariance_, atol=1e-12)


@pytest.mark.parametrize("n_images, n_features", [(60, 8), (25, 70)])
def test_shrinkage_hscore_equals_its_definition(rng, n_images, n_features):
    features, classes = labelled(rng, n_images, n_features)
    expected = shrinkage_hscore_by_definition(features, classes, LedoitWolf().fit(features).shrinkage_)
    assert shrinkage_hscore(features, TargetLabels.from_array(classes)) == pytest.approx(expected, rel=1e-9)


def test_the_hscores_refuse_regression_targets(rng):
    with pytest.raises(ValueError, match="needs class labels"):
        hscore(rng.normal(size=(10, 3)), TargetLabels.from_array(rng.normal(size=10)))


# --- the linear probe against scikit-learn on the same folds -----------------------------------------------

L2 = 1e-2


def sklearn_out_of_fold(features, targets, fold, kind):
    predictions = np.empty(targets.shape, dtype=targets.dtype)
    for index in range(fold.max() + 1):
        train, test = fold != index, fold == index
        mean, scale = features[train].mean(axis=0), features[train].std(axis=0)
        train_x, test_x = (features[train] - mean) / scale, (features[test] - mean) / scale
        if kind == "classes":
            model = LogisticRegression(C=1 / (L2 * train.sum()), tol=1e-10, max_iter=10_000)
        else:
            model = Ridge(alpha=L2 * train.sum())
        predictions[test] = model.fit(train_x, targets[train]).predict(test_x)
    return predictions


@pytest.mark.parametrize("n_features", [12, 150])
def test_logistic_probe_agrees_with_scikit_learn(rng, n_features):
    features, classes = labelled(rng, 100, n_features)
    labels = TargetLabels.from_array(classes)
    fold = group_folds(np.arange(100), 5, seed=0)
    ours = out_of_fold_predictions(features, labels, fold, L2)
    theirs = sklearn_out_of_fold(features, classes, fold, "classes")
    assert np.mean(ours == theirs) >= 0.98  # the same optimum; only a near-tie can flip a prediction
    assert linear_probe_score(features, labels, folds=5, seed=0, l2=L2) == pytest.approx(np.mean(theirs == classes), abs=0.02)
    # The optimum's loss is the same (scikit-learn's coefficients put into our objective).
    train = fold != 0
    mean, scale = features[train].mean(axis=0), features[train].std(axis=0)
    train_x = (features[train] - mean) / scale
    weights, intercepts, loss = fit_softmax(train_x, classes[train], 3, L2)
    model = LogisticRegression(C=1 / (L2 * train.sum()), tol=1e-10, max_iter=10_000).fit(train_x, classes[train])
    their_loss, _ = softmax_objective(np.concatenate([model.coef_.T.ravel(), model.intercept_]), train_x,
                                      np.eye(3)[classes[train]], L2)
    assert loss == pytest.approx(their_loss, rel=1e-6)


def test_softmax_gradient_matches_finite_differences(rng):
    features, onehot = rng.normal(size=(15, 4)), np.eye(3)[rng.integers(0, 3, 15)]
    parameters = rng.normal(size=15)
    _, gradient = softmax_objective(parameters, features, onehot, 0.3)
    step = 1e-6
    numeric = [(softmax_objective(parameters + step * e, features, onehot, 0.3)[0]
                - softmax_objective(parameters - step * e, features, onehot, 0.3)[0]) / (2 * step) for e in np.eye(15)]
    np.testing.assert_allclose(gradient, numeric, atol=1e-7)


@pytest.mark.parametrize("n_features", [10, 120])
def test_ridge_probe_agrees_with_scikit_learn(rng, n_features):
    features = rng.normal(size=(90, n_features))
    targets = features[:, :3] @ rng.normal(size=(3, 2)) + 0.5 * rng.normal(size=(90, 2))
    fold = group_folds(np.arange(90), 5, seed=3)
    ours = out_of_fold_predictions(features, TargetLabels.from_array(targets), fold, L2)
    np.testing.assert_allclose(ours, sklearn_out_of_fold(features, targets, fold, "regression"), atol=1e-8)
    theirs = sklearn_out_of_fold(features, targets, fold, "regression")
    expected = np.mean(1 - ((targets - theirs) ** 2).sum(axis=0) / ((targets - targets.mean(axis=0)) ** 2).sum(axis=0))
    assert linear_probe_score(features, TargetLabels.from_array(targets), seed=3, l2=L2) == pytest.approx(expected, abs=1e-8)


def test_folds_keep_the_copies_of_an_image_together(rng):
    image_ids = rng.integers(0, 30, size=80)
    fold = group_folds(np.unique(image_ids, return_inverse=True)[1], 5, seed=1)
    for value in np.unique(image_ids):
        assert np.unique(fold[image_ids == value]).size == 1
    assert sorted(np.unique(fold).tolist()) == [0, 1, 2, 3, 4]


def test_copies_in_test_and_train_would_inflate_the_probe(rng):
    # Pure noise, each image copied 4 times: folds over rows would let a copy be memorised; folds over images not.
    classes = np.repeat(rng.integers(0, 2, size=25), 4)
    features = np.repeat(rng.normal(size=(25, 40)), 4, axis=0)
    labels = TargetLabels.from_array(classes)
    grouped = linear_probe_score(features, labels, image_ids=np.repeat(np.arange(25), 4), l2=1e-4)
    by_row = linear_probe_score(features, labels, l2=1e-4)
    assert by_row > 0.9 and grouped < 0.8


def test_fewer_images_than_folds_is_refused(rng):
    labels = TargetLabels.from_array(np.array([0, 1, 0, 1]))
    with pytest.raises(DegenerateInputError, match="model 'm': 4 distinct images cannot fill 5 folds"):
        linear_probe_score(rng.normal(size=(4, 2)), labels, name="m")
    with pytest.raises(ValueError, match="folds must be at least 2"):
        linear_probe_score(rng.normal(size=(4, 2)), labels, folds=1)


def test_held_out_score_against_sklearn_fitted_on_the_training_split():
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.preprocessing import StandardScaler

    from rsa_ray.linear_probe import held_out_score

    rng = np.random.default_rng(11)
    values = rng.integers(0, 3, size=120)
    features = rng.normal(size=(120, 6)) + np.eye(6)[values] * 1.5
    train, test = np.arange(80), np.arange(80, 120)
    labels = TargetLabels.from_array(values)
    ours = held_out_score(features[train], labels.subset(train), features[test], labels.subset(test), l2=1e-2)
    scaler = StandardScaler().fit(features[train])
    model = LogisticRegression(C=1 / (1e-2 * 80), tol=1e-10, max_iter=10000).fit(scaler.transform(features[train]), values[train])
    assert ours == pytest.approx(model.score(scaler.transform(features[test]), values[test]))

    targets = features @ rng.normal(size=(6, 2)) + rng.normal(size=(120, 2))
    regression = TargetLabels.from_array(targets)
    ours = held_out_score(features[train], regression.subset(train), features[test], regression.subset(test), l2=1e-2)
    ridge = Ridge(alpha=1e-2 * 80).fit(scaler.transform(features[train]), targets[train])
    predictions = ridge.predict(scaler.transform(features[test]))
    expected = np.mean(1 - ((targets[test] - predictions) ** 2).sum(0) / ((targets[test] - targets[test].mean(0)) ** 2).sum(0))
    assert ours == pytest.approx(expected, rel=1e-8)


def test_held_out_score_refuses_mismatched_splits():
    from rsa_ray.linear_probe import held_out_score

    labels = TargetLabels.from_array(np.array([0, 1, 0, 1]))
    with pytest.raises(ValueError, match="held-out features must be"):
        held_out_score(np.eye(4), labels, np.ones((4, 3)), labels)
    with pytest.raises(ValueError, match="training labels are classes, held-out labels regression"):
        held_out_score(np.eye(4), labels, np.eye(4), TargetLabels.from_array(np.ones((4, 1))))
