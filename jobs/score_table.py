"""The ranking table of one target under several transferability scores, with a consensus and confidence.

One row per candidate. For each score ``S``: its value ``S``; ``S.check``, ``ok`` or why the score
is uninformative over these candidates (:mod:`rsa_ray.score_checks`: constant, saturated at its
ceiling, all zero, differing only by round-off); the candidate's rank under it ``S.rank`` (1 =
best; values within :data:`rsa_ray.score_checks.DEFAULT_RTOL` share a rank; none for an
uninformative score); and with resamples ``S.low``/``S.high`` (the interval), ``S.p_best`` (how
often it was the best), ``S.top_tie`` (it cannot be told apart from the top candidate) and
``S.top_set`` (how many candidates cannot be told apart from the top, the same in every row).
``consensus`` is the mean of a candidate's ranks over the informative scores, ``consensus.rank``
its rank. A candidate a score could not be computed for has no value under that score and its
reason in ``S.error``; a score the target cannot have at all is absent, with its reason in
``S.absent``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from rsa_ray.bootstrap import BootstrapSummary
from rsa_ray.estimators import ScoreRow
from rsa_ray.score_checks import DEFAULT_RTOL, ScoreCheck, check_score
from rsa_ray.source_ranking import competition_ranks

OK = "ok"


def _ranks(values: Sequence[float], rtol: float) -> pd.arrays.IntegerArray:
    ranks = competition_ranks(np.asarray(values, dtype=np.float64), rtol)
    return pd.array([int(r) if r else None for r in ranks], dtype="Int64")


def _score_columns(frame: pd.DataFrame, name: str, rows: Mapping[str, ScoreRow], check: ScoreCheck,
                   summary: Sequence[BootstrapSummary] | None, rtol: float) -> None:
    candidates = list(frame["candidate"])
    values = [np.nan if c not in rows or rows[c].value is None else rows[c].value for c in candidates]
    frame[name] = values
    frame[f"{name}.check"] = OK if check.informative else f"uninformative ({check.reason})"
    frame[f"{name}.rank"] = _ranks(values, rtol) if check.informative else pd.array([None] * len(frame), dtype="Int64")
    if summary is not None:
        by_name = {s.name: s for s in summary}
        frame[f"{name}.low"] = [by_name[c].low if c in by_name else np.nan for c in candidates]
        frame[f"{name}.high"] = [by_name[c].high if c in by_name else np.nan for c in candidates]
        # An uninformative score makes no "best" claim: no P(best), no top set.
        claims = check.informative and bool(by_name)
        frame[f"{name}.p_best"] = [by_name[c].p_best if claims and c in by_name else np.nan for c in candidates]
        frame[f"{name}.top_tie"] = pd.array([by_name[c].indistinguishable_from_top if claims and c in by_name else None
                                             for c in candidates], dtype="boolean")
        top_set = sum(s.indistinguishable_from_top for s in summary) if claims else None
        frame[f"{name}.top_set"] = pd.array([top_set] * len(frame), dtype="Int64")
    errors = [rows[c].error if c in rows and rows[c].error else "" for c in candidates]
    if any(errors):
        frame[f"{name}.error"] = errors


def score_table(target: str, candidates: Sequence[str], rows: Sequence[ScoreRow],
                summaries: Mapping[str, Sequence[BootstrapSummary]] | None = None,
                ceilings: Mapping[str, float | None] | None = None, task_type_of: Mapping[str, str] | None = None,
                absent: Sequence[tuple[str, str]] = (), rtol: float = DEFAULT_RTOL) -> pd.DataFrame:
    """One row per candidate, best consensus first.

    Args:
        target: The target's name.
        candidates: Every candidate scored.
        rows: The scoring path's rows (:class:`rsa_ray.estimators.ScoreRow`); a score's columns appear in
            the order its first row does.
        summaries: Score name → its resampling summary over the candidates it has values for.
        ceilings: Score name → its ceiling for this target (:attr:`rsa_ray.estimators.Estimator.ceiling`).
        task_type_of: Candidate → task type, for the table.
        absent: Scores asked for that the target cannot have, with why (one ``S.absent`` column each).
        rtol: The tolerance of the checks and of ties.

    Raises:
        ValueError: No candidate has a value under any score.

    Example:
        >>> rows = [ScoreRow("a", "knn", 0.5), ScoreRow("b", "knn", 0.9), ScoreRow("a", "logme", 1.0),
        ...         ScoreRow("b", "logme", 2.0)]
        >>> table = score_table("t", ["a", "b"], rows)
        >>> table[["candidate", "knn.rank", "consensus.rank"]].values.tolist()
        [['b', 1, 1], ['a', 2, 2]]
    """
    by_score: dict[str, dict[str, ScoreRow]] = {}
    for row in rows:
        by_score.setdefault(row.score, {})[row.candidate] = row
    frame = pd.DataFrame({"target": target, "candidate": list(candidates)})
    frame["task_type"] = [(task_type_of or {}).get(c, "other") for c in candidates]
    rank_columns = []
    for name, scored in by_score.items():
        values = [scored[c].value for c in candidates if c in scored and scored[c].value is not None]
        check = check_score(name, values, (ceilings or {}).get(name), rtol)
        _score_columns(frame, name, scored, check, (summaries or {}).get(name), rtol)
        if check.informative:
            rank_columns.append(f"{name}.rank")
    for name, why in absent:
        frame[f"{name}.absent"] = why
    if not by_score or frame[list(by_score)].isna().all().all():
        raise ValueError(f"no candidate of target {target!r} could be scored")
    frame["consensus"] = frame[rank_columns].astype("float64").mean(axis=1) if rank_columns else np.nan
    frame["consensus.rank"] = _ranks(-frame["consensus"].to_numpy(dtype=np.float64), 0.0)
    return frame.sort_values(["consensus.rank", "candidate"], na_position="last").reset_index(drop=True)


def table_scores(table: pd.DataFrame) -> tuple[str, ...]:
    """The scores a table holds, in its column order.

    Example:
        >>> table_scores(score_table("t", ["a", "b"], [ScoreRow("a", "knn", 0.5), ScoreRow("b", "knn", 0.9)]))
        ('knn',)
    """
    return tuple(column[: -len(".check")] for column in table.columns if column.endswith(".check"))


def checks_of(table: pd.DataFrame) -> dict[str, str | None]:
    """Each score's check as stored: None where it is informative, else the reason.

    Example:
        >>> rows = [ScoreRow("a", "knn", 0.5), ScoreRow("b", "knn", 0.5)]
        >>> checks_of(score_table("t", ["a", "b"], rows))
        {'knn': 'constant: every candidate 0.5'}
    """
    checks = {}
    for name in table_scores(table):
        stored = str(table[f"{name}.check"].iloc[0])
        checks[name] = None if stored == OK else stored.removeprefix("uninformative (").removesuffix(")")
    return checks


def uninformative_lines(table: pd.DataFrame) -> list[str]:
    """One line ``score NAME: uninformative (reason)`` per uninformative score of the table.

    Example:
        >>> uninformative_lines(score_table("t", ["a", "b"], [ScoreRow("a", "sfda", 0.0), ScoreRow("b", "sfda", 0.0)]))
        ['score sfda: uninformative (all zero)']
    """
    return [f"score {name}: uninformative ({why})" for name, why in checks_of(table).items() if why is not None]


def absent_lines(table: pd.DataFrame) -> list[str]:
    """One line per score asked for that the target cannot have, with why.

    Example:
        >>> table = score_table("t", ["a"], [ScoreRow("a", "knn", 0.5)], absent=[("rsa", "no target model")])
        >>> absent_lines(table)
        ['score rsa absent: no target model']
    """
    return [f"score {column[: -len('.absent')]} absent: {table[column].iloc[0]}"
            for column in table.columns if column.endswith(".absent")]


def _decision(table: pd.DataFrame, name: str) -> str:
    ranked = table[table[f"{name}.rank"].notna()]
    best = ranked.loc[ranked[f"{name}.rank"].astype(int).idxmin()]
    tied = int((ranked[f"{name}.rank"] == 1).sum())
    top_set = int(table[f"{name}.top_set"].iloc[0]) if f"{name}.top_set" in table else 0
    if max(top_set, tied) > 1:
        return f"under {name} the top {max(top_set, tied)} cannot be told apart"
    if not top_set:
        return f"{best['candidate']} ranks first under {name} (untested: no resampling)"
    return f"{best['candidate']} is best under {name} (P(best) {best[f'{name}.p_best']:.2f})"


def decision_line(table: pd.DataFrame) -> str:
    """What the table lets one decide, per informative score, from its resampling's top set.

    Example:
        >>> rows = [ScoreRow("a", "knn", 0.5), ScoreRow("b", "knn", 0.9)]
        >>> decision_line(score_table("t", ["a", "b"], rows))
        'decided: b ranks first under knn (untested: no resampling)'
    """
    informative = [name for name, why in checks_of(table).items() if why is None
                   and table[f"{name}.rank"].notna().any()]
    if not informative:
        return "decided: nothing (no score tells these candidates apart)"
    return "decided: " + "; ".join(_decision(table, name) for name in informative)


def _cell(row: pd.Series, name: str, informative: bool) -> str:
    value = row[name]
    if pd.isna(value):
        return f" {'—':>18}"
    if not informative:
        return f" {value:>11.4f} (u)".rjust(19)
    tie = "*" if f"{name}.top_tie" in row and row[f"{name}.top_tie"] is True else ""
    return f" {value:>11.4f} ({row[f'{name}.rank']}){tie}".rjust(19)


def printed_rows(table: pd.DataFrame, scores: Sequence[str], top: int) -> list[str]:
    """The table's top rows as text: each score's value and rank, ``*`` where it ties the top, ``(u)`` for an
    uninformative score; with resamples a row of each score's top-set size and its best's P(best); last,
    what can be decided (:func:`decision_line`).

    Example:
        >>> table = score_table("t", ["a", "b"], [ScoreRow("a", "knn", 0.5), ScoreRow("b", "knn", 0.9)])
        >>> printed_rows(table, ["knn"], 1)[1].split()
        ['1.', 'b', '0.9000', '(1)']
    """
    checks = checks_of(table)
    header = f"  {'':>4} {'candidate':<30}" + "".join(f" {name:>18}" for name in scores)
    if len(scores) > 1:
        header += f" {'consensus':>10}"
    lines = [header]
    for _, row in table.head(top).iterrows():
        cells = "".join(_cell(row, name, checks.get(name) is None) for name in scores)
        rank = "—" if pd.isna(row["consensus.rank"]) else str(row["consensus.rank"])
        line = f"  {rank + '.':>4} {row['candidate']:<30}" + cells
        if len(scores) > 1:
            line += f" {'—':>10}" if pd.isna(row["consensus"]) else f" {row['consensus']:>10.2f}"
        lines.append(line)
    if any(f"{name}.top_set" in table for name in scores):
        lines.append(f"  {'':>4} {'top set; P(best) of #1':<30}" + "".join(_top_cell(table, name) for name in scores))
    lines.append(decision_line(table))
    return lines


def _top_cell(table: pd.DataFrame, name: str) -> str:
    if f"{name}.top_set" not in table or pd.isna(table[f"{name}.top_set"].iloc[0]):
        return f" {'—':>18}"
    first = table[table[f"{name}.rank"] == 1]
    p_best = float(first[f"{name}.p_best"].max()) if len(first) else float("nan")
    return f" {int(table[f'{name}.top_set'].iloc[0])}; {p_best:.2f}".rjust(19)
