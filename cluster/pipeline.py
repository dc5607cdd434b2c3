"""The RDM and similarity stages on Ray: plan from the store, run only what is missing.

``run_similarity`` asks the planner entry (:func:`cluster.inputs.plan_run_inputs`) what the
store lacks, extracts it, runs one Ray task per group of (model, layer) RDMs and one per
similarity tile and segment, assembles the new matrix from the previous
version's reused block plus the new tiles, and writes it as a new version.
Models that fail are recorded in the ``failures`` table and left out; the
others finish.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import ray

from cluster.gather import gather
from cluster.inputs import PlannedInputs, complete_models, log_lacking, plan_run_inputs
from cluster.options import ExtractionOptions, SimilarityOptions, describe_precision, resolve_backend
from cluster.outcomes import ModelOutcome
from cluster.plan import ExtractionTask, LayerState, SimilarityPlan, plan_similarity, similarity_work
from cluster.tasks import compute_and_store_rdms_remote, compute_similarity_tile_remote
from rsa_ray.backends.select import BackendChoice
from rsa_ray.similarity import clip_correlations
from rsa_ray.tiles import Tile
from storage import EntryKey, EntryKind, SimilarityMatrix, Store
from storage.identity import ComputeSettings
from storage.provenance import utc_now

logger = logging.getLogger("rsa_ray")

FAILURES_TABLE = "failures"

# Runs the extraction tasks of a plan; returns the (model, layer, error) of those that failed.
Extractor = Callable[[Store, str, Sequence[ExtractionTask]], Sequence[ModelOutcome]]


@dataclass(frozen=True)
class RunSummary:
    """What one run computed and what failed.

    Attributes:
        probe_id: The probe set.
        computed_rdms: (model, layer) whose RDMs this run computed.
        failures: Models and layers that failed, with the error.
        versions: (layer, version written) for each layer; version None when the stored
            matrix was already up to date.
        similarity_tasks: Similarity tasks this run computed (tiles x segments).
        precision: The forward-pass precision the run's entries are computed at, in words
            (:func:`cluster.options.describe_precision`); empty when not known.

    Example:
        >>> print(RunSummary("p1", (), (), (("out", 2),), 1, precision="fp32 (strict float32 ...)").describe())
        probe set p1: 0 RDMs and 1 similarity tasks computed
          precision: fp32 (strict float32 ...)
          layer out: similarity version 2 written
    """

    probe_id: str
    computed_rdms: tuple[tuple[str, str], ...]
    failures: tuple[ModelOutcome, ...]
    versions: tuple[tuple[str, int | None], ...]
    similarity_tasks: int
    precision: str = ""

    def describe(self) -> str:
        """A few lines for a person: what was done at which precision, what failed and why."""
        lines = [f"probe set {self.probe_id}: {len(self.computed_rdms)} RDMs and {self.similarity_tasks} similarity tasks computed"]
        if self.precision:
            lines.append(f"  precision: {self.precision}")
        for layer, version in self.versions:
            lines.append(f"  layer {layer}: " + (f"similarity version {version} written" if version else "already up to date"))
        for failure in self.failures:
            lines.append(f"  FAILED {failure.model_id} / {failure.layer}: {failure.error}")
        return "\n".join(lines)


def _previous_version(store: Store, probe_id: str, layer: str, method: str) -> SimilarityMatrix | None:
    if not store.similarity_versions(probe_id, layer):
        return None
    latest = store.read_similarity(probe_id, layer)
    return latest if latest.method == method else None


def read_similarity_state(store: Store, probe_id: str, model_ids: Sequence[str], layer: str,
                          previous: SimilarityMatrix | None, settings: ComputeSettings) -> LayerState:
    """What :func:`cluster.plan.plan_similarity` needs of one layer; its activations are not read.

    Which models' rank vectors are up to date, and which models of the ``previous``
    similarity version keep their block (:func:`reusable_models`); ``complete_activations``
    stays empty, since the similarity stage never needs them.

    Example:
        >>> previous = store.read_similarity(probe_id, "out")  # doctest: +SKIP
        >>> read_similarity_state(store, probe_id, ["a", "b"], "out", previous, settings).previous_models  # doctest: +SKIP
        ('a', 'b')
    """
    return LayerState(layer, complete_rdms=complete_models(store, probe_id, model_ids, layer, EntryKind.RANKS, settings),
                      previous_models=reusable_models(store, previous, model_ids, settings) if previous else ())


def reusable_models(store: Store, previous: SimilarityMatrix, model_ids: Sequence[str],
                    settings: ComputeSettings) -> tuple[str, ...]:
    """The models of ``previous`` (in its order) whose rank vector then is the one their inputs give now.

    A version records each input's identity; one written before identities were recorded
    is matched on the rank vector's checksum, and that vector must itself be up to date.
    Models no longer registered, or not asked for, are not reused.

    Example:
        >>> reusable_models(store, store.read_similarity(probe_id, "out"), ["a", "b"], ComputeSettings())  # doctest: +SKIP
        ('a', 'b')
    """
    wanted = set(model_ids)
    candidates = [m for m in previous.model_ids if m in wanted]
    if not candidates:
        return ()
    keys = {m: EntryKey(previous.probe_id, m, previous.layer) for m in candidates}
    expected = store.expected_identities(previous.probe_id, candidates, [previous.layer], EntryKind.RANKS, settings)
    stored = store.stored_attributes(list(keys.values()), EntryKind.RANKS)
    checksums = store.completion_checksums(list(keys.values()), EntryKind.RANKS)
    used = {item.path: item for item in previous.inputs}
    reusable = []
    for model_id, key in keys.items():
        recorded = used.get(key.path(EntryKind.RANKS))
        if recorded is None:
            continue
        identity = expected[key]
        if recorded.identity is not None:
            current = recorded.identity == identity.digest
        else:
            current = (stored[key] is not None and identity.matches(stored[key])
                       and recorded.checksum is not None and recorded.checksum == checksums[key])
        if current:
            reusable.append(model_id)
    return tuple(reusable)


def _rdms_still_missing(store: Store, probe_id: str, rdms: Sequence[tuple[str, str]],
                        settings: ComputeSettings) -> list[tuple[str, str]]:
    """The planned (model, layer) RDMs whose rank vectors are still missing: extraction stores those of wide layers."""
    still: set[tuple[str, str]] = set()
    for layer in dict.fromkeys(layer for _, layer in rdms):
        models = [model for model, model_layer in rdms if model_layer == layer]
        still.update((key.model_id, layer) for key in store.missing(probe_id, models, [layer], EntryKind.RANKS, settings))
    return [key for key in rdms if key in still]


def _record_failures(store: Store, probe_id: str, failures: Sequence[ModelOutcome], stage: str) -> None:
    if not failures:
        return
    frame = pd.DataFrame(
        {
            "time": [utc_now()] * len(failures),
            "probe_id": [probe_id] * len(failures),
            "model_id": [f.model_id for f in failures],
            "layer": [f.layer for f in failures],
            "stage": [stage] * len(failures),
            "error": [f.error for f in failures],
        }
    )
    store.append_table(FAILURES_TABLE, frame)


@dataclass(frozen=True)
class _Stage:
    """What every task of one run's RDM and similarity stages shares."""

    store: Store
    probe_id: str
    options: SimilarityOptions
    settings: ComputeSettings
    backend: BackendChoice
    workers: int


