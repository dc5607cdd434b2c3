"""The report's figures: the paper's taxonomy heatmap and dendrogram (Fig. 4),
per-layer matrices side by side (Fig. 5), ranking bars (Fig. 8), and the
transfer-validation plots (similarity vs performance, agreement per target,
consistency of rankings).

Colours name task types with the Okabe–Ito palette, which stays distinct for
colour-blind readers. Every function writes one PNG (through :func:`save_figure`)
and returns its path. The backend is the process's: ``rsa-ray`` selects the
file-only Agg backend once, when it starts (``jobs.cli.main``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Patch
from scipy.cluster import hierarchy

from rsa_ray.source_ranking import RankedCandidate

if TYPE_CHECKING:
    import pandas as pd

TASK_TYPE_COLOURS: dict[str, str] = {
    "2d": "#0072B2",
    "3d": "#E69F00",
    "semantic": "#CC79A7",
    "geometric": "#009E73",
    "other": "#777777",
    "target": "#D55E00",
}


def _colour(task_type: str) -> str:
    return TASK_TYPE_COLOURS.get(task_type, TASK_TYPE_COLOURS["other"])


def _legend(axes, task_types: Sequence[str], **kwargs) -> None:
    present = [t for t in TASK_TYPE_COLOURS if t in set(task_types)]
    axes.legend(handles=[Patch(color=_colour(t), label=t) for t in present], title="task type", **kwargs)


def _colour_tick_labels(labels, task_types: Sequence[str]) -> None:
    for label, task_type in zip(labels, task_types):
        label.set_color(_colour(task_type))
        label.set_fontweight("bold")


def _size_for(n_models: int) -> float:
    return float(np.clip(2.5 + 0.32 * n_models, 5.0, 24.0))


def plot_similarity_heatmap(
    similarity: np.ndarray,
    names: Sequence[str],
    task_types: Sequence[str],
    leaf_order: Sequence[int],
    path: str | Path,
    title: str = "RSA similarity (Spearman r_s of RDMs)",
) -> Path:
    """The similarity matrix in dendrogram order, labels coloured by task type.

    Example:
        >>> plot_similarity_heatmap(np.eye(2), ["a", "b"], ["2d", "3d"], [0, 1], "/tmp/h.png").suffix
        '.png'
    """
    order = list(leaf_order)
    ordered = np.asarray(similarity)[np.ix_(order, order)]
    ordered_names = [names[i] for i in order]
    ordered_types = [task_types[i] for i in order]
    side = _size_for(len(order))
    figure, axes = plt.subplots(figsize=(side + 2.5, side))
    off_diagonal = ordered[~np.eye(len(order), dtype=bool)]
    low = float(off_diagonal.min()) if off_diagonal.size else 0.0
    image = axes.imshow(ordered, cmap="viridis", vmin=low, vmax=1.0)
    axes.set_xticks(range(len(order)), ordered_names, rotation=90)
    axes.set_yticks(range(len(order)), ordered_names)
    _colour_tick_labels(axes.get_xticklabels(), ordered_types)
    _colour_tick_labels(axes.get_yticklabels(), ordered_types)
    axes.set_title(title)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="similarity")
    _legend(axes, ordered_types, loc="upper left", bbox_to_anchor=(1.25, 1.0))
    return save_figure(figure, path)


def plot_dendrogram(linkage: np.ndarray, names: Sequence[str], task_types: Sequence[str], path: str | Path) -> Path:
    """The task taxonomy as a dendrogram on 1 − similarity, leaves coloured by task type.

    Example:
        >>> from scipy.cluster.hierarchy import linkage
        >>> plot_dendrogram(linkage([[0.0], [1.0], [3.0]]), ["a", "b", "c"], ["2d"] * 3, "/tmp/d.png").name
        'd.png'
    """
    figure, axes = plt.subplots(figsize=(_size_for(len(names)) + 1.5, 5.5))
    hierarchy.dendrogram(linkage, labels=list(names), ax=axes, leaf_rotation=90, color_threshold=0, above_threshold_color="#444444")
    type_of = dict(zip(names, task_types))
    _colour_tick_labels(axes.get_xticklabels(), [type_of[label.get_text()] for label in axes.get_xticklabels()])
    axes.set_ylabel("1 − similarity")
    axes.set_title("Task taxonomy (average linkage)")
    _legend(axes, task_types, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return save_figure(figure, path)


def plot_ranking_bars(
    ranking: Sequence[RankedCandidate],
    target: str,
    task_type_of: Mapping[str, str],
    path: str | Path,
    top: int | None = None,
) -> Path:
    """Candidates' similarity to a target, best on top (the paper's Fig. 8).

    Example:
        >>> from rsa_ray import rank_candidates
        >>> plot_ranking_bars(rank_candidates([0.5, 0.2], ["a", "b"]), "t", {"a": "2d", "b": "3d"}, "/tmp/r.png").name
        'r.png'
        >>> plot_ranking_bars([], "t", {}, "/tmp/empty.png").name
        'empty.png'
    """
    shown = list(ranking)[:top] if top else list(ranking)
    figure, axes = plt.subplots(figsize=(7.5, 1.2 + 0.36 * len(shown)))
    positions = np.arange(len(shown))[::-1]
    colours = [_colour(task_type_of.get(c.name, "other")) for c in shown]
    axes.barh(positions, [c.score for c in shown], color=colours)
    axes.set_yticks(positions, [f"{c.rank}. {c.name}" for c in shown])
    for position, candidate in zip(positions, shown):
        axes.text(candidate.score, position, f" {candidate.score:.3f}", va="center", fontsize=8)
    axes.set_xlabel("similarity to target (Spearman r_s)")
    axes.set_title(f"Which model to finetune from for {target}")
    if not shown:  # every candidate failed or none is registered: an empty plot that says so
        axes.text(0.5, 0.5, "no candidates with results", ha="center", va="center", transform=axes.transAxes)
        axes.set_xlim(0.0, 1.0)
        return save_figure(figure, path)
    axes.set_xlim(min(0.0, min(c.score for c in shown) * 1.1), max(c.score for c in shown) * 1.18 + 1e-9)
    _legend(axes, [task_type_of.get(c.name, "other") for c in shown], loc="lower right", fontsize=8)
    return save_figure(figure, path)


def plot_layer_matrices(
    matrices: Mapping[str, np.ndarray],
    names: Sequence[str],
    task_types: Sequence[str],
    order: Sequence[int],
    path: str | Path,
) -> Path:
    """Similarity matrices of several layers side by side, in one model order (the paper's Fig. 5).

    Example:
        >>> plot_layer_matrices({"early": np.eye(2), "out": np.eye(2)}, ["a", "b"], ["2d", "3d"], [0, 1], "/tmp/l.png").name
        'l.png'
    """
    order = list(order)
    side = float(np.clip(2.0 + 0.22 * len(order), 4.0, 12.0))
    figure, axes_row = plt.subplots(1, len(matrices), figsize=(side * len(matrices) + 1.0, side + 0.8), squeeze=False)
    ordered_names = [names[i] for i in order]
    ordered_types = [task_types[i] for i in order]
    for axes, (layer, matrix) in zip(axes_row[0], matrices.items()):
        ordered = np.asarray(matrix)[np.ix_(order, order)]
        image = axes.imshow(ordered, cmap="viridis", vmin=float(ordered.min()), vmax=1.0)
        axes.set_title(layer)
        axes.set_xticks(range(len(order)), ordered_names, rotation=90, fontsize=7)
        axes.set_yticks(range(len(order)), ordered_names, fontsize=7)
        _colour_tick_labels(axes.get_xticklabels(), ordered_types)
        _colour_tick_labels(axes.get_yticklabels(), ordered_types)
        figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    figure.suptitle("Similarity per layer (same model order)")
    return save_figure(figure, path)


def plot_transfer_scatter(summary: pd.DataFrame, target: str, metric_name: str, path: str | Path) -> Path:
    """Similarity to the target vs held-out metric after finetuning, one point per candidate; control as a line.

    Args:
        summary: One row per candidate: ``candidate``, ``similarity``, ``metric_mean``, ``metric_std``,
            ``control_metric`` (the random-init control's mean metric, the same in every row).
        target: The target's name (the title).
        metric_name: The held-out metric (the y label).
        path: The PNG to write.

    Example:
        >>> import pandas as pd
        >>> summary = pd.DataFrame({"candidate": ["a", "b"], "similarity": [0.5, 0.2], "metric_mean": [0.9, 0.4],
        ...                         "metric_std": [0.1, None], "control_metric": [0.3, 0.3]})
        >>> plot_transfer_scatter(summary, "t", "accuracy", "/tmp/s.png").name
        's.png'
    """
    figure, axes = plt.subplots(figsize=(6.5, 4.8))
    axes.errorbar(summary["similarity"], summary["metric_mean"], yerr=summary["metric_std"].fillna(0), fmt="o", color="#0072B2")
    for _, row in summary.iterrows():
        axes.annotate(row["candidate"], (row["similarity"], row["metric_mean"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    control = summary["control_metric"].iloc[0] if len(summary) else np.nan
    if np.isfinite(control):
        axes.axhline(control, color="#D55E00", linestyle="--", label="random-init control")
        axes.legend(fontsize=8)
    axes.set_xlabel("RSA similarity to the target's small model (Spearman r_s)")
    axes.set_ylabel(f"held-out {metric_name} after finetuning (higher is better)")
    axes.set_title(f"Transfer to {target}")
    return save_figure(figure, path)


def plot_agreement_per_target(per_target: pd.DataFrame, path: str | Path) -> Path:
    """Per target, the Spearman and Pearson correlation of RSA similarity with transfer performance.

    Args:
        per_target: One row per target: ``target``, ``spearman``, ``pearson`` (NaN drawn as 0).
        path: The PNG to write.

    Example:
        >>> import pandas as pd
        >>> per_target = pd.DataFrame({"target": ["a", "b"], "spearman": [0.5, None], "pearson": [0.4, 0.1]})
        >>> plot_agreement_per_target(per_target, "/tmp/p.png").name
        'p.png'
    """
    figure, axes = plt.subplots(figsize=(7.5, 0.8 + 0.3 * len(per_target)))
    positions = np.arange(len(per_target))[::-1]
    axes.barh(positions - 0.2, per_target["spearman"].fillna(0), height=0.4, label="Spearman", color="#0072B2")
    axes.barh(positions + 0.2, per_target["pearson"].fillna(0), height=0.4, label="Pearson", color="#E69F00")
    axes.set_yticks(positions, per_target["target"])
    axes.axvline(0, color="black", linewidth=0.8)
    axes.set_xlabel("correlation of RSA similarity with transfer performance")
    axes.legend(fontsize=8)
    return save_figure(figure, path)


def plot_consistency(table: pd.DataFrame, path: str | Path) -> Path:
    """Ranking agreement vs probe count, vs training stage, and per large-vs-small target swap (supplement S3).

    Args:
        table: One row per setting: ``analysis`` (``probe_images``, ``training_stage`` or ``model_size``),
            ``setting``, ``x``, ``mean`` and ``min``.
        path: The PNG to write.

    Example:
        >>> import pandas as pd
        >>> table = pd.DataFrame({"analysis": ["probe_images", "training_stage", "model_size"], "setting": ["20", "0.5", "a"],
        ...                       "x": [20, 0.5, None], "mean": [0.8, 0.7, 0.9], "min": [0.6, 0.5, 0.9]})
        >>> plot_consistency(table, "/tmp/c.png").name
        'c.png'
    """
    figure, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for axis, analysis, label in zip(axes, ("probe_images", "training_stage"), ("probe images", "fraction of training")):
        part = table[table["analysis"] == analysis]
        axis.plot(part["x"], part["mean"], "o-", label="mean over targets")
        axis.plot(part["x"], part["min"], "s--", label="worst target")
        axis.set_xlabel(label)
        axis.set_ylabel("ranking correlation with reference")
        axis.legend(fontsize=8)
    part = table[table["analysis"] == "model_size"]
    axes[2].bar(range(len(part)), part["mean"], color="#009E73")
    axes[2].set_xticks(range(len(part)), part["setting"], rotation=20, fontsize=7)
    axes[2].set_ylabel("ranking correlation, large vs small target")
    for axis, title in zip(axes, ("vs probe count", "vs training stage", "vs model size")):
        axis.set_title(title)
    return save_figure(figure, path)


def save_figure(figure, path: str | Path) -> Path:
    """Lays the figure out, writes it as a 110-dpi PNG (creating the folder) and closes it.

    Example:
        >>> save_figure(plt.figure(), "/tmp/empty.png").name
        'empty.png'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
