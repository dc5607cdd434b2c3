"""Slow, obviously right references for the transferability estimators: loops, definitions, explicit matrices."""

from __future__ import annotations

import itertools

import numpy as np
from scipy import linalg, stats


def spearman_of_pairs(features_a: np.ndarray, features_b_or_rdm, image_ids=None) -> float:
    """scipy's Spearman between two correlation-distance RDMs (or an RDM given pair by pair), copy pairs skipped."""
    n_rows = features_a.shape[0]
    ids = np.arange(n_rows) if image_ids is None else np.asarray(image_ids)
    centred_a = features_a - features_a.mean(axis=0)
    second = features_b_or_rdm
    values_a, values_b = [], []
    for i, j in itertools.combinations(range(n_rows), 2):
        if ids[i] == ids[j]:
            continue
        values_a.append(1.0 - np.corrcoef(centred_a[i], centred_a[j])[0, 1])
        values_b.append(second(i, j))
    return float(stats.spearmanr(values_a, values_b).statistic)


def correlation_distance(features: np.ndarray):
    """A function (i, j) -> 1 - Pearson of the centred rows i and j."""
    centred = features - features.mean(axis=0)
    return lambda i, j: 1.0 - np.corrcoef(centred[i], centred[j])[0, 1]


def label_distance(values: np.ndarray, kind: str):
    """A function (i, j) -> the label dissimilarity of images i and j, by its definition."""
    if kind == "classes":
        return lambda i, j: float(values[i] != values[j])
    return lambda i, j: float(np.sqrt(np.sum((values[i] - values[j]) ** 2)))


def log_evidence_by_definition(features: np.ndarray, column: np.ndarray, alpha: float, beta: float) -> float:
    """LogME's log evidence per image with explicit D x D matrices: log det and a solve."""
    n_images, n_features = features.shape
    precision = alpha * np.eye(n_features) + beta * features.T @ features
    mean = beta * np.linalg.solve(precision, features.T @ column)
    _, log_det = np.linalg.slogdet(precision)
    evidence = (n_features / 2 * np.log(alpha) + n_images / 2 * np.log(beta) - n_images / 2 * np.log(2 * np.pi)
                - beta / 2 * np.sum((features @ mean - column) ** 2) - alpha / 2 * mean @ mean - 0.5 * log_det)
    return float(evidence / n_images)


def max_evidence_by_grid(features: np.ndarray, column: np.ndarray, points: int = 41,
                         refinements: int = 3) -> tuple[float, float, float]:
    """The largest evidence over a log-spaced (alpha, beta) grid, refined around the best point."""
    log_alphas, log_betas = np.linspace(-6, 8, points), np.linspace(-6, 8, points)
    best = (-np.inf, 0.0, 0.0)
    for _ in range(refinements + 1):
        for log_alpha in log_alphas:
            for log_beta in log_betas:
                value = log_evidence_by_definition(features, column, 10.0**log_alpha, 10.0**log_beta)
                if value > best[0]:
                    best = (value, log_alpha, log_beta)
        step_alpha, step_beta = log_alphas[1] - log_alphas[0], log_betas[1] - log_betas[0]
        log_alphas = np.linspace(best[1] - step_alpha, best[1] + step_alpha, 21)
        log_betas = np.linspace(best[2] - step_beta, best[2] + step_beta, 21)
    return best[0], 10.0 ** best[1], 10.0 ** best[2]


def covariance_by_sums(rows: np.ndarray, ddof: int) -> np.ndarray:
    """sum_i (x_i - mean)(x_i - mean)^T / (N - ddof), one outer product per image."""
    mean = rows.sum(axis=0) / rows.shape[0]
    total = np.zeros((rows.shape[1], rows.shape[1]))
    for row in rows:
        total += np.outer(row - mean, row - mean)
    return total / (rows.shape[0] - ddof)


