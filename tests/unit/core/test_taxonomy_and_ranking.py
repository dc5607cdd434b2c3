"""Clustering, candidate ranking, transfer agreement and consistency metrics."""

import numpy as np
import pytest
from scipy import stats
from scipy.cluster import hierarchy
from scipy.spatial.distance import squareform

from rsa_ray import (
    DegenerateInputError,
    cluster_tasks,
    column_agreement,
    rank_candidates,
    ranking_consistency,
    transfer_agreement,
)


def block_similarity(rng, sizes=(3, 4, 2)):
    groups = np.repeat(np.arange(len(sizes)), sizes)
    similarity = np.where(groups[:, None] == groups[None, :], 0.8, 0.1) + rng.uniform(-0.05, 0.05, (len(groups),) * 2)
    similarity = (similarity + similarity.T) / 2
    np.fill_diagonal(similarity, 1.0)
    return similarity, groups


def test_cluster_tasks_equals_scipy_on_one_minus_similarity():
    rng = np.random.default_rng(0)
    similarity, groups = block_similarity(rng)
    names = [f"task{i}" for i in range(len(groups))]
    clusters = cluster_tasks(similarity, names, method="average", k=3)
    distance = 1.0 - similarity
    np.fill_diagonal(distance, 0.0)
    expected = hierarchy.linkage(squareform(distance), method="average")
    np.testing.assert_allclose(clusters.linkage, expected)
    assert list(clusters.leaf_order) == list(hierarchy.leaves_list(expected))
    assert clusters.leaf_names == tuple(names[i] for i in clusters.leaf_order)
    # The three planted groups are recovered, whatever the label numbers.
    labels = np.array(clusters.labels)
    assert len(set(labels)) == 3
    assert all(len(set(labels[groups == g])) == 1 for g in range(3))


def test_cluster_tasks_rejects_bad_input():
    good = np.array([[1.0, 0.5], [0.5, 1.0]])
    with pytest.raises(ValueError, match="3 names"):
        cluster_tasks(good, ["a", "b", "c"])
    with pytest.raises(ValueError, match="unknown linkage method 'fast'"):
        cluster_tasks(good, ["a", "b"], method="fast")
    with pytest.raises(ValueError, match="not symmetric: models 'a' and 'b'"):
        cluster_tasks(np.array([[1.0, 0.5], [0.2, 1.0]]), ["a", "b"])
    with pytest.raises(ValueError, match="model 'b' holds NaN"):
        cluster_tasks(np.array([[1.0, 0.5], [np.nan, 1.0]]), ["a", "b"])
    with pytest.raises(ValueError, match="k must be between 1 and 2"):
        cluster_tasks(good, ["a", "b"], k=3)
    with pytest.raises(ValueError, match="duplicates"):
        cluster_tasks(good, ["a", "a"])


def test_rank_candidates_orders_and_shares_ranks_on_ties():
    ranked = rank_candidates([0.3, 0.9, 0.3, 0.1], ["w", "x", "y", "z"])
    assert [(c.rank, c.name, c.score) for c in ranked] == [(1, "x", 0.9), (2, "w", 0.3), (2, "y", 0.3), (4, "z", 0.1)]
    with pytest.raises(ValueError, match="candidate 'y' has a non-finite score"):
        rank_candidates([0.3, 0.9, np.nan], ["w", "x", "y"])
    with pytest.raises(ValueError, match="unique"):
        rank_candidates([0.3, 0.9], ["w", "w"])


def brute_force_agreement(similarity, performance, k):
    best = max(range(len(similarity)), key=lambda i: (similarity[i], -performance[i]))
    better = sum(p > performance[best] for p in performance)
    top_k = sorted(range(len(similarity)), key=lambda i: -similarity[i])[:k]
    return better + 1 <= k, max(performance[i] for i in top_k) / max(performance), max(performance) - performance[best]


def test_transfer_agreement_against_definitions():
    rng = np.random.default_rng(5)
    for _ in range(50):
        similarity = rng.random(9)
        performance = similarity * rng.uniform(0.5, 1.5) + rng.normal(scale=0.2, size=9) + 1.0
        result = transfer_agreement(similarity, performance, ks=(1, 3, 5))
        assert result.pearson == pytest.approx(np.corrcoef(similarity, performance)[0, 1])
        assert result.spearman == pytest.approx(stats.spearmanr(similarity, performance).statistic)
        assert result.kendall_tau == pytest.approx(stats.kendalltau(similarity, performance).statistic)
        assert result.weighted_kendall_tau == pytest.approx(stats.weightedtau(similarity, performance).statistic)
        for k in (1, 3, 5):
            hit, rel, regret = brute_force_agreement(similarity, performance, k)
            assert result.top_k_hit[k] == hit
            assert result.rel_at_k[k] == pytest.approx(rel)
            assert result.regret == pytest.approx(regret)


