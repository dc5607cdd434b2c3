"""Real-zoo benchmark: which transferability score agrees with transfer on real pretrained nets.

One command, offline, from installed packages only::

    python bench/real_zoo.py --preset full --work /tmp/real-zoo --json real_zoo.json

1. Builds a zoo of real-weight models (``bench/real_zoo_models.py``): MobileNetV2 ImageNet, MTCNN
   P/R/O-Net, CRAFT's VGG16-BN backbone, graded weight-noise copies and a briefly finetuned copy of
   the ImageNet net, and seeded random twins of every architecture.
2. Builds labelled real-image targets (``bench/real_zoo_targets.py``) and runs the real command on
   each (its entry point ``jobs.cli.main``, in this process, so one local Ray serves every command):
   ``rsa-ray models add`` then ``rsa-ray rank --target T --data T.npz --score all --bootstrap 0``,
   reading the score table CSV it writes.
3. Ground truth: a held-out linear probe (5-fold logistic regression, several CV shuffles) on each
   candidate's frozen features of all the target's images, accuracy and log-loss, with the noise
   ratio (median seed std / std of the candidates' means; passes at <= 1/3). For the torchvision
   candidates also a finetuning ground truth (``bench/real_zoo_finetune.py``): their last blocks and a new
   head trained from their weights on cached frozen-trunk activations, K-fold CV per seed, as Ray Tune
   trials (cached in the work folder as ``finetune-PLAN.pkl``, one file per plan), with the same noise ratio.
4. Agreement of every score and of static baselines (parameter count; pretrained before random-init;
   both), which read no target data, with the ground truth: Spearman, weighted tau, top-1/top-3,
   regret, with 95 % intervals from resampling candidates; each score's margin over the best static
   baseline, against each ground truth. Prints markdown tables and the wall time; ``--json`` writes every number.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.real_zoo_finetune import FinetunePlan, finetune_candidates, finetune_truth, plan_record  # noqa: E402
from bench.real_zoo_models import FINETUNED_ON, ZooPlan, parameter_count, write_benchmark_zoo  # noqa: E402
from bench.real_zoo_targets import TARGET_NAMES, build_target, write_npz  # noqa: E402
from bench.real_zoo_truth import agreement_row, probe_truth, truth_summary  # noqa: E402
from rsa_ray.estimators import ESTIMATORS  # noqa: E402
from rsa_ray.training.last_blocks import LastBlocksSettings  # noqa: E402

#: Training of the finetuning ground truth in the full preset (every fold of every seed).
FULL_FINETUNING = LastBlocksSettings(epochs=10, batch_size=32, learning_rate=1e-3)
STATIC = ("static:params", "static:pretrained", "static:pretrained+params")
TRUTHS = ("accuracy", "log_loss")
CLI_ATTEMPTS = 3  # a command that fails (e.g. Ray timing out at start on a loaded machine) is tried again


@dataclass(frozen=True)
class Preset:
    """Sizes of one benchmark run."""

    zoo: ZooPlan
    targets: tuple[str, ...]
    n_images: int
    image_size: int
    rank_images: int
    truth_seeds: tuple[int, ...]
    folds: int
    interval_samples: int
    finetune: FinetunePlan | None = None


PRESETS = {
    "full": Preset(ZooPlan(("mobilenet_v2", "mtcnn-pnet", "mtcnn-rnet", "mtcnn-onet"), (0,), (0.1, 0.25, 0.5, 1.0),
                           True, 3), TARGET_NAMES, 240, 64, 160, (0, 1, 2), 5, 1000,
                   FinetunePlan((0, 1), 3, FULL_FINETUNING)),
    "small": Preset(ZooPlan(("mobilenet_v2", "mtcnn-onet"), (0,), (0.5,), False, 0), ("textures", "digits"),
                    60, 32, 40, (0, 1), 3, 200, FinetunePlan((0, 1), 2, LastBlocksSettings(epochs=2, batch_size=16), False)),
}


def _cli(*args: str) -> None:
    """Runs ``rsa-ray ARGS`` (the command's own entry point, in this process: one Ray for every command)."""
    import contextlib
    import io

    from jobs.cli import main as rsa_ray_main

    os.environ.setdefault("RAY_raylet_start_wait_time_s", "180")  # a loaded machine starts Ray slowly
    for attempt in range(1, CLI_ATTEMPTS + 1):
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            code = rsa_ray_main(list(args))
        if code == 0:
            return
        print(f"`rsa-ray {args[0]}` exited {code} (attempt {attempt} of {CLI_ATTEMPTS}): "
              f"{printed.getvalue().strip().splitlines()[-1:]}", file=sys.stderr)
        time.sleep(30)
    raise RuntimeError(f"`rsa-ray {' '.join(args)}` exited {code}:\n{printed.getvalue()[-3000:]}")


def rank_scores(store: str, target: str, data: str, preset: Preset, out: Path) -> pd.DataFrame:
    """Runs ``rsa-ray rank --score all --bootstrap 0`` for one target and returns its score table CSV."""
    _cli("rank", "--store", store, "--target", target, "--data", data, "--score", "all", "--bootstrap", "0",
         "--target-images", str(preset.rank_images), "--image-size", str(preset.image_size), "--out", str(out))
    return pd.read_csv(out / f"scores.{target}.csv").set_index("candidate")


def frozen_features(manifest, zoo_dir: Path, tasks) -> dict[tuple[str, str], np.ndarray]:
    """Each candidate's default-layer features of every image of every task, extracted in this process."""
    import torch

    from rsa_ray.models.builders import build_model
    from rsa_ray.models.inference import extract_layer_features

    features = {}
    with torch.no_grad():
        for entry in manifest.models:
            model = build_model(entry, base_dir=zoo_dir)
            for task in tasks:
                read = extract_layer_features(model, task.images, [entry.layer("default")], entry.preprocessing)
                features[(entry.model_id, task.name)] = next(iter(read.values())).reshape(len(task.images), -1)
    return features


def ground_truth(features: dict, labels: dict, preset: Preset) -> dict:
    """The probe's per-seed accuracy and log-loss for every (model, target), two processes at a time."""
    from joblib import Parallel, delayed

    keys = sorted(features)
    values = Parallel(n_jobs=2)(delayed(probe_truth)(features[key], labels[key[1]], preset.truth_seeds, preset.folds)
                                for key in keys)
    return dict(zip(keys, values))


def static_scores(manifest, zoo_dir: Path) -> dict[str, dict[str, float]]:
    """Scores that read no target data: parameter count, pretrained (1) or random-init (0), and both."""
    params = {entry.model_id: float(parameter_count(entry, zoo_dir)) for entry in manifest.models}
    pretrained = {entry.model_id: float(entry.task != "random-init") for entry in manifest.models}
    both = {m: pretrained[m] * 1e12 + params[m] for m in params}
    return dict(zip(STATIC, (params, pretrained, both)))


def uninformative(table: pd.DataFrame, name: str) -> str | None:
    """The reason ``rank`` gave for finding score ``name`` uninformative on this target, or None."""
    checks = table.get(f"{name}.check")
    if checks is None:
        return None
    flagged = [str(c) for c in checks.dropna() if str(c).startswith("uninformative")]
    return flagged[0] if flagged else None


def score_columns(table: pd.DataFrame) -> dict[str, pd.Series]:
    """Every estimator's values in the table (higher = better), and the consensus (its mean rank, negated)."""
    columns = {name: pd.to_numeric(table[name], errors="coerce") for name in ESTIMATORS if name in table.columns}
    if "consensus" in table.columns:
        columns["consensus"] = -pd.to_numeric(table["consensus"], errors="coerce")
    return columns


def evaluate_target(task, candidates, table, truth, static, samples) -> dict:
    """Ground-truth summaries and every score's agreement for one target."""
    per_truth = {}
    for kind in TRUTHS:
        sign = -1.0 if kind == "log_loss" else 1.0
        per_seed = np.stack([sign * truth[(m, task.name)][kind] for m in candidates])
        summary = truth_summary(per_seed)
        summary["best_model"] = candidates[summary["best"]]
        scores = {name: column.reindex(candidates).to_numpy(dtype=np.float64)
                  for name, column in score_columns(table).items()}
        scores.update({name: np.array([values[m] for m in candidates]) for name, values in static.items()})
        summary["agreement"] = {name: agreement_row(values, summary["mean"], samples) for name, values in scores.items()}
        for name, row in summary["agreement"].items():
            row["uninformative"] = uninformative(table, name)
        summary["mean"] = dict(zip(candidates, summary["mean"].tolist()))
        per_truth[kind] = summary
    return per_truth


def _cached_truth(path: Path, compute):
    import pickle

    if path.is_file():
        return pickle.loads(path.read_bytes())  # written by this benchmark in its own work folder
    truth = compute()
    path.write_bytes(pickle.dumps(truth))
    return truth


def run(preset: Preset, work: Path) -> dict:
    started = time.perf_counter()
    timings: dict[str, float] = {}
    tasks = [build_target(name, preset.n_images, preset.image_size) for name in preset.targets]
    finetune = next((t for t in tasks if t.name == FINETUNED_ON), None)
    if finetune is None and preset.zoo.finetune_epochs:
        finetune = build_target(FINETUNED_ON, preset.n_images, preset.image_size)
    zoo_dir, store = work / "zoo", str(work / "store")
    resumed = (zoo_dir / "manifest.yaml").is_file()
    if resumed:  # --resume: an earlier run of the same preset wrote the zoo (and perhaps the tables)
        from rsa_ray.models.manifest import read_manifest

        manifest = read_manifest(zoo_dir / "manifest.yaml")
    else:
        manifest = write_benchmark_zoo(zoo_dir, preset.zoo, finetune)
        timings["zoo"] = time.perf_counter() - started
        _cli("models", "add", str(zoo_dir / "manifest.yaml"), "--store", store)
    tables = {}
    for task in tasks:
        begin, out = time.perf_counter(), work / "out" / task.name
        if resumed and (out / f"scores.{task.name}.csv").is_file():
            tables[task.name] = pd.read_csv(out / f"scores.{task.name}.csv").set_index("candidate")
            continue
        tables[task.name] = rank_scores(store, task.name, write_npz(task, work / f"{task.name}.npz"), preset, out)
        timings[f"rank {task.name}"] = time.perf_counter() - begin
    begin = time.perf_counter()
    truth = _cached_truth(work / "truth.pkl", lambda: ground_truth(
        frozen_features(manifest, zoo_dir, tasks), {task.name: task.labels for task in tasks}, preset))
    timings["ground truth"] = time.perf_counter() - begin
    finetuned = None
    if preset.finetune is not None:
        begin = time.perf_counter()
        finetuned = _cached_truth(work / f"finetune-{preset.finetune.digest()}.pkl",
                                  lambda: finetune_truth(manifest, zoo_dir, tasks, work, preset.finetune))
        timings["finetune truth"] = time.perf_counter() - begin
    static = static_scores(manifest, zoo_dir)
    results = {}
    for task in tasks:
        candidates = [e.model_id for e in manifest.models if not (task.name == FINETUNED_ON and "-ft-" in e.model_id)]
        results[task.name] = evaluate_target(task, candidates, tables[task.name], truth, static, preset.interval_samples)
        results[task.name]["description"] = task.description
        results[task.name]["n_images"] = int(len(task.images))
        results[task.name]["truth_per_seed"] = {m: {k: truth[(m, task.name)][k].tolist() for k in TRUTHS}
                                                for m in candidates}
        results[task.name]["scores"] = {c: {k: (None if pd.isna(v) else float(v)) for k, v in row.items()
                                            if isinstance(v, (int, float, np.floating))}
                                        for c, row in tables[task.name].iterrows()}
        if finetuned is not None:
            results[task.name]["finetune"] = finetune_result(task, manifest, tables[task.name], finetuned, static,
                                                             preset.interval_samples)
    timings["total"] = time.perf_counter() - started
    report = {"models": [{"model_id": e.model_id, "architecture": e.architecture.target, "task": e.task,
                          "parameters": static["static:params"][e.model_id]} for e in manifest.models],
              "targets": results, "timings_s": timings}
    if preset.finetune is not None:
        report["finetune_plan"] = plan_record(preset.finetune)
    return report


def finetune_result(task, manifest, table, truth, static, samples) -> dict:
    """The finetuning truth's summaries and every score's agreement with it, over the torchvision candidates."""
    candidates = finetune_candidates(manifest, task.name, FINETUNED_ON)
    result = evaluate_target(task, candidates, table, truth, static, samples)
    result["candidates"] = candidates
    result["truth_per_seed"] = {m: {k: truth[(m, task.name)][k].tolist() for k in TRUTHS} for m in candidates}
    return result


def _interval(row: dict, name: str) -> str:
    low_high = row["intervals"].get(name)
    if not low_high or np.isnan(_number(row[name])):
        return "n/a"
    text = f"{row[name]:+.2f} [{low_high[0]:+.2f}, {low_high[1]:+.2f}]"
    return f"uninformative ({text})" if row.get("uninformative") else text


def truth_table(results: dict, label: str = "probe") -> list[str]:
    lines = ["| target | images | ground truth | best (mean) | gap to 2nd | seed std | spread | noise ratio | passes |",
             "|---|---|---|---|---|---|---|---|---|"]
    for target, result in results.items():
        for kind in TRUTHS:
            s = result[kind]
            best = s["mean"][s["best_model"]]
            lines.append(f"| {target} | {result['n_images']} | {label} {kind.replace('_', '-')} | {s['best_model']} "
                         f"({abs(best):.3f}) | {s['top_gap']:.3f} | {s['seed_std']:.4f} | {s['spread']:.4f} | "
                         f"{s['noise_ratio']:.3f} | {'yes' if s['noise_ok'] else 'no'} |")
    return lines


def candidate_table(report: dict) -> list[str]:
    """Each candidate's ground truth per target: probe accuracy (log-loss); '-' where left out."""
    results = report["targets"]
    lines = ["| candidate | parameters | " + " | ".join(results) + " |", "|---|---|" + "---|" * len(results)]
    for model in report["models"]:
        cells = []
        for result in results.values():
            accuracy, loss = result["accuracy"]["mean"].get(model["model_id"]), result["log_loss"]["mean"].get(model["model_id"])
            cells.append("-" if accuracy is None else f"{accuracy:.3f} ({-loss:.3f})")
        if set(cells) == {"-"}:
            continue  # not a candidate of this ground truth
        lines.append(f"| {model['model_id']} | {model['parameters'] / 1e6:.2f} M | " + " | ".join(cells) + " |")
    return lines


def agreement_table(results: dict, kind: str, field: str) -> list[str]:
    targets = list(results)
    names = list(next(iter(results.values()))[kind]["agreement"])
    lines = ["| score | " + " | ".join(targets) + " |", "|---|" + "---|" * len(targets)]
    for name in names:
        cells = []
        for target in targets:
            row = results[target][kind]["agreement"][name]
            if field == "hits":
                cells.append(f"{'Y' if row['top1'] else '-'}/{'Y' if row['top3'] else '-'} regret "
                             f"{_interval(row, 'regret')}")
            else:
                cells.append(_interval(row, field))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def _number(value) -> float:
    return float("nan") if value is None else float(value)


def margin_table(results: dict, kind: str) -> list[str]:
    targets = list(results)
    names = [n for n in next(iter(results.values()))[kind]["agreement"] if n not in STATIC]
    lines = ["| score | " + " | ".join(targets) + " | min Spearman over passing targets | meets >= 0.8 | none < 0.5 "
             "| uninformative on |", "|---|" + "---|" * (len(targets) + 4)]
    for name in names:
        cells, passing, flagged = [], [], []
        for target in targets:
            agreement = results[target][kind]["agreement"]
            static_best = np.nanmax([_number(agreement[s]["spearman"]) for s in STATIC])
            value = float("nan") if agreement[name]["uninformative"] else _number(agreement[name]["spearman"])
            cells.append("n/a" if np.isnan(value) else f"{value - static_best:+.2f}")
            if agreement[name]["uninformative"]:
                flagged.append(target)
            if results[target][kind]["noise_ok"]:
                passing.append(value)
        worst = float(np.min(passing)) if passing else float("nan")  # NaN (uninformative somewhere) fails
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {'n/a' if np.isnan(worst) else f'{worst:+.2f}'} | "
                     f"{'yes' if worst >= 0.8 else 'no'} | {'yes' if worst >= 0.5 else 'no'} | "
                     f"{', '.join(flagged) or '-'} |")
    return lines


