"""Transferability scores of many candidates on Ray: one task per batch of candidates.

The one path every score takes, ``rsa`` and ``rsa-labels`` included: each task reads
its candidates' stored activations on the target's images itself (arrays never travel
through the driver) and scores each with the functions of the estimator table
(:data:`rsa_ray.estimators.ESTIMATORS`), returning one :class:`~rsa_ray.estimators.ScoreRow`
per (candidate, score). Input that makes a candidate's score undefined, or a candidate
whose activations are missing, gives that row an error and does not sink the other
candidates. With resamples of the images (rows of image indices, each image at most once:
:func:`rsa_ray.resampling.image_subsamples`), each score is also computed on each resample,
by the same function on those rows. ``rsa`` compares the stored correlation RDMs of the
candidate and the target model where both are stored (their sub-RDMs on each resample,
:func:`rsa_ray.rsa_score.rsa_scores_from_rdms`) instead of computing them again from the
features. The labels, the target model's features and RDM and the resamples go into the
object store once and are shared by every task.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import ray

from cluster.gather import gather
from rsa_ray.errors import DegenerateInputError
from rsa_ray.estimators import ESTIMATORS, ScoreRow, applicable_scores
from rsa_ray.rsa_score import rsa_scores_from_rdms
from rsa_ray.target_labels import TargetLabels
from storage import CorruptEntryError, EntryKey, EntryKind, EntryNotFoundError, IncompleteEntryError, Store

# Errors of one candidate's input: recorded in its rows, the other candidates go on.
CANDIDATE_ERRORS = (DegenerateInputError, EntryNotFoundError, IncompleteEntryError, CorruptEntryError)
MAX_BATCH = 16

__all__ = ["ScoreRow", "candidate_batches", "candidate_features", "rows_frame", "score_batch", "score_candidates"]


def candidate_batches(model_ids: Sequence[str], workers: int, batch_size: int | None = None) -> list[tuple[str, ...]]:
    """Groups of candidates for one task each: about four tasks per worker, at most 16 candidates a task.

    Example:
        >>> candidate_batches([f"m{i}" for i in range(5)], workers=1, batch_size=2)
        [('m0', 'm1'), ('m2', 'm3'), ('m4',)]
    """
    size = batch_size or max(1, min(MAX_BATCH, -(-len(model_ids) // (4 * max(workers, 1)))))
    return [tuple(model_ids[start:start + size]) for start in range(0, len(model_ids), size)]


def _values(model_id: str, features: np.ndarray, scores: Sequence[str], labels: TargetLabels | None,
            target_features: np.ndarray | None, rows: np.ndarray | None = None) -> dict[str, float | DegenerateInputError]:
    """Each score's value for one candidate (on ``rows`` of the images, or all), or the error that left it undefined."""
    if rows is not None:
        features = features[rows]
        labels = None if labels is None else labels.subset(rows)
        target_features = None if target_features is None else target_features[rows]
    values: dict[str, float | DegenerateInputError] = {}
    for score in scores:
        try:
            values[score] = ESTIMATORS[score].score(features, labels, target_features, model_id, rows)
        except DegenerateInputError as error:
            values[score] = error
    return values


def candidate_features(store: Store, key: EntryKey) -> np.ndarray:
    """A candidate's features [N, D] on the target's images: its stored activations, or, where only RDMs
    and pooled features were kept (wide layers, RDMs computed on a GPU actor), its average-pooled features.

    Raises:
        EntryNotFoundError: Neither is stored.
    """
    try:
        return store.read_activations(key)
    except EntryNotFoundError:
        return store.read_activations(key.pooled_features())


def stored_rdm(store: Store, key: EntryKey) -> np.ndarray | None:
    """A model's stored condensed RDM when it is the one ``rsa`` compares (correlation distance, features
    centred), else None (``rsa`` is then computed from its features).

    Example:
        >>> stored_rdm(store, EntryKey(probe_id, "m1", "out")).shape  # doctest: +SKIP
        (28680,)
    """
    attributes = store.stored_attributes([key], EntryKind.RDMS)[key]
    if attributes is None or str(attributes.get("distance", "correlation")) != "correlation" \
            or not bool(attributes.get("center_features", True)):
        return None
    return store.read_rdm(key)


