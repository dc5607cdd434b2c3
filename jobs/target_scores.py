"""Scoring every candidate for one target on the target's own images: the step behind ``rank --score``.

The candidates (every registered model but the target's own) and the target model are extracted
on the target's labelled probe set (``compute_similarities``: resumable, and incremental when
models land). Every score, ``rsa`` included, then runs on one path: Ray tasks over the stored
features (``cluster.estimator_tasks``), each by its function in the estimator table, on every
image and on the same resamples of the images, drawn once per target (``rsa`` from the stored
RDMs and their sub-RDMs); the resamples give each
score its interval, P(best) and top set. Before ranking, each score is checked for telling the
candidates apart at all (``rsa_ray.score_checks``, in ``jobs.score_table``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from jobs.common import default_role
from jobs.score_defaults import DEFAULT_SCORES  # defined there, light enough for --help
from rsa_ray.estimators import ESTIMATORS, ScoreRow, applicable_scores

if TYPE_CHECKING:  # pandas and the store are imported where a table is made
    import pandas as pd

    from cluster.probe_sets import ExtractedStage
    from jobs.compute import ProbeSelection

    from rsa_ray.bootstrap import BootstrapSummary
    from rsa_ray.target_labels import TargetLabels
    from storage import Store
    from storage.targets import TargetRecord


def default_score(label_kind: str) -> str:
    """The default score for a target whose labels are ``label_kind``.

    Example:
        >>> default_score("classes"), default_score("regression")
        ('knn', 'rsa-labels')
    """
    return DEFAULT_SCORES[label_kind]


@dataclass(frozen=True)
class ScoringOptions:
    """What ``rank --target`` computes.

    Attributes:
        scores: Estimator names (``rsa_ray.estimators``), in the table's order.
        bootstrap: Resamples of the target images, half of them each without replacement (0: no intervals).
        seed: Seed of the resamples.
        layer: The layer role compared (None: every model at its default layer).
        level: The interval's coverage.
        twin_adjust: Report each score minus that of the candidate's seeded random-init twin
            (``jobs.twins``; the twin's resampled spread enters the interval).
        twin_seed: The twins' seed.
    """

    scores: tuple[str, ...]
    bootstrap: int = 100
    seed: int = 0
    layer: str | None = None
    level: float = 0.95
    twin_adjust: bool = False
    twin_seed: int = 0

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
    from jobs.twins import is_twin

    candidates = [m for m in store.model_ids() if m != record.model_id and not is_twin(m)]
    if not candidates:
        raise ValueError(f"no candidate models to rank for target {record.name!r}; register some with `rsa-ray models add`")
    return candidates


@dataclass(frozen=True)
class ComparedModels:
    """What scoring a target extracts on its images: candidates, their twins, the target model, and the layer.

    Attributes:
        candidates: The candidates scored (those with a twin, under ``twin_adjust``).
        twin_of: Each candidate's seeded random-init twin (``twin_adjust`` only).
        no_twin: Candidates that cannot have a twin, with the reason.
        target_model: The target's own model, where it is registered.
        layer: The layer role compared.
    """

    candidates: tuple[str, ...]
    twin_of: dict[str, str]
    no_twin: dict[str, str]
    target_model: str | None
    layer: str

    @property
    def twins(self) -> list[str]:
        """The twins, once each."""
        return sorted(set(self.twin_of.values()))

    @property
    def models(self) -> list[str]:
        """Every model extracted on the target's images, in the order they are compared."""
        return [*self.candidates, *self.twins, *([self.target_model] if self.target_model else [])]


def compared_models(store: Store, record: TargetRecord, options: ScoringOptions,
                    candidates: Sequence[str] | None = None) -> ComparedModels:
    """What scoring ``record`` compares on its images (twins registered now, under ``twin_adjust``).

    Example:
        >>> compared_models(store, store.target("digits"), ScoringOptions(("knn",))).layer  # doctest: +SKIP
        'default'
    """
    from jobs.twins import ensure_twins

    target_model = record.model_id if record.model_id in store.model_ids() else None
    candidates = list(candidates) if candidates is not None else candidates_for(store, record)
    twin_of, no_twin = ensure_twins(store, candidates, options.twin_seed) if options.twin_adjust else ({}, {})
    kept = tuple(c for c in candidates if c not in no_twin)
    twins = sorted(set(twin_of.values()))
    layer = options.layer or default_role(store, [*kept, *twins, *([target_model] if target_model else [])])
    return ComparedModels(kept, twin_of, no_twin, target_model, layer)


def target_selection(store: Store, record: TargetRecord, options: ScoringOptions) -> ProbeSelection:
    """What :func:`score_target` extracts for ``record``, for a command that extracts every probe set as one stage
    (:func:`jobs.compute.extract_probe_sets`).

    Example:
        >>> target_selection(store, store.target("digits"), ScoringOptions(("knn",))).probe_id  # doctest: +SKIP
        'targets-digits'
    """
    from jobs.compute import ProbeSelection

    compared = compared_models(store, record, options)
    return ProbeSelection(record.probe_id, tuple(compared.models), (compared.layer,))


def score_target(store: Store, record: TargetRecord, options: ScoringOptions,
                 task_type_of: dict[str, str] | None = None, candidates: Sequence[str] | None = None,
                 stage: ExtractedStage | None = None) -> TargetScores:
    """Extracts and scores every candidate (or ``candidates``) on the target's images, on the Ray the command
    connected to; returns the table. ``stage``: what the command's extraction stage already ran
    (:func:`jobs.compute.extract_probe_sets`), not extracted again.

    Raises:
        ValueError: None of the asked scores applies to this target, or no candidate could be scored.

    Example:
        >>> score_target(store, store.target("digits"), ScoringOptions(("knn", "logme")))  # doctest: +SKIP
    """
    from cluster.estimator_tasks import score_candidates
    from jobs.compute import compute_similarities
    from jobs.score_table import score_table

    labels = store.read_probe_labels(record.probe_id)
    target_model = record.model_id if record.model_id in store.model_ids() else None
    scores, skipped = applicable_scores(options.scores, labels, target_model is not None)
    if not scores:
        raise ValueError(f"none of the scores {', '.join(options.scores)} applies to target {record.name!r}: "
                         + "; ".join(f"{name}: {why}" for name, why in skipped))
    compared = compared_models(store, record, options, candidates)
    candidates, twin_of, no_twin, twins, layer = (list(compared.candidates), compared.twin_of, compared.no_twin,
                                                  compared.twins, compared.layer)
    summary = compute_similarities(store, record.probe_id, compared.models, [layer], stage=stage)
    failed = {f.model_id: str(f.error) for f in summary.failures} | no_twin
    if target_model in failed:
        raise ValueError(f"target model {target_model!r} could not be extracted on its images: {failed[target_model]}")
    scored = [c for c in candidates if c not in failed and twin_of.get(c) not in failed]
    failed.update({c: f"its random-init twin {twin_of[c]!r} failed: {failed[twin_of[c]]}"
                   for c in candidates if twin_of.get(c) in failed and c not in failed})
    samples = draw_resamples(labels.n_images, options) if options.bootstrap else None
    rows = score_candidates(store, record.probe_id, layer, scored + [t for t in twins if t not in failed], labels,
                            scores, target_model=target_model, samples=samples)
    if options.twin_adjust:
        rows = twin_adjusted_rows(rows, scored, twin_of)
    failed = {m: why for m, why in failed.items() if m not in twins}
    summaries = resample_summaries(rows, labels.n_images, samples, options.level) if samples is not None else None
    # A ceiling bounds a raw score, not its difference from the twin's.
    ceilings = {name: None for name in scores} if options.twin_adjust else score_ceilings(scores, labels)
    table = score_table(record.name, scored, rows, summaries, ceilings, task_type_of, skipped)
    # What the table follows: a report compares these with the latest version and says when it is older.
    table["layer"], table["probe_id"] = layer, record.probe_id
    table["similarity_version"] = store.similarity_versions(record.probe_id, layer)[-1]
    table["bootstrap"], table["seed"] = options.bootstrap, options.seed
    if options.twin_adjust:
        table["twin_adjust"], table["twin_seed"] = True, options.twin_seed
    return TargetScores(table, scores, skipped, layer, record.probe_id, tuple(sorted(failed.items())))


def twin_adjusted_rows(rows: Sequence[ScoreRow], candidates: Sequence[str], twin_of: dict[str, str]
                       ) -> list[ScoreRow]:
    """Each candidate's rows with its twin's value (and per-resample values) subtracted; the twins' rows
    dropped. A candidate whose twin has no value for a score gets that score as an error.

    Example:
        >>> rows = [ScoreRow("a", "knn", 0.9), ScoreRow("a.twin-0", "knn", 0.6)]
        >>> [(r.candidate, round(r.value, 6)) for r in twin_adjusted_rows(rows, ["a"], {"a": "a.twin-0"})]
        [('a', 0.3)]
    """
    from rsa_ray.twin_adjusted import twin_adjusted

    by_key = {(row.candidate, row.score): row for row in rows}
    adjusted = []
    for row in (r for r in rows if r.candidate in candidates):
        twin = by_key.get((twin_of[row.candidate], row.score))
        if row.value is None or twin is None or twin.value is None:
            why = row.error if row.value is None else f"its random-init twin has no {row.score}: {twin and twin.error}"
            adjusted.append(ScoreRow(row.candidate, row.score, None, why))
            continue
        names = [row.candidate, twin.candidate]
        both = None if row.samples is None or twin.samples is None else np.stack([row.samples, twin.samples], axis=1)
        result = twin_adjusted([row.value, twin.value], {names[0]: names[1], names[1]: names[1]}, names, both)
        adjusted.append(ScoreRow(row.candidate, row.score, float(result.point[0]), None,
                                 None if result.samples is None else result.samples[:, 0]))
    return adjusted


def score_ceilings(scores: Sequence[str], labels: TargetLabels | None) -> dict[str, float | None]:
    """Each score's ceiling for a target with these labels (:attr:`rsa_ray.estimators.Estimator.ceiling`).

    Example:
        >>> from rsa_ray.target_labels import TargetLabels
        >>> score_ceilings(["hscore", "logme"], TargetLabels.from_array(np.arange(6) % 3))
        {'hscore': 2.0, 'logme': None}
    """
    return {name: ESTIMATORS[name].ceiling(labels) for name in scores}


def draw_resamples(n_images: int, options: ScoringOptions) -> np.ndarray:
    """The resamples of the target's images every score is computed on: ``options.bootstrap`` subsamples of
    half the images, each image at most once (:func:`rsa_ray.resampling.image_subsamples`), seeded by
    ``options.seed``, drawn once per target.

    Example:
        >>> draw_resamples(10, ScoringOptions(("knn",), bootstrap=20)).shape
        (20, 5)
    """
    from rsa_ray.resampling import image_subsamples

    return image_subsamples(n_images, options.bootstrap, options.seed)


def resample_summaries(rows: Sequence[ScoreRow], n_images: int, samples: np.ndarray, level: float
                       ) -> dict[str, tuple[BootstrapSummary, ...]]:
    """Per score, the resampling summary (interval, P(best), top set) over the candidates it has values for.

    Example:
        >>> rows = [ScoreRow("a", "knn", 0.9, samples=np.array([0.9, 0.8])), ScoreRow("b", "knn", 0.1,
        ...         samples=np.array([0.2, 0.1]))]
        >>> [s.name for s in resample_summaries(rows, 4, np.zeros((2, 2), int), 0.95)["knn"]]
        ['a', 'b']
    """
    from rsa_ray.resampling import subsample_summary

    by_score: dict[str, list[ScoreRow]] = {}
    for row in rows:
        if row.value is not None and row.samples is not None:
            by_score.setdefault(row.score, []).append(row)
    summaries = {}
    for name, scored in by_score.items():
        matrix = np.stack([row.samples for row in scored], axis=1)
        point = np.array([row.value for row in scored])
        summaries[name] = subsample_summary(matrix, point, [row.candidate for row in scored], n_images,
                                            samples.shape[1], level)
    return summaries


def stored_options(table: pd.DataFrame) -> ScoringOptions:
    """The options a stored score table was computed with (its scores, bootstrap and seed).

    Example:
        >>> import pandas as pd
        >>> stored_options(pd.DataFrame({"candidate": ["a"], "knn": [0.5], "rsa.absent": ["no model"]})).scores
        ('knn', 'rsa')
    """
    scores = tuple(column for column in table.columns if column in ESTIMATORS)
    # A score the target could not have when the table was made is asked for again (it may apply now).
    scores += tuple(column[: -len(".absent")] for column in table.columns
                    if column.endswith(".absent") and column[: -len(".absent")] in ESTIMATORS)
    bootstrap = int(table["bootstrap"].iloc[0]) if "bootstrap" in table else 0
    seed = int(table["seed"].iloc[0]) if "seed" in table else 0
    twin_adjust = bool(table["twin_adjust"].iloc[0]) if "twin_adjust" in table else False
    twin_seed = int(table["twin_seed"].iloc[0]) if "twin_seed" in table else 0
    return ScoringOptions(scores, bootstrap, seed, str(table["layer"].iloc[0]) if "layer" in table else None,
                          twin_adjust=twin_adjust, twin_seed=twin_seed)


def outdated_score_tables(store: Store) -> list[tuple[TargetRecord, pd.DataFrame]]:
    """Each recorded target's stored score table that no longer covers every registered candidate.

    Example:
        >>> [record.name for record, _ in outdated_score_tables(store)]  # doctest: +SKIP
        ['digits']
    """
    outdated = []
    from jobs.twins import is_twin

    registered, table_names = store.model_ids(), store.table_names()
    for name in store.target_names():
        record = store.target(name)
        candidates = {m for m in registered if m != record.model_id and not is_twin(m)}
        for table_name in (t for t in table_names if t.startswith(f"scores.{name}.")):
            table = store.read_table(table_name)
            if set(table["candidate"]) != candidates:
                outdated.append((record, table))
    return outdated
