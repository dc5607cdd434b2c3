"""SFDA: self-challenging Fisher discriminant analysis of a candidate's features (numpy/scipy only).

Shao et al., "Not All Models Are Equal: Predicting Model Transferability in a
Self-challenging Fisher Space" (ECCV 2022), as their public code computes it:

1. Fisher space. With class means mu_c, priors pi_c and the within-class scatter
   Sw = sum_c pi_c cov_c (biased covariances), Sw is shrunk towards its mean
   variance, Sw_s = (1 - s) Sw + s tr(Sw)/D I, with the adaptive strength
   s = max(exp(-5 lambda_max(Sw)), 1e-10). The projection U solves the generalised
   eigenproblem Sb u = lambda Sw_s u (Sb = St_s - Sw_s, St_s the total covariance
   shrunk likewise); every component is kept, and a class's score is the softmax of
   x^T U U^T mu_c - mu_c^T U U^T mu_c / 2 + log pi_c.
2. Self-challenge (ConfMix). Each image is moved towards the mean of the other
   classes' means by its confidence: x <- p x + (1 - p) mean_{c' != y} mu_c', with p
   its true class's entry of a softmax of the step-1 probabilities (the public code's
   softening); step 1 is fitted again on the moved images, with the same s.
3. The score is the mean log-probability of each image's true class under the
   second fit (``log_probability=False``: the mean probability, as the public code
   returns it).

U is normalised so that U^T Sw_s U = I; with every component kept, U U^T = Sw_s^-1,
so the scores are computed with one eigendecomposition of the smaller Gram matrix
of the within-class residuals (N x N or D x D) and no D x D eigenproblem.
lambda_max(Sw) is exact (the public code takes three power iterations).

Example:
    >>> rng = np.random.default_rng(0)
    >>> labels = TargetLabels.from_array(np.repeat([0, 1, 2], 15))
    >>> informative = rng.normal(size=(45, 6)) + 2 * np.eye(6)[labels.values]
    >>> sfda_score(informative, labels) > sfda_score(rng.normal(size=(45, 6)), labels)
    True
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_softmax, softmax

from rsa_ray.errors import DegenerateInputError
from rsa_ray.target_labels import TargetLabels, check_features, class_codes

# The public code's floor on the adaptive shrinkage strength.
MIN_SHRINKAGE = 1e-10


def class_means(features: np.ndarray, codes: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The mean feature vector of each class [C, D].

    Example:
        >>> class_means(np.array([[0.0], [2.0], [5.0]]), np.array([0, 0, 1]), np.array([2, 1])).tolist()
        [[1.0], [5.0]]
    """
    sums = np.zeros((counts.size, features.shape[1]))
    np.add.at(sums, codes, features)
    return sums / counts[:, None]


def discriminant_scores(features: np.ndarray, codes: np.ndarray, counts: np.ndarray,
                        shrinkage: float | None = None, name: str = "candidate") -> tuple[np.ndarray, float]:
    """The Fisher-space class scores [N, C] of every image, and the shrinkage strength used.

    Args:
        features: [N, D].
        codes, counts: Class code per image and image count per class.
        shrinkage: s, or None for the adaptive max(exp(-5 lambda_max(Sw)), 1e-10).
        name: The candidate's name, for errors.

    Raises:
        DegenerateInputError: Zero within-class scatter (every class's images are identical).

    Example:
        >>> scores, shrinkage = discriminant_scores(np.array([[0.0], [1.0], [3.0], [4.0]]),
        ...                                         np.array([0, 0, 1, 1]), np.array([2, 2]))
        >>> scores.argmax(axis=1).tolist(), round(shrinkage, 3)
        ([0, 0, 1, 1], 0.287)
    """
    n_images, n_features = features.shape
    means = class_means(features, codes, counts)
    within = features - means[codes]
    if n_images <= n_features:
        eigenvalues, vectors = np.linalg.eigh(within @ within.T / n_images)  # the nonzero spectrum of Sw
    else:
        eigenvalues, vectors = np.linalg.eigh(within.T @ within / n_images)
    eigenvalues = np.maximum(eigenvalues, 0.0)
    trace = float(eigenvalues.sum())
    if trace == 0.0:
        raise DegenerateInputError(name, "the within-class scatter is zero (each class's images have equal "
                                   "features), so the Fisher space is undefined")
    if shrinkage is None:
        shrinkage = max(float(np.exp(-5.0 * eigenvalues[-1])), MIN_SHRINKAGE)
    ridge, keep = shrinkage * trace / n_features, 1.0 - shrinkage  # Sw_s = ridge I + keep Sw
    if n_images <= n_features:
        # Woodbury on Sw = W^T W / N: Sw_s^-1 M = (M - keep/N W^T U diag(1/(ridge + keep l)) U^T W M) / ridge.
        projected = vectors.T @ (within @ means.T)
        coefficients = (means.T - keep / n_images * (within.T @ (vectors @ (projected / (ridge + keep * eigenvalues)[:, None])))) / ridge
    else:
        coefficients = vectors @ ((vectors.T @ means.T) / (ridge + keep * eigenvalues)[:, None])
    intercepts = -0.5 * np.einsum("cd,dc->c", means, coefficients) + np.log(counts / n_images)
    return features @ coefficients + intercepts, shrinkage


def sfda_score(features: np.ndarray, labels: TargetLabels, *, name: str = "candidate",
               image_ids: np.ndarray | None = None, log_probability: bool = True) -> float:
    """SFDA: the mean log-probability of the true class in the self-challenged Fisher space.

    Args:
        features: The candidate's features [N, D] on the target's images (D > N is fine).
        labels: One class per image.
        name: The candidate's name, for errors.
        image_ids: Accepted for a uniform interface; copies count as samples.
        log_probability: The mean log-probability (True) or the mean probability (the public code).

    Returns:
        The score (at most 0, or in [0, 1] for probabilities); higher is better.

    Raises:
        ValueError: Regression targets.
        DegenerateInputError: Degenerate features or labels, or zero within-class scatter.

    Example:
        >>> labels = TargetLabels.from_array(np.array([0, 0, 1, 1]))
        >>> round(sfda_score(np.array([[0.0], [1.0], [3.0], [4.0]]), labels, log_probability=False), 3)
        0.984
    """
    del image_ids
    if labels.kind != "classes":
        raise ValueError(f"model {name!r}: SFDA needs class labels, got {labels.kind} targets")
    features = check_features(features, labels, name)
    codes, counts = class_codes(labels)
    rows = np.arange(features.shape[0])
    first, shrinkage = discriminant_scores(features, codes, counts, None, name)
    confidence = softmax(softmax(first, axis=1), axis=1)[rows, codes][:, None]
    means = class_means(features, codes, counts)
    other_means = (means.sum(axis=0) - means) / (counts.size - 1)
    challenged = confidence * features + (1.0 - confidence) * other_means[codes]
    second, _ = discriminant_scores(challenged, codes, counts, shrinkage, name)
    log_true = log_softmax(second, axis=1)[rows, codes]
    score = float(np.mean(log_true if log_probability else np.exp(log_true)))
    if not np.isfinite(score):
        raise DegenerateInputError(name, "the SFDA score is not finite (the features overflow the class scores)")
    return score