def class_mean_rows(features: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Each image's row replaced by its class's mean (E[f | y] per image)."""
    rows = np.empty_like(features)
    for value in np.unique(classes):
        members = [i for i in range(len(classes)) if classes[i] == value]
        rows[members] = sum(features[i] for i in members) / len(members)
    return rows


def hscore_by_definition(features: np.ndarray, classes: np.ndarray) -> float:
    """tr(pinv(cov f) cov(E[f | y])) with explicit covariances (numpy's pinv, its rank tolerance)."""
    covariance = covariance_by_sums(features, ddof=1)
    between = covariance_by_sums(class_mean_rows(features, classes), ddof=1)
    return float(np.trace(np.linalg.pinv(covariance, rcond=max(features.shape) * np.finfo(np.float64).eps) @ between))


def shrinkage_hscore_by_definition(features: np.ndarray, classes: np.ndarray, shrinkage: float) -> float:
    """tr(cov_a^-1 (1 - a) cov(E[f | y])) with cov_a = (1 - a) S + a tr(S)/D I built explicitly."""
    biased = covariance_by_sums(features, ddof=0)
    shrunk = (1 - shrinkage) * biased + shrinkage * np.trace(biased) / features.shape[1] * np.eye(features.shape[1])
    between = covariance_by_sums(class_mean_rows(features, classes), ddof=1)
    return float(np.trace(np.linalg.inv(shrunk) @ ((1 - shrinkage) * between)))


def knn_by_loops(features: np.ndarray, values: np.ndarray, kind: str, k: int, image_ids=None) -> float:
    """Leave-one-out k-NN with a plain double loop over query and candidate images."""
    n_rows = features.shape[0]
    ids = np.arange(n_rows) if image_ids is None else np.asarray(image_ids)
    scale = features.std(axis=0)
    points = (features - features.mean(axis=0)) / np.where(scale > 0, scale, 1.0)
    largest_group = max(int(np.sum(ids == value)) for value in np.unique(ids))
    k = min(k, n_rows - largest_group)
    total = 0.0
    for i in range(n_rows):
        candidates = []
        for j in range(n_rows):
            if ids[j] != ids[i]:
                candidates.append((float(np.sqrt(np.sum((points[i] - points[j]) ** 2))), j))
        nearest = [j for _, j in sorted(candidates)[:k]]
        if kind == "classes":
            votes = {}
            for j in nearest:
                votes[values[j]] = votes.get(values[j], 0) + 1
            top = max(votes.values())
            predicted = next(values[j] for j in nearest if votes[values[j]] == top)
            total += float(predicted == values[i])
        else:
            total -= float(np.sum((values[i] - np.mean(values[nearest], axis=0)) ** 2))
    return total / n_rows if kind == "classes" else total / values.size


def sfda_fit_explicit(features: np.ndarray, classes: np.ndarray, shrinkage=None):
    """Class scores of one SFDA fit, the long way: scatter matrices by sums, scipy's generalised eigh."""
    n_images, n_features = features.shape
    present = np.unique(classes)
    priors = np.array([np.mean(classes == c) for c in present])
    means = np.array([features[classes == c].mean(axis=0) for c in present])
    within = np.zeros((n_features, n_features))
    for index, c in enumerate(present):
        within += priors[index] * covariance_by_sums(features[classes == c], ddof=0)
    if shrinkage is None:
        shrinkage = max(np.exp(-5 * linalg.eigh(within, eigvals_only=True)[-1]), 1e-10)
    identity = np.eye(n_features)
    total = covariance_by_sums(features, ddof=0)
    total_shrunk = (1 - shrinkage) * total + shrinkage * np.trace(total) / n_features * identity
    within_shrunk = (1 - shrinkage) * within + shrinkage * np.trace(within) / n_features * identity
    eigenvalues, vectors = linalg.eigh(total_shrunk - within_shrunk, within_shrunk)
    vectors = vectors[:, np.argsort(eigenvalues)[::-1]]
    coefficients = means @ vectors @ vectors.T
    intercepts = -0.5 * np.diag(means @ coefficients.T) + np.log(priors)
    return features @ coefficients.T + intercepts, shrinkage, means


def sfda_by_steps(features: np.ndarray, classes: np.ndarray, log_probability: bool = True) -> float:
    """SFDA step by step: fit, soften, ConfMix image by image, refit, average the true class's (log) probability."""
    def softmax_rows(scores):
        exp = np.exp(scores - scores.max(axis=1, keepdims=True))
        return exp / exp.sum(axis=1, keepdims=True)

    present = list(np.unique(classes))
    scores, shrinkage, means = sfda_fit_explicit(features, classes)
    softened = softmax_rows(softmax_rows(scores))
    mixed = features.copy()
    for i in range(features.shape[0]):
        c = present.index(classes[i])
        others = [means[o] for o in range(len(present)) if o != c]
        confidence = softened[i, c]
        mixed[i] = confidence * features[i] + (1 - confidence) * sum(others) / len(others)
    scores, _, _ = sfda_fit_explicit(mixed, classes, shrinkage)
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_probabilities = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    true = np.array([log_probabilities[i, present.index(classes[i])] for i in range(features.shape[0])])
    return float(np.mean(true if log_probability else np.exp(true)))
