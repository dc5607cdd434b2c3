"""The paper's transfer score: Spearman between a candidate's RDM and the target model's RDM (numpy only).

Dwivedi & Roig (CVPR 2019) rank candidate sources for a new task by how similar
their representations of the target's images are to those of a small model
trained on the task: Spearman's r_s between the two correlation-distance RDMs
(features centred over the images, the authors' form; :mod:`rsa_ray.rdm`),
average ranks for ties (:mod:`rsa_ray.ranks`).

In a bootstrap sample an image can appear several times. A pair of two copies of
one image is not a pair of images (its distance is 0 in every RDM), so such
pairs are left out of the correlation.

Example:
    >>> rng = np.random.default_rng(0)
    >>> target = rng.normal(size=(30, 8))
    >>> round(rsa_score(target @ rng.normal(size=(8, 20)), target), 2) > 0.5
    True
"""

from __future__ import annotations

import numpy as np

from rsa_ray.errors import DegenerateInputError
from rsa_ray.ranks import standardized_ranks
from rsa_ray.rdm import compute_rdm, condense
from rsa_ray.similarity import clip_correlations
from rsa_ray.target_labels import check_feature_matrix, image_groups


def distinct_pairs(image_ids: np.ndarray | None, n_rows: int, name: str = "candidate") -> np.ndarray | None:
    """Which pairs of the condensed triangle are two different images (None: all of them).

    Example:
        >>> distinct_pairs(np.array([0, 0, 1]), 3).tolist()
        [False, True, True]
    """
    if image_ids is None:
        return None
    groups = image_groups(image_ids, n_rows, name)
    if np.unique(groups).size == n_rows:
        return None
    return condense(groups[:, None] != groups[None, :])


def rank_vector(condensed_rdm: np.ndarray, keep: np.ndarray | None, name: str) -> np.ndarray:
    """The standardised rank vector of an RDM's kept pairs (its dot products are Spearman's r_s).

    Raises:
        DegenerateInputError: Fewer than two kept pairs, or an RDM constant over them.

    Example:
        >>> candidate = rank_vector(np.array([0.5, 0.1, 0.3]), None, "m")
        >>> round(float(candidate @ rank_vector(np.array([2.0, 1.0, 3.0]), None, "t")), 6)
        0.5
    """
    values = condensed_rdm if keep is None else condensed_rdm[keep]
    if values.size < 2:
        raise DegenerateInputError(name, "fewer than two pairs of distinct images, so Spearman is undefined")
    return standardized_ranks(values, names=[name], workers=1)[0]


def rdm_rank_vector(features: np.ndarray, name: str = "candidate", image_ids: np.ndarray | None = None) -> np.ndarray:
    """The standardised rank vector of a model's correlation-distance RDM, copy pairs left out.

    Raises:
        DegenerateInputError: NaN/Inf or constant features, images whose correlation distance is
            undefined, or an RDM constant over its pairs.

    Example:
        >>> rdm_rank_vector(np.random.default_rng(0).normal(size=(4, 3))).shape
        (6,)
    """
    features = check_feature_matrix(features, None, name)
    condensed_rdm = compute_rdm(features, "correlation", center_features=True, name=name)
    return rank_vector(condensed_rdm, distinct_pairs(image_ids, features.shape[0], name), name)


def rsa_score(features: np.ndarray, target_features: np.ndarray, *, name: str = "candidate",
              image_ids: np.ndarray | None = None) -> float:
    """Spearman's r_s between the candidate's and the target model's RDMs on the same images.

    Args:
        features: The candidate's features [N, D] on the target's images.
        target_features: The target model's features [N, D'] on the same images, same order.
        name: The candidate's name, for errors.
        image_ids: One id per row; pairs of rows that share an id (copies of one image) are left out.

    Returns:
        r_s in [-1, 1]; higher: the candidate represents the images more like the target model.

    Raises:
        ValueError: The two models do not have one row per image each.
        DegenerateInputError: Either model's features make its RDM undefined or constant.

    Example:
        >>> rng = np.random.default_rng(1)
        >>> target = rng.normal(size=(20, 5))
        >>> rsa_score(target, target)
        1.0
    """
    features = check_feature_matrix(features, None, name)
    target_features = check_feature_matrix(target_features, features.shape[0], "target model")
    candidate = rdm_rank_vector(features, name, image_ids)
    target = rdm_rank_vector(target_features, "target model", image_ids)
    return float(clip_correlations(candidate @ target))


def rsa_scores_from_rdms(candidate_rdm: np.ndarray, target_rdm: np.ndarray, samples: np.ndarray | None = None,
                         name: str = "candidate") -> tuple[float, np.ndarray | None]:
    """:func:`rsa_score` from stored condensed RDMs: on every image and on each subsample's sub-RDMs.

    The same statistic as :func:`rsa_score` on the features the RDMs were computed from (correlation
    distance, features centred), without computing an RDM again: a subsample of images (each at
    most once, :func:`rsa_ray.resampling.image_subsamples`) selects the pairs of its images from
    both RDMs (:func:`rsa_ray.bootstrap.bootstrap_rsa_scores`).

    Args:
        candidate_rdm: [L] the candidate's condensed RDM.
        target_rdm: [L] the target model's condensed RDM on the same images.
        samples: [S, m] image indices per subsample, or None.
        name: The candidate's name, for errors.

    Returns:
        The full-sample r_s and the [S] subsample r_s (None without samples).

    Raises:
        DegenerateInputError: An RDM is constant, also over the images of one subsample.

    Example:
        >>> from rsa_ray.rdm import compute_rdm
        >>> rng = np.random.default_rng(1)
        >>> target = rng.normal(size=(20, 5))
        >>> rdm = compute_rdm(target, "correlation", center_features=True)
        >>> rsa_scores_from_rdms(rdm, rdm, np.array([[0, 3, 5, 7]]))
        (1.0, array([1.]))
    """
    from rsa_ray.bootstrap import bootstrap_rsa_scores
    from rsa_ray.rdm import n_images_from_length

    candidate_rdm, target_rdm = np.asarray(candidate_rdm, np.float64), np.asarray(target_rdm, np.float64)
    everything = np.arange(n_images_from_length(candidate_rdm.shape[0]))[None, :]
    def on(rows: np.ndarray) -> np.ndarray:
        return bootstrap_rsa_scores(candidate_rdm[None, :], target_rdm, rows, names=[name],
                                    target_name="target model", workers=1)[:, 0]

    return float(on(everything)[0]), (None if samples is None else on(np.asarray(samples)))
