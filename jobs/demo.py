"""``rsa-ray demo``: the whole workflow on the embedded default, in about two minutes on a laptop.

Local Ray, a local store (``./rsa-store``), the shipped zoo and a built-in probe set
of 500 mini-Taskonomy scenes: the taxonomy of the zoo at the encoder output and an
earlier layer; a small model trained on a new task from a real dataset
(scikit-learn's handwritten digits) and the zoo ranked for it; one more model
registered and the similarities updated incrementally; one HTML report. A rerun
reuses everything already stored.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from jobs.cli_types import Subcommand
from jobs.common import add_output_argument, open_store, output_dir
from jobs.compute import ProbeSelection, compute_similarities, connect_once, extract_probe_sets
from jobs.config import add_common_arguments
from jobs.train_target import TargetOptions

if TYPE_CHECKING:  # the store, pandas, plots and torch are imported where the demo runs
    from cluster.outcomes import ModelOutcome
    from cluster.pipeline import RunSummary
    from cluster.probe_sets import ExtractedStage
    from jobs.report import ReportSection
    from jobs.target_scores import ScoringOptions
    from rsa_ray.models import ModelEntry
    from storage import Store
    from storage.targets import TargetRecord

DEMO_LAYERS = ("encoder.output", "encoder.block2")
DEMO_SCORES = ("rsa", "knn", "logme")  # the paper's, the default for class labels, a second cheap estimator
TARGET = TargetOptions(data="sklearn-digits", name="digits", task_type="semantic", steps=300)


def zoo_models(manifest: str) -> list[ModelEntry]:
    """The shipped zoo's fully trained small models, in manifest order (checkpoints and large variants left out)."""
    from rsa_ray.models.manifest import final_models  # imported here: rsa_ray.models pulls in torch
    from storage import load_manifest

    return list(final_models(load_manifest(manifest), variant="small"))


def _ensure_target(store: Store, weights_dir: Path) -> str:
    from jobs.train_target import train_and_register

    if TARGET.name in store.model_ids() and store.fetch_weights(TARGET.name) is not None:
        print(f"target {TARGET.name!r} already trained and registered; reusing it")
        return TARGET.name
    model_id, loss = train_and_register(store, TARGET, weights_dir)
    print(f"target {model_id!r} trained (validation loss {loss:.3f}) and registered")
    return model_id


@dataclass(frozen=True)
class _Demo:
    """What every step of the demo works in: the store, the output folder, the probe set and the Ray address."""

    store: Store
    out: Path
    probe_id: str
    address: str | None

    def similarities(self, model_ids: list[str], stage: ExtractedStage | None = None) -> RunSummary:
        """Brings the similarities of ``model_ids`` at the demo's layers up to date (``stage``: already extracted)."""
        return compute_similarities(self.store, self.probe_id, model_ids, DEMO_LAYERS, stage=stage)

    def extraction_stage(self, model_ids: list[str], record: TargetRecord, scoring: ScoringOptions) -> ExtractedStage:
        """What a step extracts on the probe set and on the target's digits, as one stage (one actor pool)."""
        from jobs.target_scores import target_selection

        return extract_probe_sets(self.store, [ProbeSelection(self.probe_id, tuple(model_ids), DEMO_LAYERS),
                                               target_selection(self.store, record, scoring)])


def run(args: argparse.Namespace) -> int:
    from jobs.probes import load_probe_images
    from rsa_ray.models import shipped_zoo_dir

    started = time.monotonic()
    store = open_store(args.store)
    out = output_dir(args.out)
    probe = load_probe_images("mini-taskonomy", args.probes, seed=0, size=None)
    demo = _Demo(store, out, store.add_probe_set(probe.images, list(probe.image_ids), probe.source), args.address)
    print(f"[1/5] probe set {demo.probe_id}: {len(probe.images)} mini-Taskonomy scenes")

    zoo = zoo_models(os.fspath(shipped_zoo_dir() / "manifest.yaml"))
    initial, late = zoo[:-1], zoo[-1]
    store.register_models(initial)
    ids = [e.model_id for e in initial]
    print(f"[2/5] taxonomy of {len(ids)} zoo models at layers {', '.join(DEMO_LAYERS)}")
    connect_once(demo.address)  # the one connection every later step computes on
    failures = list(demo.similarities(ids).failures)
    target, target_sections, target_failures = _target_step(demo, ids)
    failures += target_failures
    summary, arrival_section = _arrival_step(demo, ids, late, target)
    failures += summary.failures
    report = _write_report(demo, f"{len(zoo)} encoders trained on mini-Taskonomy tasks, compared by RSA on "
                                 f"{len(probe.images)} probe scenes", summary.precision,
                           [*target_sections, arrival_section], failures, started)
    print(f"done in {time.monotonic() - started:.0f} s: report {report.resolve()}; store {store.url}")
    return 3 if failures else 0


