"""Finetuning a candidate's encoder with a fresh task head for a fixed budget, scored on held-out data.

The transfer experiment of the paper's §1 items 7-8: every candidate (and the
random-init control) gets the same budget, and its held-out metric is higher
when it transfers better. ``cluster.tune_validation`` runs
:func:`finetune_and_evaluate` as Ray Tune trials; it also runs in a notebook.

>>> FinetuneSettings(steps=4, evaluations=2).evaluation_steps()
(2, 4)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from rsa_ray.datasets.target_splits import TargetSplits
from rsa_ray.models.encoder_decoder import EncoderDecoder, check_input_size
from rsa_ray.training.evaluation import held_out_score, predict_outputs
from rsa_ray.training.loop import as_tensors, optimise, sampled_batches
from rsa_ray.training.task_network import build_transfer_model

#: The candidate name of the control: the same network with a randomly initialised encoder.
CONTROL = "random-init"


@dataclass(frozen=True)
class FinetuneSettings:
    """The fixed finetuning budget.

    Attributes:
        steps: Adam steps.
        batch_size: Images per step.
        learning_rate: Adam learning rate (cosine-decayed to 10 %).
        seed: Seeds the head (and the control's encoder) and the batch order.
        evaluations: Held-out evaluations, evenly spaced, the last after the last step.
        device: Torch device string.
        eval_batch_size: Images per forward pass when evaluating.
        freeze_encoder: Train only the fresh decoder / head on the candidate's fixed encoder (a readout, as in
            Taskonomy's transfers): the measured transfer then depends on the representation alone. The
            encoder's codes of the training and held-out images are computed once, so each step runs the
            decoder / head alone.
    """

    steps: int = 200
    batch_size: int = 32
    learning_rate: float = 1e-3
    seed: int = 0
    evaluations: int = 1
    device: str = "cpu"
    eval_batch_size: int = 128
    freeze_encoder: bool = False

    def __post_init__(self) -> None:
        if min(self.steps, self.batch_size, self.evaluations, self.eval_batch_size) < 1:
            raise ValueError(f"steps, batch_size, evaluations and eval_batch_size must be >= 1, got {self}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")

    def evaluation_steps(self) -> tuple[int, ...]:
        """Steps after which the model is evaluated.

        Example:
            >>> FinetuneSettings(steps=10, evaluations=3).evaluation_steps()
            (3, 7, 10)
        """
        count = min(self.evaluations, self.steps)
        return tuple(sorted({max(1, round(self.steps * (i + 1) / count)) for i in range(count)}))


def finetune_and_evaluate(
    splits: TargetSplits,
    encoder_weights: Mapping[str, Any] | None,
    settings: FinetuneSettings = FinetuneSettings(),
    width: int = 1,
    report: Callable[[int, float], None] | None = None,
) -> float:
    """Finetunes encoder + fresh head (or the head only) on ``splits.train``; scores it on ``splits.held_out``.

    Args:
        splits: The target task and its data.
        encoder_weights: The candidate's encoder weights (:func:`rsa_ray.training.encoder_state`); None is the control.
        settings: The budget.
        width: The candidate encoder's width multiplier.
        report: Called with ``(step, metric)`` at every evaluation (Ray Tune reports through it).

    Returns:
        The held-out metric after the last step (higher is better; see :func:`rsa_ray.training.metric_for_task`).

    Raises:
        ValueError: Empty or mismatched training data, or weights that do not fit the encoder.

    Example:
        >>> from rsa_ray.datasets import task_by_name
        >>> rng = np.random.default_rng(0)
        >>> data = (rng.random((8, 3, 16, 16), dtype=np.float32), rng.integers(0, 4, 8))
        >>> splits = TargetSplits(task_by_name("object_count"), data, data)
        >>> 0.0 <= finetune_and_evaluate(splits, None, FinetuneSettings(steps=2, batch_size=4)) <= 1.0
        True
    """
    task = splits.task
    model = build_transfer_model(task, encoder_weights, width, settings.seed).to(settings.device)
    network: nn.Module = model
    train_split, held_out = splits.train, splits.held_out
    if settings.freeze_encoder:
        # The fixed encoder's codes are computed once; every step then runs the decoder / head alone.
        model.encoder.requires_grad_(False)
        network = _CodeReadout(model)
        train_split = (_codes(model, train_split[0], settings), train_split[1])
        held_out = (_codes(model, held_out[0], settings), held_out[1])
    train = as_tensors(train_split, task)
    evaluation_steps, scores = settings.evaluation_steps(), [float("nan")]

    def evaluate(step: int) -> None:
        if step in evaluation_steps:
            scores.append(held_out_score(network, task, held_out, settings.eval_batch_size, settings.device))
            if report is not None:
                report(step, scores[-1])

    batches = sampled_batches(len(train[0]), settings.batch_size, np.random.default_rng(settings.seed))
    optimise(network, task, train, settings.steps, settings.learning_rate, batches, evaluate, device=settings.device)
    return scores[-1]


class _CodeReadout(nn.Module):
    """An encoder-decoder whose inputs are its (fixed) encoder's codes: only the decoder and head run."""

    def __init__(self, model: EncoderDecoder):
        super().__init__()
        self.model = model

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        return self.model.readout(code)


def _codes(model: EncoderDecoder, images: np.ndarray, settings: FinetuneSettings) -> np.ndarray:
    """The encoder's codes of ``images`` [N, 3, H, W] (eval mode, batched)."""
    if images.ndim != 4:
        raise ValueError(f"images must be [N, 3, H, W], got shape {tuple(images.shape)}")
    check_input_size(images.shape)
    return predict_outputs(model.encoder, images, settings.eval_batch_size, settings.device)
