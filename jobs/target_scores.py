"""Scoring every candidate for one target on the target's own images: the step behind ``rank --score``.

The candidates (every registered model but the target's own) and the target model are extracted
on the target's labelled probe set and compared there (``compute_similarities``: resumable, and
incremental when models land); ``rsa`` is the target model's row of that similarity matrix, the
label-based scores run as Ray tasks over the stored features (``cluster.estimator_tasks``), and a
bootstrap over the target images gives each score its interval (``rsa_ray.bootstrap``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from jobs.common import default_role
from jobs.score_table import ScoreInterval, score_table
from rsa_ray.estimators import usable_scores
from storage import Store
from storage.targets import TargetRecord

#: The score ``rank`` uses when none is asked for, by the kind of the target's labels: the cheap estimator
#: that agreed best with measured transfer in docs/validation.md (for classes the shrinkage H-score, for
#: regression targets, where it does not apply, the RSA of the labels' RDM).
DEFAULT_SCORES = {"classes": "hscore-shrinkage", "regression": "rsa-labels"}


def default_score(label_kind: str) -> str:
    """The default score for a target whose labels are ``label_kind``.

    Example:
        >>> default_score("classes"), default_score("regression")
        ('hscore-shrinkage', 'rsa-labels')
    """
    return DEFAULT_SCORES[label_kind]


@dataclass(frozen=True)
class ScoringOptions:
    """What ``rank --target`` computes.

    Attributes:
        scores: Estimator names (``rsa_ray.estimators``), in the table's order.
        bootstrap: Bootstrap samples over the target images (0: no intervals).
        seed: Seed of the bootstrap samples.
        layer: The layer role compared (None: every model at its default layer).
        level: The interval's coverage.
    """

    scores: tuple[str, ...]
    bootstrap: int = 100
    seed: int = 0
    layer: str | None = None
    level: float = 0.95

    def __post_init__(self) -> None:
        if self.bootstrap < 0:
            raise ValueError(f"--bootstrap must be >= 0, got {self.bootstrap}")
        if self.bootstrap and self.bootstrap < 20:
            raise ValueError(f"--bootstrap needs at least 20 samples for a 95 % interval (or 0 for none), got {self.bootstrap}")


@dataclass(frozen=True)
class TargetScores:
    """The scored table and what it was computed on.

    Attributes:
        table: One row per candidate (``jobs.score_table``).
        scores: The scores in the table.
        skipped: Scores asked for that this target cannot have, with the reason.
        layer: The layer role compared.
        probe_id: The target's labelled probe set.
        failures: Candidates that could not be extracted or compared, with the reason.
    """

    table: pd.DataFrame
    scores: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...]
    layer: str
    probe_id: str
    failures: tuple[tuple[str, str], ...]


def candidates_for(store: Store, record: TargetRecord) -> list[str]:
    """Every registered model but the target's own model.

    Raises:
        ValueError: No candidate is registered.
    """
    candidates = [m for m in store.model_ids() if m != record.model_id]
    if not candidates:
        raise ValueError(f"no candidate models to rank for target {record.name!r}; register some with `rsa-ray models add`")
    return candidates


def _skipped(asked: Sequence[str], kept: Sequence[str], record: TargetRecord) -> tuple[tuple[str, str], ...]:
    reasons = []
    for name in asked:
        if name in kept:
            continue
        if name == "rsa":
            reasons.append((name, f"target {record.name!r} has no trained model (run `rsa-ray train-target`)"))
        else:
            reasons.append((name, f"does not support {record.label_kind} targets"))
    return tuple(reasons)


def score_target(store: Store, record: TargetRecord, options: ScoringOptions, address: str | None = None,
                 task_type_of: dict[str, str] | None = None, candidates: Sequence[str] | None = None) -> TargetScores:
    """Extracts and scores every candidate (or ``candidates``) on the target's images; returns the table.

    Raises:
        ValueError: None of the asked scores applies to this target, or no candidate could be scored.

    Example:
        >>> score_target(store, store.target("digits"), ScoringOptions(("knn", "logme")))  # doctest: +SKIP
    """
    from cluster.estimator_tasks import score_candidates
    from jobs.compute import compute_similarities

    labels = store.read_probe_labels(record.probe_id)
    target_model = record.model_id if record.model_id in store.model_ids() else None
    scores = usable_scores(options.scores, labels, target_model is not None)
    skipped = _skipped(options.scores, scores, record)
    if not scores:
        raise ValueError(f"none of the scores {', '.join(options.scores)} applies to target {record.name!r}: "
                         + "; ".join(f"{name} {why}" for name, why in skipped))
    candidates = list(candidates) if candidates is not None else candidates_for(store, record)
    compared = candidates + ([target_model] if target_model else [])
    layer = options.layer or default_role(store, compared)
    summary = compute_similarities(store, record.probe_id, compared, [layer], address=address)
    failed = {f.model_id: str(f.error) for f in summary.failures}
    if target_model in failed:
        raise ValueError(f"target model {target_model!r} could not be extracted on its images: {failed[target_model]}")
    scored = [c for c in candidates if c not in failed]
    samples = None
    if options.bootstrap:
        from rsa_ray.bootstrap import image_samples

        samples = image_samples(labels.n_images, options.bootstrap, options.seed)
    values: dict[str, dict[str, float]] = {name: {} for name in scores}
    errors: dict[str, dict[str, str]] = {name: {} for name in scores}
    sampled: dict[str, dict[str, np.ndarray]] = {name: {} for name in scores}
    if "rsa" in scores:
        _rsa_scores(store, record.probe_id, layer, target_model, scored, samples, values["rsa"], sampled["rsa"])
    label_scores = [name for name in scores if name != "rsa"]
    if label_scores:
        rows = score_candidates(store, record.probe_id, layer, scored, labels, label_scores, samples=samples,
                                address=address)
        for row in rows.itertuples(index=False):
            if isinstance(row.error, str) and row.error:  # no error: None or NaN
                errors[row.score][row.candidate] = row.error
            else:
                values[row.score][row.candidate] = float(row.value)
                if samples is not None:
                    sampled[row.score][row.candidate] = np.asarray(row.samples, dtype=np.float64)
    intervals = _intervals(values, sampled, options.level) if samples is not None else None
    table = score_table(record.name, scored, values, errors, intervals, task_type_of)
    # What the table follows: a report compares these with the latest version and says when it is older.
    table["layer"], table["probe_id"] = layer, record.probe_id
    table["similarity_version"] = store.similarity_versions(record.probe_id, layer)[-1]
    table["bootstrap"], table["seed"] = options.bootstrap, options.seed
    table.attrs["scores"] = scores
    return TargetScores(table, scores, skipped, layer, record.probe_id, tuple(sorted(failed.items())))


def _rsa_scores(store: Store, probe_id: str, layer: str, target_model: str, candidates: Sequence[str],
                samples: np.ndarray | None, values: dict[str, float], sampled: dict[str, np.ndarray]) -> None:
    """``rsa``: the target model's row of the similarity on its images; bootstrapped from the stored RDMs."""
    similarity = store.read_similarity(probe_id, layer)
    row = similarity.matrix[similarity.model_ids.index(target_model)]
    for candidate in candidates:
        values[candidate] = float(row[similarity.model_ids.index(candidate)])
    if samples is None:
        return
    from rsa_ray.bootstrap import bootstrap_rsa_scores
    from storage import EntryKey

    target_rdm = store.read_rdm(EntryKey(probe_id, target_model, layer))
    candidate_rdms = np.stack([store.read_rdm(EntryKey(probe_id, c, layer)) for c in candidates])
    per_sample = bootstrap_rsa_scores(candidate_rdms, target_rdm, samples, names=list(candidates), target_name=target_model)
    for index, candidate in enumerate(candidates):
        sampled[candidate] = per_sample[:, index]


