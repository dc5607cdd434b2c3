"""Transferability scores of many candidates on Ray: one task per batch of candidates.

Each task reads its candidates' stored activations on the target's images itself
(arrays never travel through the driver), scores each with the chosen estimators
(:mod:`rsa_ray.estimators`) and returns one row per (candidate, score). Input that
makes a candidate's score undefined, or a candidate whose activations are missing,
gives that row an error and does not sink the other candidates. With bootstrap
samples of the images, each score is also computed on each sample (its repeated
rows are copies of one image, which the estimators keep apart). The labels, the
target model's features and the samples go into the object store once and are
shared by every task; within a task, the target's and the labels' rank vectors are
computed once per sample, and a candidate's RDM once for both RSA scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import ray

from cluster.connect import connect
from cluster.progress import StageProgress
from rsa_ray.errors import DegenerateInputError
from rsa_ray.estimators import ESTIMATORS, estimator, score_features
from rsa_ray.label_rdm import label_rank_vector
from rsa_ray.rsa_score import rdm_rank_vector
from rsa_ray.similarity import clip_correlations
from rsa_ray.target_labels import TargetLabels, check_features
from storage import CorruptEntryError, EntryKey, EntryNotFoundError, IncompleteEntryError, Store

# Errors of one candidate's input: recorded in its rows, the other candidates go on.
CANDIDATE_ERRORS = (DegenerateInputError, EntryNotFoundError, IncompleteEntryError, CorruptEntryError)
MAX_BATCH = 16


@dataclass(frozen=True)
class ScoreRow:
    """One candidate's value of one score, or why it has none.

    Attributes:
        candidate: The candidate's model id.
        score: The estimator's name.
        value: The score on every image, or None when it failed.
        error: None, or the error that left the score undefined (type and message).
        samples: The score on each bootstrap sample (float64 [S]), when samples were asked for.

    Example:
        >>> ScoreRow("m1", "knn", 0.8).error is None
        True
    """

    candidate: str
    score: str
    value: float | None
    error: str | None = None
    samples: np.ndarray | None = None


def candidate_batches(model_ids: Sequence[str], workers: int, batch_size: int | None = None) -> list[tuple[str, ...]]:
    """Groups of candidates for one task each: about four tasks per worker, at most 16 candidates a task.

    Example:
        >>> candidate_batches([f"m{i}" for i in range(5)], workers=1, batch_size=2)
        [('m0', 'm1'), ('m2', 'm3'), ('m4',)]
    """
    size = batch_size or max(1, min(MAX_BATCH, -(-len(model_ids) // (4 * max(workers, 1)))))
    return [tuple(model_ids[start:start + size]) for start in range(0, len(model_ids), size)]


@dataclass
class _TaskInputs:
    """What every candidate is compared with on one set of rows, each computed once and only when needed."""

    labels: TargetLabels | None
    target_features: np.ndarray | None
    image_ids: np.ndarray | None
    _ranks: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def on_rows(cls, labels: TargetLabels | None, target_features: np.ndarray | None,
                rows: np.ndarray) -> "_TaskInputs":
        """The inputs restricted to ``rows`` (a bootstrap sample: repeated rows are copies of one image)."""
        return cls(None if labels is None else labels.subset(rows),
                   None if target_features is None else target_features[rows], rows)

    def reference_ranks(self, score: str) -> np.ndarray:
        """The target model's (``rsa``) or the labels' (``rsa-labels``) rank vector; a failure is re-raised."""
        if score not in self._ranks:
            try:
                if score == "rsa":
                    self._ranks[score] = rdm_rank_vector(self.target_features, "target model", self.image_ids)
                else:
                    self._ranks[score] = label_rank_vector(self.labels, self.image_ids)
            except DegenerateInputError as error:
                self._ranks[score] = error
        if isinstance(self._ranks[score], DegenerateInputError):
            raise self._ranks[score]
        return self._ranks[score]


def _values(model_id: str, features: np.ndarray, scores: Sequence[str],
            inputs: _TaskInputs) -> dict[str, float | DegenerateInputError]:
    """Each score's value for one candidate, or the error that left it undefined."""
    values: dict[str, float | DegenerateInputError] = {}
    candidate_ranks = None
    for score in scores:
        try:
            if score in ("rsa", "rsa-labels"):
                if score == "rsa-labels":
                    check_features(features, inputs.labels, model_id)
                if candidate_ranks is None:  # one RDM for both RSA scores
                    candidate_ranks = rdm_rank_vector(features, model_id, inputs.image_ids)
                values[score] = float(clip_correlations(candidate_ranks @ inputs.reference_ranks(score)))
            else:
                values[score] = score_features(score, features, inputs.labels, inputs.target_features, model_id,
                                               inputs.image_ids)
        except DegenerateInputError as error:
            values[score] = error
    return values


