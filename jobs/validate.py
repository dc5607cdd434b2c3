"""``rsa-ray validate``: does the RSA ranking predict which encoder transfers best? (DESIGN.md §1 items 6-8)

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

Tables go to the store and to ``--out`` (CSV), with PNG plots and ``validation.html``.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from cluster.connect import connect  # noqa: E402
from cluster.tune_validation import (  # noqa: E402
    CandidateEncoder,
    TrialPlan,
    TuneValidationOptions,
    run_validation,
    tune_storage_path,
)
from jobs.cli_types import Subcommand  # noqa: E402
from jobs.common import add_output_argument, choose_probe, open_store, output_dir  # noqa: E402
from jobs.compute import compute_similarities  # noqa: E402
from jobs.config import add_common_arguments  # noqa: E402
from jobs.report import ReportSection, write_html_report  # noqa: E402
from rsa_ray import DegenerateInputError, transfer_agreement  # noqa: E402
from rsa_ray.validation import (  # noqa: E402
    CONTROL,
    parse_candidates,
    select_candidates,
    split_indices,
    table1_counts,
)
from storage import Store  # noqa: E402

LAYER = "encoder.output"
KS = (1, 3, 5)
SMOKE_TASKS = ("autoencoding", "depth", "semantic_segmentation", "camera_pose")


@dataclass(frozen=True)
class ValidateOptions:
    """What ``validate`` runs (the flags, after ``--smoke-test`` shrank them).

    Attributes:
        target: A mini-Taskonomy task name or a dataset (``sklearn-digits``, .npz, folder).
        candidates: ``all``, ``top:K`` or ``ID,ID,...``.
        tasks: Zoo tasks to register as candidates (and, with ``--replicate``, to use as targets).
        steps: Finetuning steps per trial.
        seeds: Seeds per candidate.
        batch_size: Images per finetuning step.
        learning_rates: One rate or a small grid.
        n_train: Finetuning examples.
        n_val: Held-out examples.
        image_size: Input side for finetuning.
        target_steps: Training steps of a dataset target's small model.
        probes: Mini-Taskonomy probe images to add when the store has no probe set.
        evaluations: Held-out evaluations per trial (ASHA decides at each).
        asha: ASHA early stopping.
        dataset_seed: Seed of the rendered mini-Taskonomy finetuning scenes (the zoo used 0).
        consistency_probes: Probe images of the largest set in the consistency analyses.
        probe_counts: Smaller probe counts compared with the largest.
    """

    target: str | None = None
    candidates: str = "all"
    tasks: tuple[str, ...] = ()
    steps: int = 150
    seeds: int = 2
    batch_size: int = 32
    learning_rates: tuple[float, ...] = (1e-3,)
    n_train: int = 500
    n_val: int = 200
    image_size: int = 64
    target_steps: int = 300
    probes: int = 500
    evaluations: int = 1
    asha: bool = False
    dataset_seed: int = 1
    consistency_probes: int = 2000
    probe_counts: tuple[int, ...] = (100, 200, 400, 1000)

    def tune_options(self, name: str) -> TuneValidationOptions:
        return TuneValidationOptions(
            steps=self.steps, seeds=self.seeds, batch_size=self.batch_size, learning_rates=self.learning_rates,
            evaluations=self.evaluations, asha=self.asha, experiment_name=name,
        )


def smoke_test_options(options: ValidateOptions) -> ValidateOptions:
    """Seconds-sized settings: 4 zoo tasks (3 candidates), 3 steps, 1 seed, 32 px, 40 probe images.

    Example:
        >>> smoke_test_options(ValidateOptions(target="depth")).steps
        3
    """
    return replace(
        options, tasks=SMOKE_TASKS,
        steps=3, seeds=1, batch_size=8, n_train=24, n_val=12, image_size=32, target_steps=5, probes=40,
        consistency_probes=60, probe_counts=(20, 40),
    )


# Setup: zoo, probe set, target -----------------------------------------------------------------


def zoo_entries(tasks: tuple[str, ...] = ()):
    """The shipped zoo's entries (every variant), restricted to ``tasks`` when given."""
    from rsa_ray.models import shipped_zoo_dir
    from storage import load_manifest

    entries = load_manifest(os.fspath(shipped_zoo_dir() / "manifest.yaml"))
    return [e for e in entries if not tasks or e.task in tasks]


