"""``train-zoo`` on Ray: one small model per mini-Taskonomy task, trained in parallel.

The driver renders the training and validation splits once and puts them in
the object store; each model is one Ray task (1 CPU, torch with 1 thread, or a
GPU share) that trains, snapshots weights at 1/10, 1/4, 1/2 and the end, and
returns the snapshots as safetensors bytes. Only the driver writes files (so
workers on other machines need no shared disk): weights, then the manifest
last, so a zoo folder with a manifest is complete.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import ray
import torch
from safetensors.torch import save as safetensors_bytes

from rsa_ray.datasets import (
    MINI_TASKONOMY_TASKS,
    MiniTaskonomy,
    RendererConfig,
    labels_for_tasks,
    render_mini_taskonomy,
    task_arrays,
    task_by_name,
)
from rsa_ray.models import (
    ENCODER_LAYERS,
    MANIFEST_NAME,
    ModelEntry,
    PreprocessingSpec,
    TrainingRecord,
    WeightsRef,
    ZooManifest,
    write_manifest,
)
from rsa_ray.training import TrainingSettings, architecture_for_task, train_task

DEFAULT_WIDE_TASKS: tuple[str, ...] = ("autoencoding", "depth", "semantic_segmentation", "camera_pose")
_WEIGHT_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass(frozen=True)
class ZooConfig:
    """What ``train-zoo`` trains and how.

    Attributes:
        out_dir: Folder for weights and ``manifest.yaml`` (created if missing).
        tasks: Task names, one small model each.
        wide_tasks: Tasks that also get a wider model (final weights only).
        n_train: Training scenes.
        n_val: Validation scenes (rendered after the training scenes, same seed).
        image_size: Image side in pixels (a multiple of 16).
        dataset_seed: Seed of the rendered mini-Taskonomy.
        seed: Base seed of initialisation and batch order (each model derives its own).
        steps: Adam steps per model.
        batch_size: Images per step.
        learning_rate: Adam learning rate.
        wide_width: Channel multiplier of the wide variant.
        weights_dtype: Dtype of the saved weights (float16 halves the zoo's size).
        gpus_per_task: GPUs per Ray task (0 trains on CPU).
    """

    out_dir: str
    tasks: tuple[str, ...] = tuple(task.name for task in MINI_TASKONOMY_TASKS)
    wide_tasks: tuple[str, ...] = DEFAULT_WIDE_TASKS
    n_train: int = 2000
    n_val: int = 200
    image_size: int = 64
    dataset_seed: int = 0
    seed: int = 0
    steps: int = 1000
    batch_size: int = 32
    learning_rate: float = 3e-3
    wide_width: int = 2
    weights_dtype: str = "float16"
    gpus_per_task: float = 0.0

    def __post_init__(self) -> None:
        for name in tuple(self.tasks) + tuple(self.wide_tasks):
            task_by_name(name)  # raises ValueError naming the closest tasks
        missing = sorted(set(self.wide_tasks) - set(self.tasks))
        if missing:
            raise ValueError(f"wide_tasks {missing} are not among tasks {list(self.tasks)}")
        if not self.tasks:
            raise ValueError("tasks must not be empty")
        if self.image_size % 16:
            raise ValueError(f"image_size must be a multiple of 16, got {self.image_size}")
        if self.weights_dtype not in _WEIGHT_DTYPES:
            raise ValueError(f"weights_dtype must be one of {sorted(_WEIGHT_DTYPES)}, got {self.weights_dtype!r}")
        if self.n_train < 1 or self.n_val < 1:
            raise ValueError(f"n_train and n_val must be >= 1, got {self.n_train} and {self.n_val}")


def smoke_test_config(out_dir: str) -> ZooConfig:
    """A seconds-long zoo: 2 tasks (one dense, one per-image) × 4 steps on 32×32 images, one wide model.

    Example:
        >>> smoke_test_config("/tmp/zoo").tasks
        ('depth', 'object_class')
    """
    return ZooConfig(
        out_dir=out_dir,
        tasks=("depth", "object_class"),
        wide_tasks=("object_class",),
        n_train=24,
        n_val=8,
        image_size=32,
        steps=4,
        batch_size=8,
    )


@dataclass(frozen=True)
class ZooJob:
    """One model to train.

    Attributes:
        model_id: Id of the final model, ``{task}-{variant}``.
        task: Task name.
        variant: ``"small"`` or ``"wide"``.
        settings: Its optimisation settings (with its own seed and width).
        keep_checkpoints: Whether intermediate checkpoints are saved too.
    """

    model_id: str
    task: str
    variant: str
    settings: TrainingSettings
    keep_checkpoints: bool


def _derived_seed(seed: int, model_id: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{model_id}".encode()).digest()[:4], "big")


def plan_zoo(config: ZooConfig) -> tuple[ZooJob, ...]:
    """The models to train: every task's small model, then the wide variants.

    Example:
        >>> [job.model_id for job in plan_zoo(smoke_test_config("/tmp/zoo"))]
        ['depth-small', 'object_class-small', 'object_class-wide']
    """
    device = "cuda" if config.gpus_per_task > 0 else "cpu"
    variants = [(task, "small", 1, True) for task in config.tasks]
    variants += [(task, "wide", config.wide_width, False) for task in config.wide_tasks]
    jobs = []
    for task, variant, width, keep in variants:
        model_id = f"{task}-{variant}"
        settings = TrainingSettings(
            steps=config.steps,
            batch_size=config.batch_size,
            learning_rate=config.learning_rate,
            width=width,
            seed=_derived_seed(config.seed, model_id),
            device=device,
        )
        jobs.append(ZooJob(model_id, task, variant, settings, keep))
    return tuple(jobs)


def checkpoint_id(model_id: str, fraction: float) -> str:
    """Id of an intermediate checkpoint, e.g. ``depth-small-ckpt010`` for 10 %; the final model keeps ``model_id``.

    Example:
        >>> checkpoint_id("depth-small", 0.25), checkpoint_id("depth-small", 1.0)
        ('depth-small-ckpt025', 'depth-small')
    """
    return model_id if fraction == 1.0 else f"{model_id}-ckpt{round(fraction * 100):03d}"


@dataclass(frozen=True)
class TrainedSnapshot:
    """What a worker sends back for one checkpoint: its entry (sha256 not yet set) and safetensors bytes."""

    entry: ModelEntry
    weights: bytes


def _train_job(job: ZooJob, config: ZooConfig, train: MiniTaskonomy, val: MiniTaskonomy) -> list[TrainedSnapshot]:
    torch.set_num_threads(1)
    task = task_by_name(job.task)
    result = train_task(task, task_arrays(train, task), task_arrays(val, task), job.settings)
    dtype = _WEIGHT_DTYPES[config.weights_dtype]
    snapshots = []
    for checkpoint in result.checkpoints:
        if checkpoint.fraction != 1.0 and not job.keep_checkpoints:
            continue
        model_id = checkpoint_id(job.model_id, checkpoint.fraction)
        tensors = {name: t.to(dtype).contiguous() for name, t in checkpoint.state_dict.items()}
        record = TrainingRecord(
            variant=job.variant,
            base_model_id=job.model_id,
            checkpoint_fraction=checkpoint.fraction,
            step=checkpoint.step,
            seed=job.settings.seed,
            validation_loss=round(float(checkpoint.validation_loss), 6),
            steps=job.settings.steps,
            batch_size=job.settings.batch_size,
            learning_rate=job.settings.learning_rate,
            n_train=config.n_train,
            n_val=config.n_val,
            dataset_seed=config.dataset_seed,
            image_size=config.image_size,
        )
        entry = ModelEntry(
            model_id=model_id,
            source="safetensors",
            architecture=architecture_for_task(task, job.settings.width),
            weights=WeightsRef(f"{model_id}.safetensors"),
            layers=ENCODER_LAYERS,
            default_layer="encoder.output",
            preprocessing=PreprocessingSpec(resize=config.image_size, crop=config.image_size),
            task=task.name,
            task_type=task.task_type.value,
            training=record,
        )
        snapshots.append(TrainedSnapshot(entry, safetensors_bytes(tensors, metadata={"model_id": model_id})))
    return snapshots


_train_job_remote = ray.remote(num_cpus=1, max_retries=1)(_train_job)


def _write_snapshot(snapshot: TrainedSnapshot, out_dir: Path) -> ModelEntry:
    path = out_dir / snapshot.entry.weights.path
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(snapshot.weights)
    os.replace(temporary, path)
    digest = hashlib.sha256(snapshot.weights).hexdigest()
    return replace(snapshot.entry, weights=WeightsRef(snapshot.entry.weights.path, digest))


def _expected_cost(job: ZooJob) -> int:
    """Relative training time: dense decoders cost ~3x a pooled head, width w costs ~w²."""
    dense = task_by_name(job.task).target_kind.is_dense
    return (3 if dense else 1) * job.settings.width**2


def render_splits(config: ZooConfig) -> tuple[MiniTaskonomy, MiniTaskonomy]:
    """The training and validation splits (disjoint scene indices of one seed), with the tasks' labels."""
    renderer = RendererConfig(image_size=config.image_size)
    labels = labels_for_tasks([task_by_name(name) for name in config.tasks])
    train = render_mini_taskonomy(config.n_train, config.dataset_seed, renderer, labels)
    val = render_mini_taskonomy(config.n_val, config.dataset_seed, renderer, labels, first_index=config.n_train)
    return train, val


def train_zoo(config: ZooConfig, command: str = "", log: Callable[[str], None] | None = None) -> ZooManifest:
    """Trains the zoo on the connected Ray cluster and writes weights and ``manifest.yaml`` to ``config.out_dir``.

    Args:
        config: What to train.
        command: The command line that reproduces this zoo (stored in the manifest).
        log: Receives one progress line per finished model (stderr by default).

    Returns:
        The manifest written.

    Raises:
        RuntimeError: If Ray is not initialised, or a model's training fails (names the model).
    """
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    if not ray.is_initialized():
        raise RuntimeError("connect to Ray first (ray.init); train_zoo runs on the current cluster")
    started = time.monotonic()
    out_dir = Path(config.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    train, val = render_splits(config)
    log(f"rendered {len(train)} + {len(val)} scenes in {time.monotonic() - started:.0f} s")
    train_ref, val_ref = ray.put(train), ray.put(val)
    jobs = plan_zoo(config)
    pending = {
        _train_job_remote.options(num_gpus=config.gpus_per_task).remote(job, config, train_ref, val_ref): job
        for job in sorted(jobs, key=_expected_cost, reverse=True)  # longest first packs the CPUs best
    }
    entries: dict[str, list[ModelEntry]] = {}
    while pending:
        [done], _ = ray.wait(list(pending), num_returns=1)
        job = pending.pop(done)
        try:
            snapshots = ray.get(done)
        except Exception as error:
            raise RuntimeError(f"training {job.model_id} (task {job.task}) failed: {error}") from error
        entries[job.model_id] = [_write_snapshot(snapshot, out_dir) for snapshot in snapshots]
        final = entries[job.model_id][-1].training
        log(
            f"[{len(entries)}/{len(jobs)}] {job.model_id}: validation loss {final.validation_loss:.4f} "
            f"({time.monotonic() - started:.0f} s elapsed)"
        )
    ordered = [entry for job in jobs for entry in entries[job.model_id]]
    manifest = ZooManifest(
        models=tuple(ordered),
        description=(
            "Demo zoo: the paper's small encoder-decoder (supplement Table S1) trained on each task of the "
            "procedural mini-Taskonomy; checkpoints at 10/25/50 % for the training-stage analysis and wide "
            "variants for the model-size analysis."
        ),
        command=command,
        dataset={
            "name": "mini-taskonomy",
            "seed": config.dataset_seed,
            "image_size": config.image_size,
            "n_train": config.n_train,
            "n_val": config.n_val,
            "first_val_index": config.n_train,
        },
    )
    write_manifest(manifest, out_dir / MANIFEST_NAME)
    log(f"wrote {len(ordered)} models to {out_dir} in {time.monotonic() - started:.0f} s")
    return manifest


__all__ = ["ZooConfig", "ZooJob", "checkpoint_id", "plan_zoo", "render_splits", "smoke_test_config", "train_zoo"]
