"""The multi-score ranking table and the target labels it reads: ranks, consensus, intervals, pooling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jobs.score_table import absent_lines, checks_of, decision_line, printed_rows, score_table, uninformative_lines
from jobs.target_data import TargetData, pooled_labels, sample_rows
from rsa_ray.bootstrap import BootstrapSummary
from rsa_ray.estimators import ScoreRow


def _rows(scores, errors=None):
    rows = [ScoreRow(candidate, name, value) for name, values in scores.items() for candidate, value in values.items()]
    return rows + [ScoreRow(candidate, name, None, why) for name, whys in (errors or {}).items()
                   for candidate, why in whys.items()]


def _summary(point, top_set, p_best):
    """A resampling summary with the given top set (the first ``top_set`` by point value) and P(best)."""
    ordered = sorted(point, key=lambda c: -point[c])
    return tuple(BootstrapSummary(c, point[c], point[c] - 0.1, point[c] + 0.1, p_best.get(c, 0.0),
                                  1.0 if i < top_set else 0.0, i < top_set) for i, c in enumerate(ordered))


def test_ranks_and_consensus_against_a_hand_computation():
    scores = {"knn": {"a": 0.9, "b": 0.5, "c": 0.7}, "logme": {"a": -1.0, "b": 2.0, "c": 0.0}}
    table = score_table("t", ["a", "b", "c"], _rows(scores)).set_index("candidate")
    assert table["knn.rank"].to_dict() == {"a": 1, "b": 3, "c": 2}
    assert table["logme.rank"].to_dict() == {"a": 3, "b": 1, "c": 2}
    assert table["consensus"].to_dict() == {"a": 2.0, "b": 2.0, "c": 2.0}
    assert set(table["consensus.rank"]) == {1}  # a three-way tie shares the best rank
    assert set(table["knn.check"]) == {"ok"}


def test_round_off_ties_share_a_rank():
    table = score_table("t", ["a", "b", "c", "d"], _rows({"logme": {"a": 7.000000000000002, "b": 6.999999999999998,
                                                                    "c": 5.0, "d": 1.0}})).set_index("candidate")
    assert table["logme.rank"].to_dict() == {"a": 1, "b": 1, "c": 3, "d": 4}
    assert decision_line(table.reset_index()) == "decided: under logme the top 2 cannot be told apart"


def test_a_candidate_without_a_score_keeps_its_error_and_the_consensus_uses_the_others():
    scores = {"knn": {"a": 0.9, "b": 0.5}, "logme": {"a": 1.0}}
    errors = {"logme": {"b": "model 'b': features are the same for every image"}}
    table = score_table("t", ["a", "b"], _rows(scores, errors)).set_index("candidate")
    assert np.isnan(table.loc["b", "logme"]) and pd.isna(table.loc["b", "logme.rank"])
    assert table.loc["b", "logme.error"].startswith("model 'b'")
    assert table.loc["b", "consensus"] == 2.0 and table.loc["a", "consensus"] == 1.0


def test_no_score_at_all_is_an_error():
    with pytest.raises(ValueError, match="no candidate of target 't' could be scored"):
        score_table("t", ["a"], _rows({}, {"knn": {"a": "degenerate"}}))


def test_an_uninformative_score_gets_no_ranks_no_best_claim_and_stays_out_of_the_consensus():
    scores = {"hscore": {"a": 2.0, "b": 1.9999999999999996, "c": 2.0000000000000004, "d": 1.2},
              "knn": {"a": 0.5, "b": 0.9, "c": 0.7, "d": 0.6}}
    summaries = {"hscore": _summary(scores["hscore"], 1, {"c": 0.9}), "knn": _summary(scores["knn"], 2, {"b": 0.7})}
    table = score_table("t", list("abcd"), _rows(scores), summaries, ceilings={"hscore": 2.0, "knn": 1.0})
    by = table.set_index("candidate")
    assert by["hscore.check"].unique().tolist() == ["uninformative (saturated: 3 of 4 candidates at its ceiling 2)"]
    assert by["hscore.rank"].isna().all() and by["hscore.p_best"].isna().all() and by["hscore.top_tie"].isna().all()
    assert by["hscore.top_set"].isna().all() and by.loc["a", "hscore.low"] == pytest.approx(1.9)  # intervals kept
    assert by["consensus"].to_dict() == by["knn.rank"].astype(float).to_dict()  # knn alone
    assert table["candidate"].tolist() == ["b", "c", "d", "a"]
    assert uninformative_lines(table) == ["score hscore: uninformative (saturated: 3 of 4 candidates at its ceiling 2)"]
    assert checks_of(table) == {"hscore": "saturated: 3 of 4 candidates at its ceiling 2", "knn": None}
    assert decision_line(table) == "decided: under knn the top 2 cannot be told apart"
    lines = printed_rows(table, ["hscore", "knn"], 4)
    assert "(u)" in lines[1] and "(1)*" in lines[1]
    assert lines[-2].split()[-3:] == ["—", "2;", "0.70"] and lines[-1] == decision_line(table)


def test_every_score_uninformative_decides_nothing_and_has_no_consensus():
    table = score_table("t", ["a", "b"], _rows({"sfda": {"a": 0.0, "b": 0.0}}))
    assert table["consensus.rank"].isna().all() and table["sfda.rank"].isna().all()
    assert decision_line(table) == "decided: nothing (no score tells these candidates apart)"
    assert printed_rows(table, ["sfda"], 2)[1].split()[0] == "—."


def test_a_top_set_of_one_names_the_best_with_its_p_best():
    point = {"a": 0.9, "b": 0.2, "c": 0.5}
    table = score_table("t", ["a", "b", "c"], _rows({"knn": point}), {"knn": _summary(point, 1, {"a": 0.97, "c": 0.03})})
    assert table["knn.top_set"].tolist() == [1, 1, 1] and table["knn.p_best"].tolist() == [0.97, 0.03, 0.0]
    assert decision_line(table) == "decided: a is best under knn (P(best) 0.97)"


def test_an_absent_score_is_named_with_why():
    table = score_table("t", ["a", "b"], _rows({"knn": {"a": 0.1, "b": 0.2}}),
                        absent=[("rsa", "the target has no trained model (`rsa-ray train-target` trains one)")])
    assert "rsa" not in table and table["rsa.absent"].iloc[0].startswith("the target has no trained model")
    assert absent_lines(table) == ["score rsa absent: the target has no trained model (`rsa-ray train-target` trains one)"]


def test_intervals_become_columns_and_the_printout_marks_top_ties():
    point = {"a": 0.9, "b": 0.85, "c": 0.2}
    table = score_table("t", ["a", "b", "c"], _rows({"knn": point}), {"knn": _summary(point, 2, {"a": 0.6, "b": 0.4})})
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
