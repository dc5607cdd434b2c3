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
    intervals and a hatched bar marks a candidate that cannot be told apart from that score's top.

    Example:
        >>> from jobs.score_table import ScoreInterval, score_table
        >>> table = score_table("t", ["a", "b"], {"knn": {"a": 0.9, "b": 0.5}, "logme": {"a": 1.0, "b": 2.0}},
        ...                     intervals={"knn": {"a": ScoreInterval(0.92, 0.97, 1.0, True),  # need not hold 0.9
        ...                                        "b": ScoreInterval(0.4, 0.6, 0.0, False)}})
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
            # The interval is drawn as it is: a percentile interval need not contain the full-sample value.
            axis.hlines(positions[known], low[known], high[known], colors="black", linewidth=0.9)
            axis.plot(np.r_[low[known], high[known]], np.r_[positions[known], positions[known]], "|", color="black",
                      markersize=5)
        axis.set_title(name, fontsize=9)
        axis.tick_params(axis="x", labelsize=7)
    axes[0][0].set_yticks(positions, [f"{r}. {c}" for r, c in zip(shown["consensus.rank"], shown["candidate"])], fontsize=8)
    figure.suptitle(f"Sources for {target}: every score (hatched: cannot be told apart from the top)", fontsize=10)
    return save_figure(figure, path)