def _rdm_batches(keys: Sequence[tuple[str, str]], workers: int) -> list[tuple[tuple[str, str], ...]]:
    """Groups of (model, layer) for one task each: about four tasks per worker, at most 16 models a task."""
    size = max(1, min(16, -(-len(keys) // (4 * max(workers, 1)))))
    return [tuple(keys[start:start + size]) for start in range(0, len(keys), size)]


def _on(remote_function, options: SimilarityOptions, backend: BackendChoice):
    """The remote function with the GPU share its tasks ask for when the backend runs on GPUs."""
    return remote_function.options(num_gpus=options.gpus_per_task) if backend.device.startswith("cuda") else remote_function


def _run_rdms(stage: _Stage, rdms: Sequence[tuple[str, str]]) -> tuple[list[tuple[str, str]], list[ModelOutcome]]:
    refs, weights = {}, {}
    for batch in _rdm_batches(rdms, stage.workers):
        ref = _on(compute_and_store_rdms_remote, stage.options, stage.backend).remote(
            stage.store, [EntryKey(stage.probe_id, m, layer) for m, layer in batch], stage.options, stage.settings,
            stage.backend)
        refs[ref], weights[ref] = batch, len(batch)
    computed, failures = [], []
    for batch, result in gather(refs, "rdms", weights=weights).items():
        if isinstance(result, Exception):
            failures += [ModelOutcome(model, layer, f"{type(result).__name__}: {result}") for model, layer in batch]
            continue
        for outcome in result:
            if outcome.error is not None:
                failures.append(outcome)
            else:
                computed.append((outcome.model_id, outcome.layer))
    return computed, failures


def _sum_segments(similarity: SimilarityPlan,
                  results: dict[tuple[Tile, tuple[int, int] | None], np.ndarray]) -> dict[Tile, np.ndarray]:
    """Each tile's block: its partial products summed over the segments, in segment order."""
    blocks: dict[Tile, np.ndarray] = {}
    for (tile, _segment), partial in sorted(results.items(), key=lambda item: item[0][1] or (0, 0)):
        blocks[tile] = partial if tile not in blocks else blocks[tile] + partial
    return blocks


def _assemble(similarity: SimilarityPlan, previous: SimilarityMatrix | None, blocks: dict[Tile, np.ndarray],
              method: str) -> np.ndarray:
    order = similarity.model_order
    matrix = np.full((len(order), len(order)), np.nan)
    if similarity.n_reused:
        position = {model: index for index, model in enumerate(previous.model_ids)}
        kept = [position[model] for model in order[: similarity.n_reused]]
        matrix[: similarity.n_reused, : similarity.n_reused] = previous.matrix[np.ix_(kept, kept)]
    for tile, block in blocks.items():
        if method == "spearman":  # sums of products of unit vectors: clip the rounding past ±1
            block = clip_correlations(block)
        matrix[tile.row_start : tile.row_stop, tile.col_start : tile.col_stop] = block
        matrix[tile.col_start : tile.col_stop, tile.row_start : tile.row_stop] = block.T
    np.fill_diagonal(matrix, 1.0)
    if not np.isfinite(matrix).all():
        raise RuntimeError(f"similarity of layer {similarity.layer}: some cells were neither reused nor computed")
    return matrix


def _run_similarity_layer(stage: _Stage, similarity: SimilarityPlan, previous: SimilarityMatrix | None,
                          fence: Callable[[], None] | None = None) -> tuple[int | None, int]:
    store, probe_id, options, backend = stage.store, stage.probe_id, stage.options, stage.backend
    method = options.method
    if similarity.up_to_date or len(similarity.model_order) == 0:
        return None, 0
    order = similarity.model_order
    refs = {
        _on(compute_similarity_tile_remote, options, backend).remote(
            store, probe_id, similarity.layer, order[t.row_start : t.row_stop], order[t.col_start : t.col_stop],
            method, segment, backend,
        ): (t, segment)
        for t in similarity.tiles
        for segment in (similarity.segments or (None,))
    }
    results = gather(refs, f"similarity tasks ({similarity.layer})")
    errors = [result for result in results.values() if isinstance(result, Exception)]
    if errors:
        first = getattr(errors[0], "cause", None) or errors[0]  # a task's own error, not Ray's traceback of it
        raise RuntimeError(f"similarity of layer {similarity.layer}: {len(errors)} tasks failed; first: {first}")
    matrix = _assemble(similarity, previous, _sum_segments(similarity, results), method)
    expected = store.expected_identities(probe_id, order, [similarity.layer], EntryKind.RANKS, stage.settings)
    identities = {key.path(EntryKind.RANKS): identity.digest for key, identity in expected.items()}
    return store.write_similarity(probe_id, similarity.layer, order, matrix, method, identities=identities,
                                  fence=fence), len(refs)


def _both(first: Callable[[], None], second: Callable[[], None] | None) -> Callable[[], None]:
    """A fence that runs ``first`` and then ``second`` (when given)."""
    def check() -> None:
        first()
        if second is not None:
            second()
    return check


def run_similarity(
    store: Store,
    probe_id: str,
    model_ids: Sequence[str],
    layers: Sequence[str],
    options: SimilarityOptions = SimilarityOptions(),
    extractor: Extractor | None = None,
    extraction: ExtractionOptions = ExtractionOptions(),
    fence: Callable[[], None] | None = None,
    planned: PlannedInputs | None = None,
) -> RunSummary:
    """Brings the store's RDMs and similarity versions up to date for ``model_ids`` × ``layers``.

    What is up to date follows the inputs (:mod:`storage.identity`): a model whose weights,
    architecture or preprocessing changed in the registry, or a run with another forward
    dtype, recomputes exactly the activations, RDMs and similarity rows that depend on it.

    Args:
        store: The store (Ray must be connected: :func:`cluster.connect.connect`).
        probe_id: The probe set.
        model_ids: Registered models, in the order new ones are appended to the matrix.
        layers: Layer roles to compare models on: each model's own module for the role; ``default``
            is each model's default layer. A model without a role is reported up front (in the
            summary and the ``failures`` table) and left out of that role's matrix.
        options: Methods and tile memory.
        extractor: Computes missing activations; without one, models lacking them are recorded as failed.
        extraction: The forward and stored dtypes the extractor uses (part of what is up to date).
        fence: Called right before each similarity version is marked complete (e.g. the
            ``Lock.check`` of the lock the run holds); if it raises, that version stays incomplete.
        planned: This request's plan, read by an extraction stage just before
            (:meth:`cluster.probe_sets.ExtractedStage.plan_for`); used when read under this run's settings.

    Returns:
        A :class:`RunSummary`; failures are also appended to the store's ``failures`` table.

    Example:
        >>> run_similarity(store, probe_id, ["a", "b"], ["out"]).versions  # doctest: +SKIP
        (('out', 1),)
    """
    settings = extraction.settings(options.distance, options.center_features)
    if planned is None or planned.settings != settings:
        planned = plan_run_inputs(store, probe_id, model_ids, layers, settings)
    else:
        log_lacking(planned.lacking)  # the stage planned it without saying so
    # Up front: a model without a requested role is reported once and left out of that role's matrix.
    _record_failures(store, probe_id, planned.lacking, "layers")
    failures = [*planned.unregistered, *planned.lacking]
    failures += _extract_missing(store, probe_id, planned, options, extractor)
    resources = ray.cluster_resources()
    stage = _Stage(store, probe_id, options, settings, resolve_backend(options, resources.get("GPU", 0.0)),
                   int(resources.get("CPU", 1)))
    failed = {(f.model_id, f.layer) for f in failures}
    rdms = _rdms_still_missing(store, probe_id, [key for key in planned.plan.rdms if key not in failed], settings)
    computed, rdm_failures = _run_rdms(stage, rdms)
    failures += rdm_failures
    absent = {(f.model_id, f.layer) for f in planned.lacking}
    _record_failures(store, probe_id, [f for f in failures if (f.model_id, f.layer) not in absent], "rdms")
    failed = {(f.model_id, f.layer) for f in failures}
    done = [(layer, _similarity_version(stage, layer, [m for m in planned.model_ids if (m, layer) not in failed], fence))
            for layer in layers]
    versions, similarity_tasks = [(layer, version) for layer, (version, _) in done], sum(n for _, (_, n) in done)
    precision = describe_precision(extraction.dtype, resources.get("GPU", 0.0) >= extraction.gpus_per_actor,
                                   extraction.activation_dtype)
    summary = RunSummary(probe_id, tuple(computed), tuple(failures), tuple(versions), similarity_tasks, precision)
    logger.info(summary.describe())
    return summary


def _extract_missing(store: Store, probe_id: str, planned: PlannedInputs, options: SimilarityOptions,
                     extractor: Extractor | None) -> list[ModelOutcome]:
    """Runs the planned extractions (the failed ones returned); without an extractor, each is a failure."""
    if not planned.plan.extractions:
        return []
    if extractor is None:
        return [ModelOutcome(task.model_id, layer, "activations are missing; run the extraction first")
                for task in planned.plan.extractions for layer in task.layers]
    # A layer too wide to store gets its RDM on the actor, computed as this run computes RDMs.
    tasks = [dataclasses.replace(task, distance=options.distance, center_features=options.center_features)
             for task in planned.plan.extractions]
    return [f for f in extractor(store, probe_id, tasks) if f.error is not None]


def _similarity_version(stage: _Stage, layer: str, succeeded: Sequence[str],
                        fence: Callable[[], None] | None) -> tuple[int | None, int]:
    """Plans and computes ``layer``'s next similarity version over ``succeeded``; (version or None, tasks run)."""
    store, probe_id, options = stage.store, stage.probe_id, stage.options
    # One run at a time computes a layer's next version. The layer is read again under the claim, not
    # taken from the plan read before: the RDM stage has since completed rank vectors, and a run that held
    # the claim meanwhile may have written a version; planning from the latest one computes only what
    # it lacks (usually nothing), and never assembles a version from stale reused blocks.
    with store.claim(f"similarity/{probe_id}/{layer}/{options.method}") as held:
        latest = _previous_version(store, probe_id, layer, options.method)
        state = read_similarity_state(store, probe_id, succeeded, layer, latest, stage.settings)
        work = similarity_work(options, len(succeeded), store.vector_terms(probe_id),
                               store.vector_chunk_terms(probe_id), stage.workers)
        similarity = plan_similarity(state, succeeded, block_size=work.block_size,
                                     segments=work.segments if len(work.segments) > 1 else ())
        return _run_similarity_layer(stage, similarity, latest, _both(held.check, fence))
