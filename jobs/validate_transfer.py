"""Validating every transferability estimator for one target: scores on its images, two measured transfers.

``validate --target`` scores each candidate under every estimator on the target's labelled images
(``jobs.target_scores``) and measures transfer two ways: Ray Tune finetuning (the candidate's encoder
finetuned with the target's head, ``cluster.tune_validation``) and a held-out linear probe (a
classifier or ridge regression trained on the candidate's frozen features of the finetuning
examples, scored on the held-out ones). ``jobs.validate_scoring.estimator_agreement`` then gives, per
estimator and per transfer, Pearson, Spearman, weighted Kendall τ, top-1/3/5 hits and regret.
"""

from __future__ import annotations

from collections.abc import Sequence

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas and the store are imported where a transfer is measured (validate's flags need neither)
    import pandas as pd

    from storage import Store
    from storage.targets import TargetRecord

#: What ``--transfer`` may name.
TRANSFERS = ("finetune", "linear-probe")


def parse_transfers(text: str) -> tuple[str, ...]:
    """``finetune``, ``linear-probe`` or both, comma-separated.

    Raises:
        ValueError: An unknown name, or none.

    Example:
        >>> parse_transfers("linear-probe")
        ('linear-probe',)
    """
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [name for name in names if name not in TRANSFERS]
    if unknown or not names:
        raise ValueError(f"--transfer {text!r}: choose from {', '.join(TRANSFERS)} (comma-separated)")
    return names


def task_target_record(store: Store, task: str, splits, n_images: int, data: str, model_id: str) -> TargetRecord:
    """A rendered task's finetuning scenes (the first ``n_images``) with their labels as the target's probe set."""
    from jobs.target_data import as_uint8_images, store_target

    inputs, targets = splits.train
    count = min(n_images, len(inputs))
    ids = [f"{task}-{index:05d}" for index in range(count)]
    return store_target(store, task, as_uint8_images(inputs[:count]), targets[:count], data, ids, model_id)


def transfer_probe_set(store: Store, name: str, splits) -> tuple[str, int]:
    """The finetuning then the held-out examples as one labelled probe set; returns its id and the training count."""
    import numpy as np

    from jobs.target_data import as_uint8_images, pooled_labels

    (train_inputs, train_targets), (held_inputs, held_targets) = splits.train, splits.held_out
    images = as_uint8_images(np.concatenate([train_inputs, held_inputs]))
    labels = pooled_labels(np.concatenate([train_targets, held_targets]))
    ids = [f"{name}-train-{i:05d}" for i in range(len(train_inputs))] + [f"{name}-held-{i:05d}" for i in range(len(held_inputs))]
    probe_id = store.add_probe_set(images, ids, f"transfer examples of {name}", labels=labels)
    return probe_id, len(train_inputs)


def linear_probe_transfer(store: Store, name: str, splits, candidates: Sequence[str],
                          layer: str) -> tuple[dict[str, float], dict[str, str]]:
    """Held-out linear-probe performance of each candidate's frozen features: candidate → metric, and errors."""
    from cluster.linear_transfer import held_out_scores
    from jobs.compute import compute_similarities

    probe_id, n_train = transfer_probe_set(store, name, splits)
    summary = compute_similarities(store, probe_id, list(candidates), [layer])
    failed = {f.model_id: str(f.error) for f in summary.failures}
    rows = held_out_scores(store, probe_id, layer, [c for c in candidates if c not in failed], n_train)
    values = {r.candidate: float(r.value) for r in rows.itertuples(index=False) if not r.error}
    errors = {**failed, **{r.candidate: r.error for r in rows.itertuples(index=False) if r.error}}
    return values, errors


def transfer_columns(scores: pd.DataFrame, performance: dict[str, dict[str, float]]) -> pd.DataFrame:
    """The score table with one measured-transfer column per transfer (``transfer.<name>``)."""
    table = scores.copy()
    for transfer, values in performance.items():
        table[f"transfer.{transfer}"] = table["candidate"].map(values)
    return table