def candidate_features(store: Store, key: EntryKey) -> np.ndarray:
    """A candidate's features [N, D] on the target's images: its stored activations, or, where only RDMs
    and pooled features were kept (wide layers, RDMs computed on a GPU actor), its average-pooled features.

    Raises:
        EntryNotFoundError: Neither is stored.
    """
    from cluster.wide_layers import pooled_layer

    try:
        return store.read_activations(key)
    except EntryNotFoundError:
        return store.read_activations(EntryKey(key.probe_id, key.model_id, pooled_layer(key.layer)))


def _message(error: Exception, sample: int | None = None) -> str:
    where = "" if sample is None else f" (bootstrap sample {sample})"
    return f"{type(error).__name__}: {error}{where}"


def score_batch(store: Store, probe_id: str, layer: str, candidates: Sequence[str], labels: TargetLabels | None,
                scores: Sequence[str], target_features: np.ndarray | None = None,
                samples: np.ndarray | None = None) -> list[ScoreRow]:
    """Every score of every candidate in one batch, from their stored activations.

    Args:
        store: The store holding the activations.
        probe_id: The probe set of the target's images.
        layer: The candidates' layer role.
        candidates: The candidates of this batch.
        labels: The target's labels, one per probe image (None: only ``rsa``).
        scores: Estimator names.
        target_features: The target model's features on the probe images (``rsa``).
        samples: Bootstrap samples [S, N] of probe-image indices (``rsa_ray.bootstrap.image_samples``);
            each score is also computed on each sample, its repeated rows passed as copies of one
            image. None: no samples.

    Returns:
        One row per (candidate, score), candidates in the given order. A score undefined on any
        bootstrap sample is an error naming the sample.

    Example:
        >>> score_batch(store, probe_id, "out", ["m1"], labels, ["knn"])  # doctest: +SKIP
        [ScoreRow(candidate='m1', score='knn', value=0.83, error=None, samples=None)]
    """
    stored: dict[str, np.ndarray] = {}
    outcome: dict[tuple[str, str], float | str] = {}
    full = _TaskInputs(labels, target_features, None)
    for candidate in candidates:
        try:
            stored[candidate] = candidate_features(store, EntryKey(probe_id, candidate, layer))
        except CANDIDATE_ERRORS as error:
            outcome.update({(candidate, score): _message(error) for score in scores})
            continue
        for score, value in _values(candidate, stored[candidate].astype(np.float64), scores, full).items():
            outcome[(candidate, score)] = value if isinstance(value, float) else _message(value)
    per_sample = {key: np.empty(len(samples)) for key, value in outcome.items()
                  if samples is not None and isinstance(value, float)}
    # Sample by sample, so that the labels' and the target's rank vectors of a sample are computed once.
    for index, rows in enumerate(samples if samples is not None else ()):
        inputs = _TaskInputs.on_rows(labels, target_features, rows)
        for candidate, features in stored.items():
            pending = [score for score in scores if (candidate, score) in per_sample]
            for score, value in _values(candidate, features[rows].astype(np.float64), pending, inputs).items():
                if isinstance(value, float):
                    per_sample[(candidate, score)][index] = value
                else:
                    outcome[(candidate, score)] = _message(value, index)
                    del per_sample[(candidate, score)]
    return [ScoreRow(candidate, score, None, outcome[(candidate, score)]) if isinstance(outcome[(candidate, score)], str)
            else ScoreRow(candidate, score, outcome[(candidate, score)], None, per_sample.get((candidate, score)))
            for candidate in candidates for score in scores]


score_batch_remote = ray.remote(num_cpus=1, max_retries=3)(score_batch)


def _check_request(scores: Sequence[str], labels: TargetLabels | None, has_target: bool, n_images: int,
                   probe_id: str, samples: np.ndarray | None) -> None:
    for name in scores:
        chosen = estimator(name)
        if chosen.reads == "target-model" and not has_target:
            raise ValueError(f"score {name!r} needs a target model (train one with `rsa-ray train-target`)")
        if chosen.reads == "labels" and not chosen.supports(labels):
            what = "no labels" if labels is None else f"{labels.kind} targets"
            raise ValueError(f"score {name!r} cannot score a target with {what} (it supports {', '.join(chosen.kinds)})")
    if labels is not None and labels.n_images != n_images:
        raise ValueError(f"the target has {labels.n_images} labels, the probe set {probe_id!r} has {n_images} images")
    if samples is not None:
        if samples.ndim != 2 or samples.shape[0] == 0 or not np.issubdtype(samples.dtype, np.integer):
            raise ValueError(f"bootstrap samples must be integer image indices [S, N], got {samples.dtype} {samples.shape}")
        if samples.size and (samples.min() < 0 or samples.max() >= n_images):
            raise ValueError(f"bootstrap samples index images outside 0..{n_images - 1}")


