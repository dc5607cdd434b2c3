"""Training: the torch half of rsa_ray (training from scratch, finetuning, evaluation; no Ray).

One training loop (:mod:`rsa_ray.training.loop`) serves training a task's small
model from scratch (:func:`train_task`, the zoo and new targets) and finetuning
a candidate's encoder on a target (:func:`finetune_and_evaluate`, transfer
validation); one evaluation module scores both. The numpy-only metrics live in
:mod:`rsa_ray.scoring`.
"""

from rsa_ray.training.evaluation import held_out_score, metric_for_task, predict_outputs, validation_loss
from rsa_ray.training.finetuning import CONTROL, FinetuneSettings, finetune_and_evaluate
from rsa_ray.training.from_scratch import Checkpoint, TrainingResult, TrainingSettings, train_task
from rsa_ray.training.loop import as_tensors, epoch_batches, optimise, sampled_batches
from rsa_ray.training.task_network import (
    ARCHITECTURE_TARGET,
    architecture_for_task,
    build_transfer_model,
    encoder_state,
    task_loss,
)

__all__ = [
    "ARCHITECTURE_TARGET",
    "CONTROL",
    "Checkpoint",
    "FinetuneSettings",
    "TrainingResult",
    "TrainingSettings",
    "architecture_for_task",
    "as_tensors",
    "build_transfer_model",
    "encoder_state",
    "epoch_batches",
    "finetune_and_evaluate",
    "held_out_score",
    "metric_for_task",
    "optimise",
    "predict_outputs",
    "sampled_batches",
    "task_loss",
    "train_task",
    "validation_loss",
]
