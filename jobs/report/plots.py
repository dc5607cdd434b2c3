"""The report's figures: the paper's taxonomy heatmap and dendrogram (Fig. 4),
per-layer matrices side by side (Fig. 5) and ranking bars (Fig. 8).

Colours name task types with the Okabe–Ito palette, which stays distinct for
colour-blind readers. Every function writes one PNG and returns its path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from scipy.cluster import hierarchy  # noqa: E402

from rsa_ray.ranking import RankedCandidate  # noqa: E402

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
    return _save(figure, path)


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
    return _save(figure, path)


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
    axes.set_xlim(min(0.0, min(c.score for c in shown) * 1.1), max(c.score for c in shown) * 1.18 + 1e-9)
    _legend(axes, [task_type_of.get(c.name, "other") for c in shown], loc="lower right", fontsize=8)
    return _save(figure, path)


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
    return _save(figure, path)


def _save(figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
