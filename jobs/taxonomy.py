"""``rsa-ray taxonomy``: extract → RDMs → similarity → clustering → tables, plots and the HTML report."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from jobs.cli_types import Subcommand
from jobs.command_options import compute_options_from_args, open_selection, selection_from_args
from jobs.common import add_compute_arguments, add_output_argument, add_selection_arguments, output_dir
from jobs.compute import compute_similarities, connect_once, exit_code
from jobs.config import add_common_arguments

if TYPE_CHECKING:
    from jobs.report import ReportSection


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    add_selection_arguments(parser)
    add_output_argument(parser)
    add_compute_arguments(parser)
    parser.add_argument("--bootstrap", type=int, default=100, metavar="N",
                        help="bootstrap samples of the probe images for the dendrogram's branch support (0: none; default 100)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap samples")


def taxonomy_sections(taxonomies, comparison) -> list[ReportSection]:
    from jobs.report import ReportSection  # imported here: the report pulls in pandas and matplotlib

    sections = []
    for taxonomy in taxonomies:
        text = (f"{len(taxonomy.similarity.model_ids)} models, {taxonomy.similarity.method} similarity of their RDMs "
                f"(version {taxonomy.similarity.version}); dendrogram: average linkage on 1 − similarity.")
        if taxonomy.support is not None:
            weak = sum(share < 0.5 for share in taxonomy.support.support)
            text += (f" The number at each branch is its support: the share of {taxonomy.support.n_samples} dendrograms, "
                     f"each from a bootstrap resample of the probe images, that hold the same clade "
                     f"({weak} of {len(taxonomy.support.support)} branches below 0.5, in red).")
        sections.append(ReportSection(f"Taxonomy, layer {taxonomy.layer}", text, (taxonomy.heatmap, taxonomy.dendrogram), links=(taxonomy.table_csv,)))
    if comparison is not None:
        sections.append(ReportSection("Layers side by side", "The same models in one order, one matrix per layer.", (comparison,)))
    return sections


def run(args: argparse.Namespace) -> int:
    from jobs.outputs import write_layer_comparison, write_layer_taxonomy
    from jobs.report import precision_section, write_html_report

    if args.bootstrap < 0:
        raise ValueError(f"--bootstrap must be >= 0, got {args.bootstrap}")
    selection, compute, address = selection_from_args(args), compute_options_from_args(args), args.address
    bootstrap, seed, out_flag = args.bootstrap, args.seed, args.out
    store, probe_id, models, layers = open_selection(selection)
    connect_once(address)
    summary = compute_similarities(store, probe_id, models, layers, compute)
    out = output_dir(out_flag)
    taxonomies = [write_layer_taxonomy(store, probe_id, layer, out, bootstrap, seed)
                  for layer in layers if store.similarity_versions(probe_id, layer)]
    comparison = write_layer_comparison(taxonomies, out)
    sections = [precision_section(summary.precision), *taxonomy_sections(taxonomies, comparison)]
    report = write_html_report(out / "report.html", "rsa_ray task taxonomy", sections)
    print(f"similarity tables: {store.url} (tables similarity.<layer>); CSV, plots and report: {report}")
    return exit_code(summary)


SUBCOMMAND = Subcommand("taxonomy", "build the task taxonomy: extract, RDMs, similarity, clustering, report", add_arguments, run)
