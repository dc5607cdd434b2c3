"""The ranking table of one target under several transferability scores, with a consensus and confidence.

One row per candidate. For each score ``S``: its value ``S``, the candidate's rank under it
``S.rank`` (1 = best), and with a bootstrap ``S.low``/``S.high`` (the interval), ``S.p_best`` (how
often it was the best) and ``S.top_tie`` (it cannot be told apart from the top candidate).
``consensus`` is the mean of a candidate's ranks over the scores, ``consensus.rank`` its rank.
A candidate a score could not be computed for has no value under that score and its reason in
``S.error``; the consensus averages the scores it has.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class ScoreInterval:
    """A bootstrap summary of one candidate's score (see ``rsa_ray.bootstrap``).

    Attributes:
        low, high: The interval's ends.
        p_best: Share of bootstrap samples in which the candidate scored best.
        top_tie: True when it cannot be told apart from the top candidate.
    """

    low: float
    high: float
    p_best: float
    top_tie: bool


def competition_ranks(values: Mapping[str, float]) -> dict[str, int]:
    """1 for the highest value; equal values share the better rank ("1224" ranking).

    Example:
        >>> competition_ranks({"a": 0.2, "b": 0.9, "c": 0.2})
        {'b': 1, 'a': 2, 'c': 2}
    """
    ordered = sorted(values, key=lambda name: -values[name])
    ranks: dict[str, int] = {}
    for position, name in enumerate(ordered, start=1):
        previous = ordered[position - 2] if position > 1 else None
        ranks[name] = ranks[previous] if previous is not None and values[previous] == values[name] else position
    return ranks


def score_table(
    target: str,
    candidates: Sequence[str],
    scores: Mapping[str, Mapping[str, float]],
    errors: Mapping[str, Mapping[str, str]] | None = None,
    intervals: Mapping[str, Mapping[str, ScoreInterval]] | None = None,
    task_type_of: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """One row per candidate, best consensus first.

    Args:
        target: The target's name.
        candidates: Every candidate scored.
        scores: Score name → candidate → value (higher is better); a candidate may be absent.
        errors: Score name → candidate → why it has no value.
        intervals: Score name → candidate → its bootstrap summary.
        task_type_of: Candidate → task type, for the table.

    Raises:
        ValueError: No candidate has a value under any score.

    Example:
        >>> table = score_table("t", ["a", "b"], {"knn": {"a": 0.5, "b": 0.9}, "logme": {"a": 1.0, "b": 2.0}})
        >>> table[["candidate", "knn.rank", "consensus.rank"]].values.tolist()
        [['b', 1, 1], ['a', 2, 2]]
    """
    errors = errors or {}
    intervals = intervals or {}
    frame = pd.DataFrame({"target": target, "candidate": list(candidates)})
    frame["task_type"] = [(task_type_of or {}).get(c, "other") for c in candidates]
    rank_columns = []
    for name, values in scores.items():
        ranks = competition_ranks({c: v for c, v in values.items() if c in set(candidates)})
        frame[name] = [values.get(c, np.nan) for c in candidates]
        frame[f"{name}.rank"] = pd.array([ranks.get(c) for c in candidates], dtype="Int64")
        rank_columns.append(f"{name}.rank")
        if name in intervals:
            summary = intervals[name]
            frame[f"{name}.low"] = [summary[c].low if c in summary else np.nan for c in candidates]
            frame[f"{name}.high"] = [summary[c].high if c in summary else np.nan for c in candidates]
            frame[f"{name}.p_best"] = [summary[c].p_best if c in summary else np.nan for c in candidates]
            frame[f"{name}.top_tie"] = pd.array([summary[c].top_tie if c in summary else None for c in candidates],
                                                dtype="boolean")
        if errors.get(name):
            frame[f"{name}.error"] = [errors[name].get(c, "") for c in candidates]
    if not rank_columns or frame[rank_columns].isna().all().all():
        raise ValueError(f"no candidate of target {target!r} could be scored")
    frame["consensus"] = frame[rank_columns].astype("float64").mean(axis=1)
    ordered = competition_ranks({c: -m for c, m in zip(candidates, frame["consensus"]) if not np.isnan(m)})
    frame["consensus.rank"] = pd.array([ordered.get(c) for c in candidates], dtype="Int64")
    return frame.sort_values(["consensus.rank", "candidate"], na_position="last").reset_index(drop=True)


def printed_rows(table: pd.DataFrame, scores: Sequence[str], top: int) -> list[str]:
    """The table's top rows as text: each score's value and rank, ``*`` where it ties the top.

    Example:
        >>> table = score_table("t", ["a", "b"], {"knn": {"a": 0.5, "b": 0.9}})
        >>> printed_rows(table, ["knn"], 1)[1].split()
        ['1.', 'b', '0.9000', '(1)']
    """
    header = f"  {'':>4} {'candidate':<30}" + "".join(f" {name:>18}" for name in scores)
    if len(scores) > 1:
        header += f" {'consensus':>10}"
    lines = [header]
    for _, row in table.head(top).iterrows():
        cells = []
        for name in scores:
            value, rank = row[name], row[f"{name}.rank"]
            tie = "*" if f"{name}.top_tie" in row and row[f"{name}.top_tie"] is True else ""
            cells.append(f" {'—':>18}" if pd.isna(value) else f" {value:>11.4f} ({rank}){tie}".rjust(19))
        line = f"  {str(row['consensus.rank']) + '.':>4} {row['candidate']:<30}" + "".join(cells)
        if len(scores) > 1:
            line += f" {row['consensus']:>10.2f}"
        lines.append(line)
    return lines