def _is_final_small(entry) -> bool:
    return entry.training is not None and entry.training.variant == "small" and entry.training.checkpoint_fraction == 1.0


def ensure_zoo(store: Store, tasks: tuple[str, ...]) -> dict[str, str]:
    """Registers the shipped zoo's final small models (if missing); returns model id → task."""
    finals = [e for e in zoo_entries(tasks) if _is_final_small(e)]
    store.register_models(finals)
    return {e.model_id: e.task for e in finals}


def ensure_probe(store: Store, probe_id: str | None, count: int) -> str:
    """The chosen or only stored probe set; with none stored, ``count`` mini-Taskonomy scenes are added."""
    if probe_id is None and not store.probe_set_ids():
        from jobs.probes import load_probe_images

        probe = load_probe_images("mini-taskonomy", count, seed=0, size=None)
        return store.add_probe_set(probe.images, list(probe.image_ids), probe.source)
    return choose_probe(store, probe_id)


def dataset_target(store: Store, options: ValidateOptions, weights_dir: Path):
    """Trains (or reuses) a dataset target's small model; returns its id and its splits."""
    from jobs.train_target import TargetOptions, train_and_register
    from rsa_ray.datasets.labelled import load_labelled_task
    from rsa_ray.validation import TargetSplits

    name = "digits" if options.target == "sklearn-digits" else Path(options.target).stem
    labelled = load_labelled_task(options.target, name, size=options.image_size)
    if name not in store.model_ids():
        target_options = TargetOptions(options.target, name, steps=options.target_steps, image_size=options.image_size)
        _, loss = train_and_register(store, target_options, weights_dir)
        print(f"target small model {name!r} trained ({options.target_steps} steps, validation loss {loss:.3f})")
    # The split train-target used (seed 0): its small model never saw the held-out examples either.
    train, held_out = split_indices(len(labelled.images), 0.2, seed=0)
    train = np.random.default_rng(0).permutation(train)[: options.n_train]
    inputs = labelled.images.astype(np.float32).transpose(0, 3, 1, 2) / 255.0
    splits = TargetSplits(labelled.task, (inputs[train], labelled.targets[train]),
                          (inputs[held_out[: options.n_val]], labelled.targets[held_out[: options.n_val]]))
    return name, splits


def rendered_targets(options: ValidateOptions, task_names):
    """Fresh mini-Taskonomy scenes (seed ``dataset_seed``) with the labels of ``task_names``."""
    from rsa_ray.datasets import (
        RendererConfig,
        labels_for_tasks,
        render_mini_taskonomy,
        task_by_name,
    )
    from rsa_ray.validation import RenderedTargets

    config = RendererConfig(image_size=options.image_size)
    labels = labels_for_tasks([task_by_name(name) for name in task_names])
    train = render_mini_taskonomy(options.n_train, options.dataset_seed, config, labels)
    held_out = render_mini_taskonomy(options.n_val, options.dataset_seed, config, labels, first_index=options.n_train)
    return RenderedTargets(train, held_out)


def candidate_universe(store: Store, target: str) -> list[str]:
    """Every registered Table S1 model that is not the target and not trained on the target's task.

    The store's own models count (registered with ``rsa-ray models add``); ``validate`` adds the shipped zoo's
    final small models.
    """
    from rsa_ray.training import ARCHITECTURE_TARGET

    target_task = store.model(target).task
    entries = [store.model(model_id) for model_id in store.model_ids() if model_id != target]
    return [e.model_id for e in entries if e.task != target_task and e.architecture.target == ARCHITECTURE_TARGET]