def print_report(report: dict) -> None:
    results = report["targets"]
    print(f"## Real pretrained zoo: {len(report['models'])} models, "
          f"{len({m['architecture'] for m in report['models']})} architectures, {len(results)} targets\n")
    print("\n".join(truth_table(results)))
    print("\n### Ground truth per candidate: probe accuracy (log-loss), mean over CV shuffles\n")
    print("\n".join(candidate_table(report)))
    for kind in TRUTHS:
        print_agreement_tables(results, kind, f"probe {kind.replace('_', '-')}")
    if any("finetune" in result for result in results.values()):
        print_finetune_report(report)
    timings = report["timings_s"]
    print("\nwall time: " + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in timings.items()))


def finetune_view(report: dict) -> dict:
    """Per target, the finetuning truth shaped like a probe result (for the same tables)."""
    return {target: {**result["finetune"], "n_images": result["n_images"]}
            for target, result in report["targets"].items() if "finetune" in result}


def print_finetune_report(report: dict) -> None:
    """The finetuning ground truth's tables: per target, per candidate, and every score's agreement with it."""
    view = finetune_view(report)
    plan = report.get("finetune_plan", {})
    print(f"\n## Finetuning ground truth (torchvision candidates; plan {plan})\n")
    print("\n".join(truth_table(view, "finetune")))
    print("\n### Finetuning truth per candidate: accuracy (log-loss), mean over seeds\n")
    print("\n".join(candidate_table({"models": report["models"], "targets": view})))
    for kind in TRUTHS:
        print_agreement_tables(view, kind, f"finetune {kind.replace('_', '-')}")


