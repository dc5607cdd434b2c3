"""Ground truth and agreement for the real-zoo benchmark.

* :func:`probe_truth`: a held-out linear probe on each candidate's frozen features of all the task's
  images (standardised features, logistic regression, stratified K-fold, several shuffles), giving
  per seed the held-out accuracy and log-loss.
* :func:`agreement_rows`: per score, Spearman, weighted tau, top-1/top-3 and regret with the ground
  truth (``rsa_ray.transfer_agreement``), with percentile intervals from resampling candidates.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from rsa_ray import transfer_agreement
from rsa_ray.task_structure import noise_ratio


#: Inverse L2 strength of the ground-truth probe (on standardised features).
PROBE_C = 0.1


def training_span(train: np.ndarray) -> np.ndarray:
    """An orthonormal basis [D, r] of the span of the training rows (r <= number of rows).

    An L2-penalised linear model's weights lie in that span, so fitting on the projected rows gives the
    same predictions as on the raw ones, in r instead of D dimensions.

    Example:
        >>> training_span(np.array([[1.0, 0.0, 0.0], [2.0, 0.0, 0.0]])).shape
        (3, 1)
    """
    _, singular, vt = np.linalg.svd(train, full_matrices=False)
    keep = singular > singular.max() * max(train.shape) * np.finfo(np.float64).eps if singular.size else singular > 0
    return vt[keep].T


def probe_truth(features: np.ndarray, labels: np.ndarray, seeds, folds: int = 5) -> dict[str, np.ndarray]:
    """Held-out accuracy and log-loss of a logistic-regression probe, one value per CV shuffle seed.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> labels = np.repeat([0, 1], 20)
        >>> truth = probe_truth(rng.normal(size=(40, 3)) + labels[:, None], labels, seeds=(0, 1))
        >>> truth["accuracy"].shape, bool((truth["accuracy"] > 0.6).all())
        ((2,), True)
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss
    from sklearn.model_selection import StratifiedKFold
    from sklearn.preprocessing import StandardScaler

    features = np.asarray(features, dtype=np.float64)
    classes = np.unique(labels)
    accuracy, loss = [], []
    for seed in seeds:
        probabilities = np.zeros((len(labels), len(classes)))
        for train, test in StratifiedKFold(folds, shuffle=True, random_state=int(seed)).split(features, labels):
            scaler = StandardScaler().fit(features[train])
            basis = training_span(scaler.transform(features[train]))
            probe = LogisticRegression(C=PROBE_C, max_iter=500)
            probe.fit(scaler.transform(features[train]) @ basis, labels[train])
            probabilities[test] = probe.predict_proba(scaler.transform(features[test]) @ basis)
        accuracy.append(float((classes[probabilities.argmax(axis=1)] == labels).mean()))
        loss.append(float(log_loss(labels, np.clip(probabilities, 1e-12, 1.0), labels=classes)))
    return {"accuracy": np.asarray(accuracy), "log_loss": np.asarray(loss)}


def truth_summary(per_seed: np.ndarray) -> dict:
    """Mean per candidate and the noise check over a (candidates, seeds) metric (higher = better).

    Example:
        >>> summary = truth_summary(np.array([[0.5, 0.52], [0.7, 0.72], [0.9, 0.9]]))
        >>> summary["best"], summary["noise_ok"]
        (2, True)
    """
    result = noise_ratio(per_seed)
    means = per_seed.mean(axis=1)
    order = np.argsort(-means)
    return {"mean": means, "seed_std": result.seed_std, "spread": result.spread, "noise_ratio": result.ratio,
            "noise_ok": result.passes, "best": int(order[0]), "top_gap": float(means[order[0]] - means[order[1]])}


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(stats.spearmanr(a, b).statistic)


def _weighted_tau(a: np.ndarray, b: np.ndarray) -> float:
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(stats.weightedtau(a, b).statistic)


def _regret(score: np.ndarray, truth: np.ndarray) -> float:
    tied = np.flatnonzero(score == score.max())
    return float(truth.max() - truth[tied].min())


def candidate_intervals(score: np.ndarray, truth: np.ndarray, samples: int = 1000, seed: int = 0) -> dict:
    """95 % percentile intervals of Spearman, weighted tau and regret over candidates resampled with replacement.

    Example:
        >>> intervals = candidate_intervals(np.arange(6.0), np.arange(6.0), samples=50)
        >>> [round(bound, 6) for bound in intervals["spearman"]]
        [1.0, 1.0]
    """
    rng = np.random.default_rng(seed)
    draws = {"spearman": [], "weighted_tau": [], "regret": []}
    for _ in range(samples):
        rows = rng.integers(0, len(score), len(score))
        draws["spearman"].append(_spearman(score[rows], truth[rows]))
        draws["weighted_tau"].append(_weighted_tau(score[rows], truth[rows]))
        draws["regret"].append(_regret(score[rows], truth[rows]))
    return {name: (float(np.nanpercentile(values, 2.5)), float(np.nanpercentile(values, 97.5)))
            for name, values in draws.items()}


def agreement_row(score: np.ndarray, truth: np.ndarray, samples: int) -> dict:
    """One score's agreement with one ground truth (both higher = better, NaN rows dropped first).

    Example:
        >>> row = agreement_row(np.array([3.0, 2.0, 1.0, 0.0]), np.array([0.9, 0.8, 0.5, 0.1]), samples=20)
        >>> row["spearman"], row["top1"], row["regret"]
        (1.0, True, 0.0)
    """
    keep = np.isfinite(score) & np.isfinite(truth)
    score, truth = score[keep], truth[keep]
    if keep.sum() < 3 or np.ptp(score) == 0:
        return {"n": int(keep.sum()), "spearman": float("nan"), "weighted_tau": float("nan"), "top1": False,
                "top3": False, "regret": float("nan"), "intervals": {}}
    agreement = transfer_agreement(score, truth, ks=(1, min(3, len(score))))
    return {"n": int(keep.sum()), "spearman": agreement.spearman, "weighted_tau": agreement.weighted_kendall_tau,
            "top1": bool(agreement.top_k_hit[1]), "top3": bool(agreement.top_k_hit[min(3, len(score))]),
            "regret": agreement.regret, "intervals": candidate_intervals(score, truth, samples)}