def _intervals(values: dict[str, dict[str, float]], sampled: dict[str, dict[str, np.ndarray]],
               level: float) -> dict[str, dict[str, ScoreInterval]]:
    from rsa_ray.bootstrap import summarise

    intervals: dict[str, dict[str, ScoreInterval]] = {}
    for name, per_candidate in sampled.items():
        names = [c for c in per_candidate if c in values[name]]
        if not names:
            continue
        matrix = np.stack([per_candidate[c] for c in names], axis=1)
        point = np.array([values[name][c] for c in names])
        intervals[name] = {s.name: ScoreInterval(s.low, s.high, s.p_best, s.indistinguishable_from_top)
                           for s in summarise(matrix, point, names, level=level)}
    return intervals


def stored_options(table: pd.DataFrame) -> ScoringOptions:
    """The options a stored score table was computed with (its scores, bootstrap and seed).

    Example:
        >>> stored_options(pd.DataFrame({"candidate": ["a"], "knn": [0.5], "bootstrap": [0], "seed": [0]})).scores
        ('knn',)
    """
    from rsa_ray.estimators import ESTIMATORS

    scores = tuple(column for column in table.columns if column in ESTIMATORS)
    bootstrap = int(table["bootstrap"].iloc[0]) if "bootstrap" in table else 0
    seed = int(table["seed"].iloc[0]) if "seed" in table else 0
    return ScoringOptions(scores, bootstrap, seed, str(table["layer"].iloc[0]) if "layer" in table else None)


def outdated_score_tables(store: Store) -> list[tuple[TargetRecord, pd.DataFrame]]:
    """Each recorded target's stored score table that no longer covers every registered candidate.

    Example:
        >>> [record.name for record, _ in outdated_score_tables(store)]  # doctest: +SKIP
        ['digits']
    """
    outdated = []
    registered, table_names = store.model_ids(), store.table_names()
    for name in store.target_names():
        record = store.target(name)
        candidates = {m for m in registered if m != record.model_id}
        for table_name in (t for t in table_names if t.startswith(f"scores.{name}.")):
            table = store.read_table(table_name)
            if set(table["candidate"]) != candidates:
                outdated.append((record, table))
    return outdated
