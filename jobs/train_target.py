"""``rsa-ray train-target``: the paper's workflow for a new task.

Train the small Table S1 model on the task's few labelled examples, register it
as a model, store the task's images with their labels as the target's probe set,
and rank the zoo as sources on those images (``rsa`` from the trained model and
the label-based scores, with bootstrap intervals: ``jobs.target_scores``).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from jobs.cli_types import Subcommand
from jobs.common import add_output_argument, choose_models, choose_probe, default_role, open_store, output_dir, positive_int
from jobs.compute import ProbeSelection, compute_similarities, connect_once, exit_code, extract_probe_sets
from jobs.config import add_common_arguments
from jobs.score_defaults import DEFAULT_SCORES

if TYPE_CHECKING:
    from storage import Store


@dataclass(frozen=True)
class TargetOptions:
    """How the target model is trained.

    Attributes:
        data: ``sklearn-digits``, an .npz (``images``, ``labels``) or a folder of class folders.
        name: The task's name and the model's id.
        task_type: The task's type.
        steps: Optimiser steps.
        image_size: Input side (a multiple of 16).
        seed: Seed of the split, the initialisation and the batches.
    """

    data: str
    name: str
    task_type: str = "semantic"
    steps: int = 300
    image_size: int = 64
    seed: int = 0


OUTPUT_MODULE = "encoder.output"  # the target model's encoder output, which it is compared by


def zoo_output_role(store: Store, name: str, own_roles: tuple[str, ...]) -> str | None:
    """The role the other registered models all compare at by default, when each reads it from ``encoder.output``
    under another name (``output: encoder.output``); None otherwise.

    The target model is registered with that name for its own encoder output: a role alias is not a new
    identity, so the comparison keeps the zoo's key and the candidates' stored entries are reused (only
    the target is extracted), instead of every model being extracted again under the role ``default``.

    Example:
        >>> zoo_output_role(store, "digits", ENCODER_LAYERS)  # doctest: +SKIP
        'output'
    """
    defaults = {(entry.default_layer, {spec.role: spec.module for spec in entry.specs}.get(entry.default_layer))
                for entry in store.models([model_id for model_id in store.model_ids() if model_id != name])}
    if len(defaults) != 1:
        return None
    ((role, module),) = defaults
    return role if module == OUTPUT_MODULE and role not in own_roles else None


def train_and_register(store: Store, options: TargetOptions, weights_dir: Path) -> tuple[str, float]:
    """Trains the target model, saves its weights and registers it; returns its id and validation loss.

    Example:
        >>> train_and_register(store, TargetOptions("sklearn-digits", "digits"), Path("weights"))  # doctest: +SKIP
        ('digits', 0.41)
    """
    from safetensors.torch import save_file

    from rsa_ray.datasets.labelled import load_labelled_task
    from rsa_ray.models import ENCODER_LAYERS, LayerSpec, ModelEntry, ModelSource, PreprocessingSpec, WeightsRef, sha256_of_file
    from rsa_ray.training import TrainingSettings, architecture_for_task, train_task

    labelled = load_labelled_task(options.data, options.name, options.task_type, options.image_size)
    train_split, val_split = labelled.split(seed=options.seed)
    settings = TrainingSettings(steps=options.steps, seed=options.seed, checkpoint_fractions=(1.0,))
    print(f"training target {options.name!r} on {len(train_split[0])} examples of {labelled.source} ({options.steps} steps)")
    result = train_task(labelled.task, train_split, val_split, settings)
    final = result.checkpoints[-1]
    weights_dir.mkdir(parents=True, exist_ok=True)
    path = (weights_dir / f"{options.name}.safetensors").resolve()
    save_file({name: tensor.contiguous() for name, tensor in final.state_dict.items()}, os.fspath(path))
    role = zoo_output_role(store, options.name, ENCODER_LAYERS)
    layers = ENCODER_LAYERS if role is None else tuple(
        LayerSpec(role if module == OUTPUT_MODULE else module, module) for module in ENCODER_LAYERS)
    entry = ModelEntry(
        model_id=options.name,
        source=ModelSource.SAFETENSORS,
        architecture=architecture_for_task(labelled.task),
        weights=WeightsRef(os.fspath(path), sha256_of_file(path)),
        layers=layers,
        default_layer=role or OUTPUT_MODULE,
        preprocessing=PreprocessingSpec(resize=options.image_size, crop=options.image_size),
        task=options.name,
        task_type=options.task_type,
    )
    store.register_models([entry], replace=True)
    return options.name, final.validation_loss


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    add_output_argument(parser)
    parser.add_argument("--data", required=True, help="sklearn-digits, an .npz with images and labels, or a folder of class folders")
    parser.add_argument("--name", required=True, help="the new task's name (the target model's id)")
    parser.add_argument("--task-type", default="semantic", choices=["2d", "3d", "semantic", "geometric"], help="the task's type")
    parser.add_argument("--steps", type=int, default=300, help="training steps")
    parser.add_argument("--image-size", type=int, default=64, help="input side, a multiple of 16")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--weights-dir", default=None, help="where the weights go (default: <store>/weights for a local store)")
    parser.add_argument("--probe", default=None, help="shared probe set id (default: the store's only one)")
    parser.add_argument("--top", type=positive_int, default=5, help="candidates to print")
    parser.add_argument("--score", default=None, metavar="all|NAME,...",
                        help="transferability scores to rank by on the target's images (default: rsa and "
                             f"{DEFAULT_SCORES['classes']} for class labels, {DEFAULT_SCORES['regression']} for regression)")
    parser.add_argument("--bootstrap", type=int, default=100, metavar="N",
                        help="bootstrap samples over the target images for intervals (0: none; default 100)")
    parser.add_argument("--target-images", type=int, default=500, metavar="N",
                        help="target images the candidates are scored on (a seeded sample of the training split)")


def run(args: argparse.Namespace) -> int:
    from jobs.rank import print_ranking, print_scores
    from jobs.target_data import TargetData, ensure_target
    from jobs.target_scores import ScoringOptions, default_score, target_selection
    from rsa_ray.estimators import parse_scores

    scoring = ScoringOptions(parse_scores(args.score or "rsa"), args.bootstrap, args.seed)
    target = TargetData(args.data, args.name, args.task_type, args.image_size, args.target_images, args.seed)
    store = open_store(args.store)  # the flags are checked first: a refused run opens (creates) no store
    probe_id = choose_probe(store, args.probe)
    if args.weights_dir is None:
        folder = store.local_folder()
        if folder is None:
            raise ValueError("--weights-dir is required when the store is not a local folder")
        args.weights_dir = os.path.join(folder, "weights")
    options = TargetOptions(args.data, args.name, args.task_type, args.steps, args.image_size, args.seed)
    model_id, loss = train_and_register(store, options, Path(args.weights_dir))
    print(f"target {model_id!r} registered (validation loss {loss:.4f})")
    # The target joins the zoo's comparison on the shared probe set (taxonomy, rerank), as in the paper ...
    models = choose_models(store, None)
    layer = default_role(store, models)  # every model at its own default layer, the target's encoder output included
    # ... and every candidate is scored on the target's own images, by RSA and the label-based scores.
    record = ensure_target(store, target, model_id=model_id)
    if args.score is None:
        scoring = dataclasses.replace(scoring, scores=("rsa", default_score(record.label_kind)))
    connect_once(args.address)  # once: the similarities and the scores below compute on it
    # Both probe sets' extraction as one stage, before any RDM task: one actor pool, each model built once.
    stage = extract_probe_sets(store, [ProbeSelection(probe_id, tuple(models), (layer,)),
                                       target_selection(store, record, scoring)])
    summary = compute_similarities(store, probe_id, models, [layer], stage=stage)
    print_ranking(store, probe_id, layer, model_id, args.top, output_dir(args.out))
    result = print_scores(store, record, scoring, args.top, output_dir(args.out), stage)
    return 3 if result.failures or exit_code(summary) else 0


SUBCOMMAND = Subcommand("train-target", "train a small model on a new task's examples, register it and rank the zoo for it", add_arguments, run)
