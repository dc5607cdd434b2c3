"""The extraction stage over several probe sets, without Ray: how work is dealt to actors, and what later runs reuse."""

import itertools

import pytest

import cluster.probe_sets
from cluster.outcomes import ModelOutcome
from cluster.plan import ExtractionTask, ProbeExtraction, queues_by_model
from cluster.probe_sets import ExtractedStage


def _work(probe_ids, model_ids):
    return [ProbeExtraction(p, ExtractionTask(m, ("out",))) for p in probe_ids for m in model_ids]


@pytest.mark.parametrize("n_models, n_probes, n_queues", [(1, 1, 1), (5, 2, 2), (7, 3, 3), (3, 2, 8), (10, 1, 4)])
def test_each_model_goes_to_one_queue_with_its_probe_sets_in_a_row_and_models_are_balanced(n_models, n_probes, n_queues):
    probe_ids, model_ids = [f"p{i}" for i in range(n_probes)], [f"m{i}" for i in range(n_models)]
    work = _work(probe_ids, model_ids)

    queues = queues_by_model(work, n_queues)

    assert len(queues) == min(n_queues, n_models)
    assert sorted((e.probe_id, e.model_id) for q in queues for e in q) == sorted((e.probe_id, e.model_id) for e in work)
    for model_id in model_ids:
        holding = [i for i, queue in enumerate(queues) if any(e.model_id == model_id for e in queue)]
        assert len(holding) == 1, (model_id, holding)
        queue = queues[holding[0]]
        positions = [i for i, e in enumerate(queue) if e.model_id == model_id]
        assert positions == list(range(positions[0], positions[0] + n_probes))  # one after another
        assert [queue[i].probe_id for i in positions] == probe_ids  # in the order they were planned
    models_per_queue = [len({e.model_id for e in queue}) for queue in queues]
    assert max(models_per_queue) - min(models_per_queue) <= 1


def test_queues_refuse_no_queue():
    with pytest.raises(ValueError, match="n_queues must be >= 1, got 0"):
        queues_by_model(_work(["p"], ["m"]), 0)


def test_a_task_the_stage_ran_in_part_is_not_covered():
    stage = ExtractedStage((("p", ModelOutcome("a", "out")),))
    assert stage.outcomes_of("p", ExtractionTask("a", ("out", "early"))) is None
    assert stage.outcomes_of("q", ExtractionTask("a", ("out",))) is None  # another probe set
    assert stage.outcomes_of("p", ExtractionTask("a", ("out",))) == [ModelOutcome("a", "out")]


def test_the_stage_extractor_hands_back_what_ran_and_extracts_only_the_rest(monkeypatch):
    calls = []

    def extract_all(store, probe_id, tasks, resolver, options):
        calls.append((probe_id, [t.model_id for t in tasks]))
        return [ModelOutcome(t.model_id, layer) for t in tasks for layer in t.layers]

    monkeypatch.setattr(cluster.probe_sets, "extract_all", extract_all)
    stage = ExtractedStage((("p", ModelOutcome("a", "out", "OSError: gone")), ("p", ModelOutcome("b", "out"))))
    extract = stage.extractor(resolver=None, options=None)

    outcomes = extract(None, "p", [ExtractionTask(m, ("out",)) for m in "abc"])

    assert calls == [("p", ["c"])]
    assert [(o.model_id, o.error) for o in outcomes] == [("a", "OSError: gone"), ("b", None), ("c", None)]
    calls.clear()
    assert [o.model_id for o in extract(None, "p", [ExtractionTask("a", ("out",))])] == ["a"]
    assert calls == []  # all covered: no pool is started


def test_every_planned_pair_appears_once_in_the_queues():
    work = _work(["shared", "t1", "t2"], [f"m{i}" for i in range(9)])
    for n_queues in range(1, 12):
        dealt = [(e.probe_id, e.model_id) for e in itertools.chain.from_iterable(queues_by_model(work, n_queues))]
        assert sorted(dealt) == sorted((e.probe_id, e.model_id) for e in work)


def test_the_stage_s_plan_serves_only_the_same_request_under_the_same_settings():
    from cluster.inputs import PlannedInputs
    from cluster.plan import InputPlan
    from storage.identity import ComputeSettings

    planned = PlannedInputs(("a", "b"), (), (), InputPlan((), ()), ComputeSettings())
    stage = ExtractedStage((), ((("p", ("a", "b"), ("out",)), planned),))
    assert stage.plan_for("p", ["a", "b"], ["out"], ComputeSettings()) is planned
    assert stage.plan_for("p", ["b", "a"], ["out"], ComputeSettings()) is None  # another order: another matrix
    assert stage.plan_for("q", ["a", "b"], ["out"], ComputeSettings()) is None
    assert stage.plan_for("p", ["a", "b"], ["mid"], ComputeSettings()) is None
    assert stage.plan_for("p", ["a", "b"], ["out"], ComputeSettings(distance="cosine")) is None
