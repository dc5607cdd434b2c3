"""Transferability estimators by name: how well each candidate's features suit a target task (numpy only).

Every estimator scores one candidate, higher is better. Two read a target model
or the target's labels through RDMs (``rsa``, ``rsa-labels``); the others read
the candidate's features [N, D] on the target's images with one label per image
(:class:`rsa_ray.target_labels.TargetLabels`). Each is a plain function in its
own module; this table chooses them by name (an unknown name is a ``ValueError``
listing the valid ones).

Example:
    >>> sorted(ESTIMATORS)[:3]
    ['hscore', 'hscore-shrinkage', 'knn']
    >>> ESTIMATORS["logme"].reads
    'labels'
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from rsa_ray.target_labels import TargetLabels


@dataclass(frozen=True)
class Estimator:
    """One transferability estimator.

    Attributes:
        name: The name used on the command line and in tables.
        module, function: Where the scoring function lives (``rsa_ray.<module>.<function>``).
        reads: ``labels`` (features + the target's labels) or ``target-model`` (features + the
            target model's features on the same images).
        kinds: The label kinds it supports (``classes``, ``regression``).
        summary: One line for tables and ``--help``.
    """

    name: str
    module: str
    function: str
    reads: str
    kinds: tuple[str, ...]
    summary: str

    def load(self) -> Callable[..., float]:
        """The scoring function (imported on first use)."""
        return getattr(importlib.import_module(f"rsa_ray.{self.module}"), self.function)

    def supports(self, labels: TargetLabels | None) -> bool:
        """Whether it can score a target with these labels (``None``: the target has no labels).

        Example:
            >>> ESTIMATORS["rsa"].supports(None), ESTIMATORS["knn"].supports(None)
            (True, False)
        """
        if self.reads == "target-model":
            return True
        return labels is not None and labels.kind in self.kinds


_BOTH = ("classes", "regression")
ESTIMATORS: dict[str, Estimator] = {
    e.name: e
    for e in (
        Estimator("rsa", "rsa_score", "rsa_score", "target-model", _BOTH,
                  "Spearman between the candidate's RDM and the target model's RDM (the paper)"),
        Estimator("rsa-labels", "label_rdm", "rsa_labels_score", "labels", _BOTH,
                  "Spearman between the candidate's RDM and the RDM of the target labels"),
        Estimator("logme", "logme", "logme_score", "labels", _BOTH,
                  "log marginal evidence of a Bayesian linear model on the features (You et al. 2021)"),
        Estimator("hscore", "hscore", "hscore", "labels", ("classes",),
                  "H-score: between-class over total feature covariance (Bao et al. 2019)"),
        Estimator("hscore-shrinkage", "hscore", "shrinkage_hscore", "labels", ("classes",),
                  "H-score with a Ledoit-Wolf shrunk covariance (Ibrahim et al. 2022)"),
        Estimator("knn", "knn_score", "knn_score", "labels", _BOTH,
                  "leave-one-out k-nearest-neighbour accuracy (or minus the regression MSE)"),
        Estimator("linear-probe", "linear_probe", "linear_probe_score", "labels", _BOTH,
                  "k-fold logistic regression accuracy (or ridge R^2): the expensive reference"),
        Estimator("sfda", "sfda", "sfda_score", "labels", ("classes",),
                  "self-challenging Fisher discriminant analysis (Shao et al. 2022)"),
    )
}


def estimator(name: str) -> Estimator:
    """The estimator called ``name``.

    Raises:
        ValueError: An unknown name (the message lists the valid ones).

    Example:
        >>> estimator("knn").reads
        'labels'
    """
    try:
        return ESTIMATORS[name]
    except KeyError:
        raise ValueError(f"unknown score {name!r}; choose from {', '.join(ESTIMATORS)} or 'all'") from None


def parse_scores(text: str) -> tuple[str, ...]:
    """``all`` or a comma-separated list of estimator names, checked.

    Example:
        >>> parse_scores("logme, knn")
        ('logme', 'knn')
    """
    names = tuple(ESTIMATORS) if text.strip() == "all" else tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise ValueError("--score needs 'all' or at least one estimator name")
    for name in names:
        estimator(name)
    return names


def score_features(name: str, features: np.ndarray, labels: TargetLabels | None = None,
                   target_features: np.ndarray | None = None, model: str = "candidate",
                   image_ids: np.ndarray | None = None) -> float:
    """One estimator's score of one candidate.

    Args:
        name: An estimator name (``ESTIMATORS``).
        features: The candidate's features [N, D] on the target's images.
        labels: The target's labels (estimators that read labels).
        target_features: The target model's features [N, D'] on the same images (``rsa``).
        model: The candidate's name, for errors.
        image_ids: One id per row; rows that share an id are copies of one image (a bootstrap
            sample), which leave-one-out and k-fold estimators keep on the same side of a split.

    Raises:
        ValueError: Unknown name, or the input the estimator reads is missing or unsupported.
        DegenerateInputError: Input that makes the score undefined.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> labels = TargetLabels.from_array(np.repeat([0, 1], 20))
        >>> features = rng.normal(size=(40, 5)) + labels.values[:, None]
        >>> score_features("knn", features, labels) > 0.5
        True
    """
    chosen = estimator(name)
    function = chosen.load()
    if chosen.reads == "target-model":
        if target_features is None:
            raise ValueError(f"score {name!r} needs a target model (train one with `rsa-ray train-target`)")
        return float(function(features, target_features, name=model, image_ids=image_ids))
    if labels is None:
        raise ValueError(f"score {name!r} needs the target's labels")
    if labels.kind not in chosen.kinds:
        raise ValueError(f"score {name!r} does not support {labels.kind} targets (only {', '.join(chosen.kinds)})")
    return float(function(features, labels, name=model, image_ids=image_ids))


def usable_scores(names: Sequence[str], labels: TargetLabels | None, has_target_model: bool) -> tuple[str, ...]:
    """The subset of ``names`` that can be computed for this target, in the given order.

    Example:
        >>> usable_scores(["rsa", "hscore"], TargetLabels.from_array(np.zeros((4, 1))), False)
        ()
    """
    kept = []
    for name in names:
        chosen = estimator(name)
        if chosen.reads == "target-model" and not has_target_model:
            continue
        if chosen.reads == "labels" and not chosen.supports(labels):
            continue
        kept.append(name)
    return tuple(kept)
