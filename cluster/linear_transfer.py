"""Measured transfer by a held-out linear probe on frozen features, one Ray task per batch of candidates.

The transfer probe set holds a target's finetuning examples, then its held-out ones, with their
labels (``jobs.validate_transfer.transfer_probe_set``). For each candidate a task reads its stored
features, fits a linear classifier (or ridge regression) on the first ``n_train`` rows and scores the
rest (``rsa_ray.linear_probe.held_out_score``). A candidate whose features make the probe undefined
gets its error in its row; the others are scored.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import ray

from cluster.estimator_tasks import candidate_features
from rsa_ray.errors import DegenerateInputError
from rsa_ray.target_labels import TargetLabels
from storage import EntryKey, EntryNotFoundError, IncompleteEntryError, Store

#: Candidates per task: enough to amortise a task's start, few enough to spread over the workers.
BATCH = 4


def held_out_rows(store: Store, probe_id: str, layer: str, model_ids: Sequence[str], labels: TargetLabels,
                  n_train: int) -> list[tuple[str, float, str]]:
    """(candidate, held-out metric, error) for each of ``model_ids``; the work of one task.

    Example:
        >>> held_out_rows(store, probe_id, "encoder.output", ["a"], labels, 400)  # doctest: +SKIP
        [('a', 0.91, '')]
    """
    from rsa_ray.linear_probe import held_out_score

    train, held = np.arange(n_train), np.arange(n_train, labels.n_images)
    rows = []
    for model_id in model_ids:
        try:
            features = candidate_features(store, EntryKey(probe_id, model_id, layer)).reshape(labels.n_images, -1)
            value = held_out_score(features[train], labels.subset(train), features[held], labels.subset(held),
                                   name=model_id)
            rows.append((model_id, float(value), ""))
        except (DegenerateInputError, EntryNotFoundError, IncompleteEntryError, ValueError) as error:
            rows.append((model_id, float("nan"), f"{type(error).__name__}: {error}"))
    return rows


@ray.remote(num_cpus=1)
def _held_out_task(store: Store, probe_id: str, layer: str, model_ids: Sequence[str], labels: TargetLabels,
                   n_train: int) -> list[tuple[str, float, str]]:
    return held_out_rows(store, probe_id, layer, model_ids, labels, n_train)


def held_out_scores(store: Store, probe_id: str, layer: str, model_ids: Sequence[str], n_train: int) -> pd.DataFrame:
    """Each candidate's held-out linear-probe metric: columns ``candidate``, ``value``, ``error``.

    Example:
        >>> held_out_scores(store, probe_id, "encoder.output", ["a", "b"], 400)  # doctest: +SKIP
    """
    labels = store.read_probe_labels(probe_id)
    if not 0 < n_train < labels.n_images:
        raise ValueError(f"probe set {probe_id} has {labels.n_images} labelled images; cannot train on {n_train}")
    labels_ref = ray.put(labels)
    batches = [list(model_ids[start:start + BATCH]) for start in range(0, len(model_ids), BATCH)]
    results = ray.get([_held_out_task.remote(store, probe_id, layer, batch, labels_ref, n_train) for batch in batches])
    return pd.DataFrame([row for rows in results for row in rows], columns=["candidate", "value", "error"])
