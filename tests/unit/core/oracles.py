"""Slow, obviously right reference implementations the fast kernels are checked against."""

from __future__ import annotations

import itertools

import numpy as np
from scipy import stats


def rdm_by_pairs(features: np.ndarray, center_features: bool = True) -> np.ndarray:
    """1 − Pearson for every image pair, one ``np.corrcoef`` call per pair (the authors' loop)."""
    matrix = features.reshape(features.shape[0], -1).astype(np.float64)
    if center_features:
        matrix = matrix - matrix.mean(axis=0)
    values = []
    for i, j in itertools.combinations(range(matrix.shape[0]), 2):
        values.append(1.0 - np.corrcoef(matrix[i], matrix[j])[0, 1])
    return np.array(values)


def similarity_by_pairs(rdms: np.ndarray, correlation) -> np.ndarray:
    """The similarity matrix from one scipy call per pair of models."""
    n_models = rdms.shape[0]
    matrix = np.eye(n_models)
    for i, j in itertools.combinations(range(n_models), 2):
        matrix[i, j] = matrix[j, i] = correlation(rdms[i], rdms[j]).statistic
    return matrix


def kendall_tau_a_brute_force(values_a: np.ndarray, values_b: np.ndarray) -> float:
    """(concordant − discordant) / (n choose 2) by visiting every pair."""
    concordant_minus_discordant = 0
    n_values = values_a.shape[0]
    for i, j in itertools.combinations(range(n_values), 2):
        concordant_minus_discordant += np.sign(values_a[i] - values_a[j]) * np.sign(values_b[i] - values_b[j])
    return concordant_minus_discordant / (n_values * (n_values - 1) / 2)


def linear_cka_feature_space(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Kornblith et al.'s feature-space formula ||YᵀX||² / (||XᵀX|| ||YᵀY||)."""
    x = features_a.reshape(features_a.shape[0], -1).astype(np.float64)
    y = features_b.reshape(features_b.shape[0], -1).astype(np.float64)
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    return np.linalg.norm(y.T @ x) ** 2 / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    return float(stats.spearmanr(a, b).statistic)