def _rsa_row(candidate: str, rdm: np.ndarray, target_rdm: np.ndarray, samples: np.ndarray | None) -> ScoreRow:
    """``rsa`` from the stored RDMs: on every image and, with resamples, on each resample's sub-RDMs."""
    try:
        point, per_sample = rsa_scores_from_rdms(rdm, target_rdm, samples, candidate)
    except DegenerateInputError as error:
        return ScoreRow(candidate, "rsa", None, _message(error))
    return ScoreRow(candidate, "rsa", point, None, per_sample)


def _message(error: Exception, sample: int | None = None) -> str:
    where = "" if sample is None else f" (resample {sample})"
    return f"{type(error).__name__}: {error}{where}"


def _candidate_rows(candidate: str, features: np.ndarray, labels: TargetLabels | None, scores: Sequence[str],
                    target_features: np.ndarray | None, samples: np.ndarray | None) -> list[ScoreRow]:
    """One candidate's rows: each score on every image and, with resamples, on each resample."""
    point = _values(candidate, features, scores, labels, target_features)
    outcome = {score: value if isinstance(value, float) else _message(value) for score, value in point.items()}
    per_sample = {score: np.empty(len(samples)) for score, value in outcome.items()
                  if samples is not None and isinstance(value, float)}
    for index, rows in enumerate(samples if samples is not None else ()):
        for score, value in _values(candidate, features, list(per_sample), labels, target_features, rows).items():
            if isinstance(value, float):
                per_sample[score][index] = value
            else:
                outcome[score] = _message(value, index)
                del per_sample[score]
    return [ScoreRow(candidate, score, None, outcome[score]) if isinstance(outcome[score], str)
            else ScoreRow(candidate, score, outcome[score], None, per_sample.get(score)) for score in scores]


def score_batch(store: Store, probe_id: str, layer: str, candidates: Sequence[str], labels: TargetLabels | None,
                scores: Sequence[str], target_features: np.ndarray | None = None,
                samples: np.ndarray | None = None, target_rdm: np.ndarray | None = None) -> list[ScoreRow]:
    """Every score of every candidate in one batch, from their stored activations.

    Args:
        store: The store holding the activations.
        probe_id: The probe set of the target's images.
        layer: The candidates' layer role.
        candidates: The candidates of this batch.
        labels: The target's labels, one per probe image (None: only ``rsa``).
        scores: Estimator names.
        target_features: The target model's features on the probe images (``rsa``).
        samples: Resamples [S, m] of probe-image indices (:func:`rsa_ray.resampling.image_subsamples`);
            each score is also computed on each resample's rows. None: no resamples.
        target_rdm: The target model's stored RDM: ``rsa`` then compares it with each candidate's stored
            RDM (:func:`stored_rdm`; from features where a candidate has none), on the same resamples.

    Returns:
        One row per (candidate, score), candidates in the given order. A score undefined on any
        resample is an error naming the resample.

    Example:
        >>> score_batch(store, probe_id, "out", ["m1"], labels, ["knn"])  # doctest: +SKIP
        [ScoreRow(candidate='m1', score='knn', value=0.83, error=None, samples=None)]
    """
    rows: list[ScoreRow] = []
    for candidate in candidates:
        key = EntryKey(probe_id, candidate, layer)
        from_rdms = {}
        try:
            rdm = stored_rdm(store, key) if target_rdm is not None and "rsa" in scores else None
            if rdm is not None:
                from_rdms["rsa"] = _rsa_row(candidate, rdm, target_rdm, samples)
            rest = [score for score in scores if score not in from_rdms]
            features = candidate_features(store, key).astype(np.float64) if rest else None
        except CANDIDATE_ERRORS as error:
            rows += [ScoreRow(candidate, score, None, _message(error)) for score in scores]
            continue
        by_score = {row.score: row for row in _candidate_rows(candidate, features, labels, rest, target_features,
                                                              samples)} if rest else {}
        rows += [from_rdms.get(score) or by_score[score] for score in scores]
    return rows


score_batch_remote = ray.remote(num_cpus=1, max_retries=3)(score_batch)


