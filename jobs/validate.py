"""``rsa-ray validate``: does the RSA ranking predict which encoder transfers best? (docs/design.md, "What it computes")

Three modes:

* ``--target TASK_OR_DATASET``: rank the candidates by RSA from the target's small model
  (a mini-Taskonomy task's shipped ``<task>-small``, or one trained here on a dataset such
  as ``sklearn-digits``), finetune from each chosen candidate and from a random-init
  control as Ray Tune trials, and score the ranking with ``transfer_agreement``.
* ``--replicate``: the paper's Table 1 on the shipped zoo, leave-one-out: every zoo task
  in turn is the target, the other tasks' encoders are ranked from its small model and
  finetuned on it; top-1/3/5 hit counts and mean Pearson/Spearman.
  Each target's seed noise against the spread between its candidates marks the targets whose
  ranking cannot be measured; the transfer-affinity matrix (targets × sources) is compared
  with the RSA matrix column by column (the paper's §4.3).
* ``--consistency``: supplement S3: ranking agreement against the number of probe
  images, the training stage (checkpoints) and the model size (large vs small); and the task
  space's structure: the 4-cluster cut against the task types and the mean similarity per layer.

Tables go to the store and to ``--out`` (CSV, through ``jobs.outputs.write_table``), with PNG plots
(``jobs.report``) and ``validation.html``. The flags live in ``jobs.validate_options``, the setup in
``jobs.validate_inputs`` and the tables in ``jobs.validate_scoring``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from cluster.connect import ClusterResources
from cluster.tune_validation import TrialPlan, run_validation, tune_storage_path
from jobs.cli_types import Subcommand
from jobs.common import open_store, output_dir
from jobs.compute import compute_similarities, connect_once
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
from jobs.validate_options import ValidateOptions, add_arguments, options_from_args, parse_candidates
from jobs.validate_scoring import (
    affinity_agreement,
    affinity_matrix,
    agreement_row,
    candidate_summary,
    consistency_entries,
    consistency_table,
    estimator_agreement,
    estimator_table1,
    noise_table,
    similarity_by_task,
    table1_frame,
    task_structure_table,
)
from rsa_ray import MAX_NOISE_RATIO, DegenerateInputError, compute_rdm, select_candidates, similarity_matrix
from storage import Store


def validate_target(store: Store, options: ValidateOptions, out: Path, resources: ClusterResources) -> list[ReportSection]:
    """One target: every estimator's scores on its images, measured transfer (Tune finetuning and/or a
    held-out linear probe), and each estimator's agreement with each transfer, on the connected cluster."""
    from jobs.target_scores import ScoringOptions, score_target
    from jobs.validate_transfer import linear_probe_transfer, transfer_columns

    probe_id, target, data_name, data, record = _target_inputs(store, options, out)
    universe = candidate_universe(store, target, any_architecture=options.candidates_from == "registered")
    similarity = rsa_similarity(store, probe_id, target, universe)
    task_type_of = {entry.model_id: entry.task_type or "other" for entry in store.models(universe)}
    scoring = score_target(store, record, ScoringOptions(options.scores, options.bootstrap),
                           task_type_of, candidates=universe)
    scores = scoring.table.assign(**{"rsa-probe": scoring.table["candidate"].map(similarity)})
    score_names = (*scoring.scores, "rsa-probe")
    performance, sections_tables, figures, links = {}, [], [], []
    if "finetune" in options.transfers:
        summary, finetune_links, figure = _finetune_transfer(store, options, out, (data, data_name), universe,
                                                             similarity, resources)
        performance["finetune"] = dict(zip(summary["candidate"], summary["metric_mean"]))
        links += finetune_links
        figures.append(figure)
        sections_tables.append(summary)
    if "linear-probe" in options.transfers:
        values, errors = linear_probe_transfer(store, data_name, data.splits(data_name), universe, scoring.layer)
        for candidate, why in errors.items():
            print(f"linear probe of {candidate} failed: {why}")
        performance["linear-probe"] = values
    agreement = pd.concat([estimator_agreement(scores, values, data_name, transfer, score_names)
                           for transfer, values in performance.items()], ignore_index=True)
    table = transfer_columns(scores, performance)
    links += [write_table(store, out, f"validation.{data_name}.{kind}", frame)
              for kind, frame in (("scores", table), ("agreement", agreement))]
    shown = ["transfer", "score", "pearson", "spearman", "weighted_kendall_tau", "top1_hit", "top3_hit", "regret"]
    print(agreement[[c for c in shown if c in agreement]].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    splits = data.splits(data_name)
    text = (f"Target {data_name} (small model {target}); {len(universe)} candidates scored by {', '.join(score_names)} on "
            f"{record.n_images} target images; transfer measured by {', '.join(performance)} "
            f"({len(splits.train[0])} training / {len(splits.held_out[0])} held-out examples"
            + (f"; {options.steps} finetuning steps of {options.batch_size}, {options.seeds} seeds" if "finetune" in performance else "")
            + "). rsa-probe is RSA on the shared probe set.")
    return [ReportSection(f"Transfer validation: {data_name}", text, tuple(figures), (agreement, table, *sections_tables),
                          tuple(links))]


def _target_inputs(store: Store, options: ValidateOptions, out: Path):
    """The probe set, the target's small model, its data's name, its data and its labelled record."""
    from jobs.target_data import TargetData, ensure_target
    from jobs.validate_transfer import task_target_record
    from rsa_ray.datasets import MINI_TASKONOMY_TASKS

    is_task = options.target in {task.name for task in MINI_TASKONOMY_TASKS}
    if options.candidates_from == "shipped":
        ensure_zoo(store, options.tasks + (options.target,) if is_task and options.tasks else options.tasks)
    probe_id = ensure_probe(store, options.probe_id, options.probes)
    if is_task:
        target, data_name = f"{options.target}-small", options.target
        data = rendered_targets(options, [options.target])
        record = task_target_record(store, options.target, data.splits(data_name), options.target_images,
                                    f"mini-taskonomy seed {options.dataset_seed}", target)
        return probe_id, target, data_name, data, record
    weights_dir = Path(options.weights_dir) if options.weights_dir else default_weights_dir(store, out)
    target, data = dataset_target(store, options, weights_dir)
    record = ensure_target(store, TargetData(options.target, target, image_size=options.image_size,
                                             n_images=options.target_images), model_id=target)
    return probe_id, target, target, data, record


def _finetune_transfer(store: Store, options: ValidateOptions, out: Path, target_data, universe,
                       similarity: dict[str, float], resources: ClusterResources):
    """Finetunes from the candidates chosen by RSA (and a control) on Tune: (summary, table links, scatter plot).

    ``target_data`` is the target's data and its name.
    """
    data, data_name = target_data
    ranked = sorted(universe, key=lambda c: -similarity[c])
    chosen = select_candidates(parse_candidates(options.candidates), ranked)
    print(f"finetuning {len(chosen)} candidates + control × {options.seeds} seeds on {data_name} "
          f"({options.steps} steps; {resources.cpus} CPUs, {resources.gpus} GPUs)")
    trials = run_validation(data, [TrialPlan(data_name, chosen)], candidate_encoders(store, chosen),
                            options.tune_options(f"validate-{data_name}"), tune_storage_path(store.url))
    summary = candidate_summary(trials, similarity)
    links = [write_table(store, out, f"validation.{data_name}.{kind}", table)
             for kind, table in (("trials", trials), ("candidates", summary))]
    metric_name = trials["metric_name"].iloc[0]
    return summary, links, plot_transfer_scatter(summary, data_name, metric_name, out / f"validation.{data_name}.png")


def replicate(store: Store, options: ValidateOptions, out: Path, resources: ClusterResources) -> list[ReportSection]:
    """Leave-one-out over the zoo tasks on the connected cluster: the paper's Table 1 counts and mean correlations."""
    zoo_tasks = ensure_zoo(store, options.tasks)
    probe_id = ensure_probe(store, options.probe_id, options.probes)
    models = list(zoo_tasks)
    compute_similarities(store, probe_id, models, [LAYER])
    matrix = store.read_similarity(probe_id, LAYER)
    index = {m: matrix.model_ids.index(m) for m in models}
    plans, similarities = [], {}
    for target_model, task in zoo_tasks.items():
        others = [m for m, t in zoo_tasks.items() if t != task]
        similarities[task] = {m: float(matrix.matrix[index[target_model], index[m]]) for m in others}
        ranked = sorted(others, key=lambda m: -similarities[task][m])
        plans.append(TrialPlan(task, select_candidates(parse_candidates(options.candidates), ranked)))
    data = rendered_targets(options, list(zoo_tasks.values()))
    estimator_scores = replication_scores(store, options, zoo_tasks, data, similarities)
    n_trials = sum(len(p.candidates) + 1 for p in plans) * options.seeds * len(options.learning_rates)
    print(f"replication: {len(plans)} targets, {n_trials} Tune trials ({resources.cpus} CPUs, {resources.gpus} GPUs)")
    trials = run_validation(data, plans, candidate_encoders(store, models), options.tune_options("replicate"),
                            tune_storage_path(store.url))
    summaries = [candidate_summary(trials[trials["target"] == p.target], similarities[p.target]) for p in plans]
    noise = noise_table(trials)
    per_target = pd.DataFrame([agreement_row(s, p.target) for s, p in zip(summaries, plans)])
    per_target = per_target.merge(noise, on="target", how="left")
    settings = {"steps": options.steps, "seeds": options.seeds, "n_train": options.n_train, "n_val": options.n_val}
    tasks = list(zoo_tasks.values())
    candidates = pd.concat(summaries, ignore_index=True)
    affinity = affinity_matrix(candidates, zoo_tasks, tasks)
    rsa_by_task = similarity_by_task(matrix.matrix, matrix.model_ids, zoo_tasks, tasks)
    table1 = table1_frame(per_target, summaries, settings).assign(**affinity_agreement(affinity, rsa_by_task))
    per_estimator = pd.concat([estimator_agreement(estimator_scores[s["target"].iloc[0]],
                                                   dict(zip(s["candidate"], s["metric_mean"])), s["target"].iloc[0],
                                                   "finetune", estimator_scores[s["target"].iloc[0]].attrs["scores"])
                               for s in summaries], ignore_index=True)
    per_estimator = per_estimator.merge(noise[["target", "noise_ok"]], on="target", how="left")
    estimators_table1 = estimator_table1(per_estimator, summaries, settings)
    links = [write_table(store, out, f"replication.{kind}", table) for kind, table in
             (("trials", trials), ("candidates", candidates), ("targets", per_target),
              ("table1", table1), ("estimator_targets", per_estimator), ("estimators", estimators_table1),
              ("affinity", affinity.reset_index()))]
    figure = plot_agreement_per_target(per_target, out / "replication.png")
    print(per_target.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    noisy = per_target[~per_target["noise_ok"].eq(True)]["target"].tolist()
    print(f"seed noise / spread between candidates <= {MAX_NOISE_RATIO:.2f} for {len(per_target) - len(noisy)} of "
          f"{len(per_target)} targets" + (f"; within noise: {', '.join(noisy)}" if noisy else ""))
    print(table1.T.to_string(header=False))
    print(estimators_table1.set_index("score").T.to_string(float_format=lambda v: f"{v:.3f}"))
    text = (f"Each of {len(plans)} zoo tasks as the target in turn; the other tasks' small encoders ranked by RSA from its small "
            f"model and finetuned on it ({options.steps} steps, {options.seeds} seeds, {options.n_train} train / {options.n_val} "
            f"held-out scenes of dataset seed {options.dataset_seed}). Paper (Taskonomy): top-1 7/17, top-3 14/17, top-5 16/17. "
            f"A target passes the noise check when the median std of its candidates' metric across seeds is at most "
            f"{MAX_NOISE_RATIO:.2f} of the std of their means (needs 2 seeds); the *_low_noise columns count those targets only "
            f"({len(per_target) - len(noisy)} of {len(per_target)}). affinity_spearman / affinity_pearson: the mean over targets "
            f"of the correlation between a target's measured transfer from each source and the sources' RSA similarity "
            f"(the transfer-affinity matrix against the RSA matrix, column by column without the diagonal).")
    return [ReportSection("Replication (Table 1)", text, (figure,), (table1, estimators_table1, per_target), tuple(links))]


def replication_scores(store: Store, options: ValidateOptions, zoo_tasks: dict[str, str], data,
                       similarities: dict[str, dict[str, float]]) -> dict[str, pd.DataFrame]:
    """Every estimator's scores of each target's candidates, on that target's own scenes (one block per estimator)."""
    from jobs.target_scores import ScoringOptions, score_target
    from jobs.validate_transfer import task_target_record

    tables = {}
    for target_model, task in zoo_tasks.items():
        record = task_target_record(store, task, data.splits(task), options.target_images,
                                    f"mini-taskonomy seed {options.dataset_seed}", target_model)
        others = [m for m, t in zoo_tasks.items() if t != task]
        scoring = score_target(store, record, ScoringOptions(options.scores, 0), candidates=others)
        table = scoring.table.assign(**{"rsa-probe": scoring.table["candidate"].map(similarities[task])})
        table.attrs["scores"] = (*scoring.scores, "rsa-probe")
        tables[task] = table
    return tables


def consistency(store: Store, options: ValidateOptions, out: Path) -> list[ReportSection]:
    """Supplement S3 on the shipped zoo (probe count, training stage, model size) and the task space's
    structure (type clustering at ``LAYER``, mean similarity per layer) from the final small models."""
    from jobs.probes import load_probe_images
    from rsa_ray.models import build_zoo_model, extract_features

    entries = consistency_entries(zoo_entries(options.tasks))
    images = load_probe_images("mini-taskonomy", options.consistency_probes, seed=0, size=None).images
    final_entries = [e for e in entries if is_final_small(e)]
    depth_layers = [layer for layer in (final_entries[0].layers if final_entries else ())
                    if all(layer in e.layers for e in final_entries)]
    features, layer_rdms, failed = {}, {layer: {} for layer in depth_layers}, {}
    for entry in entries:  # one pass per model: every layer for the final small models, LAYER for the others
        final = is_final_small(entry)
        layers = list(dict.fromkeys([*depth_layers, LAYER])) if final else [LAYER]
        extracted = extract_features(build_zoo_model(entry), images, layers, entry.preprocessing)
        features[entry.model_id] = extracted[LAYER]
        for layer in depth_layers if final else ():
            try:  # only the RDMs are kept: the early layers' features are large
                layer_rdms[layer][entry.model_id] = compute_rdm(extracted[layer], name=f"{entry.model_id} {layer}")
            except DegenerateInputError as error:
                failed.setdefault(layer, str(error))
        del extracted
    finals = {e.model_id: features[e.model_id] for e in final_entries}
    counts = [count for count in options.probe_counts if count < len(images)]
    table = consistency_table(entries, features, finals, counts, len(images))
    similarities = {}
    for layer, rdms in layer_rdms.items():
        if layer in failed:
            continue
        try:
            similarities[layer] = similarity_matrix(np.stack([rdms[m] for m in finals]), names=list(finals))
        except DegenerateInputError as error:
            failed[layer] = str(error)
    for layer, why in failed.items():
        print(f"layer {layer} left out of the depth trend: {why}")
    structure = task_structure_table(similarities, list(finals), [e.task_type for e in final_entries], LAYER)
    links = (write_table(store, out, "consistency", table), write_table(store, out, "consistency.task_structure", structure))
    figure = plot_consistency(table, out / "consistency.png")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(structure.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    text = (f"Ranking agreement (mean over targets of the Spearman between two similarity rows, the target excluded) on "
            f"{len(images)} mini-Taskonomy probe scenes, layer {LAYER}, {len(finals)} final small models. Task structure: "
            f"type_clustering is the adjusted Rand index of the dendrogram's cut (average linkage on 1 − similarity at "
            f"{LAYER}) against the task types; depth_trend the mean off-diagonal task similarity per layer "
            f"({', '.join(similarities)}), which the paper finds falling with depth.")
    return [ReportSection("Consistency of rankings (supplement S3)", text, (figure,), (table, structure), links)]


def run(args: argparse.Namespace) -> int:
    """Runs the chosen mode and writes ``validation.html``; returns the exit code."""
    started = time.monotonic()
    options = options_from_args(args)
    store = open_store(args.store)
    out = output_dir(args.out)
    if args.consistency:  # computed here, from the zoo's stored features: no Ray
        sections, title = consistency(store, options, out), "consistency"
    else:
        resources = connect_once(options.address)  # the one connection the whole validation computes on
        if args.replicate:
            sections, title = replicate(store, options, out, resources), "replication"
        else:
            sections, title = validate_target(store, options, out, resources), f"validation of {options.target}"
    report = write_html_report(out / "validation.html", f"rsa_ray {title}", sections)
    print(f"done in {time.monotonic() - started:.0f} s: report {report.resolve()}; store {store.url}")
    return 0


SUBCOMMAND = Subcommand("validate", "finetune from each candidate on Ray Tune and test the RSA ranking against the results", add_arguments, run)
