"""RSA against the target's labels: the candidate's RDM compared with an RDM of the labels (numpy/scipy only).

Where no target model has been trained, the labels themselves give a
dissimilarity between images: 0 for two images of one class and 1 otherwise, or
the Euclidean distance between two images' regression targets. The score is
Spearman's r_s between the candidate's correlation-distance RDM and that label
RDM, with average ranks for its many ties; pairs of copies of one image (a
bootstrap sample) are left out, as in :func:`rsa_ray.rsa_score.rsa_score`.

Example:
    >>> label_rdm(TargetLabels.from_array(np.array([0, 0, 1]))).tolist()
    [0.0, 1.0, 1.0]
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import pdist

from rsa_ray.rdm import condense
from rsa_ray.rsa_score import distinct_pairs, rank_vector, rdm_rank_vector
from rsa_ray.similarity import clip_correlations
from rsa_ray.target_labels import TargetLabels, check_features


def label_rdm(labels: TargetLabels) -> np.ndarray:
    """The condensed RDM of the labels: 0/1 for same/different class, or the targets' Euclidean distance.

    The regression distances are computed pair by pair (not through a Gram matrix), so
    equal differences give exactly equal distances and their ties are kept.

    Returns:
        float64 [N(N-1)/2] in ``scipy.spatial.distance.squareform`` order.

    Example:
        >>> label_rdm(TargetLabels.from_array(np.array([[0.0], [3.0], [4.0]]))).tolist()
        [3.0, 4.0, 1.0]
    """
    if labels.kind == "classes":
        values = labels.values
        return condense(values[:, None] != values[None, :]).astype(np.float64)
    return pdist(labels.values, metric="euclidean")


def label_rank_vector(labels: TargetLabels, image_ids: np.ndarray | None = None) -> np.ndarray:
    """The standardised rank vector of the label RDM, pairs of copies left out.

    Raises:
        DegenerateInputError: A label RDM constant over its pairs (e.g. every image its own class).

    Example:
        >>> label_rank_vector(TargetLabels.from_array(np.array([0, 0, 1]))).round(3).tolist()
        [-0.816, 0.408, 0.408]
    """
    return rank_vector(label_rdm(labels), distinct_pairs(image_ids, labels.n_images, "target labels"),
                       "target labels")


def rsa_labels_score(features: np.ndarray, labels: TargetLabels, *, name: str = "candidate",
                     image_ids: np.ndarray | None = None) -> float:
    """Spearman's r_s between the candidate's correlation-distance RDM and the label RDM.

    Args:
        features: The candidate's features [N, D] on the target's images.
        labels: One label per image.
        name: The candidate's name, for errors.
        image_ids: One id per row; pairs of rows that share an id (copies of one image) are left out.

    Returns:
        r_s in [-1, 1]; higher: images of one class (or with close targets) are represented alike.

    Raises:
        DegenerateInputError: Degenerate features or labels (:func:`rsa_ray.target_labels.check_features`),
            or a constant RDM.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> labels = TargetLabels.from_array(np.repeat([0, 1, 2], 10))
        >>> features = rng.normal(size=(30, 6)) + 3 * np.eye(6)[labels.values]
        >>> rsa_labels_score(features, labels) > 0.3
        True
    """
    features = check_features(features, labels, name)
    candidate = rdm_rank_vector(features, name, image_ids)
    return float(clip_correlations(candidate @ label_rank_vector(labels, image_ids)))
