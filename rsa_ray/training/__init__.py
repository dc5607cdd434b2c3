"""Training: the torch half of rsa_ray (training from scratch, finetuning, evaluation; no Ray).

One training loop (:mod:`rsa_ray.training.loop`) serves training a task's small
model from scratch (:func:`train_task`, the zoo and new targets) and finetuning
a candidate's encoder on a target (:func:`finetune_and_evaluate`, transfer
validation); one evaluation module scores both. The numpy-only metrics live in
:mod:`rsa_ray.scoring`.
"""

from rsa_ray.training.baselines import TaskBaseline, baseline_loss, constant_loss, task_baselines, trivial_prediction
from rsa_ray.training.evaluation import held_out_score, metric_for_task, predict_outputs, validation_loss
from rsa_ray.training.finetuning import CONTROL, FinetuneSettings, finetune_and_evaluate
from rsa_ray.training.from_scratch import Checkpoint, TrainingResult, TrainingSettings, TrainingState, train_steps, train_task
from rsa_ray.training.loop import as_tensors, epoch_batches, mirrored, optimise, run_steps, sampled_batches, step_rows
from rsa_ray.training.task_network import (
    ARCHITECTURE_TARGET,
    LARGE_ARCHITECTURE_TARGET,
    VARIANTS,
    architecture_for_task,
    build_task_model,
    build_transfer_model,
    encoder_state,
    task_loss,
)

__all__ = [
    "ARCHITECTURE_TARGET",
    "CONTROL",
    "Checkpoint",
    "FinetuneSettings",
    "LARGE_ARCHITECTURE_TARGET",
    "TaskBaseline",
    "TrainingResult",
    "TrainingSettings",
    "TrainingState",
    "VARIANTS",
    "architecture_for_task",
    "as_tensors",
    "baseline_loss",
    "build_task_model",
    "build_transfer_model",
    "constant_loss",
    "encoder_state",
    "epoch_batches",
    "finetune_and_evaluate",
    "held_out_score",
    "metric_for_task",
    "mirrored",
    "optimise",
    "predict_outputs",
    "run_steps",
    "sampled_batches",
    "step_rows",
    "task_baselines",
    "task_loss",
    "train_steps",
    "train_task",
    "trivial_prediction",
    "validation_loss",
]