def _check_request(scores: Sequence[str], labels: TargetLabels | None, has_target: bool, n_images: int,
                   probe_id: str, samples: np.ndarray | None) -> None:
    _, refused = applicable_scores(scores, labels, has_target)
    if refused:
        name, why = refused[0]
        raise ValueError(f"score {name!r} cannot score this target: {why}")
    if labels is not None and labels.n_images != n_images:
        raise ValueError(f"the target has {labels.n_images} labels, the probe set {probe_id!r} has {n_images} images")
    if samples is not None:
        if samples.ndim != 2 or samples.shape[0] == 0 or not np.issubdtype(samples.dtype, np.integer):
            raise ValueError(f"resamples must be integer image indices [S, m], got {samples.dtype} {samples.shape}")
        if samples.size and (samples.min() < 0 or samples.max() >= n_images):
            raise ValueError(f"resamples index images outside 0..{n_images - 1}")


def score_candidates(store: Store, probe_id: str, layer: str, model_ids: Sequence[str], labels: TargetLabels | None,
                     scores: Sequence[str], target_model: str | None = None, target_layer: str | None = None,
                     samples: np.ndarray | None = None, batch_size: int | None = None) -> list[ScoreRow]:
    """Scores every candidate with every estimator, one Ray task per batch of candidates, on the Ray the
    command connected to (:func:`cluster.connect.connect`, once per command).

    Args:
        store: The store holding the candidates' (and the target model's) activations.
        probe_id: The probe set of the target's images.
        layer: The candidates' layer role.
        model_ids: The candidates.
        labels: The target's labels, one per probe image, in probe-set order (None: only ``rsa``).
        scores: Estimator names (:data:`rsa_ray.estimators.ESTIMATORS`).
        target_model: The model trained on the target task (``rsa``), stored under the same probe set.
        target_layer: Its layer role (default: ``layer``).
        samples: Resamples [S, m] of probe-image indices; each score is also computed on each.
        batch_size: Candidates per task (default: about four tasks per CPU, at most 16 a task).

    Returns:
        One :class:`~rsa_ray.estimators.ScoreRow` per (candidate, score), in the order of ``model_ids``
        then ``scores``. A candidate whose input is degenerate or missing, or whose task failed after
        Ray's retries, has rows with an error instead of a value.

    Raises:
        ValueError: An unknown score, a score this target cannot have, labels not one per image,
            or resamples that are not image indices.
        RuntimeError: Ray is not connected.

    Example:
        >>> rows = score_candidates(store, probe_id, "out", ["m1", "m2"], labels, ["logme", "knn"])  # doctest: +SKIP
        >>> len(rows)  # doctest: +SKIP
        4
    """
    scores = tuple(scores)
    samples = None if samples is None else np.asarray(samples)
    n_images = store.probe_set(probe_id).n_images
    _check_request(scores, labels, target_model is not None, n_images, probe_id, samples)
    if not ray.is_initialized():
        raise RuntimeError("connect to Ray first (cluster.connect.connect): candidates are scored on a cluster")
    target_features = target_rdm = None
    if target_model is not None and any(ESTIMATORS[name].reads == "target-model" for name in scores):
        target_key = EntryKey(probe_id, target_model, target_layer or layer)
        target_rdm = stored_rdm(store, target_key) if "rsa" in scores else None
        target_features = candidate_features(store, target_key)
        target_features = target_features.reshape(target_features.shape[0], -1).astype(np.float64)
    labels_ref, target_ref, samples_ref = ray.put(labels), ray.put(target_features), ray.put(samples)
    rdm_ref = ray.put(target_rdm)
    workers = int(ray.cluster_resources().get("CPU", 1))
    refs = {score_batch_remote.remote(store, probe_id, layer, batch, labels_ref, scores, target_ref, samples_ref,
                                      rdm_ref): batch
            for batch in candidate_batches(list(model_ids), workers, batch_size)}
    by_batch = gather(refs, "scores", weights={ref: len(batch) for ref, batch in refs.items()},
                      failed_in=lambda rows: len({row.candidate for row in rows if row.error is not None}))
    results: list[ScoreRow] = []
    for batch in refs.values():
        outcome = by_batch[batch]
        if isinstance(outcome, Exception):
            outcome = [ScoreRow(candidate, score, None, _message(outcome)) for candidate in batch for score in scores]
        results += outcome
    order = {model_id: index for index, model_id in enumerate(model_ids)}
    return sorted(results, key=lambda row: order[row.candidate])


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
