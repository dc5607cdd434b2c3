"""The task-space structure analyses against slow, obviously right versions on seeded random data."""

import itertools
import math
import statistics

import numpy as np
import pytest
from scipy import stats
from scipy.cluster import hierarchy
from scipy.spatial.distance import squareform
from sklearn.metrics import adjusted_rand_score

from rsa_ray import (
    MAX_NOISE_RATIO,
    adjusted_rand_index,
    depth_trend,
    noise_ratio,
    off_diagonal_column_agreement,
    type_clustering,
)

# Adjusted Rand index -------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(40))
def test_adjusted_rand_index_equals_sklearn_on_random_labelings(seed):
    rng = np.random.default_rng(seed)
    n_items = int(rng.integers(2, 40))
    labels_a = rng.integers(0, int(rng.integers(1, 6)), n_items)
    labels_b = rng.integers(0, int(rng.integers(1, 6)), n_items)
    assert adjusted_rand_index(labels_a, labels_b) == pytest.approx(adjusted_rand_score(labels_a, labels_b), abs=1e-12)


def test_adjusted_rand_index_of_identical_and_renamed_partitions_is_one():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 4, 30)
    assert adjusted_rand_index(labels, labels) == 1.0
    renamed = [["2d", "3d", "semantic", "geometric"][label] for label in (labels + 1) % 4]
    assert adjusted_rand_index(labels, renamed) == pytest.approx(1.0)
    assert adjusted_rand_index(renamed, labels) == pytest.approx(adjusted_rand_score(renamed, labels))


@pytest.mark.parametrize("labels_a, labels_b", [
    ([0, 0, 0, 0], [5, 5, 5, 5]),      # one cluster each
    ([0, 1, 2, 3], [3, 2, 1, 0]),      # all singletons
    ([7], [1]),                        # one item
    ([], []),                          # no items
    ([0, 0, 0, 0], [0, 1, 2, 3]),      # one cluster against singletons
    ([0, 0, 1, 1], [0, 0, 0, 0]),
])
def test_adjusted_rand_index_degenerate_partitions_follow_sklearn(labels_a, labels_b):
    assert adjusted_rand_index(labels_a, labels_b) == pytest.approx(adjusted_rand_score(labels_a, labels_b))


def test_adjusted_rand_index_checks_lengths():
    with pytest.raises(ValueError, match="3 items but labels_b has 2"):
        adjusted_rand_index([0, 1, 2], [0, 1])
    with pytest.raises(ValueError, match="one label per item"):
        adjusted_rand_index(np.zeros((2, 2)), [0, 1])


# Type clustering -----------------------------------------------------------------------------


def block_similarity(rng, sizes=(4, 5, 3, 3), noise=0.05):
    groups = np.repeat(np.arange(len(sizes)), sizes)
    similarity = np.where(groups[:, None] == groups[None, :], 0.8, 0.1) + rng.uniform(-noise, noise, (groups.size,) * 2)
    similarity = (similarity + similarity.T) / 2
    np.fill_diagonal(similarity, 1.0)
    return similarity, groups


def random_similarity(rng, n_tasks):
    similarity = rng.uniform(-1, 1, (n_tasks, n_tasks))
    similarity = (similarity + similarity.T) / 2
    np.fill_diagonal(similarity, 1.0)
    return similarity


@pytest.mark.parametrize("seed", range(5))
def test_type_clustering_recovers_four_planted_blocks(seed):
    rng = np.random.default_rng(seed)
    similarity, groups = block_similarity(rng)
    types = np.array(["2d", "3d", "semantic", "geometric"])[groups]
    names = [f"task{i}" for i in range(groups.size)]
    result = type_clustering(similarity, names, types)
    assert result.ari == 1.0 and result.n_clusters == 4 and result.method == "average"
    distance = 1.0 - similarity
    np.fill_diagonal(distance, 0.0)
    expected = hierarchy.fcluster(hierarchy.linkage(squareform(distance), "average"), t=4, criterion="maxclust")
    assert result.clusters == tuple(int(c) for c in expected)


def test_type_clustering_of_random_similarities_is_near_chance():
    aris = []
    for seed in range(30):
        rng = np.random.default_rng(100 + seed)
        types = rng.permutation(np.repeat(["2d", "3d", "semantic", "geometric"], [6, 6, 3, 2]))
        similarity = random_similarity(rng, types.size)
        result = type_clustering(similarity, [f"t{i}" for i in range(types.size)], types)
        assert result.ari == pytest.approx(adjusted_rand_score(types, result.clusters))
        aris.append(result.ari)
    assert abs(np.mean(aris)) < 0.3


