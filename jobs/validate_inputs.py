"""What ``rsa-ray validate`` needs before finetuning: the zoo, a probe set, the target's data,
the candidates, their encoders and their RSA similarity to the target."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from cluster.tune_validation import CandidateEncoder
from jobs.common import choose_probe
from jobs.compute import compute_similarities
from jobs.validate_options import ValidateOptions
from rsa_ray.datasets import RenderedTargets, TargetSplits, split_indices
from storage import Store

LAYER = "encoder.output"


def zoo_entries(tasks: tuple[str, ...] = ()):
    """The shipped zoo's entries (every variant), restricted to ``tasks`` when given."""
    from rsa_ray.models import shipped_zoo_dir
    from storage import load_manifest

    entries = load_manifest(os.fspath(shipped_zoo_dir() / "manifest.yaml"))
    return [e for e in entries if not tasks or e.task in tasks]


def is_final_small(entry) -> bool:
    """Whether a zoo entry is a fully trained small model (not a checkpoint, not a wide one)."""
    from rsa_ray.models.manifest import final_models

    return entry.training is not None and bool(final_models([entry], variant="small"))


def ensure_zoo(store: Store, tasks: tuple[str, ...]) -> dict[str, str]:
    """Registers the shipped zoo's final small models (if missing); returns model id → task."""
    finals = [e for e in zoo_entries(tasks) if is_final_small(e)]
    store.register_models(finals)
    return {e.model_id: e.task for e in finals}


def ensure_probe(store: Store, probe_id: str | None, count: int) -> str:
    """The chosen or only stored probe set; with none stored, ``count`` mini-Taskonomy scenes are added."""
    if probe_id is None and not store.shared_probe_set_ids():
        from jobs.probes import load_probe_images

        probe = load_probe_images("mini-taskonomy", count, seed=0, size=None)
        return store.add_probe_set(probe.images, list(probe.image_ids), probe.source)
    return choose_probe(store, probe_id)


def dataset_target(store: Store, options: ValidateOptions, weights_dir: Path):
    """Trains (or reuses) a dataset target's small model; returns its id and its splits."""
    from jobs.train_target import TargetOptions, train_and_register
    from rsa_ray.datasets.labelled import load_labelled_task

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

    config = RendererConfig(image_size=options.image_size)
    labels = labels_for_tasks([task_by_name(name) for name in task_names])
    train = render_mini_taskonomy(options.n_train, options.dataset_seed, config, labels)
    held_out = render_mini_taskonomy(options.n_val, options.dataset_seed, config, labels, first_index=options.n_train)
    return RenderedTargets(train, held_out)


def candidate_universe(store: Store, target: str, any_architecture: bool = False) -> list[str]:
    """Every registered Table S1 model (or, with ``any_architecture``, every model) that is not the target
    and not trained on the target's task.

    The store's own models count (registered with ``rsa-ray models add``); ``validate`` adds the shipped zoo's
    final small models unless told to take only the registered ones.

    Raises:
        ValueError: No candidate is left.
    """
    from rsa_ray.training import ARCHITECTURE_TARGET

    target_task = store.model(target).task
    entries = [store.model(model_id) for model_id in store.model_ids() if model_id != target]
    universe = [e.model_id for e in entries if e.task != target_task
                and (any_architecture or e.architecture.target == ARCHITECTURE_TARGET)]
    if len(universe) < 3:
        raise ValueError(f"target {target!r} has {len(universe)} candidates; validation needs at least 3 "
                         "(register more with `rsa-ray models add`)")
    return universe


def candidate_encoders(store: Store, model_ids) -> dict[str, CandidateEncoder]:
    """Each candidate's encoder weights (sha256-checked) as float32 arrays.

    Raises:
        ValueError: A candidate that is not a Table S1 encoder-decoder (naming it).
    """
    from rsa_ray.models import build_model
    from rsa_ray.training import ARCHITECTURE_TARGET, encoder_state

    encoders = {}
    for model_id in model_ids:
        entry = store.model(model_id)
        if entry.architecture.target != ARCHITECTURE_TARGET:
            raise ValueError(f"candidate {model_id!r} is a {entry.architecture.target}; validate finetunes Table S1 encoders only")
        model = build_model(entry, weights_path=store.fetch_weights(model_id))
        weights = {name: tensor.float().numpy() for name, tensor in encoder_state(model.state_dict()).items()}
        encoders[model_id] = CandidateEncoder(model_id, int(entry.architecture.kwargs_dict().get("width", 1)), weights)
    return encoders


def rsa_similarity(store: Store, probe_id: str, target: str, candidates) -> dict[str, float]:
    """RSA similarity (Spearman of RDMs, every model at its default layer: ``encoder.output`` for Table S1
    models) of the target's small model to each candidate.

    Raises:
        ValueError: The target model failed (naming why); a failed candidate is left out.
    """
    from jobs.common import default_role

    layer = default_role(store, [target, *candidates])
    summary = compute_similarities(store, probe_id, [target, *candidates], [layer])
    similarity = store.read_similarity(probe_id, layer)
    if target not in similarity.model_ids:
        why = "; ".join(str(f.error) for f in summary.failures if f.model_id == target) or "no result"
        raise ValueError(f"target model {target!r} could not be compared on the shared probe set: {why}")
    row = similarity.model_ids.index(target)
    return {c: float(similarity.matrix[row, similarity.model_ids.index(c)]) for c in candidates if c in similarity.model_ids}


def default_weights_dir(store: Store, out: Path) -> Path:
    """Where a dataset target's small model goes: ``<store>/weights`` for a local store, else ``<out>/weights``."""
    return Path(store.local_folder()) / "weights" if store.local_folder() is not None else out / "weights"