def candidate_encoders(store: Store, model_ids) -> dict[str, CandidateEncoder]:
    """Each candidate's encoder weights (sha256-checked) as float32 arrays.

    Raises:
        ValueError: A candidate that is not a Table S1 encoder-decoder (naming it).
    """
    from rsa_ray.models import build_model
    from rsa_ray.training import ARCHITECTURE_TARGET
    from rsa_ray.validation import encoder_state

    encoders = {}
    for model_id in model_ids:
        entry = store.model(model_id)
        if entry.architecture.target != ARCHITECTURE_TARGET:
            raise ValueError(f"candidate {model_id!r} is a {entry.architecture.target}; validate finetunes Table S1 encoders only")
        model = build_model(entry, weights_path=store.fetch_weights(model_id))
        weights = {name: tensor.float().numpy() for name, tensor in encoder_state(model.state_dict()).items()}
        encoders[model_id] = CandidateEncoder(model_id, int(entry.architecture.kwargs_dict().get("width", 1)), weights)
    return encoders


def rsa_similarity(store: Store, probe_id: str, target: str, candidates, address: str | None) -> dict[str, float]:
    """RSA similarity (Spearman of RDMs at ``encoder.output``) of the target's small model to each candidate."""
    compute_similarities(store, probe_id, [target, *candidates], [LAYER], address=address)
    similarity = store.read_similarity(probe_id, LAYER)
    row = similarity.model_ids.index(target)
    return {c: float(similarity.matrix[row, similarity.model_ids.index(c)]) for c in candidates}


# Scoring --------------------------------------------------------------------------------------


def candidate_summary(trials: pd.DataFrame, similarity: dict[str, float]) -> pd.DataFrame:
    """Per candidate: similarity, RSA rank, mean/std held-out metric over seeds (best learning rate), transfer rank."""
    finite = trials[np.isfinite(trials["metric"])]
    per_rate = finite.groupby(["target", "candidate", "learning_rate"])["metric"].agg(["mean", "std", "count"]).reset_index()
    best = per_rate.sort_values("mean", ascending=False).groupby(["target", "candidate"]).head(1)
    best = best.rename(columns={"mean": "metric_mean", "std": "metric_std", "count": "seeds"})
    best["similarity"] = best["candidate"].map(similarity)
    control = best[best["candidate"] == CONTROL]["metric_mean"]
    control_mean = float(control.iloc[0]) if len(control) else float("nan")
    summary = best[best["candidate"] != CONTROL].copy()
    summary["rsa_rank"] = summary["similarity"].rank(ascending=False, method="min").astype(int)
    summary["transfer_rank"] = summary["metric_mean"].rank(ascending=False, method="min").astype(int)
    summary["beats_control"] = summary["metric_mean"] > control_mean
    summary["control_metric"] = control_mean
    columns = ["target", "candidate", "similarity", "rsa_rank", "metric_mean", "metric_std", "seeds", "transfer_rank",
               "learning_rate", "beats_control", "control_metric"]
    return summary[columns].sort_values("rsa_rank", ignore_index=True)


def agreement_row(summary: pd.DataFrame, target: str) -> dict:
    """``transfer_agreement`` of one target's summary as a flat row (NaN where it is undefined)."""
    ks = [k for k in KS if k <= len(summary)]
    row = {"target": target, "candidates": len(summary)}
    try:
        agreement = transfer_agreement(summary["similarity"].to_numpy(), summary["metric_mean"].to_numpy(), ks)
    except (ValueError, DegenerateInputError) as error:
        return {**row, "pearson": np.nan, "spearman": np.nan, "note": str(error)[:200]}
    best = summary["candidate"].iloc[agreement.best_by_similarity]
    row.update(pearson=agreement.pearson, spearman=agreement.spearman, kendall_tau=agreement.kendall_tau,
               weighted_kendall_tau=agreement.weighted_kendall_tau, regret=agreement.regret, rsa_top1=best,
               transfer_top1=summary.sort_values("metric_mean", ascending=False)["candidate"].iloc[0], note="")
    row.update({f"top{k}_hit": agreement.top_k_hit[k] for k in ks})
    return row


