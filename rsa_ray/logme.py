"""LogME: the maximum evidence of a Bayesian linear model of the labels on the features (numpy/scipy only).

You et al., "LogME: Practical Assessment of Pre-trained Models for Transfer
Learning" (ICML 2021). Each target column y (a one-hot column per class, or one
regression column) is modelled as y = F w + noise with a prior w ~ N(0, I/alpha)
and noise precision beta. The log evidence

    L(alpha, beta) = D/2 log alpha + N/2 log beta - N/2 log 2 pi
                     - beta/2 ||F m - y||^2 - alpha/2 ||m||^2 - 1/2 log |A|,
    A = alpha I + beta F^T F,  m = beta A^-1 F^T y,

is maximised by the paper's fixed-point iteration
gamma = sum_i beta s_i / (alpha + beta s_i), alpha = gamma / ||m||^2,
beta = (N - gamma) / ||F m - y||^2, written on the thin SVD of F (s_i its squared
singular values) so that each step costs O(min(N, D)). The iteration is run to its
fixed point, not stopped after the paper's 11 steps; where it converges slowly, the
fixed-point equation is solved directly (:func:`fixed_point_ratio`). The score is the
mean over columns of L / N.

When F has rank r < D (always when D > N), D - r eigenvalues of A equal alpha, so
D/2 log alpha - 1/2 log |A| = r/2 log alpha - 1/2 sum_i log(alpha + beta s_i), the value the
paper's D x D form gives (a thin-SVD form that keeps D/2 log alpha with only min(N, D) terms
overstates it by (D - N)/2 log alpha). Classes absent from the images (a bootstrap sample) get
no column.

Example:
    >>> rng = np.random.default_rng(0)
    >>> labels = TargetLabels.from_array(np.repeat([0, 1], 25))
    >>> informative = rng.normal(size=(50, 4)) + 2 * labels.values[:, None]
    >>> logme_score(informative, labels) > logme_score(rng.normal(size=(50, 4)), labels)
    True
"""

from __future__ import annotations

import numpy as np
from scipy import optimize

from rsa_ray.errors import DegenerateInputError
from rsa_ray.target_labels import TargetLabels, check_features, class_codes

# The fixed point stops when alpha/beta moves by less than this fraction (the paper stops at 1e-3 or
# after 11 steps, short of the maximum when the iteration is slow).
RELATIVE_TOLERANCE = 1e-10
# Plain steps before the fixed point is solved for directly: the iteration converges linearly, and at
# D > N it can take thousands of steps (up to ~9000 at N = 1000, D = 2048).
PLAIN_STEPS = 200
# alpha/beta is kept within this factor of the spectrum: past it, the evidence has reached its limit
# (alpha -> infinity: a column the features do not explain; beta -> infinity: one they fit exactly).
RATIO_RANGE = 1e100