def test_type_clustering_names_its_bad_inputs():
    similarity = random_similarity(np.random.default_rng(0), 4)
    names, types = ["a", "b", "c", "d"], ["x", "x", "y", "y"]
    with pytest.raises(ValueError, match="square"):
        type_clustering(similarity[:3], names, types)
    with pytest.raises(ValueError, match="3 names and 4 task types"):
        type_clustering(similarity, names[:3], types)
    with pytest.raises(ValueError, match="4 names and 2 task types"):
        type_clustering(similarity, names, types[:2])
    for bad in (1, 5):
        with pytest.raises(ValueError, match=rf"n_clusters must lie in 2..4.*got {bad}"):
            type_clustering(similarity, names, types, n_clusters=bad)
    assert type_clustering(similarity, names, types, n_clusters=4).ari == pytest.approx(adjusted_rand_score(types, names))


# Depth trend ---------------------------------------------------------------------------------


def depth_trend_by_loop(similarities):
    means = []
    for matrix in similarities.values():
        values = [matrix[i, j] for i in range(len(matrix)) for j in range(len(matrix))
                  if i != j and math.isfinite(matrix[i, j])]
        means.append(sum(values) / len(values) if values else math.nan)
    depth = [d for d, m in enumerate(means) if math.isfinite(m)]
    finite = [m for m in means if math.isfinite(m)]
    spearman = stats.spearmanr(depth, finite).statistic if len(finite) >= 2 and len(set(finite)) > 1 else math.nan
    falls = all(means[d] < means[d - 1] for d in range(1, len(means)))
    return means, spearman, falls


@pytest.mark.parametrize("seed", range(10))
def test_depth_trend_equals_a_loop(seed):
    rng = np.random.default_rng(seed)
    n_layers, n_tasks = int(rng.integers(2, 7)), int(rng.integers(2, 9))
    similarities = {f"layer{d}": random_similarity(rng, n_tasks) for d in range(n_layers)}
    if seed % 3 == 0:  # a missing entry, and a layer with its mean tied to another
        similarities["layer0"][0, 1] = np.nan
        similarities[f"layer{n_layers - 1}"] = similarities["layer1"].copy()
    trend = depth_trend(similarities)
    means, spearman, falls = depth_trend_by_loop(similarities)
    assert trend.layers == tuple(similarities)
    np.testing.assert_allclose(trend.mean_similarity, means)
    assert (math.isnan(trend.spearman) and math.isnan(spearman)) or trend.spearman == pytest.approx(spearman)
    assert trend.falls == falls


def test_depth_trend_of_falling_constant_and_empty_layers():
    eye = np.eye(4)
    falling = depth_trend({f"l{d}": eye * (d / 4) + (1 - d / 4) for d in range(5)})
    assert falling.falls and falling.spearman == pytest.approx(-1.0)
    constant = depth_trend({"a": np.full((3, 3), 0.5), "b": np.full((3, 3), 0.5)})
    assert not constant.falls and math.isnan(constant.spearman)
    empty = depth_trend({"a": np.full((2, 2), np.nan), "b": eye[:2, :2]})
    assert math.isnan(empty.mean_similarity[0]) and not empty.falls and math.isnan(empty.spearman)


def test_depth_trend_checks_its_layers():
    with pytest.raises(ValueError, match="at least 2 layers"):
        depth_trend({"only": np.eye(3)})
    with pytest.raises(ValueError, match="layer 'b' has shape"):
        depth_trend({"a": np.eye(3), "b": np.eye(4)})
    with pytest.raises(ValueError, match="layer 'a' must be a square"):
        depth_trend({"a": np.ones((2, 3)), "b": np.eye(3)})


# Off-diagonal column agreement ---------------------------------------------------------------


def column_agreement_by_loop(matrix_a, matrix_b):
    spearman, pearson = [], []
    for column in range(matrix_a.shape[1]):
        pairs = [(matrix_a[i, column], matrix_b[i, column]) for i in range(matrix_a.shape[0])
                 if i != column and math.isfinite(matrix_a[i, column]) and math.isfinite(matrix_b[i, column])]
        values_a, values_b = [a for a, _ in pairs], [b for _, b in pairs]
        if len(pairs) < 3 or len(set(values_a)) == 1 or len(set(values_b)) == 1:
            spearman.append(math.nan)
            pearson.append(math.nan)
        else:
            spearman.append(stats.spearmanr(values_a, values_b).statistic)
            pearson.append(stats.pearsonr(values_a, values_b).statistic)
    return np.array(spearman), np.array(pearson)


