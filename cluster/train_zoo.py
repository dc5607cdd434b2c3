"""``train-zoo`` on Ray: one model per mini-Taskonomy task and size, trained in resumable segments.

The driver renders the splits once (in parallel Ray tasks) and puts them in the
object store. Each segment of a model's training is one Ray task (1 CPU, torch
with one thread, or a GPU share) that goes on from the saved state, and returns
the new state and any checkpoint due as safetensors bytes. Only the driver
writes files (so workers on other machines need no shared disk): a checkpoint's
weights, then the model's state under ``.training/``; when every model is done,
the manifest last, and ``.training/`` is removed. So a folder with a manifest is
a complete zoo, and running the same command again after a stop (a crash, a
lost node, Ctrl-C) goes on from the last finished segment of every model.

What is reused is decided per model: a saved state only under the same job
fingerprint (its settings, data and saved dtype), a finished model only when the
folder's manifest holds exactly the entries this run would write for it (training
record, architecture, dataset) and its files match their sha256 and dtype. So
changing one task's settings retrains that task's models and no other.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import ray
import torch
from safetensors.torch import save as safetensors_bytes

from cluster.zoo_plan import ZooConfig, ZooJob, checkpoint_id, plan_zoo
from rsa_ray.datasets import (
    MiniTaskonomy,
    RendererConfig,
    labels_for_tasks,
    render_mini_taskonomy,
    task_arrays,
    task_by_name,
)
from rsa_ray.models import (
    MANIFEST_NAME,
    ModelEntry,
    PreprocessingSpec,
    TrainingRecord,
    WeightsRef,
    ZooManifest,
    read_manifest,
    write_manifest,
)
from rsa_ray.models.encoder_decoder import ENCODER_LAYERS
from rsa_ray.training import TrainingState, architecture_for_task, train_steps

STATE_DIR = ".training"
_WEIGHT_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
_RENDER_CHUNK = 1000


class ZooSplits:
    """The rendered splits: dense-task training scenes, per-image-task training scenes, validation scenes."""

    def __init__(self, dense: MiniTaskonomy, per_image: MiniTaskonomy, val: MiniTaskonomy):
        self.dense, self.per_image, self.val = dense, per_image, val

    def training(self, job: ZooJob) -> MiniTaskonomy:
        """The training split of a job's task."""
        return self.per_image if job.per_image else self.dense


def _render(count: int, first: int, seed: int, config: RendererConfig, labels: tuple[str, ...]) -> MiniTaskonomy:
    return render_mini_taskonomy(count, seed, config, labels, first_index=first)


_render_remote = ray.remote(num_cpus=1)(_render)


def _concatenate(parts: list[MiniTaskonomy]) -> MiniTaskonomy:
    return MiniTaskonomy(
        images=np.concatenate([p.images for p in parts]),
        labels={name: np.concatenate([p.labels[name] for p in parts]) for name in parts[0].labels},
        seed=parts[0].seed, first_index=parts[0].first_index, config=parts[0].config,
    )


def _render_split(count: int, first: int, seed: int, config: RendererConfig, labels: tuple[str, ...]) -> MiniTaskonomy:
    """Renders scenes ``first .. first + count - 1`` in chunks of 1,000 scenes, one Ray task each when Ray is up."""
    starts = range(first, first + count, _RENDER_CHUNK)
    sizes = [min(_RENDER_CHUNK, first + count - start) for start in starts]
    if ray.is_initialized():
        parts = ray.get([_render_remote.remote(n, s, seed, config, labels) for n, s in zip(sizes, starts)])
    else:
        parts = [_render(n, s, seed, config, labels) for n, s in zip(sizes, starts)]
    return _concatenate(parts)


def render_splits(config: ZooConfig) -> ZooSplits:
    """The training splits (dense and per-image tasks) and the validation split, disjoint scenes of one seed."""
    renderer = RendererConfig(image_size=config.image_size)
    tasks = [task_by_name(name) for name in config.tasks]
    dense_labels = labels_for_tasks([t for t in tasks if t.target_kind.is_dense])
    image_labels = labels_for_tasks([t for t in tasks if not t.target_kind.is_dense])
    seed = config.dataset_seed
    return ZooSplits(
        dense=_render_split(config.n_train, 0, seed, renderer, dense_labels),
        per_image=_render_split(config.n_train_per_image, 0, seed, renderer, image_labels),
        val=_render_split(config.n_val, config.first_val_index, seed, renderer, labels_for_tasks(tasks)),
    )


def state_bytes(state: TrainingState) -> bytes:
    """A training state as bytes for :func:`load_state` (tensors and plain values only)."""
    buffer = io.BytesIO()
    torch.save(state.as_dict(), buffer)
    return buffer.getvalue()


