"""Plots and the self-contained HTML report."""

from jobs.report.html import ReportSection, precision_section, write_html_report
from jobs.report.plots import (
    TASK_TYPE_COLOURS,
    plot_agreement_per_target,
    plot_consistency,
    plot_dendrogram,
    plot_layer_matrices,
    plot_ranking_bars,
    plot_similarity_heatmap,
    plot_transfer_scatter,
    save_figure,
)

__all__ = [
    "TASK_TYPE_COLOURS",
    "ReportSection",
    "plot_agreement_per_target",
    "plot_consistency",
    "plot_dendrogram",
    "plot_layer_matrices",
    "plot_ranking_bars",
    "plot_similarity_heatmap",
    "plot_transfer_scatter",
    "precision_section",
    "save_figure",
    "write_html_report",
]
