"""Bootstrap similarity matrices and the support of the taxonomy's branches, against scipy and brute force."""

import itertools

import numpy as np
import pytest
from scipy import stats
from scipy.cluster import hierarchy
from scipy.spatial.distance import squareform

from rsa_ray import DegenerateInputError, cluster_tasks, compute_rdms, similarity_matrix
from rsa_ray.bootstrap import bootstrap_rsa_scores, image_samples
from rsa_ray.branch_support import BranchSupport, bootstrap_similarity, branch_support

from tests.unit.core.test_bootstrap import model_rdms, resampled_rdm


def clades_by_scipy(similarity: np.ndarray, method: str) -> list[tuple[int, ...]]:
    """Every internal node's leaves, from scipy's tree of 1 − similarity."""
    distance = np.maximum(1.0 - similarity, 0.0)
    np.fill_diagonal(distance, 0.0)
    tree = hierarchy.to_tree(hierarchy.linkage(squareform(distance, checks=False), method=method))
    clades, stack = [], [tree]
    while stack:
        node = stack.pop()
        if not node.is_leaf():
            clades.append(tuple(sorted(node.pre_order())))
            stack += [node.get_left(), node.get_right()]
    return clades


def grouped_rdms(seed: int, group_sizes: tuple[int, ...], n_images: int = 16, n_features: int = 40,
                 signal: float = 3.0) -> np.ndarray:
    """Models whose features share their group's signal: groups are well separated when the signal is strong."""
    rng = np.random.default_rng(seed)
    features = []
    for size in group_sizes:
        shared = rng.normal(size=(n_images, n_features))
        features += [signal * shared + rng.normal(size=(n_images, n_features)) for _ in range(size)]
    return compute_rdms(np.stack(features))


def test_bootstrap_similarity_equals_scipy_spearman_of_the_resampled_rdms():
    rdms = np.round(model_rdms(0, n_models=5, n_images=12), 1)  # many ties
    samples = image_samples(12, 6, seed=3)
    result = bootstrap_similarity(rdms, samples, workers=2)
    for s, sample in enumerate(samples):
        resampled = [resampled_rdm(rdm, sample) for rdm in rdms]
        expected = np.eye(len(rdms))
        for a, b in itertools.combinations(range(len(rdms)), 2):
            expected[a, b] = expected[b, a] = stats.spearmanr(resampled[a], resampled[b]).statistic
        np.testing.assert_allclose(result[s], expected, rtol=0, atol=1e-12)


def test_bootstrap_similarity_has_the_statistic_of_the_ranking_bootstrap():
    rdms = model_rdms(1, n_models=6).astype(np.float32)
    samples = image_samples(14, 8, seed=0)
    result = bootstrap_similarity(rdms, samples)
    np.testing.assert_allclose(result[:, 0, 1:], bootstrap_rsa_scores(rdms[1:], rdms[0], samples), atol=1e-12)
    full = bootstrap_similarity(rdms, np.arange(14)[None])[0]
    np.testing.assert_allclose(full, similarity_matrix(rdms), atol=1e-12)


def test_bootstrap_similarity_names_a_model_constant_in_a_sample():
    rdms = model_rdms(2, n_models=2, n_images=6)
    square = squareform(rdms[1], checks=False)
    square[:3, :3] = 0.5  # constant among images 0, 1, 2
    np.fill_diagonal(square, 0.0)
    rdms[1] = squareform(square, checks=False)
    with pytest.raises(DegenerateInputError, match=r"'y'.*bootstrap sample 1"):
        bootstrap_similarity(rdms, np.array([np.arange(6), [0, 1, 1, 2, 0, 2]]), names=["x", "y"])


@pytest.mark.parametrize("method", ["average", "complete", "single"])
def test_branch_support_equals_brute_force_over_scipy_trees(method):
    rdms = grouped_rdms(3, (3, 2, 3), signal=0.7)
    names = [f"m{i}" for i in range(len(rdms))]
    point = similarity_matrix(rdms)
    samples = bootstrap_similarity(rdms, image_samples(16, 25, seed=1))
    result = branch_support(point, samples, names, method=method)
    point_clades = clades_by_scipy(point, method)
    sample_clades = [clades_by_scipy(sample, method) for sample in samples]
    assert isinstance(result, BranchSupport) and result.n_samples == 25 and result.method == method
    assert len(result.clades) == len(names) - 1
    for clade, support in zip(result.clades, result.support):
        leaves = tuple(sorted(names.index(name) for name in clade))
        assert leaves in point_clades
        assert support == sum(leaves in clades for clades in sample_clades) / len(samples)
    assert result.support[-1] == 1.0 and result.clades[-1] == tuple(names)  # the root holds every model


def test_a_planted_well_separated_cluster_has_full_support_and_noise_has_little():
    rdms = grouped_rdms(4, (4, 4))
    names = [f"m{i}" for i in range(8)]
    result = branch_support(similarity_matrix(rdms), bootstrap_similarity(rdms, image_samples(16, 30, seed=2)), names)
    support = dict(zip(result.clades, result.support))
    assert support[tuple(names[:4])] == 1.0 and support[tuple(names[4:])] == 1.0

    noise = compute_rdms(np.random.default_rng(5).normal(size=(8, 16, 40)))
    noisy = branch_support(similarity_matrix(noise), bootstrap_similarity(noise, image_samples(16, 30, seed=2)), names)
    inner = noisy.support[:-1]  # leave out the root, always present
    assert np.mean(inner) < 0.4


def test_branch_support_describe_and_refusals():
    similarity = np.array([[1, .9, .1], [.9, 1, .2], [.1, .2, 1]])
    result = branch_support(similarity, np.stack([similarity] * 2), ["a", "b", "c"])
    assert result.describe().splitlines()[1].split() == ["1.00", "0.100", "a,", "b"]
    assert result.leaf_names == cluster_tasks(similarity, ["a", "b", "c"]).leaf_names
    with pytest.raises(ValueError, match=r"\(S, 3, 3\)"):
        branch_support(similarity, similarity, ["a", "b", "c"])
    with pytest.raises(ValueError, match="no samples"):
        branch_support(similarity, np.empty((0, 3, 3)), ["a", "b", "c"])
    with pytest.raises(ValueError, match="unknown linkage method"):
        branch_support(similarity, similarity[None], ["a", "b", "c"], method="upgma")
    asymmetric = similarity.copy()
    asymmetric[0, 1] = 0.5
    with pytest.raises(ValueError, match="not symmetric"):
        branch_support(similarity, asymmetric[None], ["a", "b", "c"])
