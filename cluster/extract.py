"""The extraction stage: a fixed pool of encoder actors (:mod:`cluster.encoder`) runs the models over
the probe sets a command compares on (one, or the shared set and its targets' together), writing
activation row chunks straight into the store.

A fixed pool is sized to the cluster (one actor per GPU, or per ``gpus_per_actor``
fraction; one per CPU without GPUs). An actor prefetches the next model's weights
in a background thread while the current model runs, reads every requested
layer in one forward pass, and writes only the chunks still pending, so a
restarted actor (Ray restarts it and retries the call) resumes without redoing
finished chunks.

A layer too wide to store whole (its M × D activations over ``wide_layer_mb``) is not written
as activations: the actor computes its RDM and rank vector from the batches itself and stores
them with its pooled features (:mod:`cluster.wide_layers`).

Where the actors have GPUs (or where ``rdms_on_actor`` asks for it), every layer's RDM and rank
vector are computed on the actor, where the activations are, and full activations are stored only
when ``keep_activations`` asks for them (:mod:`cluster.device_extract`).
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import ray

from cluster.device_extract import DeviceEncoderActor
# The actor and its inputs live in cluster.encoder; callers import them here too.
from cluster.encoder import POOLED, EncoderActor, LoadedModelSource, ModelResolver
from cluster.inputs import plan_run_inputs
from cluster.options import ExtractionOptions
from cluster.outcomes import ModelOutcome
from cluster.plan import ExtractionTask, ProbeExtraction, queues_by_model
from cluster.progress import StageProgress
from storage import Store

logger = logging.getLogger(__name__)

__all__ = ["POOLED", "DeviceEncoderActor", "EncoderActor", "ExtractionOptions", "LoadedModelSource", "ModelResolver",
           "ExtractionRun", "ProbeExtraction", "extract_all", "extract_missing", "pool_size", "run_extractions"]


def pool_size(options: ExtractionOptions) -> tuple[int, dict[str, float]]:
    """How many actors to start and the Ray resources of each, from the cluster's resources."""
    resources = ray.cluster_resources()
    gpus, cpus = resources.get("GPU", 0.0), resources.get("CPU", 1.0)
    if gpus >= options.gpus_per_actor:
        n_actors = int(gpus // options.gpus_per_actor)
        actor_resources = {"num_gpus": options.gpus_per_actor, "num_cpus": 1}
    else:
        n_actors = max(1, int(cpus))
        actor_resources = {"num_cpus": 1}
    return (options.n_actors or n_actors), actor_resources


def extract_all(
    store: Store,
    probe_id: str,
    tasks: Sequence[ExtractionTask],
    resolver: ModelResolver,
    options: ExtractionOptions = ExtractionOptions(),
) -> list[ModelOutcome]:
    """Runs every extraction task of one probe set on a fixed pool of encoder actors (:func:`run_extractions`).

    Returns:
        One outcome per (model, layer); ``error`` set for those that failed.

    Example:
        >>> extract_all(store, probe_id, plan.extractions, resolver)  # doctest: +SKIP
    """
    extractions = [ProbeExtraction(probe_id, task) for task in tasks]
    return [outcome for _, outcome in run_extractions(store, extractions, resolver, options)]


def run_extractions(
    store: Store,
    extractions: Sequence[ProbeExtraction],
    resolver: ModelResolver,
    options: ExtractionOptions = ExtractionOptions(),
) -> list[tuple[str, ModelOutcome]]:
    """Runs extraction tasks over one or several probe sets on one fixed pool of encoder actors.

    Models are dealt round-robin to the actors, each model's probe sets one after another on the same
    actor (:func:`cluster.plan.queues_by_model`), so a model is fetched and built once per stage, not
    once per probe set; each actor is told its next model so it can fetch those weights while the
    current model runs. An actor that is lost (its worker killed, its node gone) is not waited for:
    its model and the rest of its queue go to the live actors (a new actor where none is left), and
    the retry writes only chunks still pending. A model whose actor is lost ``MAX_ATTEMPTS`` times
    fails with that error rather than taking every actor down with it.

    Returns:
        One (probe set, outcome) per (probe set, model, layer); ``error`` set for those that failed.

    Example:
        >>> run_extractions(store, [ProbeExtraction("shared", task), ProbeExtraction("targets-digits", task)],
        ...                 resolver)  # doctest: +SKIP
    """
    if not extractions:
        return []

    n_actors, actor_resources = pool_size(options)
    on_actor = options.computes_rdms_on_actor("num_gpus" in actor_resources)
    actor_class = ray.remote(max_restarts=0, max_task_retries=0, **actor_resources)(
        DeviceEncoderActor if on_actor else EncoderActor)
    pool = _Pool(lambda: actor_class.remote(store, resolver, options))
    for queue in queues_by_model(extractions, n_actors):
        pool.add(queue)
    progress = StageProgress("extraction", total=len(extractions))
    outcomes: list[tuple[str, ModelOutcome]] = []
    while pool.running:
        finished, _ = ray.wait(list(pool.running), num_returns=1, timeout=progress.interval)
        if not finished:  # no model finished yet: a line that the stage still works
            progress.pulse(running=len(pool.running))
            continue
        collected = pool.collect(finished[0])
        if collected is None:  # the actor was lost; its work went to the others
            continue
        probe_id, result = collected
        outcomes.extend((probe_id, outcome) for outcome in result)
        progress.advance(failed=any(outcome.error for outcome in result))
    pool.close()
    return outcomes


MAX_ATTEMPTS = 3


class _Pool:
    """The stage's actors, each with its queue of tasks (the first one running), and lost actors' work moved on."""

    def __init__(self, start_actor):
        self._start_actor = start_actor
        self.actors: list = []
        self.queues: list[list[ProbeExtraction]] = []
        self.running: dict[ray.ObjectRef, int] = {}
        self._losses: Counter = Counter()

    def add(self, queue: list[ProbeExtraction]) -> None:
        self.actors.append(self._start_actor())
        self.queues.append(queue)
        self._next(len(self.actors) - 1)

    def _next(self, index: int) -> None:
        if self.queues[index] and index not in self.running.values():
            self.running[_submit(self.actors[index], self.queues[index])] = index

    def collect(self, ref: ray.ObjectRef) -> tuple[str, list[ModelOutcome]] | None:
        """The finished call's probe set and outcomes, or None where its actor was lost (its work then moved on)."""
        index = self.running.pop(ref)
        task = self.queues[index][0]
        try:
            result = ray.get(ref)
        except ray.exceptions.RayActorError as error:
            failed = self._lost(index, task, error)
            return None if failed is None else (task.probe_id, failed)
        except Exception as error:
            result = [ModelOutcome(task.model_id, layer, f"{type(error).__name__}: {error}") for layer in task.layers]
        self.queues[index].pop(0)
        self._next(index)
        return task.probe_id, result

    def _lost(self, index: int, task: ProbeExtraction, error: Exception) -> list[ModelOutcome] | None:
        logger.warning("extraction: the actor running %s was lost (%s); its work moves to the other actors",
                       task.model_id, type(error).__name__)
        with contextlib.suppress(Exception):
            ray.kill(self.actors[index])
        self.actors[index] = None
        orphans, self.queues[index] = self.queues[index], []
        self._losses[task.model_id] += 1
        failed = None
        if self._losses[task.model_id] >= MAX_ATTEMPTS:
            orphans.pop(0)
            failed = [ModelOutcome(task.model_id, layer, f"{type(error).__name__}: {error} "
                                   f"(its actor was lost {MAX_ATTEMPTS} times)") for layer in task.layers]
        live = [i for i, actor in enumerate(self.actors) if actor is not None]
        if not live and orphans:
            self.add(orphans)
            return failed
        for position, queue in enumerate(queues_by_model(orphans, len(live))):  # a model's probe sets stay together
            self.queues[live[position]].extend(queue)
        for live_index in live:
            self._next(live_index)
        return failed

    def close(self) -> None:
        for actor in self.actors:
            if actor is not None:
                with contextlib.suppress(Exception):
                    ray.kill(actor)


def _submit(actor: ray.actor.ActorHandle, queue: list[ProbeExtraction]) -> ray.ObjectRef:
    """Starts the queue's first extraction, naming the next other model in the queue for the actor to prefetch."""
    current = queue[0]
    next_model_id = next((e.model_id for e in queue[1:] if e.model_id != current.model_id), None)
    return actor.extract.remote(current.probe_id, current.task, next_model_id)


@dataclass(frozen=True)
class ExtractionRun:
    """What :func:`extract_missing` did.

    Attributes:
        extracted: Models the plan sent to the encoder actors.
        failures: The (model, layer) that failed, with the error.
        rdms_on_actor: Whether the actors stored RDMs and rank vectors (and pooled features) rather than
            activations (:meth:`cluster.options.ExtractionOptions.computes_rdms_on_actor`).
    """

    extracted: int
    failures: tuple[ModelOutcome, ...]
    rdms_on_actor: bool


def extract_missing(store: Store, probe_id: str, model_ids: Sequence[str], layers: Sequence[str],
                    resolver: ModelResolver, options: ExtractionOptions = ExtractionOptions()) -> ExtractionRun:
    """The extraction stage on its own: plans what ``model_ids`` × ``layers`` lack and runs it on the actor pool.

    The plan is the pipeline's (:func:`cluster.inputs.plan_run_inputs`, under ``options.settings()``);
    roles a model lacks are logged and left out. Ray must be connected (:func:`cluster.connect.connect`).

    Example:
        >>> extract_missing(store, probe_id, ["a", "b"], ["out"], StoreResolver(store)).failures  # doctest: +SKIP
        ()
    """
    planned = plan_run_inputs(store, probe_id, model_ids, layers, options.settings())
    outcomes = extract_all(store, probe_id, planned.plan.extractions, resolver, options)
    on_actor = options.computes_rdms_on_actor("num_gpus" in pool_size(options)[1])
    return ExtractionRun(len(planned.plan.extractions), tuple(o for o in outcomes if o.error), on_actor)