def load_state(data: bytes) -> TrainingState:
    """The state :func:`state_bytes` wrote; ``weights_only`` so a state file cannot run code."""
    return TrainingState.from_dict(torch.load(io.BytesIO(data), weights_only=True))


def _train_segment(
    job: ZooJob, config: ZooConfig, training: MiniTaskonomy, val: MiniTaskonomy, saved: bytes | None, until_step: int
) -> tuple[bytes, dict[float, bytes]]:
    """One segment of one model: returns the new state and the weights of each checkpoint taken in it."""
    torch.set_num_threads(1)
    task = task_by_name(job.task)
    state = None if saved is None else load_state(saved)
    done = set() if state is None else {c.fraction for c in state.checkpoints}
    state = train_steps(task, task_arrays(training, task), task_arrays(val, task), job.settings, state, until_step)
    dtype = _WEIGHT_DTYPES[config.weights_dtype]
    weights = {}
    for checkpoint in state.checkpoints:
        if checkpoint.fraction in done or (checkpoint.fraction != 1.0 and not job.keep_checkpoints):
            continue
        model_id = checkpoint_id(job.model_id, checkpoint.fraction)
        tensors = {name: t.to(dtype).contiguous() for name, t in checkpoint.state_dict.items()}
        weights[checkpoint.fraction] = safetensors_bytes(tensors, metadata={"model_id": model_id})
    return state_bytes(state), weights


_train_segment_remote = ray.remote(num_cpus=1, max_retries=2)(_train_segment)


