"""One extraction stage for every probe set a command compares on: one actor pool, each model built once.

A command such as ``rerank`` compares models on the shared probe set and scores them on each
target's images. Run one probe set after the other, each ``run_similarity`` would start its own
actor pool and fetch and build every new model once per probe set. :func:`extract_probe_sets`
plans what every probe set lacks first and runs it as one stage
(:func:`cluster.extract.run_extractions`: a model's probe sets one after another on one actor);
the runs that follow are given its :class:`ExtractedStage`, whose extractor
(:meth:`ExtractedStage.extractor`) hands back what the stage did instead of extracting again,
so a model that failed in the stage is reported, not retried in a second pool; and its plan of each
request (:meth:`ExtractedStage.plan_for`), so the store's state is not read twice for it.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from dataclasses import dataclass

from cluster.encoder import ModelResolver
from cluster.extract import extract_all, run_extractions
from cluster.inputs import PlannedInputs, plan_run_inputs
from cluster.options import ExtractionOptions
from cluster.outcomes import ModelOutcome
from cluster.plan import ExtractionTask, ProbeExtraction
from storage import Store
from storage.identity import ComputeSettings


@dataclass(frozen=True)
class ProbeSetWork:
    """What a command compares on one probe set: models, layer roles and the RDM settings of that run.

    Attributes:
        probe_id: The probe set.
        model_ids: The models compared on it.
        layers: The layer roles.
        distance: The run's RDM distance (that of a wide layer's RDM, computed on the actor).
        center_features: Whether that RDM centres the features first.

    Example:
        >>> ProbeSetWork("targets-digits", ("a", "b"), ("default",)).distance
        'correlation'
    """

    probe_id: str
    model_ids: tuple[str, ...]
    layers: tuple[str, ...]
    distance: str = "correlation"
    center_features: bool = True


@dataclass(frozen=True)
class ExtractedStage:
    """What one extraction stage did: each (probe set, model, layer) it ran, with its outcome.

    Attributes:
        outcomes: (probe set, outcome) per (probe set, model, layer) the stage extracted.
        plans: Per request (probe set, models, layers), the plan the stage read it under.

    Example:
        >>> stage = ExtractedStage(((("p", ModelOutcome("a", "out", "OSError: no weights")),)))
        >>> stage.outcomes_of("p", ExtractionTask("a", ("out",)))[0].error
        'OSError: no weights'
        >>> stage.outcomes_of("p", ExtractionTask("b", ("out",))) is None
        True
    """

    outcomes: tuple[tuple[str, ModelOutcome], ...] = ()
    plans: tuple[tuple[tuple[str, tuple[str, ...], tuple[str, ...]], PlannedInputs], ...] = ()

    def plan_for(self, probe_id: str, model_ids: Sequence[str], layers: Sequence[str],
                 settings: ComputeSettings) -> PlannedInputs | None:
        """The stage's plan of exactly this request (probe set, models, layers, settings), or None.

        The run that follows reuses it rather than reading the store's state again: the RDMs it planned
        are checked again after extraction (``cluster.pipeline``), and the similarity is planned afresh.

        Example:
            >>> ExtractedStage().plan_for("p", ["a"], ["out"], ComputeSettings()) is None
            True
        """
        key = (probe_id, tuple(model_ids), tuple(layers))
        planned = next((plan for plan_key, plan in self.plans if plan_key == key), None)
        return planned if planned is not None and planned.settings == settings else None

    def outcomes_of(self, probe_id: str, task: ExtractionTask) -> list[ModelOutcome] | None:
        """The stage's outcomes for every layer of ``task`` on ``probe_id``, or None where it did not run them all."""
        known = [self._by_key.get((probe_id, task.model_id, layer)) for layer in task.layers]
        return None if any(outcome is None for outcome in known) else known

    @functools.cached_property
    def _by_key(self) -> dict[tuple[str, str, str], ModelOutcome]:
        return {(probe_id, outcome.model_id, outcome.layer): outcome for probe_id, outcome in self.outcomes}

    def extractor(self, resolver: ModelResolver, options: ExtractionOptions):
        """An extractor for :func:`cluster.pipeline.run_similarity`: the stage's outcomes for the tasks it ran,
        :func:`cluster.extract.extract_all` for the others.

        Example:
            >>> run_similarity(store, probe_id, models, layers, extractor=stage.extractor(resolver, options))  # doctest: +SKIP
        """
        def extract(store: Store, probe_id: str, tasks: Sequence[ExtractionTask]) -> list[ModelOutcome]:
            done, rest = [], []
            for task in tasks:
                known = self.outcomes_of(probe_id, task)
                if known is None:
                    rest.append(task)
                else:
                    done.extend(known)
            return done + (extract_all(store, probe_id, rest, resolver, options) if rest else [])

        return extract


def extract_probe_sets(store: Store, work: Sequence[ProbeSetWork], resolver: ModelResolver,
                       options: ExtractionOptions = ExtractionOptions()) -> ExtractedStage:
    """Plans what each probe set of ``work`` lacks and extracts it all as one stage on one actor pool.

    Ray must be connected. Roles a model lacks are left out here without a log line (the run on that
    probe set reports them).

    Example:
        >>> stage = extract_probe_sets(store, [ProbeSetWork(shared, models, ("default",)),
        ...                                    ProbeSetWork("targets-digits", models, ("default",))],
        ...                            StoreResolver(store))  # doctest: +SKIP
    """
    extractions, plans = [], []
    for item in work:
        settings = options.settings(item.distance, item.center_features)
        planned = plan_run_inputs(store, item.probe_id, item.model_ids, item.layers, settings, log_lacking=False)
        plans.append(((item.probe_id, tuple(item.model_ids), tuple(item.layers)), planned))
        extractions += [ProbeExtraction(item.probe_id, dataclasses.replace(
            task, distance=item.distance, center_features=item.center_features)) for task in planned.plan.extractions]
    return ExtractedStage(tuple(run_extractions(store, extractions, resolver, options)), tuple(plans))
