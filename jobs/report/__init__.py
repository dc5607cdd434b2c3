"""Plots and the self-contained HTML report."""

from jobs.report.html import ReportSection, write_html_report
from jobs.report.plots import (
    TASK_TYPE_COLOURS,
    plot_dendrogram,
    plot_layer_matrices,
    plot_ranking_bars,
    plot_similarity_heatmap,
)

__all__ = [
    "TASK_TYPE_COLOURS",
    "ReportSection",
    "plot_dendrogram",
    "plot_layer_matrices",
    "plot_ranking_bars",
    "plot_similarity_heatmap",
    "write_html_report",
]
