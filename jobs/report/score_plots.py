"""The scores of one target side by side: one panel per transferability score, with bootstrap intervals."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from jobs.report.plots import _colour, save_figure


def plot_score_panels(table: pd.DataFrame, scores: Sequence[str], target: str, path: str | Path) -> Path:
    """One horizontal bar panel per score, candidates in consensus order; whiskers are the bootstrap
    intervals and a hatched bar marks a candidate that cannot be told apart from that score's top; the panel
    of a score found uninformative (``S.check``) is greyed and titled so.

    Example:
        >>> from jobs.score_table import score_table
        >>> from rsa_ray.bootstrap import BootstrapSummary
        >>> from rsa_ray.estimators import ScoreRow
        >>> rows = [ScoreRow("a", "knn", 0.9), ScoreRow("b", "knn", 0.5), ScoreRow("a", "logme", 1.0),
        ...         ScoreRow("b", "logme", 1.0)]
        >>> summaries = {"knn": (BootstrapSummary("a", 0.9, 0.85, 0.97, 1.0, 1.0, True),
        ...                      BootstrapSummary("b", 0.5, 0.4, 0.6, 0.0, 0.0, False))}
        >>> table = score_table("t", ["a", "b"], rows, summaries)  # logme is constant: uninformative
        >>> plot_score_panels(table, ["knn", "logme"], "t", "/tmp/scores.png").name
        'scores.png'
    """
    shown = table.reset_index(drop=True)
    positions = np.arange(len(shown))[::-1]
    figure, axes = plt.subplots(1, len(scores), figsize=(2.0 + 2.6 * len(scores), 1.2 + 0.3 * len(shown)),
                                sharey=True, squeeze=False)
    colours = [_colour(task_type) for task_type in shown.get("task_type", pd.Series(["other"] * len(shown)))]
    for axis, name in zip(axes[0], scores):
        values = shown[name].to_numpy(dtype=float)
        ties = shown[f"{name}.top_tie"].fillna(False).to_numpy(dtype=bool) if f"{name}.top_tie" in shown else np.zeros(len(shown), bool)
        bars = axis.barh(positions, np.nan_to_num(values), color=colours)
        for bar, tie in zip(bars, ties):
            if tie:
                bar.set_hatch("///")
        if f"{name}.low" in shown:
            low, high = shown[f"{name}.low"].to_numpy(dtype=float), shown[f"{name}.high"].to_numpy(dtype=float)
            known = np.isfinite(low) & np.isfinite(high)
            axis.hlines(positions[known], low[known], high[known], colors="black", linewidth=0.9)
            axis.plot(np.r_[low[known], high[known]], np.r_[positions[known], positions[known]], "|", color="black",
                      markersize=5)
        check = str(shown[f"{name}.check"].iloc[0]) if f"{name}.check" in shown else "ok"
        if check != "ok":  # no ranks, no best: the bars are shown greyed, for what they are
            for bar in bars:
                bar.set_color("#cccccc")
        axis.set_title(name if check == "ok" else f"{name}\n(uninformative)", fontsize=9)
        axis.tick_params(axis="x", labelsize=7)
    axes[0][0].set_yticks(positions, [f"{r}. {c}" for r, c in zip(shown["consensus.rank"], shown["candidate"])], fontsize=8)
    figure.suptitle(f"Sources for {target}: every score (hatched: cannot be told apart from the top)", fontsize=10)
    return save_figure(figure, path)