def print_agreement_tables(results: dict, kind: str, label: str) -> None:
    """Every score's agreement with one ground truth (``label``): Spearman, weighted tau, hits, margin."""
    print(f"\n### Spearman with the {label} (95 % interval over resampled candidates)\n")
    print("\n".join(agreement_table(results, kind, "spearman")))
    print(f"\n### Weighted tau with the {label}\n")
    print("\n".join(agreement_table(results, kind, "weighted_tau")))
    print(f"\n### Top-1 / top-3 hit and regret ({label})\n")
    print("\n".join(agreement_table(results, kind, "hits")))
    print(f"\n### Spearman margin over the best static baseline ({label})\n")
    print("\n".join(margin_table(results, kind)))


def _plain(value):
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return None if np.isnan(value) else float(value)
    if isinstance(value, (np.integer, np.bool_)):
        return value.item()
    return value


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="full")
    parser.add_argument("--work", default=None, help="folder for the zoo, store and tables (default: a temporary one)")
    parser.add_argument("--json", default=None, help="write every number here")
    parser.add_argument("--tables-from", default=None, metavar="JSON", help="print the tables of an earlier --json")
    parser.add_argument("--resume", action="store_true",
                        help="reuse the zoo, score tables and ground truth an earlier run left in --work")
    args = parser.parse_args(argv)
    if args.tables_from:
        print_report(json.loads(Path(args.tables_from).read_text()))
        return 0
    if args.resume and args.work is None:
        parser.error("--resume needs --work")
    if not args.resume and args.work is not None and Path(args.work).exists() and any(Path(args.work).iterdir()):
        print(f"--work {args.work}: folder is not empty; give a new or empty one, or --resume", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(args.work) if args.work else Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        report = _plain(run(PRESETS[args.preset], work))
    report["preset"] = args.preset
    print_report(report)
    write_json(report, args.json)
    return 0


def write_json(report: dict, path: str | None) -> None:
    """Writes the report's numbers to ``path`` (nothing without one) and says where."""
    if path:
        Path(path).write_text(json.dumps(report, indent=1))
        print(f"numbers: {path}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