@pytest.mark.parametrize("seed", range(15))
def test_off_diagonal_column_agreement_equals_scipy_column_by_column(seed):
    rng = np.random.default_rng(seed)
    n_tasks = int(rng.integers(3, 10))
    matrix_a = rng.normal(size=(n_tasks, n_tasks))
    matrix_b = 0.5 * matrix_a + rng.normal(size=(n_tasks, n_tasks))
    ties = rng.random((n_tasks, n_tasks)) < 0.3
    matrix_b[ties] = np.round(matrix_b[ties])                                      # ties
    matrix_a[rng.random((n_tasks, n_tasks)) < 0.15] = np.nan                       # unmeasured transfers
    matrix_a[np.diag_indices(n_tasks)] = np.nan                                    # no self-transfer
    matrix_b[:, 0] = np.where(np.arange(n_tasks) == 0, 9.0, 0.25)                  # constant off the diagonal
    result = off_diagonal_column_agreement(matrix_a, matrix_b)
    spearman, pearson = column_agreement_by_loop(matrix_a, matrix_b)
    np.testing.assert_allclose(result.per_column_spearman, spearman, atol=1e-12)
    np.testing.assert_allclose(result.per_column_pearson, pearson, atol=1e-12)
    assert math.isnan(result.per_column_spearman[0])
    for mean, per_column in ((result.mean_spearman, spearman), (result.mean_pearson, pearson)):
        defined = per_column[np.isfinite(per_column)]
        assert mean == pytest.approx(defined.mean()) if defined.size else math.isnan(mean)
    for column, count in enumerate(result.n_pairs):
        finite = np.isfinite(matrix_a[:, column]) & np.isfinite(matrix_b[:, column])
        assert count == sum(finite[i] for i in range(n_tasks) if i != column)


def test_off_diagonal_column_agreement_ignores_the_diagonal_and_checks_shapes():
    rng = np.random.default_rng(1)
    matrix = rng.normal(size=(5, 5))
    other = matrix.copy()
    np.fill_diagonal(other, 1e6)
    assert off_diagonal_column_agreement(matrix, other).mean_spearman == pytest.approx(1.0)
    too_few = np.full((3, 3), np.nan)
    too_few[0, 1], too_few[1, 0] = 1.0, 2.0
    assert np.isnan(off_diagonal_column_agreement(too_few, matrix[:3, :3]).per_column_spearman).all()
    assert math.isnan(off_diagonal_column_agreement(too_few, matrix[:3, :3]).mean_pearson)
    with pytest.raises(ValueError, match="square of the same order"):
        off_diagonal_column_agreement(matrix, matrix[:4, :4])
    with pytest.raises(ValueError, match="square of the same order"):
        off_diagonal_column_agreement(matrix[:, :4], matrix[:, :4])
    infinite = matrix.copy()
    infinite[2, 3] = np.inf
    with pytest.raises(ValueError, match=r"matrix_b\[2, 3\] is inf"):
        off_diagonal_column_agreement(matrix, infinite)


# Noise ratio ---------------------------------------------------------------------------------


def noise_ratio_by_loop(metric):
    rows = [[v for v in row if math.isfinite(v)] for row in metric.tolist()]
    rows = [row for row in rows if len(row) >= 2]
    if len(rows) < 2:
        return math.nan, math.nan, math.nan
    seed_std = statistics.median(statistics.stdev(row) for row in rows)
    spread = statistics.stdev(statistics.fmean(row) for row in rows)
    return seed_std, spread, seed_std / spread if spread > 0 else math.inf


@pytest.mark.parametrize("seed", range(20))
def test_noise_ratio_equals_a_loop(seed):
    rng = np.random.default_rng(seed)
    n_candidates, n_seeds = int(rng.integers(1, 8)), int(rng.integers(1, 5))
    metric = rng.normal(size=(n_candidates, 1)) + rng.normal(scale=rng.uniform(0.05, 2.0), size=(n_candidates, n_seeds))
    metric[rng.random(metric.shape) < 0.2] = np.nan
    result = noise_ratio(metric)
    seed_std, spread, ratio = noise_ratio_by_loop(metric)
    if math.isnan(ratio):
        assert math.isnan(result.ratio) and not result.passes
    else:
        assert (result.seed_std, result.spread) == (pytest.approx(seed_std), pytest.approx(spread))
        assert result.ratio == pytest.approx(ratio) and result.passes == (ratio <= MAX_NOISE_RATIO)
    assert result.n_candidates == sum(np.isfinite(row).sum() >= 2 for row in metric)


def test_noise_ratio_edge_cases():
    assert MAX_NOISE_RATIO == pytest.approx(1 / 3)
    same_means = noise_ratio(np.array([[0.1, 0.3], [0.3, 0.1]]))
    assert same_means.spread == 0.0 and same_means.ratio == math.inf and not same_means.passes
    constant = noise_ratio(np.full((3, 2), 0.5))
    assert constant.ratio == math.inf and not constant.passes
    exact = noise_ratio(np.array([[0.0, 0.0], [1.0, 1.0]]))
    assert exact.ratio == 0.0 and exact.passes
    one_seed = noise_ratio(np.array([[0.1], [0.5], [0.9]]))
    assert math.isnan(one_seed.ratio) and not one_seed.passes and one_seed.n_candidates == 0
    with pytest.raises(ValueError, match="candidates, seeds"):
        noise_ratio(np.zeros(3))


def test_adjusted_rand_index_is_symmetric():
    rng = np.random.default_rng(9)
    for labels_a, labels_b in itertools.combinations([rng.integers(0, k, 25) for k in (2, 3, 4, 5)], 2):
        assert adjusted_rand_index(labels_a, labels_b) == pytest.approx(adjusted_rand_index(labels_b, labels_a))
