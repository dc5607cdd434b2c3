"""Finetuning ground truth of the real-zoo benchmark for its torchvision candidates, as Ray Tune trials.

For every torchvision candidate (MobileNetV2, VGG16-BN), target and seed: the network's last blocks
(``rsa_ray.training.last_blocks.LAST_BLOCKS``: MobileNetV2 ``features.17-18``, VGG16-BN ``features.34-39``)
and a new linear head are trained from the candidate's weights under stratified K-fold CV shuffled by the
seed; the pooled held-out accuracy and log-loss are the ground truth. The frozen trunk's output is computed
once per candidate and target and cached in the work folder; trials (one CPU, one torch thread each) train
on the cache only.

Against the stored scores of an earlier full run, without ranking again::

    python bench/real_zoo_finetune.py --work /tmp/real-zoo-ft --scores docs/validation/real_zoo.json

``--work`` holds (or receives) the zoo, the cached activations and the per-target results; a run stopped
part-way is resumed by the same command.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.real_zoo_models import FINETUNED_ON  # noqa: E402
from rsa_ray.training.last_blocks import LAST_BLOCKS, LastBlocksSettings  # noqa: E402

TRUTHS = ("accuracy", "log_loss")


@dataclass(frozen=True)
class FinetunePlan:
    """The finetuning ground truth's seeds, folds and training budget.

    Attributes:
        seeds: CV shuffle seeds (each also seeds the heads and batch orders).
        folds: Stratified folds per seed (every image held out once per seed).
        training: Epochs, batch size, learning rate of each fold's training.
        tuner_per_target: One Ray Tune run per target, its results kept as soon as it ends (a stopped run
            resumes at the next target); else one run for every target (less start-up time).
        recalibrate_batch_norm: Re-estimate the trunk's batch-norm statistics on the target's images before
            caching its output (``rsa_ray.training.last_blocks.trunk_activations``); off by default: on the
            benchmark it broke the zoo's order by construction (docs/validation.md).
    """

    seeds: tuple[int, ...]
    folds: int
    training: LastBlocksSettings = field(default_factory=LastBlocksSettings)
    tuner_per_target: bool = True
    recalibrate_batch_norm: bool = False

    def digest(self) -> str:
        """A short digest of the plan: the folder its cached activations and results live in (no stale reuse).

        Example:
            >>> FinetunePlan((0, 1), 3).digest() != FinetunePlan((0, 1), 3, recalibrate_batch_norm=True).digest()
            True
        """
        import hashlib

        return hashlib.sha256(json.dumps(plan_record(self), sort_keys=True).encode()).hexdigest()[:12]


def torchvision_candidates(manifest) -> list:
    """The manifest's entries whose last blocks are known (torchvision ``mobilenet_v2`` and ``vgg16_bn``).

    Example:
        >>> torchvision_candidates(manifest)  # doctest: +SKIP
    """
    return [e for e in manifest.models if e.source == "torchvision" and e.architecture.target in LAST_BLOCKS]


def _activations(entry, split, task, path: Path, recalibrate_batch_norm: bool) -> np.ndarray:
    from rsa_ray.models.preprocessing import preprocess_images
    from rsa_ray.training.last_blocks import trunk_activations

    if path.is_file():
        return np.load(path, allow_pickle=False)
    values = trunk_activations(split.trunk, preprocess_images(task.images, entry.preprocessing),
                               recalibrate_batch_norm=recalibrate_batch_norm).numpy()
    np.save(path.with_suffix(".partial.npy"), values)
    os.replace(path.with_suffix(".partial.npy"), path)
    return values


def finetune_jobs(manifest, zoo_dir: Path, tasks, cache_dir: Path,
                  recalibrate_batch_norm: bool = True) -> dict[str, dict[str, object]]:
    """Per target, per torchvision candidate, the :class:`FinetuneJob` (trunk output cached in ``cache_dir``).

    Example:
        >>> finetune_jobs(manifest, Path("zoo"), tasks, Path("cache"))  # doctest: +SKIP
    """
    import torch

    from rsa_ray.models.builders import build_model
    from rsa_ray.training.last_blocks import FinetuneJob, split_torchvision

    cache_dir.mkdir(parents=True, exist_ok=True)
    jobs: dict[str, dict[str, object]] = {task.name: {} for task in tasks}
    with torch.no_grad():
        for entry in torchvision_candidates(manifest):
            split = split_torchvision(build_model(entry, base_dir=zoo_dir).eval(), entry.architecture.target)
            for task in tasks:
                values = _activations(entry, split, task, cache_dir / f"{entry.model_id}.{task.name}.npy",
                                      recalibrate_batch_norm)
                jobs[task.name][entry.model_id] = FinetuneJob(split.blocks, split.width, values, task.labels)
    return jobs


def run_trials(name: str, jobs: dict[tuple[str, str], object], plan: FinetunePlan,
               storage: Path) -> dict[tuple[str, str], dict]:
    """Every (job, seed) as a Ray Tune trial with one CPU; per-seed metrics per (candidate, target) job.

    Example:
        >>> run_trials("digits", jobs, FinetunePlan((0, 1), 5), Path("tune"))  # doctest: +SKIP
    """
    import ray
    from ray import tune

    from rsa_ray.training.last_blocks import finetune_trial

    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, include_dashboard=False)  # its own Ray, not another one running here
    keyed = {f"{model}|{target}": job for (model, target), job in jobs.items()}
    trainable = tune.with_parameters(finetune_trial, jobs=keyed, folds=plan.folds, settings=plan.training)
    tuner = tune.Tuner(tune.with_resources(trainable, {"cpu": 1}),
                       param_space={"job": tune.grid_search(sorted(keyed)), "seed": tune.grid_search(list(plan.seeds))},
                       tune_config=tune.TuneConfig(reuse_actors=True),  # torch is imported once per worker
                       run_config=tune.RunConfig(name=f"finetune-{name}", storage_path=str(storage.resolve()),
                                                 verbose=0, failure_config=tune.FailureConfig(max_failures=1)))
    results = tuner.fit()
    by_seed: dict[tuple[str, int], dict] = {}
    for result in results:
        if result.error is not None:
            raise RuntimeError(f"finetuning trial {result.config} failed: {result.error}")
        by_seed[(result.metrics["job"], int(result.metrics["seed"]))] = result.metrics
    return {key: {kind: np.array([by_seed[(f"{key[0]}|{key[1]}", seed)][kind] for seed in plan.seeds]) for kind in TRUTHS}
            for key in sorted(jobs)}


def finetune_truth(manifest, zoo_dir: Path, tasks, work: Path, plan: FinetunePlan) -> dict[tuple[str, str], dict]:
    """The finetuning truth of every (torchvision candidate, target): per-seed accuracy and log-loss arrays.

    Each target's results are kept in ``work/finetune-PLAN/TARGET.pkl`` (``PLAN``: :meth:`FinetunePlan.digest`)
    as soon as its trials end (with
    ``plan.tuner_per_target``, one target at a time), so a stopped run resumes where it stopped.

    Example:
        >>> finetune_truth(manifest, Path("zoo"), tasks, Path("work"), FinetunePlan((0, 1), 5))  # doctest: +SKIP
    """
    folder = work / f"finetune-{plan.digest()}"  # another plan never reads these results
    folder.mkdir(parents=True, exist_ok=True)
    truth: dict[tuple[str, str], dict] = {}
    pending = []
    for task in tasks:
        path = folder / f"{task.name}.pkl"
        if path.is_file():  # written by this benchmark in its own work folder
            truth.update(pickle.loads(path.read_bytes()))
        else:
            pending.append(task)
    groups = [[task] for task in pending] if plan.tuner_per_target else [pending] if pending else []
    for group in groups:
        jobs = {(model, task.name): job for task in group
                for model, job in finetune_jobs(manifest, zoo_dir, [task], folder / "activations",
                                                plan.recalibrate_batch_norm)[task.name].items()
                if model in finetune_candidates(manifest, task.name)}
        started = time.perf_counter()
        found = run_trials("-".join(task.name for task in group), jobs, plan, folder / "tune")
        print(f"finetuning truth {', '.join(task.name for task in group)}: {len(jobs)} (candidate, target) pairs x "
              f"{len(plan.seeds)} seeds in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        for task in group:
            path = folder / f"{task.name}.pkl"
            path.with_suffix(".partial").write_bytes(pickle.dumps({k: v for k, v in found.items() if k[1] == task.name}))
            os.replace(path.with_suffix(".partial"), path)
        truth.update(found)
    return truth


def finetune_candidates(manifest, target: str, finetuned_on: str = FINETUNED_ON) -> list[str]:
    """The torchvision candidates of one target's finetuning agreement (the copy finetuned on it left out).

    Example:
        >>> finetune_candidates(manifest, "faces", "faces")  # doctest: +SKIP
    """
    return [e.model_id for e in torchvision_candidates(manifest)
            if not (target == finetuned_on and f"-ft-{finetuned_on}" in e.model_id)]


def plan_record(plan: FinetunePlan) -> dict:
    """The plan as plain numbers for the JSON report.

    Example:
        >>> plan_record(FinetunePlan((0, 1), 5))["training"]["epochs"]
        15
    """
    record = asdict(plan)
    record["seeds"] = list(plan.seeds)
    record["last_blocks"] = {arch: f"{container}[{start}:{end}]" for arch, (container, start, end) in LAST_BLOCKS.items()}
    return record


def tables_from_report(report: dict, target: str):
    """The score table of one target rebuilt from a stored report (values, and the uninformative checks).

    Example:
        >>> tables_from_report(json.loads(Path("docs/validation/real_zoo.json").read_text()), "faces").shape  # doctest: +SKIP
    """
    import pandas as pd

    stored = report["targets"][target]
    table = pd.DataFrame.from_dict(stored["scores"], orient="index")
    table.index.name = "candidate"
    for name, row in stored["accuracy"]["agreement"].items():
        if row.get("uninformative"):
            table[f"{name}.check"] = row["uninformative"]
    return table


def static_from_report(report: dict) -> dict[str, dict[str, float]]:
    """The static baselines from a stored report's models (as ``bench/real_zoo.py static_scores``).

    Example:
        >>> static_from_report({"models": [{"model_id": "a", "task": "random-init", "parameters": 5.0}]})["static:params"]
        {'a': 5.0}
    """
    params = {m["model_id"]: float(m["parameters"]) for m in report["models"]}
    pretrained = {m["model_id"]: float(m["task"] != "random-init") for m in report["models"]}
    both = {m: pretrained[m] * 1e12 + params[m] for m in params}
    return {"static:params": params, "static:pretrained": pretrained, "static:pretrained+params": both}


def _zoo(work: Path, preset):
    from bench.real_zoo_models import FINETUNED_ON, write_benchmark_zoo
    from bench.real_zoo_targets import build_target
    from rsa_ray.models.manifest import read_manifest

    if (work / "zoo" / "manifest.yaml").is_file():
        return read_manifest(work / "zoo" / "manifest.yaml")
    print(f"writing the zoo into {work / 'zoo'} (a rebuilt finetuned copy may differ from the scored one in round-off)",
          file=sys.stderr)
    finetune = build_target(FINETUNED_ON, preset.n_images, preset.image_size)
    return write_benchmark_zoo(work / "zoo", preset.zoo, finetune)


def add_to_stored(report: dict, work: Path) -> dict:
    """Adds the finetuning truth and its agreement to a stored report (its preset's plan; nothing ranked again).

    Example:
        >>> add_to_stored(json.loads(Path("docs/validation/real_zoo.json").read_text()), Path("work"))  # doctest: +SKIP
    """
    from bench.real_zoo import PRESETS, _cached_truth, finetune_result
    from bench.real_zoo_targets import build_target

    preset = PRESETS[report.get("preset", "full")]
    tasks = [build_target(name, preset.n_images, preset.image_size) for name in report["targets"]]
    manifest = _zoo(work, preset)
    started = time.perf_counter()
    truth = _cached_truth(work / f"finetune-{preset.finetune.digest()}.pkl",
                          lambda: finetune_truth(manifest, work / "zoo", tasks, work, preset.finetune))
    static = static_from_report(report)
    for task in tasks:
        report["targets"][task.name]["finetune"] = finetune_result(
            task, manifest, tables_from_report(report, task.name), truth, static, preset.interval_samples)
    report["finetune_plan"] = plan_record(preset.finetune)
    report.setdefault("timings_s", {})["finetune truth (separate run)"] = time.perf_counter() - started
    return report


def main(argv=None) -> int:
    from bench.real_zoo import _plain, print_finetune_report, write_json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", required=True, help="folder for the zoo, cached activations and trial results")
    parser.add_argument("--scores", required=True, metavar="JSON", help="an earlier `bench/real_zoo.py --json` report")
    parser.add_argument("--json", default=None, help="write the report with the finetuning truth added here")
    args = parser.parse_args(argv)
    scores = Path(args.scores)
    if not scores.is_file():
        print(f"--scores {scores}: no such file", file=sys.stderr)
        return 2
    report = json.loads(scores.read_text())
    if "targets" not in report or "models" not in report:
        print(f"--scores {scores}: not a bench/real_zoo.py report (needs 'models' and 'targets')", file=sys.stderr)
        return 2
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    report = _plain(add_to_stored(report, work))
    print_finetune_report(report)
    write_json(report, args.json)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
