"""The report's figures and page are written and hold what they should."""

import re

import numpy as np
import pandas as pd
from matplotlib.image import imread

from jobs.report import (
    ReportSection,
    plot_dendrogram,
    plot_layer_matrices,
    plot_ranking_bars,
    plot_similarity_heatmap,
    write_html_report,
)
from rsa_ray import cluster_tasks, rank_candidates


def test_figures_and_page(tmp_path):
    similarity = np.array([[1.0, 0.8, 0.1], [0.8, 1.0, 0.2], [0.1, 0.2, 1.0]])
    names, types = ["edges", "keypoints", "depth"], ["2d", "2d", "3d"]
    clusters = cluster_tasks(similarity, names)
    figures = [
        plot_similarity_heatmap(similarity, names, types, clusters.leaf_order, tmp_path / "heatmap.png"),
        plot_dendrogram(clusters.linkage, names, types, tmp_path / "dendrogram.png"),
        plot_ranking_bars(rank_candidates([0.8, 0.1], ["keypoints", "depth"]), "edges", dict(zip(names, types)), tmp_path / "rank.png"),
        plot_layer_matrices({"early": similarity ** 2, "out": similarity}, names, types, clusters.leaf_order, tmp_path / "layers.png"),
    ]
    for figure in figures:
        pixels = imread(figure)
        assert pixels.shape[0] > 200 and pixels.shape[1] > 200
        assert pixels.std() > 0.05  # not a blank canvas
    table = pd.DataFrame({"candidate": ["keypoints", "depth"], "similarity": [0.8, 0.1]})
    page = write_html_report(
        tmp_path / "report.html",
        "Taxonomy <demo>",
        [ReportSection("Taxonomy", "3 models", tuple(figures[:2])), ReportSection("Ranking", "", (figures[2],), (table,), (tmp_path / "rank.png",))],
    )
    text = page.read_text()
    assert len(re.findall(r'src="data:image/png;base64,', text)) == 3
    assert "Taxonomy &lt;demo&gt;" in text and "<td>keypoints</td>" in text and "href='rank.png'" in text


def test_validation_figures(tmp_path):
    from jobs.report import plot_agreement_per_target, plot_consistency, plot_transfer_scatter

    summary = pd.DataFrame({"candidate": ["a", "b", "c"], "similarity": [0.6, 0.3, 0.1], "metric_mean": [0.9, 0.5, 0.4],
                            "metric_std": [0.05, None, 0.1], "control_metric": 0.45})
    per_target = pd.DataFrame({"target": ["t1", "t2"], "spearman": [0.8, None], "pearson": [0.6, -0.2]})
    consistency = pd.DataFrame({"analysis": ["probe_images"] * 2 + ["training_stage"] * 2 + ["model_size"],
                                "setting": ["20", "40", "0.1", "0.5", "depth-wide vs small"], "x": [20, 40, 0.1, 0.5, None],
                                "mean": [0.7, 0.9, 0.5, 0.8, 0.95], "min": [0.4, 0.8, 0.2, 0.6, 0.95]})
    figures = [
        plot_transfer_scatter(summary, "depth", "negative_l1", tmp_path / "scatter.png"),
        plot_agreement_per_target(per_target, tmp_path / "per_target.png"),
        plot_consistency(consistency, tmp_path / "nested" / "consistency.png"),
    ]
    for figure in figures:
        pixels = imread(figure)
        assert pixels.shape[0] > 100 and pixels.shape[1] > 200 and pixels.std() > 0.05
