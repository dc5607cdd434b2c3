"""The multi-score ranking table and the target labels it reads: ranks, consensus, intervals, pooling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jobs.score_table import ScoreInterval, competition_ranks, printed_rows, score_table
from jobs.target_data import TargetData, pooled_labels, sample_rows


def test_ranks_and_consensus_against_a_hand_computation():
    scores = {"knn": {"a": 0.9, "b": 0.5, "c": 0.7}, "logme": {"a": -1.0, "b": 2.0, "c": 0.0}}
    table = score_table("t", ["a", "b", "c"], scores).set_index("candidate")
    assert table["knn.rank"].to_dict() == {"a": 1, "b": 3, "c": 2}
    assert table["logme.rank"].to_dict() == {"a": 3, "b": 1, "c": 2}
    assert table["consensus"].to_dict() == {"a": 2.0, "b": 2.0, "c": 2.0}
    assert set(table["consensus.rank"]) == {1}  # a three-way tie shares the best rank


def test_ties_share_the_better_rank():
    assert competition_ranks({"a": 1.0, "b": 1.0, "c": 0.0, "d": 2.0}) == {"d": 1, "a": 2, "b": 2, "c": 4}


def test_a_candidate_without_a_score_keeps_its_error_and_the_consensus_uses_the_others():
    scores = {"knn": {"a": 0.9, "b": 0.5}, "logme": {"a": 1.0}}
    errors = {"logme": {"b": "model 'b': features are the same for every image"}}
    table = score_table("t", ["a", "b"], scores, errors).set_index("candidate")
    assert np.isnan(table.loc["b", "logme"]) and pd.isna(table.loc["b", "logme.rank"])
    assert table.loc["b", "logme.error"].startswith("model 'b'")
    assert table.loc["b", "consensus"] == 2.0 and table.loc["a", "consensus"] == 1.0


def test_no_score_at_all_is_an_error():
    with pytest.raises(ValueError, match="no candidate of target 't' could be scored"):
        score_table("t", ["a"], {"knn": {}}, {"knn": {"a": "degenerate"}})


def test_intervals_become_columns_and_the_printout_marks_top_ties():
    intervals = {"knn": {"a": ScoreInterval(0.8, 0.95, 0.6, True), "b": ScoreInterval(0.7, 0.9, 0.4, True),
                         "c": ScoreInterval(0.1, 0.3, 0.0, False)}}
    table = score_table("t", ["a", "b", "c"], {"knn": {"a": 0.9, "b": 0.85, "c": 0.2}}, intervals=intervals)
    assert table["knn.p_best"].tolist() == [0.6, 0.4, 0.0]
    lines = printed_rows(table, ["knn"], 3)
    assert lines[1].rstrip().endswith("*") and lines[2].rstrip().endswith("*") and not lines[3].rstrip().endswith("*")


def test_class_labels_stay_classes_and_maps_are_pooled_by_blocks():
    assert pooled_labels(np.array([1, 0, 1])).kind == "classes"
    maps = np.arange(2 * 1 * 8 * 8, dtype=np.float32).reshape(2, 1, 8, 8)
    pooled = pooled_labels(maps)
    assert pooled.kind == "regression" and pooled.values.shape == (2, 16)
    assert pooled.values[0, 0] == maps[0, 0, :2, :2].mean()  # the first 2×2 block
    dense_classes = np.zeros((1, 8, 8), np.int64)
    dense_classes[0, :4] = 1
    shares = pooled_labels(dense_classes).values.reshape(2, 4, 4)  # class 0 share, class 1 share
    assert np.allclose(shares[1, :2], 1.0) and np.allclose(shares[1, 2:], 0.0) and np.allclose(shares.sum(0), 1.0)


def test_the_image_sample_is_seeded_sorted_and_bounded():
    rows = sample_rows(np.arange(100, 200), 10, seed=3)
    assert len(rows) == 10 and np.all(np.diff(rows) > 0) and rows.min() >= 100
    assert np.array_equal(rows, sample_rows(np.arange(100, 200), 10, seed=3))
    assert len(sample_rows(np.arange(5), 10, seed=0)) == 5
    with pytest.raises(ValueError, match="--target-images must be at least 10"):
        TargetData("sklearn-digits", "digits", n_images=3)


@pytest.mark.parametrize("module_name", ["jobs.score_table", "jobs.target_data", "jobs.validate_scoring", "storage.targets",
                                         "jobs.report.score_plots", "jobs.report.support_plots", "jobs.target_scores"])
def test_docstring_examples(module_name):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module_name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {module_name}"