def score_candidates(store: Store, probe_id: str, layer: str, model_ids: Sequence[str], labels: TargetLabels | None,
                     scores: Sequence[str], target_model: str | None = None, target_layer: str | None = None,
                     samples: np.ndarray | None = None, batch_size: int | None = None,
                     address: str | None = None) -> pd.DataFrame:
    """Scores every candidate with every estimator, one Ray task per batch of candidates.

    Args:
        store: The store holding the candidates' (and the target model's) activations.
        probe_id: The probe set of the target's images.
        layer: The candidates' layer role.
        model_ids: The candidates.
        labels: The target's labels, one per probe image, in probe-set order (None: only ``rsa``).
        scores: Estimator names (:data:`rsa_ray.estimators.ESTIMATORS`).
        target_model: The model trained on the target task (``rsa``), stored under the same probe set.
        target_layer: Its layer role (default: ``layer``).
        samples: Bootstrap samples [S, N] of probe-image indices; each score is also computed on each.
        batch_size: Candidates per task (default: about four tasks per CPU, at most 16 a task).
        address: The Ray cluster to connect to if not connected yet (:func:`cluster.connect.connect`).

    Returns:
        One row per (candidate, score), in the order of ``model_ids`` then ``scores``
        (:func:`rows_frame`). A candidate whose input is degenerate or missing, or whose task failed
        after Ray's retries, has rows with an error instead of a value.

    Raises:
        ValueError: An unknown score, a score this target cannot have, labels not one per image,
            or bootstrap samples that are not image indices.

    Example:
        >>> score_candidates(store, probe_id, "out", ["m1", "m2"], labels, ["logme", "knn"])  # doctest: +SKIP
        (a DataFrame with 4 rows: candidate, score, value, error, samples)
    """
    scores = tuple(scores)
    samples = None if samples is None else np.asarray(samples)
    n_images = store.probe_set(probe_id).n_images
    _check_request(scores, labels, target_model is not None, n_images, probe_id, samples)
    connect(address)
    target_features = None
    if target_model is not None and any(ESTIMATORS[name].reads == "target-model" for name in scores):
        target_features = store.read_activations(EntryKey(probe_id, target_model, target_layer or layer))
    labels_ref, target_ref, samples_ref = ray.put(labels), ray.put(target_features), ray.put(samples)
    workers = int(ray.cluster_resources().get("CPU", 1))
    refs = {score_batch_remote.remote(store, probe_id, layer, batch, labels_ref, scores, target_ref, samples_ref): batch
            for batch in candidate_batches(list(model_ids), workers, batch_size)}
    by_batch = _gather(refs, len(model_ids))
    results: list[ScoreRow] = []
    for batch in refs.values():
        outcome = by_batch[batch]
        if isinstance(outcome, Exception):
            outcome = [ScoreRow(candidate, score, None, _message(outcome)) for candidate in batch for score in scores]
        results += outcome
    order = {model_id: index for index, model_id in enumerate(model_ids)}
    return rows_frame(sorted(results, key=lambda row: order[row.candidate]))


def _gather(refs: dict[ray.ObjectRef, tuple[str, ...]], n_models: int) -> dict[tuple[str, ...], Any]:
    """Each batch's rows, or the exception its task ended with after Ray's retries."""
    progress = StageProgress("scores", total=n_models)
    results: dict[tuple[str, ...], Any] = {}
    pending = list(refs)
    while pending:
        finished, pending = ray.wait(pending, num_returns=1)
        for ref in finished:
            batch = refs[ref]
            try:
                results[batch] = ray.get(ref)
                failed = {row.candidate for row in results[batch] if row.error is not None}
            except Exception as error:  # a task that failed for good, after Ray's retries
                results[batch] = error
                failed = set(batch)
            for model_id in batch:
                progress.advance(failed=model_id in failed)
    return results


def rows_frame(rows: Sequence[ScoreRow]) -> pd.DataFrame:
    """The rows as a table: candidate, score, value (NaN where it failed), error, samples (an array or None).

    Example:
        >>> rows_frame([ScoreRow("m1", "knn", 0.5), ScoreRow("m2", "knn", None, "DegenerateInputError: ...")]).shape
        (2, 5)
    """
    return pd.DataFrame({
        "candidate": [row.candidate for row in rows],
        "score": [row.score for row in rows],
        "value": [np.nan if row.value is None else row.value for row in rows],
        "error": [row.error for row in rows],
        "samples": pd.Series([row.samples for row in rows], dtype=object),
    })
