"""``rsa-ray report``: the HTML report from what the store holds, without computing anything."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from jobs.cli_types import Subcommand
from jobs.command_options import Selection, selection_from_args
from jobs.common import add_output_argument, add_selection_arguments, choose_layers, choose_models, choose_probe, open_store, output_dir
from jobs.config import add_common_arguments

if TYPE_CHECKING:  # pandas, matplotlib and the ranking are imported where the report is written
    from jobs.report import ReportSection


def ranking_sections(store, out) -> list[ReportSection]:
    """One section per stored ranking table (``ranking.<target>.<layer>``), as of the latest similarity.

    A ranking stored before its layer's latest similarity version (new weights, new models) is read again
    from that version, and the section says so: the report never shows a ranking of older inputs as current.
    """
    from jobs.report import ReportSection, plot_ranking_bars
    from rsa_ray import RankedCandidate

    sections = []
    for name in sorted(store.table_names()):
        if not name.startswith("ranking."):
            continue
        table = store.read_table(name)
        if table.empty:
            continue
        target, layer = str(table["target"].iloc[0]), str(table["layer"].iloc[0])
        table, note = _current(store, table, target, layer)
        ranking = [RankedCandidate(int(r), str(c), float(s)) for r, c, s in zip(table["rank"], table["candidate"], table["similarity"])]
        figure = plot_ranking_bars(ranking, target, dict(zip(table["candidate"], table["task_type"])), out / f"ranking.{target}.{layer}.png")
        sections.append(ReportSection(f"Which model to finetune from for {target} (layer {layer})", note, (figure,), (table,)))
    return sections


def score_sections(store, out) -> list[ReportSection]:
    """One section per stored score table (``scores.<target>.<layer>``, from ``rank --target``): every score
    side by side with its intervals; a table older than its layer's latest similarity version on the target's
    images says so, with the command that updates it."""
    from jobs.report import ReportSection
    from jobs.report.score_plots import plot_score_panels
    from jobs.score_table import absent_lines, decision_line, uninformative_lines
    from rsa_ray.estimators import ESTIMATORS

    sections = []
    for name in sorted(store.table_names()):
        if not name.startswith("scores."):
            continue
        table = store.read_table(name)
        if table.empty:
            continue
        target, layer, probe_id = str(table["target"].iloc[0]), str(table["layer"].iloc[0]), str(table["probe_id"].iloc[0])
        scores = [column for column in table.columns if column in ESTIMATORS]
        stored, versions = int(table["similarity_version"].iloc[0]), store.similarity_versions(probe_id, layer)
        note = (f"Scored on the {target} images (probe set {probe_id}), similarity version {stored}."
                if versions and versions[-1] == stored else
                f"OUTDATED: scored at similarity version {stored}, but the models on the {target} images have changed since "
                f"(latest version {versions[-1] if versions else 'none'}); run `rsa-ray rank --target {target} --score "
                f"{','.join(scores)}` to update it.")
        note = " ".join([note, *absent_lines(table), *uninformative_lines(table), decision_line(table) + "."])
        figure = plot_score_panels(table, scores, target, out / f"scores.{target}.{layer}.png")
        shown = [c for c in table.columns if c in ("candidate", "task_type", "consensus.rank") or c.split(".")[0] in scores
                 and not c.endswith(".error")]
        sections.append(ReportSection(f"Which model to finetune from for {target}: every score (layer {layer})", note,
                                      (figure,), (table[shown],)))
    return sections


def _current(store, table, target: str, layer: str):
    """The stored ranking table if it is of the latest similarity version, else the ranking read from that version."""
    from jobs.rank import current_ranking_table

    probe_id = str(table["probe_id"].iloc[0]) if "probe_id" in table else None
    if probe_id is None or not store.similarity_versions(probe_id, layer):
        return table, ""
    latest = store.similarity_versions(probe_id, layer)[-1]
    stored = int(table["similarity_version"].iloc[0])
    if stored == latest:
        return table, f"From similarity version {latest}."
    try:
        current = current_ranking_table(store, probe_id, layer, target)
    except ValueError as error:  # the target is no longer in the latest version
        return table, f"Stored from similarity version {stored}; the latest version {latest} cannot rank it: {error}."
    return current, f"From similarity version {latest} (the stored table was of version {stored}, before its inputs changed)."


def _taxonomy_layers(store, selection: Selection) -> tuple[str | None, list[str]]:
    """The shared probe set and the layers with a similarity on it, for the taxonomy sections. A store with only
    ranking or score tables (``rank --target T --data D`` alone) has none: its report shows those tables.

    Raises:
        ValueError: Nothing to report: no similarity on the chosen layers and no stored ranking or score table.
    """
    stored_tables = any(name.startswith(("ranking.", "scores.")) for name in store.table_names())
    if selection.probe is None and not store.shared_probe_set_ids() and stored_tables:
        return None, []
    probe_id = choose_probe(store, selection.probe)
    layers = choose_layers(store, choose_models(store, selection.models), selection.layers)
    kept = [layer for layer in layers if store.similarity_versions(probe_id, layer)]
    if not kept and not stored_tables:
        raise ValueError(f"no similarity stored for layer(s) {', '.join(layers)}; run `rsa-ray taxonomy` "
                         "(or `rsa-ray rank --target T`) first")
    return probe_id, kept


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    add_selection_arguments(parser)
    add_output_argument(parser)


def run(args: argparse.Namespace) -> int:
    from cluster.pipeline import FAILURES_TABLE  # imported here: cluster pulls in Ray
    from jobs.outputs import write_layer_comparison, write_layer_taxonomy
    from jobs.report import ReportSection, write_html_report
    from jobs.taxonomy import taxonomy_sections

    selection, out_flag = selection_from_args(args), args.out
    store = open_store(selection.store)
    probe_id, layers = _taxonomy_layers(store, selection)
    out = output_dir(out_flag)
    taxonomies = [write_layer_taxonomy(store, probe_id, layer, out, record=False)  # the store is only read
                  for layer in layers]
    sections = (taxonomy_sections(taxonomies, write_layer_comparison(taxonomies, out)) + ranking_sections(store, out)
                + score_sections(store, out))
    if FAILURES_TABLE in store.table_names():
        sections.append(ReportSection("Failures", "Models that could not be compared, and why.", tables=(store.read_table(FAILURES_TABLE),)))
    report = write_html_report(out / "report.html", "rsa_ray report", sections)
    print(f"report: {report.resolve()}")
    return 0


SUBCOMMAND = Subcommand("report", "write the HTML report (heatmaps, dendrograms, rankings, failures) from the store", add_arguments, run)