def plot_scatter(summary: pd.DataFrame, target: str, metric_name: str, path: Path) -> Path:
    """Similarity to the target vs held-out metric after finetuning, one point per candidate; control as a line."""
    figure, axes = plt.subplots(figsize=(6.5, 4.8))
    axes.errorbar(summary["similarity"], summary["metric_mean"], yerr=summary["metric_std"].fillna(0), fmt="o", color="#0072B2")
    for _, row in summary.iterrows():
        axes.annotate(row["candidate"], (row["similarity"], row["metric_mean"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    control = summary["control_metric"].iloc[0] if len(summary) else np.nan
    if np.isfinite(control):
        axes.axhline(control, color="#D55E00", linestyle="--", label="random-init control")
        axes.legend(fontsize=8)
    axes.set_xlabel("RSA similarity to the target's small model (Spearman r_s)")
    axes.set_ylabel(f"held-out {metric_name} after finetuning (higher is better)")
    axes.set_title(f"Transfer to {target}")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def write_table(store: Store, out: Path, name: str, table: pd.DataFrame) -> Path:
    store.write_table(name, table)
    path = out / f"{name}.csv"
    table.to_csv(path, index=False)
    return path


# Modes ------------------------------------------------------------------------------------------


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
        weights_dir = Path(args.weights_dir) if args.weights_dir else _default_weights_dir(store, out)
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
    scatter = plot_scatter(summary, data_name, metric_name, out / f"validation.{data_name}.png")
    print(summary.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(agreement.T.to_string(header=False))
    text = (f"Target {data_name} (small model {target}); {len(chosen)} candidates + random-init control × {options.seeds} seeds; "
            f"{options.steps} finetuning steps of {options.batch_size} on {len(data.splits(data_name).train[0])} examples, "
            f"held-out {metric_name} on {len(data.splits(data_name).held_out[0])}; {len(trials)} Tune trials.")
    return [ReportSection(f"Transfer validation: {data_name}", text, (scatter,), (summary, agreement), tuple(links))]


def _default_weights_dir(store: Store, out: Path) -> Path:
    return Path(store.url[len("file://"):]) / "weights" if store.url.startswith("file://") else out / "weights"


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
    scored = per_target[np.isfinite(per_target["pearson"])]
    ks = [k for k in KS if f"top{k}_hit" in scored]
    counts = table1_counts([{k: bool(r[f"top{k}_hit"]) for k in ks} for _, r in scored.iterrows()],
                           scored["pearson"].tolist(), scored["spearman"].tolist())
    table1 = pd.DataFrame([{"targets_scored": counts.n_targets, "targets": len(plans),
                            **{f"top{k}_hits": v for k, v in counts.top_k_hits.items()},
                            "mean_pearson": counts.mean_pearson, "mean_spearman": counts.mean_spearman,
                            "beats_control_share": float(pd.concat(summaries)["beats_control"].mean()),
                            "steps": options.steps, "seeds": options.seeds, "n_train": options.n_train, "n_val": options.n_val}])
    links = [write_table(store, out, f"replication.{kind}", table) for kind, table in
             (("trials", trials), ("candidates", pd.concat(summaries, ignore_index=True)), ("targets", per_target), ("table1", table1))]
    figure = _plot_per_target(per_target, out / "replication.png")
    print(per_target.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(table1.T.to_string(header=False))
    text = (f"Each of {len(plans)} zoo tasks as the target in turn; the other tasks' small encoders ranked by RSA from its small "
            f"model and finetuned on it ({options.steps} steps, {options.seeds} seeds, {options.n_train} train / {options.n_val} "
            f"held-out scenes of dataset seed {options.dataset_seed}). Paper (Taskonomy): top-1 7/17, top-3 14/17, top-5 16/17.")
    return [ReportSection("Replication (Table 1)", text, (figure,), (table1, per_target), tuple(links))]


def _plot_per_target(per_target: pd.DataFrame, path: Path) -> Path:
    figure, axes = plt.subplots(figsize=(7.5, 0.8 + 0.3 * len(per_target)))
    positions = np.arange(len(per_target))[::-1]
    axes.barh(positions - 0.2, per_target["spearman"].fillna(0), height=0.4, label="Spearman", color="#0072B2")
    axes.barh(positions + 0.2, per_target["pearson"].fillna(0), height=0.4, label="Pearson", color="#E69F00")
    axes.set_yticks(positions, per_target["target"])
    axes.axvline(0, color="black", linewidth=0.8)
    axes.set_xlabel("correlation of RSA similarity with transfer performance")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def consistency(store: Store, options: ValidateOptions, out: Path) -> list[ReportSection]:
    """Supplement S3 on the shipped zoo: probe count, training stage, model size."""
    from jobs.probes import load_probe_images
    from rsa_ray.models import build_zoo_model, extract_features
    from rsa_ray.validation import (
        consistency_of_target_swap,
        consistency_vs_probe_count,
        consistency_vs_variant,
    )

    entries = zoo_entries(options.tasks)
    images = load_probe_images("mini-taskonomy", options.consistency_probes, seed=0, size=None).images
    features = {e.model_id: extract_features(build_zoo_model(e), images, [LAYER], e.preprocessing)[LAYER] for e in entries}
    finals = {e.model_id: features[e.model_id] for e in entries if _is_final_small(e)}
    rows = []
    counts = [count for count in options.probe_counts if count < len(images)]
    for count, result in consistency_vs_probe_count(finals, counts).items():
        rows.append({"analysis": "probe_images", "setting": f"{count} vs {len(images)}", "x": count, "mean": result.mean, "min": float(result.per_row.min())})
    for fraction in (0.1, 0.25, 0.5):
        stage = {e.training.base_model_id: features[e.model_id] for e in entries
                 if e.training.variant == "small" and e.training.checkpoint_fraction == fraction}
        result = consistency_vs_variant(finals, stage)
        rows.append({"analysis": "training_stage", "setting": f"{fraction:g} vs final", "x": fraction, "mean": result.mean, "min": float(result.per_row.min())})
    wide = {f"{e.task}-small": features[e.model_id] for e in entries if e.training.variant == "wide"}
    if wide:
        result = consistency_of_target_swap(finals, wide)
        for target, value in zip(wide, result.per_row):
            rows.append({"analysis": "model_size", "setting": f"{target.replace('-small', '-wide')} vs small", "x": np.nan, "mean": float(value), "min": float(value)})
    table = pd.DataFrame(rows)
    link = write_table(store, out, "consistency", table)
    figure = _plot_consistency(table, out / "consistency.png")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    text = (f"Ranking agreement (mean over targets of the Spearman between two similarity rows, the target excluded) on "
            f"{len(images)} mini-Taskonomy probe scenes, layer {LAYER}, {len(finals)} final small models.")
    return [ReportSection("Consistency of rankings (supplement S3)", text, (figure,), (table,), (link,))]


def _plot_consistency(table: pd.DataFrame, path: Path) -> Path:
    figure, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for axis, analysis, label in zip(axes, ("probe_images", "training_stage"), ("probe images", "fraction of training")):
        part = table[table["analysis"] == analysis]
        axis.plot(part["x"], part["mean"], "o-", label="mean over targets")
        axis.plot(part["x"], part["min"], "s--", label="worst target")
        axis.set_xlabel(label)
        axis.set_ylabel("ranking correlation with reference")
        axis.legend(fontsize=8)
    part = table[table["analysis"] == "model_size"]
    axes[2].bar(range(len(part)), part["mean"], color="#009E73")
    axes[2].set_xticks(range(len(part)), part["setting"], rotation=20, fontsize=7)
    axes[2].set_ylabel("ranking correlation, wide vs small target")
    for axis, title in zip(axes, ("vs probe count", "vs training stage", "vs model size")):
        axis.set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


# CLI ------------------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    add_output_argument(parser)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--target", help="a zoo task (e.g. depth) or a dataset: sklearn-digits, FILE.npz, FOLDER")
    mode.add_argument("--replicate", action="store_true", help="leave-one-out over the zoo tasks (the paper's Table 1)")
    mode.add_argument("--consistency", action="store_true", help="ranking consistency vs probe count, training stage, model size")
    parser.add_argument("--candidates", default="all", help="all, top:K or ID,ID,... (default all)")
    parser.add_argument("--tasks", default=None, help="zoo tasks to use, comma-separated (default: all 17)")
    parser.add_argument("--steps", type=int, default=150, help="finetuning steps per trial")
    parser.add_argument("--seeds", type=int, default=2, help="seeds per candidate")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, action="append", default=None, help="repeat for a grid (default 1e-3)")
    parser.add_argument("--n-train", type=int, default=500, help="finetuning examples")
    parser.add_argument("--n-val", type=int, default=200, help="held-out examples")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--target-steps", type=int, default=300, help="training steps of a dataset target's small model")
    parser.add_argument("--evaluations", type=int, default=1, help="held-out evaluations per trial")
    parser.add_argument("--asha", action="store_true", help="ASHA early stopping on the held-out metric (4 evaluations per trial unless --evaluations says more)")
    parser.add_argument("--probe", default=None, help="probe set id (default: the store's only one, else 500 mini-Taskonomy scenes)")
    parser.add_argument("--probes", type=int, default=500, help="probe scenes to add when the store has none")
    parser.add_argument("--consistency-probes", type=int, default=2000, help="probe scenes of the largest set in --consistency")
    parser.add_argument("--weights-dir", default=None, help="where a dataset target's small model goes (default <store>/weights)")
    parser.add_argument("--smoke-test", action="store_true", help="seconds-sized run: 4 zoo tasks, 3 steps, 1 seed, 32 px")


def options_from(args: argparse.Namespace) -> ValidateOptions:
    """The options the flags describe (shrunk by ``--smoke-test``)."""
    tasks = tuple(t.strip() for t in args.tasks.split(",") if t.strip()) if args.tasks else ()
    if tasks:
        from rsa_ray.datasets import task_by_name

        for task in tasks:
            task_by_name(task)  # raises naming the closest tasks
    options = ValidateOptions(
        target=args.target, candidates=args.candidates, tasks=tasks, steps=args.steps, seeds=args.seeds,
        batch_size=args.batch_size, learning_rates=tuple(args.learning_rate or (1e-3,)), n_train=args.n_train,
        n_val=args.n_val, image_size=args.image_size, target_steps=args.target_steps, probes=args.probes,
        evaluations=4 if args.asha and args.evaluations < 2 else args.evaluations, asha=args.asha, consistency_probes=args.consistency_probes,
    )
    parse_candidates(options.candidates)  # fail before any work
    _check_target(args.target)
    return smoke_test_options(options) if args.smoke_test else options


def _check_target(target: str | None) -> None:
    from rsa_ray.datasets import MINI_TASKONOMY_TASKS

    tasks = [task.name for task in MINI_TASKONOMY_TASKS]
    if target is None or target in tasks or target == "sklearn-digits" or target.endswith(".npz") or os.path.isdir(target):
        return
    raise ValueError(f"--target {target!r} is neither a zoo task ({', '.join(tasks)}) nor sklearn-digits, an .npz or a folder")


def run(args: argparse.Namespace) -> int:
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