def thin_spectrum(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The squared singular values (rank r) and left singular vectors [N, r] of the features.

    Computed through the smaller of the two Gram matrices; squared singular values under
    ``max(N, D) * eps`` times the largest are treated as zero (rank-deficient features).

    Example:
        >>> squares, left = thin_spectrum(np.diag([3.0, 4.0, 0.0]))
        >>> squares.round(6).tolist(), left.shape
        ([9.0, 16.0], (3, 2))
    """
    n_images, n_features = features.shape
    if n_images <= n_features:
        squares, left = np.linalg.eigh(features @ features.T)
    else:
        squares, right = np.linalg.eigh(features.T @ features)
        left = None
    keep = squares > squares[-1] * max(n_images, n_features) * np.finfo(np.float64).eps
    squares = squares[keep]
    if left is None:
        left = (features @ right[:, keep]) / np.sqrt(squares)
    else:
        left = left[:, keep]
    return squares, left


def _moments(squares: np.ndarray, projections2: np.ndarray, outside: float,
             ratio: float) -> tuple[float, float, float, float]:
    """gamma, r - gamma, ||m||^2 and ||F m - y||^2 at alpha / beta = ratio (they depend on the ratio only).

    gamma and r - gamma are both summed term by term: either one found by subtraction loses its
    digits to cancellation at an extreme ratio (N - gamma when the ratio is tiny and r = N).
    """
    denominator = squares + ratio
    gamma = float(np.sum(squares / denominator))
    unused = float(np.sum(ratio / denominator))
    weight_norm2 = float(np.sum(squares * projections2 / denominator**2))
    residual2 = float(np.sum(projections2 * (ratio / denominator) ** 2)) + outside
    return gamma, unused, weight_norm2, residual2


def log_evidence(squares: np.ndarray, projections2: np.ndarray, outside: float, n_images: int,
                 alpha: float, beta: float) -> float:
    """The log evidence L(alpha, beta) of one column, from the spectrum and the column's projections.

    Args:
        squares: Squared singular values of the features [r].
        projections2: Squared projections of the column on the left singular vectors [r].
        outside: The column's squared norm outside their span.
        n_images: N.
        alpha, beta: Prior and noise precisions.

    Example:
        >>> round(log_evidence(np.array([1.0]), np.array([1.0]), 0.0, 1, 1.0, 1.0), 4)
        -1.5155
    """
    _, _, weight_norm2, residual2 = _moments(squares, projections2, outside, alpha / beta)
    return float(squares.size / 2 * np.log(alpha) + n_images / 2 * np.log(beta)
                 - 0.5 * np.sum(np.log(alpha + beta * squares))
                 - beta / 2 * residual2 - alpha / 2 * weight_norm2 - n_images / 2 * np.log(2 * np.pi))


def _step(squares: np.ndarray, projections2: np.ndarray, outside: float, n_images: int, ratio: float) -> float:
    """One fixed-point step: gamma / ||m||^2 over (N - gamma) / ||F m - y||^2, at alpha / beta = ratio."""
    tiny = np.finfo(np.float64).tiny
    gamma, unused, weight_norm2, residual2 = _moments(squares, projections2, outside, ratio)
    n_minus_gamma = (n_images - squares.size) + unused
    return (gamma / max(weight_norm2, tiny)) / max(n_minus_gamma / max(residual2, tiny), tiny)


def fixed_point_ratio(squares: np.ndarray, projections2: np.ndarray, outside: float, n_images: int) -> float:
    """alpha / beta at the fixed point of the paper's iteration, from alpha = beta = 1.

    Runs the plain iteration; if it has not converged after ``PLAIN_STEPS`` steps, solves
    log T(t) = log t (T the step) by bracketing the root from where the iteration got to and
    Brent's method: the same fixed point, in tens of steps instead of thousands. The ratio is kept
    within ``RATIO_RANGE`` of the spectrum; a fixed point beyond it is returned at the bound (the
    evidence has reached its limit there).

    Example:
        >>> ratio = fixed_point_ratio(np.array([4.0, 1.0]), np.array([3.0, 0.5]), 1.0, 10)
        >>> abs(_step(np.array([4.0, 1.0]), np.array([3.0, 0.5]), 1.0, 10, ratio) / ratio - 1) < 1e-9
        True
    """
    low, high = np.log(squares.min() / RATIO_RANGE), np.log(squares.max() * RATIO_RANGE)

    def gap(log_ratio: float) -> float:
        stepped = _step(squares, projections2, outside, n_images, float(np.exp(log_ratio)))
        return float(np.clip(np.log(max(stepped, np.finfo(np.float64).tiny)), low, high)) - log_ratio

    log_ratio = 0.0
    for _ in range(PLAIN_STEPS):
        moved = gap(log_ratio)
        log_ratio += moved
        if abs(moved) <= RELATIVE_TOLERANCE:
            return float(np.exp(log_ratio))
    start_gap = gap(log_ratio)
    edge, width = (high, 1.0) if start_gap > 0 else (low, -1.0)
    inner = log_ratio
    while True:
        outer = min(inner + width, edge) if width > 0 else max(inner + width, edge)
        outer_gap = gap(outer)
        if outer_gap == 0.0 or np.sign(outer_gap) != np.sign(start_gap):
            return float(np.exp(optimize.brentq(gap, min(inner, outer), max(inner, outer), xtol=RELATIVE_TOLERANCE)))
        if outer == edge:
            return float(np.exp(edge))
        inner, width = outer, 2 * width


def column_evidence(squares: np.ndarray, left: np.ndarray, column: np.ndarray,
                    name: str = "candidate") -> tuple[float, float, float]:
    """The maximised log evidence per image of one target column, with its alpha and beta.

    The fixed point runs on the ratio alpha / beta (every step depends on it only,
    :func:`fixed_point_ratio`); alpha and beta are then read at the final ratio, beta at its
    optimum for that ratio (N / (||F m - y||^2 + ratio ||m||^2), which is the fixed point's beta).

    Raises:
        DegenerateInputError: The evidence has no maximum (a target column that is zero everywhere).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> features = rng.normal(size=(40, 3))
        >>> column = features @ np.array([1.0, -1.0, 0.5]) + 0.1 * rng.normal(size=40)
        >>> evidence, alpha, beta = column_evidence(*thin_spectrum(features), column)
        >>> 50 < beta < 200
        True
    """
    n_images = column.shape[0]
    total2 = float(column @ column)
    if total2 == 0.0:
        raise DegenerateInputError(name, "a target column is zero for every image, so its evidence has no maximum")
    projections = left.T @ column
    # With a full-rank basis the column lies in its span: what is left is round-off, not signal. Else the
    # part outside is computed as a vector (||y||^2 - ||U^T y||^2 cancels when y is nearly in the span).
    outside = 0.0 if squares.size == n_images else float(np.sum((column - left @ projections) ** 2))
    projections2 = projections**2
    ratio = fixed_point_ratio(squares, projections2, outside, n_images)
    _, _, weight_norm2, residual2 = _moments(squares, projections2, outside, ratio)
    beta = n_images / (residual2 + ratio * weight_norm2)
    alpha = ratio * beta
    return log_evidence(squares, projections2, outside, n_images, alpha, beta) / n_images, alpha, beta


def target_columns(labels: TargetLabels) -> np.ndarray:
    """The columns LogME fits: one-hot columns of the present classes, or the regression targets.

    Example:
        >>> target_columns(TargetLabels.from_array(np.array([2, 0, 2]))).tolist()
        [[0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]
    """
    if labels.kind == "classes":
        codes, counts = class_codes(labels)
        return np.eye(counts.size)[codes]
    return labels.values


def logme_score(features: np.ndarray, labels: TargetLabels, *, name: str = "candidate",
                image_ids: np.ndarray | None = None) -> float:
    """LogME of a candidate: the mean over target columns of the maximum log evidence per image.

    Args:
        features: The candidate's features [N, D] on the target's images (D > N is fine).
        labels: One label per image.
        name: The candidate's name, for errors.
        image_ids: Accepted for a uniform interface; the evidence treats rows as samples, copies too.

    Returns:
        The score (higher: the labels are better explained linearly by the features).

    Raises:
        DegenerateInputError: Degenerate features or labels, or regression targets that are zero for
            every image (a column that is zero for every image is left out of the mean).

    Example:
        >>> labels = TargetLabels.from_array(np.array([[0.0], [1.0], [2.0], [3.5]]))
        >>> round(logme_score(np.array([[0.0, 1], [1, 0], [2, 1], [3, 0]]), labels), 3)
        -0.841
    """
    del image_ids
    features = check_features(features, labels, name)
    squares, left = thin_spectrum(features)
    columns = target_columns(labels)
    # A regression column that is zero for every image (a class absent from one block of a pooled map)
    # is explained by any features exactly, so its evidence has no maximum: it is left out.
    kept = [index for index in range(columns.shape[1]) if np.any(columns[:, index] != 0.0)]
    if not kept:
        raise DegenerateInputError(name, "every target column is zero for every image, so the evidence has no maximum")
    evidences = [column_evidence(squares, left, columns[:, index], name)[0] for index in kept]
    score = float(np.mean(evidences))
    if not np.isfinite(score):
        raise DegenerateInputError(name, "the LogME evidence is not finite")
    return score
