"""The linear probe: k-fold cross-validated linear models on a candidate's features (numpy/scipy only).

The expensive reference the cheap estimators are judged against. Classes: a
multinomial logistic regression (softmax loss, L2 penalty on the weights, not the
intercepts) fitted by L-BFGS (``scipy.optimize``); regression: ridge regression in
closed form. Both minimise a mean loss plus ``l2 / 2 ||W||^2``, i.e. scikit-learn's
``LogisticRegression(C=1 / (l2 n))`` and ``Ridge(alpha=l2 n)`` for n training images.
Features are standardised on each training fold. The score is the accuracy, or R^2
(the mean over target columns of 1 - SS_res / SS_tot), of the out-of-fold predictions
of every image.

The logistic regression is solved in the training features' own coordinates
(:func:`fit_softmax_rotated`): with the thin SVD X = U S V^T of the (centred) training
features, the optimal weights lie in the span of V (the gradient of the loss does, and the
penalty is rotation-invariant), so the same optimum is found on the r = rank(X) <= min(n, D)
columns of X V = U S, whose columns are orthogonal. There L-BFGS runs on weights scaled by the
square root of each direction's curvature scale (``2 s_i^2 / n + l2``), which removes most of
the ill-conditioning of wide, correlated features. The optimisation problem, and so the
score, is the one of the direct fit (:func:`fit_softmax`, kept as the reference); only the
cost changes (1.7x to 7x fewer CPU seconds on 300 x 1,280 ReLU features with 2 to 10 classes,
``bench/linear_probe.py``; most of the gain is cheaper steps, r columns instead of D).

Folds are drawn over image ids, so the copies of one image in a bootstrap sample
are all on the same side of every split.

Example:
    >>> rng = np.random.default_rng(0)
    >>> labels = TargetLabels.from_array(np.repeat([0, 1, 2], 20))
    >>> features = rng.normal(size=(60, 4)) + 3 * np.eye(4)[labels.values]
    >>> linear_probe_score(features, labels) > 0.9
    True
"""

from __future__ import annotations

import numpy as np
from scipy import linalg, optimize

from rsa_ray.errors import DegenerateInputError
from rsa_ray.logme import thin_spectrum
from rsa_ray.target_labels import TargetLabels, check_features, class_codes, image_groups

# L-BFGS stops when the largest gradient component is below this, or after MAX_ITERATIONS.
GRADIENT_TOLERANCE = 1e-6
MAX_ITERATIONS = 1000


def group_folds(groups: np.ndarray, folds: int, seed: int, name: str = "candidate") -> np.ndarray:
    """The fold of each row: image groups shuffled with ``seed`` and dealt round-robin to the folds.

    Raises:
        DegenerateInputError: Fewer distinct images than folds.

    Example:
        >>> group_folds(np.array([0, 1, 1, 2, 3]), 2, seed=0).tolist()
        [1, 0, 0, 0, 1]
    """
    n_groups = int(groups.max()) + 1
    if n_groups < folds:
        raise DegenerateInputError(name, f"{n_groups} distinct images cannot fill {folds} folds")
    fold_of_group = np.empty(n_groups, dtype=np.int64)
    fold_of_group[np.random.default_rng(seed).permutation(n_groups)] = np.arange(n_groups) % folds
    return fold_of_group[groups]