def _target_step(demo: _Demo, ids: list[str]) -> tuple[str, list[ReportSection], list[ModelOutcome]]:
    """[3/5]: trains the digits model, ranks the zoo for it by RSA and by three scores on the digits.

    Appends the target to ``ids``; returns its id, its report sections and the similarity run's failures.
    """
    from jobs.rank import print_ranking, print_scores
    from jobs.report import ReportSection
    from jobs.report.score_plots import plot_score_panels
    from jobs.target_data import TargetData, ensure_target

    store, out = demo.store, demo.out
    print("[3/5] a new task from real data: handwritten digits (scikit-learn)")
    folder = store.local_folder()
    weights_dir = Path(folder) / "weights" if folder is not None else Path(out) / "weights"
    target = _ensure_target(store, weights_dir)
    ids.append(target)
    record = ensure_target(store, TargetData(TARGET.data, TARGET.name, TARGET.task_type, TARGET.image_size), target)
    scoring = _scoring()
    stage = demo.extraction_stage(ids, record, scoring)
    failures = list(demo.similarities(ids, stage).failures)
    ranking = print_ranking(store, demo.probe_id, DEMO_LAYERS[0], target, 5, out)
    print(f"    ... and on the digits themselves, by three scores with bootstrap intervals")
    scored = print_scores(store, record, scoring, 5, out, stage)
    sections = [
        ReportSection(
            f"Which model to finetune from for {target}",
            "Candidates ranked by the Spearman similarity of their RDMs to the target model's.",
            (out / f"ranking.{target}.png",),
            (ranking,),
            (out / f"ranking.{target}.csv",),
        ),
        ReportSection(
            f"Which model to finetune from for {target}, on the digits: three scores",
            f"The zoo scored on {record.n_images} of the digits themselves (rsa: the target model's RDM; knn, "
            "the default for class labels, and logme: the labels), with 95 % intervals from resampled halves of the images; hatched "
            "bars cannot be told apart from the top.",
            (plot_score_panels(scored.table, scored.scores, target, out / f"scores.{target}.png"),),
            (scored.table,),
            (out / f"scores.{target}.csv",),
        ),
    ]
    return target, sections, failures


def _arrival_step(demo: _Demo, ids: list[str], late: ModelEntry, target: str) -> tuple[RunSummary, ReportSection]:
    """[4/5]: registers the last zoo model and updates the similarities; the run's summary and the rerank section."""
    from jobs.report import ReportSection
    from jobs.rerank import ranking_diff_table

    store, probe_id, out = demo.store, demo.probe_id, demo.out
    print(f"[4/5] a model lands: {late.model_id}; incremental rerank")
    before = store.similarity_versions(probe_id, DEMO_LAYERS[0])[-1]
    store.register_models([late])
    ids.append(late.model_id)
    stage = demo.extraction_stage(ids, store.target(TARGET.name), _scoring())
    summary = demo.similarities(ids, stage)
    _rescore_target(demo, target, stage)
    versions = store.similarity_versions(probe_id, DEMO_LAYERS[0])
    # On a rerun nothing is new: show the change the model's arrival made (the last two versions).
    previous = before if dict(summary.versions)[DEMO_LAYERS[0]] else (versions[-2] if len(versions) > 1 else None)
    diff = ranking_diff_table(store, probe_id, DEMO_LAYERS[0], previous)
    diff.to_csv(out / "ranking_diff.csv", index=False)
    section = ReportSection(
        f"Rerank after {late.model_id} landed",
        "Each target's candidates, old and new rank (moved > 0: moved up). New pairs have no old rank.",
        tables=(diff[diff["target"] == target],),
        links=(out / "ranking_diff.csv",),
    )
    return summary, section


def _scoring() -> ScoringOptions:
    """The demo's scores on the digits, with bootstrap intervals."""
    from jobs.target_scores import ScoringOptions

    return ScoringOptions(DEMO_SCORES, bootstrap=100)


def _rescore_target(demo: _Demo, target: str, stage: ExtractedStage | None = None) -> None:
    """The target's ranking and its scores on the digits, with the model that landed (as ``rerank`` re-scores
    every target): what the run leaves in the store is up to date, so a rerun of the demo computes nothing."""
    from jobs.rank import print_ranking, print_scores

    print(f"    the ranking and the scores for {target}, with the new model")
    print_ranking(demo.store, demo.probe_id, DEMO_LAYERS[0], target, 5, demo.out)
    print_scores(demo.store, demo.store.target(TARGET.name), _scoring(), 5, demo.out, stage)


def _write_report(demo: _Demo, what: str, precision: str, result_sections: list[ReportSection],
                  failures: list[ModelOutcome], started: float) -> Path:
    """[5/5]: the taxonomies of both layers and the report, with the steps' sections and any failures."""
    import pandas as pd

    from jobs.outputs import write_layer_comparison, write_layer_taxonomy
    from jobs.report import ReportSection, precision_section, write_html_report
    from jobs.taxonomy import taxonomy_sections

    store, out = demo.store, demo.out
    print("[5/5] report")
    taxonomies = [write_layer_taxonomy(store, demo.probe_id, layer, out, bootstrap=100) for layer in DEMO_LAYERS]
    comparison = write_layer_comparison(taxonomies, out)
    seconds = time.monotonic() - started
    sections = [
        ReportSection(
            "What this is",
            f"{what}; a small model trained on handwritten digits ranks them as transfer sources; one model added "
            f"incrementally. Store: {store.url}. Wall time of this run: {seconds:.0f} s.",
        ),
        precision_section(precision),
        *taxonomy_sections(taxonomies, comparison),
        *result_sections,
    ]
    if failures:
        sections.append(ReportSection("Failures", "", tables=(pd.DataFrame([f.__dict__ for f in failures]),)))
    return write_html_report(out / "report.html", "rsa_ray demo", sections)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    add_output_argument(parser)
    parser.add_argument("--probes", type=int, default=500, help="mini-Taskonomy probe scenes")


SUBCOMMAND = Subcommand("demo", "the whole workflow on the built-in zoo, local Ray and a local store", add_arguments, run)