def test_transfer_agreement_pessimistic_tie_and_negative_performance():
    result = transfer_agreement([0.9, 0.9, 0.1], [0.5, 0.8, 0.1], ks=(1, 2))
    assert result.best_by_similarity == 0
    assert result.top_k_hit == {1: False, 2: True}
    assert result.regret == pytest.approx(0.3)
    negative = transfer_agreement([0.9, 0.5, 0.1], [-0.2, -0.1, -0.9], ks=(1,))
    assert np.isnan(negative.rel_at_k[1]) and negative.regret == pytest.approx(0.1)


def test_transfer_agreement_rejects_bad_input():
    with pytest.raises(ValueError, match="3 similarity scores but 4"):
        transfer_agreement([0.1, 0.2, 0.3], [1, 2, 3, 4])
    with pytest.raises(ValueError, match="ks must lie in 1..3"):
        transfer_agreement([0.1, 0.2, 0.3], [1, 2, 3], ks=(5,))
    with pytest.raises(DegenerateInputError, match="transfer_performance"):
        transfer_agreement([0.1, 0.2, 0.3], [1, 1, 1])
    with pytest.raises(ValueError, match="transfer_performance of candidate #1 is nan"):
        transfer_agreement([0.1, 0.2, 0.3], [1, np.nan, 1])


def test_column_agreement_equals_spearman_per_column_with_undefined_columns_nan():
    rng = np.random.default_rng(9)
    a = rng.random((6, 5))
    b = a + rng.normal(scale=0.3, size=a.shape)
    b[:, 4] = 2.0  # constant column: undefined
    result = column_agreement(a, b)
    for j in range(4):
        assert result.per_column[j] == pytest.approx(stats.spearmanr(a[:, j], b[:, j]).statistic)
    assert np.isnan(result.per_column[4])
    assert result.mean == pytest.approx(np.mean(result.per_column[:4]))
    with pytest.raises(ValueError, match="same shape"):
        column_agreement(a, b[:, :3])
    a[2, 1] = np.inf
    with pytest.raises(ValueError, match=r"matrix_a\[2, 1\] is not finite"):
        column_agreement(a, b)


def test_ranking_consistency_rows_and_matrices():
    rng = np.random.default_rng(12)
    a = rng.random((5, 5))
    b = a + rng.normal(scale=0.2, size=a.shape)
    result = ranking_consistency(a, b)
    for i in range(5):
        keep = np.arange(5) != i
        assert result.per_row[i] == pytest.approx(stats.spearmanr(a[i, keep], b[i, keep]).statistic)
    assert result.mean == pytest.approx(result.per_row.mean())
    with_self = ranking_consistency(a, b, exclude_self=False)
    assert with_self.per_row[0] == pytest.approx(stats.spearmanr(a[0], b[0]).statistic)
    one_row = ranking_consistency(a[0], b[0])
    assert one_row.per_row.shape == (1,)
    with pytest.raises(DegenerateInputError, match="'row 0'"):
        ranking_consistency(np.ones(4), np.arange(4.0))


def test_ranking_changes_against_ranking_each_version_separately():
    from rsa_ray import ranking_changes

    rng = np.random.default_rng(4)
    new = rng.random((6, 6))
    new = (new + new.T) / 2
    np.fill_diagonal(new, 1.0)
    new_ids = list("abcdef")
    old_ids, old = new_ids[:4], new[:4, :4] + rng.normal(scale=0.2, size=(4, 4))
    old = (old + old.T) / 2
    changes = ranking_changes(old_ids, old, new_ids, new)
    assert len(changes) == 6 * 5
    for change in changes:
        t_new, c_new = new_ids.index(change.target), new_ids.index(change.candidate)
        new_row = [new[t_new, j] for j in range(6) if j != t_new]
        assert change.new_rank == 1 + sum(v > new[t_new, c_new] for v in new_row)
        if change.target in old_ids and change.candidate in old_ids:
            t_old, c_old = old_ids.index(change.target), old_ids.index(change.candidate)
            old_row = [old[t_old, j] for j in range(4) if j != t_old]
            assert change.old_rank == 1 + sum(v > old[t_old, c_old] for v in old_row)
            assert change.moved == change.old_rank - change.new_rank
        else:
            assert change.old_rank is None and change.moved is None
    assert ranking_changes([], np.zeros((0, 0)), ["a", "b"], np.eye(2))[0].old_rank is None
