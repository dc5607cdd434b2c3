"""The planner entry of every command: which requested models can run, and what activations and RDMs are missing.

:func:`plan_run_inputs` reads the store once per layer and asks the pure planner
(:func:`cluster.plan.plan_inputs_by_layer`); the extraction stage (:func:`cluster.extract.extract_missing`)
and the pipeline (:func:`cluster.pipeline.run_similarity`) both start from it, so they plan the same work
under the same settings. No Ray here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from cluster.outcomes import ModelOutcome
from cluster.plan import InputPlan, LayerState, plan_inputs_by_layer
from storage import EntryKind, Store
from storage.identity import ComputeSettings

logger = logging.getLogger("rsa_ray")


@dataclass(frozen=True)
class PlannedInputs:
    """What a run over ``model_ids`` × ``layers`` can compute, and must compute first.

    Attributes:
        model_ids: The requested models that are registered, in the order asked.
        unregistered: One failure per (requested model not in the registry, layer).
        lacking: One failure per (model, layer role) the model does not have; left out of that role.
        plan: The activations to extract and the RDMs to compute.
        settings: The settings the plan was read under (part of every entry's identity).
    """

    model_ids: tuple[str, ...]
    unregistered: tuple[ModelOutcome, ...]
    lacking: tuple[ModelOutcome, ...]
    plan: InputPlan
    settings: ComputeSettings

    def models_of(self, layer: str) -> list[str]:
        """The registered models that have role ``layer``.

        Example:
            >>> from cluster.plan import InputPlan
            >>> planned = PlannedInputs(("a", "b"), (), (ModelOutcome("b", "mid", "no role"),), InputPlan((), ()),
            ...                         ComputeSettings())
            >>> planned.models_of("mid"), planned.models_of("out")
            (['a'], ['a', 'b'])
        """
        absent = {outcome.model_id for outcome in self.lacking if outcome.layer == layer}
        return [model_id for model_id in self.model_ids if model_id not in absent]


def plan_run_inputs(store: Store, probe_id: str, model_ids: Sequence[str], layers: Sequence[str],
                    settings: ComputeSettings, log_lacking: bool = True) -> PlannedInputs:
    """Plans the extraction and RDM work for ``model_ids`` × ``layers`` from what the store holds under ``settings``.

    Models not registered and roles a model lacks are reported (``lacking`` is also logged, one line
    per model, unless ``log_lacking`` is False: a stage planning ahead of the run that reports them) and
    left out; the others' up-to-date activations and rank vectors are read per layer.

    Example:
        >>> planned = plan_run_inputs(store, probe_id, ["a", "b"], ["out"], ExtractionOptions().settings())  # doctest: +SKIP
        >>> [task.model_id for task in planned.plan.extractions]  # doctest: +SKIP
        ['b']
    """
    registered = set(store.model_ids())
    unregistered = tuple(ModelOutcome(model_id, layer, "model is not registered in the store")
                         for model_id in model_ids if model_id not in registered for layer in layers)
    known = tuple(model_id for model_id in model_ids if model_id in registered)
    lacking = tuple(missing_roles(store, known, layers, log=log_lacking))
    partial = PlannedInputs(known, unregistered, lacking, InputPlan((), ()), settings)
    plan = plan_inputs_by_layer([(read_layer_inputs(store, probe_id, partial.models_of(layer), layer, settings),
                                  partial.models_of(layer)) for layer in layers], known)
    return PlannedInputs(known, unregistered, lacking, plan, settings)


def complete_models(store: Store, probe_id: str, model_ids: Sequence[str], layer: str, kind: EntryKind,
                    settings: ComputeSettings) -> frozenset[str]:
    """The models of ``model_ids`` whose ``kind`` entry for ``layer`` is complete and current under ``settings``.

    Example:
        >>> complete_models(store, probe_id, ["a", "b"], "out", EntryKind.RANKS, ComputeSettings())  # doctest: +SKIP
        frozenset({'a'})
    """
    missing = {key.model_id for key in store.missing(probe_id, model_ids, [layer], kind, settings)}
    return frozenset(m for m in model_ids if m not in missing)


def read_layer_inputs(store: Store, probe_id: str, model_ids: Sequence[str], layer: str,
                      settings: ComputeSettings) -> LayerState:
    """Which models' activations and rank vectors for one layer are up to date; no similarity version is read.

    Enough for :func:`cluster.plan.plan_inputs`. Entries computed from other inputs than the
    registry and ``settings`` give (:mod:`storage.identity`) count as missing.

    Example:
        >>> read_layer_inputs(store, probe_id, ["a"], "out", ExtractionOptions().settings()).complete_rdms  # doctest: +SKIP
        frozenset({'a'})
    """
    return LayerState(
        layer,
        complete_models(store, probe_id, model_ids, layer, EntryKind.ACTIVATIONS, settings),
        complete_models(store, probe_id, model_ids, layer, EntryKind.RANKS, settings),
    )


def log_lacking(lacking: Sequence[ModelOutcome]) -> None:
    """Logs each model's lacking roles, one line per model, from a plan's ``lacking`` failures.

    Example:
        >>> log_lacking([])
    """
    by_model: dict[str, list[ModelOutcome]] = {}
    for outcome in lacking:
        by_model.setdefault(outcome.model_id, []).append(outcome)
    for model_id, outcomes in by_model.items():
        logger.warning("model %s: %s; left out of %s", model_id, "; ".join(str(o.error) for o in outcomes),
                       "that matrix" if len(outcomes) == 1 else "those matrices")


def missing_roles(store: Store, model_ids: Sequence[str], layers: Sequence[str], log: bool = True) -> list[ModelOutcome]:
    """One failure per (model, layer role) the model does not have; logged (unless ``log`` is False), one line per model.

    Such a model is left out of that role's matrix; the run goes on with the others. The reserved
    role ``default`` (each model's default layer) is every model's.

    Example:
        >>> [f.layer for f in missing_roles(store, ["mobilenet"], ["output", "encoder.output"])]  # doctest: +SKIP
        ['encoder.output']
    """
    failures = []
    for entry in store.models(model_ids):
        lacking = [layer for layer in layers if not entry.has_role(layer)]
        if lacking and log:
            logger.warning("model %s has no layer %s (its layers: %s); left out of %s", entry.model_id,
                           ", ".join(lacking), ", ".join(entry.layers), "that matrix" if len(lacking) == 1 else "those matrices")
        failures += [ModelOutcome(entry.model_id, layer, f"model has no layer {layer!r} (its layers: "
                                                         f"{', '.join(entry.layers)})") for layer in lacking]
    return failures