def _write_atomic(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def model_entry(job: ZooJob, config: ZooConfig, fraction: float, step: int, validation_loss: float, sha256: str) -> ModelEntry:
    """The manifest entry of one checkpoint of one job."""
    task = task_by_name(job.task)
    model_id = checkpoint_id(job.model_id, fraction)
    record = TrainingRecord(
        variant=job.variant, base_model_id=job.model_id, checkpoint_fraction=fraction, step=step,
        seed=job.settings.seed, validation_loss=round(float(validation_loss), 6), steps=job.settings.steps,
        batch_size=job.settings.batch_size, learning_rate=job.settings.learning_rate,
        n_train=config.n_train_per_image if job.per_image else config.n_train, n_val=config.n_val,
        dataset_seed=config.dataset_seed, image_size=config.image_size,
    )
    return ModelEntry(
        model_id=model_id, source="safetensors", architecture=architecture_for_task(task, variant=job.variant),
        weights=WeightsRef(f"{model_id}.safetensors", sha256), layers=ENCODER_LAYERS, default_layer="encoder.output",
        preprocessing=PreprocessingSpec(resize=config.image_size, crop=config.image_size), task=task.name,
        task_type=task.task_type.value, training=record,
    )


class _StateFolder:
    """``<out>/.training``: one saved state per model, beside the fingerprint of the job that saved it."""

    def __init__(self, out_dir: Path):
        self.root = out_dir / STATE_DIR
        self.root.mkdir(parents=True, exist_ok=True)

    def read(self, job: ZooJob, log: Callable[[str], None]) -> bytes | None:
        path, marker = self.root / f"{job.model_id}.pt", self.root / f"{job.model_id}.json"
        if not path.exists():
            return None
        found = json.loads(marker.read_text())["fingerprint"] if marker.exists() else None
        if found != job.fingerprint:
            log(f"{job.model_id}: its saved state was trained with other settings (fingerprint {found}, now "
                f"{job.fingerprint}); starting it over")
            return None
        return path.read_bytes()

    def write(self, job: ZooJob, data: bytes) -> None:
        _write_atomic(self.root / f"{job.model_id}.json", json.dumps({"fingerprint": job.fingerprint}).encode())
        _write_atomic(self.root / f"{job.model_id}.pt", data)


def _saved_dtype(path: Path) -> str | None:
    """The dtype of a safetensors file's first tensor, read from its header (no tensor is loaded)."""
    with path.open("rb") as handle:
        size = int.from_bytes(handle.read(8), "little")
        header = json.loads(handle.read(size))
    dtypes = {value["dtype"] for key, value in header.items() if key != "__metadata__"}
    return dtypes.pop() if len(dtypes) == 1 else None


_SAFETENSORS_DTYPES = {"float32": "F32", "float16": "F16", "bfloat16": "BF16"}


def reusable_models(config: ZooConfig, jobs, out_dir: Path) -> dict[str, list[ModelEntry]]:
    """Finished models in ``out_dir`` that this run would train exactly so: model id → their manifest entries.

    A job is reusable when the folder's manifest has the same dataset section and, for each checkpoint the job
    keeps, an entry equal to the one this run would write (only the step, validation loss and sha256 taken
    from it), whose file exists with that sha256 and the configured dtype.

    Example:
        >>> from cluster.zoo_plan import smoke_test_config
        >>> reusable_models(smoke_test_config("/nonexistent"), (), Path("/nonexistent"))
        {}
    """
    path = out_dir / MANIFEST_NAME
    if not path.exists():
        return {}
    manifest = read_manifest(path)
    if dict(manifest.dataset) != _dataset_section(config):
        return {}
    by_id = {entry.model_id: entry for entry in manifest.models}
    reusable = {}
    for job in jobs:
        fractions = job.settings.checkpoint_fractions if job.keep_checkpoints else (1.0,)
        found = [by_id.get(checkpoint_id(job.model_id, fraction)) for fraction in fractions]
        if any(entry is None or entry.training is None for entry in found):
            continue
        expected = [model_entry(job, config, f, e.training.step, e.training.validation_loss, e.weights.sha256)
                    for f, e in zip(fractions, found)]
        files = [out_dir / entry.weights.path for entry in found]
        if expected == found and all(
            file.exists() and hashlib.sha256(file.read_bytes()).hexdigest() == entry.weights.sha256
            and _saved_dtype(file) == _SAFETENSORS_DTYPES[config.weights_dtype]
            for file, entry in zip(files, found)
        ):
            reusable[job.model_id] = found
    return reusable


def _next_end(job: ZooJob, step: int) -> int | None:
    return next((end for end in job.segment_ends() if end > step), None)


class _SegmentRun:
    """The segment loop of :func:`train_zoo`: one Ray task per segment, each model's next one submitted as it ends.

    Holds each model's saved state and steps done (updated as segments finish) and the cost done, for the
    progress line's share and time left.
    """

    def __init__(self, config: ZooConfig, jobs, saved: dict[str, bytes | None], steps_done: dict[str, int],
                 states: _StateFolder, log: Callable[[str], None], started: float):
        self.config, self.saved, self.steps_done, self.states, self.log = config, saved, steps_done, states, log
        self.started = started
        self.out_dir = Path(config.out_dir)
        self.total = sum(job.settings.steps * job.expected_cost() for job in jobs)
        self.done_cost = sum(steps_done[job.model_id] * job.expected_cost() for job in jobs)
        self.session_started, self.session_cost = time.monotonic(), 0.0
        self.refs: dict[str, ray.ObjectRef] = {}

    def train(self, todo, stop_after_segments: int | None) -> bool:
        """Trains ``todo`` to their last step; False when stopped after ``stop_after_segments`` segments."""
        splits = render_splits(self.config)
        self.log(f"rendered {len(splits.dense)} + {len(splits.per_image)} training and {len(splits.val)} validation "
                 f"scenes in {time.monotonic() - self.started:.0f} s")
        self.refs = {"dense": ray.put(splits.dense), "per_image": ray.put(splits.per_image), "val": ray.put(splits.val)}
        pending = {self._submit(job): job for job in sorted(todo, key=lambda j: -j.expected_cost() * j.settings.steps)}
        segments = 0
        while pending:
            [ready], _ = ray.wait(list(pending), num_returns=1)
            job = pending.pop(ready)
            try:
                data, weights = ray.get(ready)
            except Exception as error:
                raise RuntimeError(f"training {job.model_id} (task {job.task}) failed: {error}") from error
            state = self._keep(job, data, weights)
            segments += 1
            if stop_after_segments is not None and segments >= stop_after_segments:
                for ref in pending:
                    ray.cancel(ref, force=True)
                self.log(f"stopped after {segments} segments; run the same command again to go on")
                return False
            if state.step < job.settings.steps:
                pending[self._submit(job)] = job
        return True

    def _submit(self, job: ZooJob) -> ray.ObjectRef:
        until = _next_end(job, self.steps_done[job.model_id])
        training = self.refs["per_image" if job.per_image else "dense"]
        return _train_segment_remote.options(num_gpus=self.config.gpus_per_task).remote(
            job, self.config, training, self.refs["val"], self.saved[job.model_id], until)

    def _keep(self, job: ZooJob, data: bytes, weights: dict[float, bytes]) -> TrainingState:
        """Writes a finished segment's checkpoints and state, and logs the zoo's progress."""
        for fraction, blob in weights.items():
            _write_atomic(self.out_dir / f"{checkpoint_id(job.model_id, fraction)}.safetensors", blob)
        self.states.write(job, data)
        state = load_state(data)
        cost = (state.step - self.steps_done[job.model_id]) * job.expected_cost()
        self.done_cost, self.session_cost = self.done_cost + cost, self.session_cost + cost
        self.saved[job.model_id], self.steps_done[job.model_id] = data, state.step
        rate = self.session_cost / max(time.monotonic() - self.session_started, 1e-9)
        taken = [c for c in state.checkpoints if c.step == state.step]
        loss = f", validation loss {taken[-1].validation_loss:.4f}" if taken else ""
        self.log(f"{job.model_id}: step {state.step}/{job.settings.steps}{loss}; zoo "
                 f"{100 * self.done_cost / self.total:.0f} % done, about {(self.total - self.done_cost) / rate / 60:.0f} "
                 f"min left ({time.monotonic() - self.started:.0f} s)")
        return state


def train_zoo(config: ZooConfig, command: str = "", log: Callable[[str], None] | None = None,
              stop_after_segments: int | None = None) -> ZooManifest | None:
    """Trains the zoo on the connected Ray cluster and writes weights and ``manifest.yaml`` to ``config.out_dir``.

    Resumable: a folder with saved states (a stopped run of the same settings) goes on from them.

    Args:
        config: What to train.
        command: The command line that reproduces this zoo (stored in the manifest).
        log: Receives one progress line per finished segment (stderr by default).
        stop_after_segments: Stop (without a manifest) once this many segments have finished, as a stop
            would; for tests of resuming.

    Returns:
        The manifest written, or None when stopped early.

    Raises:
        RuntimeError: If Ray is not initialised, or a model's training fails (names the model).
    """
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    if not ray.is_initialized():
        raise RuntimeError("connect to Ray first (ray.init); train_zoo runs on the current cluster")
    started = time.monotonic()
    out_dir = Path(config.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = plan_zoo(config)
    finished = reusable_models(config, jobs, out_dir)
    states = _StateFolder(out_dir)
    saved = {job.model_id: None if job.model_id in finished else states.read(job, log) for job in jobs}
    steps_done = {job.model_id: job.settings.steps if job.model_id in finished else
                  0 if saved[job.model_id] is None else load_state(saved[job.model_id]).step for job in jobs}
    todo = [job for job in jobs if steps_done[job.model_id] < job.settings.steps]
    if todo:
        resumed = sum(1 for job in todo if steps_done[job.model_id] > 0)
        log(f"training {len(todo)} of {len(jobs)} models ({resumed} resumed from a saved state, {len(finished)} "
            f"finished models kept) in {out_dir}")
        segments = _SegmentRun(config, jobs, saved, steps_done, states, log, started)
        if not segments.train(todo, stop_after_segments):
            return None
    states_of = {job.model_id: load_state(saved[job.model_id]) for job in jobs if job.model_id not in finished}
    manifest = _manifest(config, jobs, states_of, finished, command, out_dir)
    write_manifest(manifest, out_dir / MANIFEST_NAME)
    shutil.rmtree(out_dir / STATE_DIR)
    log(f"wrote {len(manifest.models)} models to {out_dir} in {time.monotonic() - started:.0f} s")
    return manifest


def _dataset_section(config: ZooConfig) -> dict:
    return {
        "name": "mini-taskonomy", "seed": config.dataset_seed, "image_size": config.image_size,
        "n_train": config.n_train, "n_train_per_image": config.n_train_per_image, "n_val": config.n_val,
        "first_val_index": config.first_val_index,
    }


def _manifest(config: ZooConfig, jobs, states: dict[str, TrainingState], finished: dict[str, list[ModelEntry]],
              command: str, out_dir: Path) -> ZooManifest:
    entries = []
    for job in jobs:
        if job.model_id in finished:
            entries += finished[job.model_id]
            continue
        for checkpoint in states[job.model_id].checkpoints:
            if checkpoint.fraction != 1.0 and not job.keep_checkpoints:
                continue
            path = out_dir / f"{checkpoint_id(job.model_id, checkpoint.fraction)}.safetensors"
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            entries.append(model_entry(job, config, checkpoint.fraction, checkpoint.step, checkpoint.validation_loss, digest))
    return ZooManifest(
        models=tuple(entries),
        description=(
            "Demo zoo: the paper's small encoder-decoder (supplement Table S1) trained on each task of the "
            "procedural mini-Taskonomy, with checkpoints at 10/25/50 % for the training-stage analysis, and a "
            "residual encoder 12.5x its size on six tasks for the model-size analysis."
        ),
        command=command,
        dataset=_dataset_section(config),
    )


__all__ = ["STATE_DIR", "ZooSplits", "load_state", "model_entry", "render_splits", "reusable_models", "state_bytes",
           "train_zoo"]