def _standardiser(train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scale = train.std(axis=0)
    return train.mean(axis=0), np.where(scale > 0, scale, 1.0)


def softmax_objective(parameters: np.ndarray, features: np.ndarray, onehot: np.ndarray,
                      l2: float) -> tuple[float, np.ndarray]:
    """The mean softmax cross-entropy plus ``l2 / 2 ||W||^2``, and its gradient, at (W, b) flattened.

    Example:
        >>> loss, gradient = softmax_objective(np.zeros(6), np.eye(2), np.eye(2), 1.0)
        >>> round(loss, 6), gradient.shape
        (0.693147, (6,))
    """
    n_features, n_classes = features.shape[1], onehot.shape[1]
    weights = parameters[: n_features * n_classes].reshape(n_features, n_classes)
    logits = features @ weights + parameters[n_features * n_classes:]
    logits -= logits.max(axis=1, keepdims=True)
    log_probabilities = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    loss = -float(np.sum(onehot * log_probabilities)) / features.shape[0] + l2 / 2 * float(np.sum(weights**2))
    residual = (np.exp(log_probabilities) - onehot) / features.shape[0]
    gradient = np.concatenate([(features.T @ residual + l2 * weights).ravel(), residual.sum(axis=0)])
    return loss, gradient


def fit_softmax(features: np.ndarray, codes: np.ndarray, n_classes: int, l2: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Weights [D, C], intercepts [C] and the loss at the optimum of :func:`softmax_objective`.

    Example:
        >>> weights, intercepts, loss = fit_softmax(np.array([[-1.0], [1.0]]), np.array([0, 1]), 2, 1.0)
        >>> bool(weights[0, 1] > weights[0, 0])
        True
    """
    n_features = features.shape[1]
    result = optimize.minimize(
        softmax_objective, np.zeros(n_features * n_classes + n_classes), args=(features, np.eye(n_classes)[codes], l2),
        jac=True, method="L-BFGS-B",
        options={"maxiter": MAX_ITERATIONS, "gtol": GRADIENT_TOLERANCE, "ftol": 64 * np.finfo(np.float64).eps})
    weights = result.x[: n_features * n_classes].reshape(n_features, n_classes)
    return weights, result.x[n_features * n_classes:], float(result.fun)


# The preconditioner scales direction i by sqrt(PRECONDITIONER_CURVATURE * s_i^2 / n + l2). Measured on
# 300 x 1,280 ReLU features with 2, 5 and 10 classes, 2.0 took the fewest L-BFGS steps of 0.25 .. 8
# (27 / 40 / 48 against 32 / 60 / 90 at 0.25, the bound p (1 - p) <= 1/4; about 90 on all columns unscaled).
PRECONDITIONER_CURVATURE = 2.0


def _scaled_softmax_objective(parameters: np.ndarray, scaled: np.ndarray, scale: np.ndarray, onehot: np.ndarray,
                              l2: float) -> tuple[float, np.ndarray]:
    """:func:`softmax_objective` of the weights ``W = scale * V`` on ``scaled = features * scale``, in V."""
    n_columns, n_classes = scaled.shape[1], onehot.shape[1]
    weights = parameters[: n_columns * n_classes].reshape(n_columns, n_classes) * scale[:, None]
    logits = scaled @ parameters[: n_columns * n_classes].reshape(n_columns, n_classes) + parameters[n_columns * n_classes:]
    logits -= logits.max(axis=1, keepdims=True)
    log_probabilities = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    loss = -float(np.sum(onehot * log_probabilities)) / scaled.shape[0] + l2 / 2 * float(np.sum(weights**2))
    residual = (np.exp(log_probabilities) - onehot) / scaled.shape[0]
    gradient = scaled.T @ residual + l2 * weights * scale[:, None]
    return loss, np.concatenate([gradient.ravel(), residual.sum(axis=0)])


def fit_softmax_rotated(features: np.ndarray, codes: np.ndarray, n_classes: int, l2: float
                        ) -> tuple[np.ndarray, np.ndarray, float]:
    """The optimum of :func:`fit_softmax`, found in the span of the features' right singular vectors.

    The gradient of the loss in W is a combination of the rows of X, so with X = U S V^T (rank r)
    the optimal weights are ``V W'`` with W' [r, C] fitted on ``U S``; L-BFGS runs on
    ``V' = W' * sqrt(q s^2 / n + l2)`` per direction (a diagonal preconditioner, q =
    ``PRECONDITIONER_CURVATURE``: the columns of ``U S`` are orthogonal, so the loss's curvature is
    nearly diagonal there).

    Args:
        features: Training features [n, D].
        codes: Class codes [n] in ``0..n_classes-1``.
        n_classes: C.
        l2: The penalty weight (> 0).

    Returns:
        Weights [D, C], intercepts [C] and the loss at the optimum, as :func:`fit_softmax`.

    Example:
        >>> x = np.array([[-1.0, 0.5], [1.0, -0.5], [-2.0, 1.0], [2.0, -1.0]])
        >>> fast, direct = fit_softmax_rotated(x, np.array([0, 1, 0, 1]), 2, 0.1), fit_softmax(x, np.array([0, 1, 0, 1]), 2, 0.1)
        >>> bool(np.allclose(fast[0], direct[0], atol=1e-5)), bool(abs(fast[2] - direct[2]) < 1e-9)
        (True, True)
    """
    n_images = features.shape[0]
    squares, left = thin_spectrum(features)
    singular = np.sqrt(squares)
    scale = 1.0 / np.sqrt(squares / n_images * PRECONDITIONER_CURVATURE + l2)
    scaled = left * (singular * scale)
    n_columns = scaled.shape[1]
    right = (features.T @ left) / singular  # V [D, r]
    result = optimize.minimize(
        _scaled_softmax_objective, np.zeros(n_columns * n_classes + n_classes),
        args=(scaled, scale, np.eye(n_classes)[codes], l2), jac=True, method="L-BFGS-B",
        options={"maxiter": MAX_ITERATIONS, "gtol": GRADIENT_TOLERANCE, "ftol": 64 * np.finfo(np.float64).eps})
    rotated = result.x[: n_columns * n_classes].reshape(n_columns, n_classes) * scale[:, None]
    return right @ rotated, result.x[n_columns * n_classes:], float(result.fun)


def fit_ridge(features: np.ndarray, targets: np.ndarray, l2: float) -> tuple[np.ndarray, np.ndarray]:
    """Ridge weights [D, K] and intercepts [K] minimising ||y - X W - b||^2 / (2n) + l2/2 ||W||^2.

    Solved in the smaller of the primal (D x D) and dual (n x n) forms.

    Example:
        >>> weights, intercepts = fit_ridge(np.array([[0.0], [1.0], [2.0]]), np.array([[1.0], [3.0], [5.0]]), 1e-9)
        >>> weights.round(6).tolist(), intercepts.round(6).tolist()
        ([[2.0]], [1.0])
    """
    mean_features, mean_targets = features.mean(axis=0), targets.mean(axis=0)
    centred, centred_targets = features - mean_features, targets - mean_targets
    penalty = l2 * features.shape[0]
    if centred.shape[1] <= centred.shape[0]:
        gram = centred.T @ centred
        gram.flat[:: gram.shape[0] + 1] += penalty
        weights = linalg.solve(gram, centred.T @ centred_targets, assume_a="pos")
    else:
        gram = centred @ centred.T
        gram.flat[:: gram.shape[0] + 1] += penalty
        weights = centred.T @ linalg.solve(gram, centred_targets, assume_a="pos")
    return weights, mean_targets - mean_features @ weights


def out_of_fold_predictions(features: np.ndarray, labels: TargetLabels, fold: np.ndarray, l2: float) -> np.ndarray:
    """Every image's prediction by the model fitted on the other folds: class codes or targets [N, K].

    Example:
        >>> labels = TargetLabels.from_array(np.array([0, 1, 0, 1]))
        >>> out_of_fold_predictions(np.array([[-1.0], [1.0], [-2.0], [2.0]]), labels, np.array([0, 0, 1, 1]), 0.1).tolist()
        [0, 1, 0, 1]
    """
    if labels.kind == "classes":
        codes, counts = class_codes(labels)
        predictions = np.empty(features.shape[0], dtype=np.int64)
    else:
        predictions = np.empty(labels.values.shape, dtype=np.float64)
    for index in range(int(fold.max()) + 1):
        train, test = fold != index, fold == index
        mean, scale = _standardiser(features[train])
        train_features, test_features = (features[train] - mean) / scale, (features[test] - mean) / scale
        if labels.kind == "classes":
            weights, intercepts, _ = fit_softmax_rotated(train_features, codes[train], counts.size, l2)
            predictions[test] = np.argmax(test_features @ weights + intercepts, axis=1)
        else:
            weights, intercepts = fit_ridge(train_features, labels.values[train], l2)
            predictions[test] = test_features @ weights + intercepts
    return predictions


def r_squared(targets: np.ndarray, predictions: np.ndarray) -> float:
    """The mean over target columns of 1 - SS_res / SS_tot; columns constant over the images are left out.

    Example:
        >>> r_squared(np.array([[1.0, 5.0], [3.0, 5.0]]), np.array([[1.5, 0.0], [2.5, 0.0]]))
        0.75
    """
    total = np.sum((targets - targets.mean(axis=0)) ** 2, axis=0)
    varying = total > 0
    residual = np.sum((targets - predictions) ** 2, axis=0)
    return float(np.mean(1.0 - residual[varying] / total[varying]))


def linear_probe_score(features: np.ndarray, labels: TargetLabels, *, name: str = "candidate",
                       image_ids: np.ndarray | None = None, folds: int = 5, seed: int = 0,
                       l2: float = 1e-2) -> float:
    """k-fold logistic-regression accuracy (classes) or ridge R^2 (regression) on the candidate's features.

    Args:
        features: The candidate's features [N, D] on the target's images.
        labels: One label per image.
        name: The candidate's name, for errors.
        image_ids: One id per row; rows that share an id fall in the same fold.
        folds: Number of folds (at least 2).
        seed: Seed of the assignment of images to folds.
        l2: Weight of ``l2 / 2 ||W||^2`` against the mean loss (> 0).

    Returns:
        The out-of-fold accuracy in [0, 1], or R^2 (at most 1); higher is better.

    Raises:
        ValueError: ``folds`` below 2 or ``l2`` not positive.
        DegenerateInputError: Degenerate features or labels, or fewer distinct images than folds.

    Example:
        >>> labels = TargetLabels.from_array(np.arange(10.0))
        >>> round(linear_probe_score(np.arange(10.0)[:, None] + [0, 1], labels, l2=1e-6), 4)
        1.0
    """
    if folds < 2:
        raise ValueError(f"folds must be at least 2, got {folds}")
    if not l2 > 0:
        raise ValueError(f"l2 must be positive, got {l2}")
    features = check_features(features, labels, name)
    groups = image_groups(image_ids, features.shape[0], name)
    fold = group_folds(groups, folds, seed, name)
    predictions = out_of_fold_predictions(features, labels, fold, l2)
    if labels.kind == "classes":
        return float(np.mean(predictions == class_codes(labels)[0]))
    return r_squared(labels.values, predictions)


def held_out_score(train_features: np.ndarray, train_labels: TargetLabels, test_features: np.ndarray,
                   test_labels: TargetLabels, *, name: str = "candidate", l2: float = 1e-2) -> float:
    """The linear probe trained on one split and scored on another: measured transfer of frozen features.

    The same model as :func:`linear_probe_score` (features standardised on the training split,
    softmax or ridge with ``l2``), fitted once on the training rows; the score is the accuracy or
    R^2 of its predictions of the held-out rows.

    Raises:
        ValueError: Splits of different kinds or feature widths, or ``l2`` not positive.
        DegenerateInputError: Degenerate training features or labels.

    Example:
        >>> rng = np.random.default_rng(1)
        >>> labels = TargetLabels.from_array(np.repeat([0, 1], 30))
        >>> features = rng.normal(size=(60, 3)) + 4 * labels.values[:, None]
        >>> held_out_score(features[::2], labels.subset(np.arange(0, 60, 2)),
        ...                features[1::2], labels.subset(np.arange(1, 60, 2)))
        1.0
    """
    if not l2 > 0:
        raise ValueError(f"l2 must be positive, got {l2}")
    if train_labels.kind != test_labels.kind:
        raise ValueError(f"model {name!r}: training labels are {train_labels.kind}, held-out labels {test_labels.kind}")
    train_features = check_features(train_features, train_labels, name)
    test_features = np.asarray(test_features, dtype=np.float64)
    if test_features.shape != (test_labels.n_images, train_features.shape[1]):
        raise ValueError(f"model {name!r}: held-out features must be [{test_labels.n_images}, {train_features.shape[1]}], "
                         f"got {test_features.shape}")
    mean, scale = _standardiser(train_features)
    train_features, test_features = (train_features - mean) / scale, (test_features - mean) / scale
    if train_labels.kind == "classes":
        classes = np.unique(train_labels.values)
        codes = np.searchsorted(classes, train_labels.values)
        weights, intercepts, _ = fit_softmax_rotated(train_features, codes, classes.size, l2)
        predicted = classes[np.argmax(test_features @ weights + intercepts, axis=1)]
        return float(np.mean(predicted == test_labels.values))
    weights, intercepts = fit_ridge(train_features, train_labels.values, l2)
    return r_squared(test_labels.values, test_features @ weights + intercepts)
