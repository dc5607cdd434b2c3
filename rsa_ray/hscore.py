"""H-score and its shrinkage form: how much of the features' covariance the class means explain (numpy only).

* H-score (Bao et al., "An Information-Theoretic Approach to Transferability in
  Task Transfer Learning", ICIP 2019): ``tr(pinv(cov(f)) cov(E[f | y]))``.
* Shrinkage H-score (Ibrahim, Ponomareva & Mazumder, "Newer is not always better:
  Rethinking transferability metrics, their peculiarities, stability and
  performance", 2022): the covariance of f replaced by its Ledoit-Wolf estimate
  ``cov_a(f) = (1 - a) S + a tr(S)/D I`` and the between-class covariance scaled
  by the same ``1 - a``: ``tr(cov_a(f)^-1 (1 - a) cov(E[f | y]))``. As in that
  paper's code, S is the biased (1/N) covariance Ledoit-Wolf shrinks, and
  cov(E[f | y]) the unbiased (1/(N-1)) one.

Both are computed from one eigendecomposition of the smaller Gram matrix of the
centred features, never a D x D inverse: with Xc = U diag(s) V^T and Y the class
indicator columns scaled by 1/sqrt(n_c), cov(E[f | y]) = Xc^T Y Y^T Xc / (N - 1), so
the H-score is sum_i ||u_i^T Y||^2 over the nonzero singular values and the
shrinkage form is (1 - a)/(N - 1) sum_i s_i^2 ||u_i^T Y||^2 / ((1 - a) s_i^2 / N + a tr(S)/D).
The pseudo-inverse drops squared singular values under ``max(N, D) * eps`` times the
largest (numpy's rank tolerance).

Example:
    >>> rng = np.random.default_rng(0)
    >>> labels = TargetLabels.from_array(np.repeat([0, 1, 2], 20))
    >>> informative = rng.normal(size=(60, 5)) + 2 * np.eye(5)[labels.values]
    >>> hscore(informative, labels) > hscore(rng.normal(size=(60, 5)), labels)
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rsa_ray.errors import DegenerateInputError
from rsa_ray.target_labels import TargetLabels, check_features, class_codes


@dataclass(frozen=True)
class CentredSpectrum:
    """The spectrum of the centred features, projected on the class indicators.

    Attributes:
        n_images, n_features: N and D.
        squares: Squared singular values of the centred features (min(N, D) of them, >= 0).
        between: ||v_i^T Xc^T Y||^2 per singular vector (= s_i^2 ||u_i^T Y||^2).
        unit_between: ||u_i^T Y||^2 for the singular values above the rank tolerance, else 0.
        row_norms4: sum over images of ||x_i - mean||^4 (for the Ledoit-Wolf shrinkage).
    """

    n_images: int
    n_features: int
    squares: np.ndarray
    between: np.ndarray
    unit_between: np.ndarray
    row_norms4: float


def class_indicators(labels: TargetLabels) -> np.ndarray:
    """Y [N, C]: 1/sqrt(n_c) where image i is of class c, so Y Y^T averages over each class.

    Example:
        >>> (class_indicators(TargetLabels.from_array(np.array([0, 1, 1]))) ** 2).round(6).tolist()
        [[1.0, 0.0], [0.0, 0.5], [0.0, 0.5]]
    """
    codes, counts = class_codes(labels)
    return np.eye(counts.size)[codes] / np.sqrt(counts)


def centred_spectrum(features: np.ndarray, indicators: np.ndarray) -> CentredSpectrum:
    """Eigendecomposition of the smaller Gram matrix of the centred features, with the class projections.

    Example:
        >>> spectrum = centred_spectrum(np.array([[0.0], [1.0], [3.0]]), np.eye(3))
        >>> spectrum.squares.round(6).tolist()
        [4.666667]
    """
    n_images, n_features = features.shape
    centred = features - features.mean(axis=0)
    if n_images <= n_features:
        squares, left = np.linalg.eigh(centred @ centred.T)
        squares = np.maximum(squares, 0.0)
        # Xc^T Y = Xc^T (Y - mean): centring the indicators keeps the Gram's null vector (the constant
        # one, whose eigenvalue is round-off) out of the sums.
        unit_between = np.sum((left.T @ (indicators - indicators.mean(axis=0))) ** 2, axis=1)
        between = squares * unit_between
    else:
        squares, right = np.linalg.eigh(centred.T @ centred)
        squares = np.maximum(squares, 0.0)
        between = np.sum((right.T @ (centred.T @ indicators)) ** 2, axis=1)
        unit_between = np.divide(between, squares, out=np.zeros_like(between), where=squares > 0)
    kept = squares > squares.max() * max(n_images, n_features) * np.finfo(np.float64).eps
    return CentredSpectrum(n_images, n_features, squares, between, np.where(kept, unit_between, 0.0),
                           float(np.sum(np.einsum("ij,ij->i", centred, centred) ** 2)))


def _ledoit_wolf(spectrum: CentredSpectrum) -> float:
    """The Ledoit-Wolf shrinkage of the biased covariance, from the spectrum (as scikit-learn computes it)."""
    n_images, n_features = spectrum.n_images, spectrum.n_features
    if n_features == 1:
        return 0.0
    trace = float(spectrum.squares.sum()) / n_images
    frobenius2 = float(np.sum(spectrum.squares**2)) / n_images**2  # ||S||_F^2
    beta = (spectrum.row_norms4 / n_images - frobenius2) / (n_features * n_images)
    delta = (frobenius2 - trace**2 / n_features) / n_features  # ||S - mu I||_F^2 / D
    if delta <= 0.0:  # S is already a multiple of the identity: shrinking changes nothing
        return 0.0
    return float(max(min(beta, delta), 0.0) / delta)


def ledoit_wolf_shrinkage(features: np.ndarray) -> float:
    """The Ledoit-Wolf shrinkage a of the features' covariance, in [0, 1].

    Equal to ``sklearn.covariance.ledoit_wolf_shrinkage`` (the features centred first), computed
    from the N x N or D x D Gram matrix, whichever is smaller.

    Example:
        >>> 0.0 <= ledoit_wolf_shrinkage(np.random.default_rng(0).normal(size=(10, 30))) <= 1.0
        True
    """
    features = np.asarray(features, dtype=np.float64)
    return _ledoit_wolf(centred_spectrum(features, np.zeros((features.shape[0], 0))))


def hscore(features: np.ndarray, labels: TargetLabels, *, name: str = "candidate",
           image_ids: np.ndarray | None = None) -> float:
    """H-score: tr(pinv(cov(f)) cov(E[f | y])), between 0 and C - 1.

    Args:
        features: The candidate's features [N, D] on the target's images.
        labels: One class per image.
        name: The candidate's name, for errors.
        image_ids: Accepted for a uniform interface; copies count as samples.

    Returns:
        The score (higher: the class means explain more of the feature covariance). When the
        centred features have rank N - 1 (D >= N - 1, generic features) it is C - 1 for every
        candidate: use the shrinkage form there.

    Raises:
        ValueError: Regression targets.
        DegenerateInputError: Degenerate features or labels.

    Example:
        >>> labels = TargetLabels.from_array(np.array([0, 0, 1, 1]))
        >>> round(hscore(np.array([[0.0], [0.2], [1.0], [1.2]]), labels), 4)
        0.9615
    """
    del image_ids
    spectrum = _spectrum(features, labels, name)
    return _finite(float(spectrum.unit_between.sum()), name)


def shrinkage_hscore(features: np.ndarray, labels: TargetLabels, *, name: str = "candidate",
                     image_ids: np.ndarray | None = None) -> float:
    """Shrinkage H-score: tr(cov_a(f)^-1 (1 - a) cov(E[f | y])) with the Ledoit-Wolf cov_a.

    Args:
        features: The candidate's features [N, D] on the target's images (D > N is fine).
        labels: One class per image.
        name: The candidate's name, for errors.
        image_ids: Accepted for a uniform interface; copies count as samples.

    Returns:
        The score (higher is better).

    Raises:
        ValueError: Regression targets.
        DegenerateInputError: Degenerate features or labels.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> labels = TargetLabels.from_array(np.repeat([0, 1], 10))
        >>> features = rng.normal(size=(20, 40)) + labels.values[:, None]
        >>> shrinkage_hscore(features, labels) > shrinkage_hscore(rng.normal(size=(20, 40)), labels)
        True
    """
    del image_ids
    spectrum = _spectrum(features, labels, name)
    shrinkage = _ledoit_wolf(spectrum)
    n_images = spectrum.n_images
    if shrinkage == 0.0:  # no shrinkage: the pseudo-inverse of S, as for the H-score
        trace = float(n_images * spectrum.unit_between.sum())
    else:
        mean_variance = float(spectrum.squares.sum()) / (n_images * spectrum.n_features)
        shrunk = (1.0 - shrinkage) * spectrum.squares / n_images + shrinkage * mean_variance
        trace = float(np.sum(spectrum.between / shrunk))
    return _finite((1.0 - shrinkage) * trace / (n_images - 1), name)


def _spectrum(features: np.ndarray, labels: TargetLabels, name: str) -> CentredSpectrum:
    if labels.kind != "classes":
        raise ValueError(f"model {name!r}: the H-score needs class labels, got {labels.kind} targets")
    features = check_features(features, labels, name)
    return centred_spectrum(features, class_indicators(labels))


def _finite(score: float, name: str) -> float:
    if not np.isfinite(score):
        raise DegenerateInputError(name, "the H-score is not finite")
    return score
