"""``rsa-ray report``: the HTML report from what the store holds, without computing anything."""

from __future__ import annotations

import argparse

from cluster.pipeline import FAILURES_TABLE
from jobs.cli_types import Subcommand
from jobs.common import add_output_argument, add_selection_arguments, choose_layers, choose_models, choose_probe, open_store, output_dir
from jobs.config import add_common_arguments
from jobs.outputs import write_layer_comparison, write_layer_taxonomy
from jobs.report import ReportSection, plot_ranking_bars, write_html_report
from jobs.taxonomy import taxonomy_sections
from rsa_ray import RankedCandidate


def ranking_sections(store, out) -> list[ReportSection]:
    """One section per stored ranking table (``ranking.<target>.<layer>``)."""
    sections = []
    for name in sorted(store.table_names()):
        if not name.startswith("ranking."):
            continue
        table = store.read_table(name)
        if table.empty:
            continue
        target, layer = str(table["target"].iloc[0]), str(table["layer"].iloc[0])
        ranking = [RankedCandidate(int(r), str(c), float(s)) for r, c, s in zip(table["rank"], table["candidate"], table["similarity"])]
        figure = plot_ranking_bars(ranking, target, dict(zip(table["candidate"], table["task_type"])), out / f"ranking.{target}.{layer}.png")
        sections.append(ReportSection(f"Which model to finetune from for {target} (layer {layer})", "", (figure,), (table,)))
    return sections


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    add_selection_arguments(parser)
    add_output_argument(parser)


def run(args: argparse.Namespace) -> int:
    store = open_store(args.store)
    probe_id = choose_probe(store, args.probe)
    layers = choose_layers(store, choose_models(store, args.models), args.layer)
    out = output_dir(args.out)
    missing = [layer for layer in layers if not store.similarity_versions(probe_id, layer)]
    if len(missing) == len(layers):
        raise ValueError(f"no similarity stored for layer(s) {', '.join(missing)}; run `rsa-ray taxonomy` first")
    taxonomies = [write_layer_taxonomy(store, probe_id, layer, out) for layer in layers if layer not in missing]
    sections = taxonomy_sections(taxonomies, write_layer_comparison(taxonomies, out)) + ranking_sections(store, out)
    if FAILURES_TABLE in store.table_names():
        sections.append(ReportSection("Failures", "Models that could not be compared, and why.", tables=(store.read_table(FAILURES_TABLE),)))
    report = write_html_report(out / "report.html", "rsa_ray report", sections)
    print(f"report: {report.resolve()}")
    return 0


SUBCOMMAND = Subcommand("report", "write the HTML report (heatmaps, dendrograms, rankings, failures) from the store", add_arguments, run)
