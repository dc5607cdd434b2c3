"""Transferability estimators by name: how well each candidate's features suit a target task (numpy only).

Every estimator scores one candidate, higher is better. Two read a target model
or the target's labels through RDMs (``rsa``, ``rsa-labels``); the others read
the candidate's features [N, D] on the target's images with one label per image
(:class:`rsa_ray.target_labels.TargetLabels`). Each is a plain function in its
own module; this table holds the functions and chooses them by name (an unknown
name is a ``ValueError`` listing the valid ones). It is also the one place that
says which scores a target can have (:meth:`Estimator.refusal`,
:func:`applicable_scores`) and each score's ceiling, where it has one
(:mod:`rsa_ray.score_checks` flags a score saturated at it).

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
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the scoring modules (numpy, scipy) are imported when a score is computed, not for the table
    import numpy as np

    from rsa_ray.target_labels import TargetLabels

#: Why ``rsa`` is absent for a target without a trained model.
NO_TARGET_MODEL = "the target has no trained model (`rsa-ray train-target` trains one)"


@dataclass(frozen=True)
class Estimator:
    """One transferability estimator.

    Attributes:
        name: The name used on the command line and in tables.
        source: Where its scoring function lives, ``"module:function"`` (imported on first use, so that
            naming or listing estimators imports neither numpy nor scipy).
        reads: ``labels`` (features + the target's labels) or ``target-model`` (features + the
            target model's features on the same images).
        kinds: The label kinds it supports (``classes``, ``regression``).
        summary: One line for tables and ``--help``.
        ceiling: The highest value it can report for a target with these labels (None: unbounded or
            unknown), e.g. the H-score's C - 1.
    """

    name: str
    source: str
    reads: str
    kinds: tuple[str, ...]
    summary: str
    ceiling: Callable[[TargetLabels | None], float | None] = lambda labels: None

    @property
    def function(self) -> Callable[..., float]:
        """The scoring function: ``function(features, reference, *, name, image_ids) -> float``, where
        ``reference`` is the target's labels or the target model's features.

        Example:
            >>> ESTIMATORS["knn"].function.__name__
            'knn_score'
        """
        module, attribute = self.source.split(":")
        return getattr(importlib.import_module(module), attribute)

    def supports(self, labels: TargetLabels | None) -> bool:
        """Whether it can score a target with these labels (``None``: the target has no labels).

        Example:
            >>> ESTIMATORS["rsa"].supports(None), ESTIMATORS["knn"].supports(None)
            (True, False)
        """
        if self.reads == "target-model":
            return True
        return labels is not None and labels.kind in self.kinds

    def refusal(self, labels: TargetLabels | None, has_target_model: bool) -> str | None:
        """Why it cannot score a target with these labels (and with or without a target model); None if it can.

        Example:
            >>> ESTIMATORS["rsa"].refusal(None, has_target_model=False)
            'the target has no trained model (`rsa-ray train-target` trains one)'
        """
        if self.reads == "target-model":
            return None if has_target_model else NO_TARGET_MODEL
        if labels is None:
            return "the target has no labels"
        if labels.kind not in self.kinds:
            return f"it does not support {labels.kind} targets (only {', '.join(self.kinds)})"
        return None

    def score(self, features: np.ndarray, labels: TargetLabels | None, target_features: np.ndarray | None,
              model: str = "candidate", image_ids: np.ndarray | None = None) -> float:
        """Its score of one candidate, from whichever reference it reads. The input it reads is not checked
        here (:func:`applicable_scores` does, once per request; :func:`score_features` for one call).

        Example:
            >>> import numpy as np
            >>> rng = np.random.default_rng(0)
            >>> target = rng.normal(size=(12, 3))
            >>> ESTIMATORS["rsa"].score(target, None, target)
            1.0
        """
        reference = target_features if self.reads == "target-model" else labels
        return float(self.function(features, reference, name=model, image_ids=image_ids))


def _hscore_ceiling(labels: TargetLabels | None) -> float | None:
    """C - 1: the H-score of features that span the centred images (features wider than images)."""
    from rsa_ray.target_labels import class_codes

    return None if labels is None or labels.kind != "classes" else float(class_codes(labels)[1].size - 1)


def _accuracy_ceiling(labels: TargetLabels | None) -> float | None:
    """Accuracy 1 for classes; for regression ``knn`` is minus the MSE (ceiling 0)."""
    if labels is None:
        return None
    return 1.0 if labels.kind == "classes" else 0.0


def _unit_ceiling(labels: TargetLabels | None) -> float:
    return 1.0


_BOTH = ("classes", "regression")
ESTIMATORS: dict[str, Estimator] = {
    e.name: e
    for e in (
        Estimator("rsa", "rsa_ray.rsa_score:rsa_score", "target-model", _BOTH,
                  "Spearman between the candidate's RDM and the target model's RDM (the paper)", _unit_ceiling),
        Estimator("rsa-labels", "rsa_ray.label_rdm:rsa_labels_score", "labels", _BOTH,
                  "Spearman between the candidate's RDM and the RDM of the target labels", _unit_ceiling),
        Estimator("logme", "rsa_ray.logme:logme_score", "labels", _BOTH,
                  "log marginal evidence of a Bayesian linear model on the features (You et al. 2021)"),
        Estimator("hscore", "rsa_ray.hscore:hscore", "labels", ("classes",),
                  "H-score: between-class over total feature covariance (Bao et al. 2019)", _hscore_ceiling),
        Estimator("hscore-shrinkage", "rsa_ray.hscore:shrinkage_hscore", "labels", ("classes",),
                  "H-score with a Ledoit-Wolf shrunk covariance (Ibrahim et al. 2022)"),
        Estimator("knn", "rsa_ray.knn_score:knn_score", "labels", _BOTH,
                  "leave-one-out k-nearest-neighbour accuracy (or minus the regression MSE)", _accuracy_ceiling),
        Estimator("linear-probe", "rsa_ray.linear_probe:linear_probe_score", "labels", _BOTH,
                  "k-fold logistic regression accuracy (or ridge R^2): the expensive reference", _unit_ceiling),
        Estimator("sfda", "rsa_ray.sfda:sfda_score", "labels", ("classes",),
                  "self-challenging Fisher discriminant analysis (Shao et al. 2022)", lambda labels: 0.0),
    )
}


@dataclass(frozen=True)
class ScoreRow:
    """One candidate's value of one score, or why it has none: what the scoring path returns, row by row.

    Attributes:
        candidate: The candidate's model id.
        score: The estimator's name.
        value: The score on every image, or None when it failed.
        error: None, or the error that left the score undefined (type and message).
        samples: The score on each resample of the images (float64 [S]), when resamples were asked for.

    Example:
        >>> ScoreRow("m1", "knn", 0.8).error is None
        True
    """

    candidate: str
    score: str
    value: float | None
    error: str | None = None
    samples: np.ndarray | None = None


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
        image_ids: One id per row; rows that share an id are copies of one image, which
            leave-one-out and k-fold estimators keep on the same side of a split.

    Raises:
        ValueError: Unknown name, or the input the estimator reads is missing or unsupported.
        DegenerateInputError: Input that makes the score undefined.

    Example:
        >>> import numpy as np
        >>> from rsa_ray.target_labels import TargetLabels
        >>> rng = np.random.default_rng(0)
        >>> labels = TargetLabels.from_array(np.repeat([0, 1], 20))
        >>> features = rng.normal(size=(40, 5)) + labels.values[:, None]
        >>> score_features("knn", features, labels) > 0.5
        True
    """
    chosen = estimator(name)
    why = chosen.refusal(labels, target_features is not None)
    if why is not None:
        raise ValueError(f"score {name!r} cannot score this target: {why}")
    return chosen.score(features, labels, target_features, model, image_ids)


def applicable_scores(names: Sequence[str], labels: TargetLabels | None, has_target_model: bool
                      ) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """The scores of ``names`` this target can have, in the given order, and the others with why not.

    Example:
        >>> import numpy as np
        >>> from rsa_ray.target_labels import TargetLabels
        >>> applicable_scores(["rsa", "hscore"], TargetLabels.from_array(np.zeros((4, 1))), False)[0]
        ()
        >>> applicable_scores(["rsa", "knn"], TargetLabels.from_array(np.arange(4) % 2), False)[1]
        (('rsa', 'the target has no trained model (`rsa-ray train-target` trains one)'),)
    """
    kept, skipped = [], []
    for name in names:
        why = estimator(name).refusal(labels, has_target_model)
        if why is None:
            kept.append(name)
        else:
            skipped.append((name, why))
    return tuple(kept), tuple(skipped)
