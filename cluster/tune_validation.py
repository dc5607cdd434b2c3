"""Transfer validation as Ray Tune trials: finetune from each candidate × seed, score on held-out data.

The driver puts the targets' data and the candidates' encoder weights in the
object store once (``tune.with_parameters``); each trial builds the Table S1
network for its target with a fresh head, loads its candidate's encoder (or
none: the random-init control), finetunes for a fixed budget and reports the
held-out metric (higher is better) through ``tune.report``. Trials get one CPU
each, or one GPU each where the cluster has GPUs; ASHA can stop poor trials
early. Tune's experiment folder lives in the store (a local folder or s3://).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import ray
from ray import tune

from rsa_ray.training import CONTROL, FinetuneSettings, finetune_and_evaluate, metric_for_task
from storage import Store

RESULT_COLUMNS = ("target", "candidate", "seed", "learning_rate", "metric_name", "metric", "step", "is_control", "error")


@dataclass(frozen=True)
class CandidateEncoder:
    """One candidate's encoder, as plain arrays (it travels through the object store).

    Attributes:
        candidate_id: The model id (or :data:`rsa_ray.training.CONTROL`).
        width: The encoder's width multiplier.
        weights: Encoder parameter name → float32 array; None for the random-init control.
    """

    candidate_id: str
    width: int = 1
    weights: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class TrialPlan:
    """One target and the candidates to finetune on it (the control is added by :func:`run_validation`)."""

    target: str
    candidates: tuple[str, ...]


@dataclass(frozen=True)
class TuneValidationOptions:
    """How the validation trials run.

    Attributes:
        steps: Finetuning steps per trial (the fixed budget).
        seeds: Seeds per candidate (0 .. seeds-1).
        batch_size: Images per step.
        learning_rates: One learning rate, or a small grid (every candidate × seed × rate).
        evaluations: Held-out evaluations per trial (ASHA decides at each; 1 without ASHA).
        asha: Stop poor trials early with ASHA (on the held-out metric).
        cpus_per_trial: CPUs per trial (torch threads).
        gpus_per_trial: GPUs per trial; None gives 1 where the cluster has GPUs, else 0.
        include_control: Add the random-init control for every target.
        experiment_name: Tune's experiment folder name under the storage path.
        freeze_encoder: Train the decoder / head only, on each candidate's fixed encoder.
    """

    steps: int = 200
    seeds: int = 2
    batch_size: int = 32
    learning_rates: tuple[float, ...] = (1e-3,)
    evaluations: int = 1
    asha: bool = False
    cpus_per_trial: float = 1.0
    gpus_per_trial: float | None = None
    include_control: bool = True
    experiment_name: str = "validation"
    freeze_encoder: bool = False

    def __post_init__(self) -> None:
        if self.steps < 1 or self.seeds < 1 or self.batch_size < 1 or self.evaluations < 1:
            raise ValueError(f"steps, seeds, batch_size and evaluations must be >= 1, got {self}")
        if not self.learning_rates or min(self.learning_rates) <= 0:
            raise ValueError(f"learning_rates must be positive, got {self.learning_rates}")
        if self.asha and self.evaluations < 2:
            raise ValueError(f"ASHA needs at least 2 evaluations per trial to stop any early, got evaluations={self.evaluations}")
        if self.cpus_per_trial <= 0:
            raise ValueError(f"cpus_per_trial must be > 0, got {self.cpus_per_trial}")


def trial_resources(options: TuneValidationOptions) -> dict[str, float]:
    """Resources per trial: the options' CPUs, and a GPU each where the cluster has GPUs.

    Example:
        >>> trial_resources(TuneValidationOptions(gpus_per_trial=0))
        {'cpu': 1.0, 'gpu': 0.0}
    """
    gpus = options.gpus_per_trial
    if gpus is None:
        gpus = 1.0 if ray.is_initialized() and ray.cluster_resources().get("GPU", 0) >= 1 else 0.0
    return {"cpu": float(options.cpus_per_trial), "gpu": float(gpus)}


def tune_storage_path(store_url: str) -> str:
    """Tune's storage path inside the store: ``<folder>/tune`` for a local store, ``s3://.../tune`` for S3.

    Raises:
        ValueError: A store URL Tune cannot write to (e.g. ``memory://``).

    Example:
        >>> tune_storage_path("file:///data/rsa-store"), tune_storage_path("s3://bucket/store")
        ('/data/rsa-store/tune', 's3://bucket/store/tune')
    """
    folder = Store(store_url).local_folder()
    if folder is not None:
        return folder + "/tune"
    if store_url.startswith(("s3://", "gs://")):
        return store_url.rstrip("/") + "/tune"
    raise ValueError(f"store {store_url!r}: Tune can write only to a local folder or s3:// / gs:// storage")


def _finetune_trial(config: dict[str, Any], targets=None, encoders=None, pairs=None, options=None) -> None:
    import torch

    torch.set_num_threads(max(1, int(options.cpus_per_trial)))
    target, candidate = pairs[config["pair"]]
    encoder = encoders[candidate]
    device = "cuda" if torch.cuda.is_available() and ray.get_gpu_ids() else "cpu"
    settings = FinetuneSettings(
        steps=options.steps, batch_size=options.batch_size, learning_rate=config["learning_rate"],
        seed=config["seed"], evaluations=options.evaluations, device=device, freeze_encoder=options.freeze_encoder,
    )
    splits = targets.splits(target)

    def report(step: int, score: float) -> None:
        tune.report({"metric": score, "step": step, "target": target, "candidate": candidate})

    finetune_and_evaluate(splits, encoder.weights, settings, encoder.width, report)


def _trial_pairs(plans: Sequence[TrialPlan], include_control: bool) -> list[tuple[str, str]]:
    pairs = []
    for plan in plans:
        pairs += [(plan.target, candidate) for candidate in plan.candidates]
        if include_control:
            pairs.append((plan.target, CONTROL))
    return pairs


def _result_rows(result_grid, pairs, metric_names: Mapping[str, str]) -> pd.DataFrame:
    rows = []
    for result in result_grid:
        config = result.config or {}
        target, candidate = pairs[config["pair"]]
        metrics = result.metrics or {}
        score = metrics.get("metric", math.nan)
        rows.append({
            "target": target, "candidate": candidate, "seed": int(config["seed"]),
            "learning_rate": float(config["learning_rate"]), "metric_name": metric_names[target],
            "metric": float(score) if score is not None else math.nan, "step": int(metrics.get("step", 0) or 0),
            "is_control": candidate == CONTROL, "error": "" if result.error is None else str(result.error).splitlines()[0][:300],
        })
    table = pd.DataFrame(rows, columns=list(RESULT_COLUMNS))
    return table.sort_values(["target", "candidate", "seed", "learning_rate"], ignore_index=True)


def run_validation(
    targets,
    plans: Sequence[TrialPlan],
    encoders: Mapping[str, CandidateEncoder],
    options: TuneValidationOptions,
    storage_path: str,
) -> pd.DataFrame:
    """Runs one Tune experiment: every (target, candidate) pair × seed × learning rate, plus the controls.

    Args:
        targets: Anything with ``.splits(task_name) -> TargetSplits`` (``rsa_ray.datasets.TargetSplits``
            for one target, ``RenderedTargets`` for many mini-Taskonomy targets); it is put in the object store once.
        plans: Per target, the candidates to finetune from.
        encoders: Candidate id → its encoder (every candidate of every plan).
        options: Budget, seeds, resources, scheduler.
        storage_path: Tune's storage path (:func:`tune_storage_path`).

    Returns:
        One row per trial: target, candidate, seed, learning_rate, metric_name, metric (the last
        reported held-out value; NaN for a failed trial), step, is_control, error.

    Raises:
        RuntimeError: Ray is not initialised.
        ValueError: A planned candidate without an encoder, or no trials.

    Example:
        >>> run_validation(splits, [TrialPlan("digits", ("depth-small",))], encoders,
        ...                TuneValidationOptions(steps=20), "/tmp/store/tune")  # doctest: +SKIP
    """
    if not ray.is_initialized():
        raise RuntimeError("connect to Ray first (cluster.connect.connect); validation runs on the current cluster")
    missing = sorted({c for plan in plans for c in plan.candidates} - set(encoders))
    if missing:
        raise ValueError(f"no encoder given for candidates {missing}")
    pairs = _trial_pairs(plans, options.include_control)
    if not pairs:
        raise ValueError("no trials to run: every plan has no candidates and the control is off")
    all_encoders = {**encoders, CONTROL: CandidateEncoder(CONTROL, 1, None)}
    metric_names = {plan.target: metric_for_task(targets.splits(plan.target).task) for plan in plans}
    trainable = tune.with_parameters(_finetune_trial, targets=targets, encoders=all_encoders, pairs=pairs, options=options)
    scheduler = None
    if options.asha:
        from ray.tune.schedulers import ASHAScheduler

        scheduler = ASHAScheduler(time_attr="training_iteration", max_t=options.evaluations, grace_period=1, reduction_factor=2)
    tuner = tune.Tuner(
        tune.with_resources(trainable, trial_resources(options)),
        param_space={
            "pair": tune.grid_search(list(range(len(pairs)))),
            "seed": tune.grid_search(list(range(options.seeds))),
            "learning_rate": tune.grid_search(list(options.learning_rates)),
        },
        tune_config=tune.TuneConfig(metric="metric", mode="max", scheduler=scheduler, reuse_actors=True),
        run_config=tune.RunConfig(
            name=options.experiment_name, storage_path=storage_path, verbose=0,
            failure_config=tune.FailureConfig(max_failures=1),
        ),
    )
    return _result_rows(tuner.fit(), pairs, metric_names)


__all__ = ["RESULT_COLUMNS", "CandidateEncoder", "TrialPlan", "TuneValidationOptions", "run_validation", "trial_resources", "tune_storage_path"]
