"""The taxonomy's dendrogram with each branch's bootstrap support written at its node."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from scipy.cluster import hierarchy

from jobs.report.plots import _colour_tick_labels, _legend, _size_for, save_figure


def node_positions(linkage: np.ndarray, leaf_order: Sequence[int]) -> np.ndarray:
    """(x, height) of every internal node as scipy's dendrogram draws it: leaves at 5, 15, 25, ...
    in dendrogram order, a node midway between its two children.

    Example:
        >>> from scipy.cluster.hierarchy import linkage
        >>> node_positions(linkage([[0.0], [1.0], [3.0]]), [0, 1, 2]).tolist()
        [[10.0, 1.0], [17.5, 2.0]]
    """
    n_leaves = len(leaf_order)
    x = np.zeros(n_leaves + len(linkage))
    x[np.asarray(leaf_order)] = 5.0 + 10.0 * np.arange(n_leaves)
    for row, (left, right) in enumerate(linkage[:, :2].astype(int)):
        x[n_leaves + row] = (x[left] + x[right]) / 2.0
    return np.column_stack([x[n_leaves:], linkage[:, 2]])


def plot_dendrogram_with_support(linkage: np.ndarray, names: Sequence[str], task_types: Sequence[str],
                                 support: Sequence[float], n_samples: int, path: str | Path) -> Path:
    """The dendrogram on 1 − similarity, leaves coloured by task type, each internal node labelled with
    the share of bootstrap dendrograms (over resampled probe images) that contain its clade.

    Example:
        >>> from scipy.cluster.hierarchy import linkage
        >>> plot_dendrogram_with_support(linkage([[0.0], [1.0], [3.0]]), ["a", "b", "c"], ["2d"] * 3,
        ...                              [0.9, 1.0], 100, "/tmp/ds.png").name
        'ds.png'
    """
    figure, axes = plt.subplots(figsize=(_size_for(len(names)) + 1.5, 5.5))
    drawn = hierarchy.dendrogram(linkage, labels=list(names), ax=axes, leaf_rotation=90, color_threshold=0,
                                 above_threshold_color="#444444")
    for (x, height), share in zip(node_positions(linkage, drawn["leaves"]), support):
        colour = "#b00000" if share < 0.5 else "#005a9c"
        axes.text(x, height, f"{share:.2f}", ha="center", va="bottom", fontsize=7, color=colour)
    type_of = dict(zip(names, task_types))
    _colour_tick_labels(axes.get_xticklabels(), [type_of[label.get_text()] for label in axes.get_xticklabels()])
    axes.set_ylabel("1 − similarity")
    axes.set_title(f"Task taxonomy (average linkage); branch support over {n_samples} bootstrap samples of the probe images")
    _legend(axes, task_types, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return save_figure(figure, path)
