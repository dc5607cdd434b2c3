"""``rsa-ray validate``: does the RSA ranking predict which encoder transfers best? (docs/design.md, "What it computes")

Three modes:

* ``--target TASK_OR_DATASET``: rank the candidates by RSA from the target's small model
  (a mini-Taskonomy task's shipped ``<task>-small``, or one trained here on a dataset such
  as ``sklearn-digits``), finetune from each chosen candidate and from a random-init
  control as Ray Tune trials, and score the ranking with ``transfer_agreement``.
* ``--replicate``: the paper's Table 1 on the shipped zoo, leave-one-out: every zoo task
  in turn is the target, the other tasks' encoders are ranked from its small model and
  finetuned on it; top-1/3/5 hit counts and mean Pearson/Spearman.
* ``--consistency``: supplement S3: ranking agreement against the number of probe
  images, the training stage (checkpoints) and the model size (wide vs small).

Tables go to the store and to ``--out`` (CSV, through ``jobs.outputs.write_table``), with PNG plots
(``jobs.report``) and ``validation.html``. The flags live in ``jobs.validate_options``, the setup in
``jobs.validate_inputs`` and the tables in ``jobs.validate_scoring``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from cluster.connect import connect
from cluster.tune_validation import TrialPlan, run_validation, tune_storage_path
from jobs.cli_types import Subcommand
from jobs.common import open_store, output_dir
from jobs.compute import compute_similarities
from jobs.outputs import write_table
from jobs.report import (
    ReportSection,
    plot_agreement_per_target,
    plot_consistency,
    plot_transfer_scatter,
    write_html_report,
)
from jobs.validate_inputs import (
    LAYER,
    candidate_encoders,
    candidate_universe,
    dataset_target,
    default_weights_dir,
    ensure_probe,
    ensure_zoo,
    is_final_small,
    rendered_targets,
    rsa_similarity,
    zoo_entries,
)
from jobs.validate_options import ValidateOptions, add_arguments, options_from, parse_candidates
from jobs.validate_scoring import agreement_row, candidate_summary, consistency_table, table1_frame
from rsa_ray import select_candidates
from storage import Store


def validate_target(store: Store, options: ValidateOptions, args: argparse.Namespace, out: Path) -> list[ReportSection]:
    """One target: RSA ranking, Tune finetuning, agreement, scatter."""
    from rsa_ray.datasets import MINI_TASKONOMY_TASKS

    is_task = options.target in {task.name for task in MINI_TASKONOMY_TASKS}
    ensure_zoo(store, options.tasks + (options.target,) if is_task and options.tasks else options.tasks)
    probe_id = ensure_probe(store, args.probe, options.probes)
    if is_task:
        target, data_name = f"{options.target}-small", options.target
        data = rendered_targets(options, [options.target])
    else:
        weights_dir = Path(args.weights_dir) if args.weights_dir else default_weights_dir(store, out)
        target, data = dataset_target(store, options, weights_dir)
        data_name = target
    universe = candidate_universe(store, target)
    resources = connect(args.address)
    similarity = rsa_similarity(store, probe_id, target, universe, args.address)
    ranked = sorted(universe, key=lambda c: -similarity[c])
    chosen = select_candidates(parse_candidates(options.candidates), ranked)
    print(f"finetuning {len(chosen)} candidates + control × {options.seeds} seeds on {data_name} "
          f"({options.steps} steps; {resources.cpus} CPUs, {resources.gpus} GPUs)")
    trials = run_validation(data, [TrialPlan(data_name, chosen)], candidate_encoders(store, chosen),
                            options.tune_options(f"validate-{data_name}"), tune_storage_path(store.url))
    summary = candidate_summary(trials, similarity)
    agreement = pd.DataFrame([agreement_row(summary, data_name)])
    links = [write_table(store, out, f"validation.{data_name}.{kind}", table)
             for kind, table in (("trials", trials), ("candidates", summary), ("agreement", agreement))]
    metric_name = trials["metric_name"].iloc[0]
    scatter = plot_transfer_scatter(summary, data_name, metric_name, out / f"validation.{data_name}.png")
    print(summary.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(agreement.T.to_string(header=False))
    text = (f"Target {data_name} (small model {target}); {len(chosen)} candidates + random-init control × {options.seeds} seeds; "
            f"{options.steps} finetuning steps of {options.batch_size} on {len(data.splits(data_name).train[0])} examples, "
            f"held-out {metric_name} on {len(data.splits(data_name).held_out[0])}; {len(trials)} Tune trials.")
    return [ReportSection(f"Transfer validation: {data_name}", text, (scatter,), (summary, agreement), tuple(links))]


def replicate(store: Store, options: ValidateOptions, args: argparse.Namespace, out: Path) -> list[ReportSection]:
    """Leave-one-out over the zoo tasks: the paper's Table 1 counts and mean correlations."""
    zoo_tasks = ensure_zoo(store, options.tasks)
    probe_id = ensure_probe(store, args.probe, options.probes)
    resources = connect(args.address)
    models = list(zoo_tasks)
    compute_similarities(store, probe_id, models, [LAYER], address=args.address)
    matrix = store.read_similarity(probe_id, LAYER)
    index = {m: matrix.model_ids.index(m) for m in models}
    plans, similarities = [], {}
    for target_model, task in zoo_tasks.items():
        others = [m for m, t in zoo_tasks.items() if t != task]
        similarities[task] = {m: float(matrix.matrix[index[target_model], index[m]]) for m in others}
        ranked = sorted(others, key=lambda m: -similarities[task][m])
        plans.append(TrialPlan(task, select_candidates(parse_candidates(options.candidates), ranked)))
    data = rendered_targets(options, list(zoo_tasks.values()))
    n_trials = sum(len(p.candidates) + 1 for p in plans) * options.seeds * len(options.learning_rates)
    print(f"replication: {len(plans)} targets, {n_trials} Tune trials ({resources.cpus} CPUs, {resources.gpus} GPUs)")
    trials = run_validation(data, plans, candidate_encoders(store, models), options.tune_options("replicate"),
                            tune_storage_path(store.url))
    summaries = [candidate_summary(trials[trials["target"] == p.target], similarities[p.target]) for p in plans]
    per_target = pd.DataFrame([agreement_row(s, p.target) for s, p in zip(summaries, plans)])
    table1 = table1_frame(per_target, summaries, {"steps": options.steps, "seeds": options.seeds,
                                                  "n_train": options.n_train, "n_val": options.n_val})
    links = [write_table(store, out, f"replication.{kind}", table) for kind, table in
             (("trials", trials), ("candidates", pd.concat(summaries, ignore_index=True)), ("targets", per_target), ("table1", table1))]
    figure = plot_agreement_per_target(per_target, out / "replication.png")
    print(per_target.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(table1.T.to_string(header=False))
    text = (f"Each of {len(plans)} zoo tasks as the target in turn; the other tasks' small encoders ranked by RSA from its small "
            f"model and finetuned on it ({options.steps} steps, {options.seeds} seeds, {options.n_train} train / {options.n_val} "
            f"held-out scenes of dataset seed {options.dataset_seed}). Paper (Taskonomy): top-1 7/17, top-3 14/17, top-5 16/17.")
    return [ReportSection("Replication (Table 1)", text, (figure,), (table1, per_target), tuple(links))]


def consistency(store: Store, options: ValidateOptions, out: Path) -> list[ReportSection]:
    """Supplement S3 on the shipped zoo: probe count, training stage, model size."""
    from jobs.probes import load_probe_images
    from rsa_ray.models import build_zoo_model, extract_features

    entries = zoo_entries(options.tasks)
    images = load_probe_images("mini-taskonomy", options.consistency_probes, seed=0, size=None).images
    features = {e.model_id: extract_features(build_zoo_model(e), images, [LAYER], e.preprocessing)[LAYER] for e in entries}
    finals = {e.model_id: features[e.model_id] for e in entries if is_final_small(e)}
    counts = [count for count in options.probe_counts if count < len(images)]
    table = consistency_table(entries, features, finals, counts, len(images))
    link = write_table(store, out, "consistency", table)
    figure = plot_consistency(table, out / "consistency.png")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    text = (f"Ranking agreement (mean over targets of the Spearman between two similarity rows, the target excluded) on "
            f"{len(images)} mini-Taskonomy probe scenes, layer {LAYER}, {len(finals)} final small models.")
    return [ReportSection("Consistency of rankings (supplement S3)", text, (figure,), (table,), (link,))]


def run(args: argparse.Namespace) -> int:
    """Runs the chosen mode and writes ``validation.html``; returns the exit code."""
    started = time.monotonic()
    options = options_from(args)
    store = open_store(args.store)
    out = output_dir(args.out)
    if args.consistency:
        sections, title = consistency(store, options, out), "consistency"
    elif args.replicate:
        sections, title = replicate(store, options, args, out), "replication"
    else:
        sections, title = validate_target(store, options, args, out), f"validation of {options.target}"
    report = write_html_report(out / "validation.html", f"rsa_ray {title}", sections)
    print(f"done in {time.monotonic() - started:.0f} s: report {report.resolve()}; store {store.url}")
    return 0


SUBCOMMAND = Subcommand("validate", "finetune from each candidate on Ray Tune and test the RSA ranking against the results", add_arguments, run)
