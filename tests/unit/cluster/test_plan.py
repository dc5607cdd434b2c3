"""The planner against brute force: nothing complete is redone, every missing cell is computed once."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.plan import LayerState, incremental_tiles, plan_inputs, plan_similarity, plan_similarity_work, task_bytes

MODEL_POOL = [f"m{i}" for i in range(12)]


def plan_both(models, states, block_size=64):
    """What a run plans: its inputs, and each layer's next similarity version (as the pipeline asks them)."""
    return plan_inputs(models, states), [plan_similarity(state, models, block_size) for state in states]


def covered_cells(tiles, n_models):
    """How many tiles compute each unordered pair (i <= j): a tile computes a cell and its mirror."""
    counts = np.zeros((n_models, n_models), dtype=int)
    for tile in tiles:
        in_tile = np.zeros((n_models, n_models), dtype=bool)
        in_tile[tile.row_start : tile.row_stop, tile.col_start : tile.col_stop] = True
        counts += np.triu(in_tile | in_tile.T).astype(int)
    return counts


@settings(max_examples=150, deadline=None)
@given(n_models=st.integers(0, 30), n_reused=st.integers(0, 30), block_size=st.integers(1, 12))
def test_incremental_tiles_cover_exactly_the_new_upper_cells(n_models, n_reused, block_size):
    n_reused = min(n_reused, n_models)
    counts = covered_cells(incremental_tiles(n_models, n_reused, block_size), n_models)
    for i in range(n_models):
        for j in range(n_models):
            if i <= j:
                needed = i >= n_reused or j >= n_reused
                assert counts[i, j] == int(needed), (i, j)


layer_states = st.builds(
    lambda layer, activations, rdms, previous: LayerState(layer, frozenset(activations), frozenset(rdms), tuple(previous)),
    layer=st.sampled_from(["out", "block2"]),
    activations=st.sets(st.sampled_from(MODEL_POOL)),
    rdms=st.sets(st.sampled_from(MODEL_POOL)),
    previous=st.lists(st.sampled_from(MODEL_POOL), unique=True),
)


@settings(max_examples=150, deadline=None)
@given(
    models=st.lists(st.sampled_from(MODEL_POOL), unique=True, min_size=1),
    states=st.lists(layer_states, min_size=1, max_size=2, unique_by=lambda s: s.layer),
    block_size=st.integers(1, 5),
)
def test_plan_equals_brute_force(models, states, block_size):
    plan, similarities = plan_both(models, states, block_size=block_size)
    extraction_of = {task.model_id: set(task.layers) for task in plan.extractions}
    assert len(extraction_of) == len(plan.extractions)  # one task per model: one forward pass for all its layers
    for state in states:
        for model in models:
            needs_rdm = model not in state.complete_rdms
            assert ((model, state.layer) in plan.rdms) == needs_rdm
            needs_activations = needs_rdm and model not in state.complete_activations
            assert (state.layer in extraction_of.get(model, set())) == needs_activations
        similarity = next(s for s in similarities if s.layer == state.layer)
        assert sorted(similarity.model_order) == sorted(models)
        reusable = [m for m in state.previous_models if m in models and m in state.complete_rdms]
        assert list(similarity.model_order[: similarity.n_reused]) == reusable or similarity.up_to_date
        n_models = len(models)
        counts = covered_cells(similarity.tiles, n_models)
        for i in range(n_models):
            for j in range(i, n_models):
                computed = counts[i, j]
                needed = not similarity.up_to_date and (i >= similarity.n_reused or j >= similarity.n_reused)
                assert computed == int(needed), (i, j)


def test_a_complete_store_plans_nothing():
    state = LayerState("out", frozenset({"a", "b"}), frozenset({"a", "b"}), ("b", "a"))
    plan, similarities = plan_both(["a", "b"], [state])
    assert not plan.extractions and not plan.rdms and similarities[0].up_to_date
    assert similarities[0].model_order == ("b", "a")


def test_adding_one_model_computes_one_row():
    previous = tuple(MODEL_POOL[:10])
    state = LayerState("out", frozenset(previous), frozenset(previous), previous)
    plan, similarities = plan_both(list(previous) + ["new"], [state], block_size=4)
    assert [t.model_id for t in plan.extractions] == ["new"]
    similarity = similarities[0]
    assert similarity.model_order[-1] == "new" and similarity.n_reused == 10
    assert sum((t.row_stop - t.row_start) * (t.col_stop - t.col_start) for t in similarity.tiles) == 11


def test_bad_requests_are_named():
    with pytest.raises(ValueError, match="unique"):
        plan_inputs(["a", "a"], [LayerState("out")])
    with pytest.raises(ValueError, match="at least one layer"):
        plan_inputs(["a"], [])
    with pytest.raises(ValueError, match="n_reused must lie in 0..3"):
        incremental_tiles(3, 4, 2)


def _n_tiles(n_models, block):
    blocks = -(-n_models // block)
    return blocks * (blocks + 1) // 2


@settings(max_examples=300, deadline=None)
@given(
    n_models=st.integers(1, 60),
    n_terms=st.integers(1, 5000),
    chunk_terms=st.integers(1, 700),
    memory_bytes=st.integers(1, 400_000),
    workers=st.integers(1, 6),
    split_terms=st.booleans(),
)
def test_similarity_work_against_brute_force(n_models, n_terms, chunk_terms, memory_bytes, workers, split_terms):
    work = plan_similarity_work(n_models, n_terms, chunk_terms, memory_bytes, workers, split_terms)
    unit = min(chunk_terms, n_terms) if split_terms else n_terms
    in_flight = 2 if split_terms else 1
    # Segments cover the terms once, in order, starting on chunk boundaries; whole vectors if not split.
    starts = [start for start, _ in work.segments]
    assert starts[0] == 0 and work.segments[-1][1] == n_terms
    assert all(a[1] == b[0] for a, b in zip(work.segments, work.segments[1:]))
    assert all(start % unit == 0 for start in starts) and all(stop > start for start, stop in work.segments)
    if not split_terms:
        assert work.segments == ((0, n_terms),)
    tasks = _n_tiles(n_models, work.block_size) * len(work.segments)
    # Brute force: the largest block whose streamed tasks fit, found by trying every size.
    feasible = [b for b in range(1, n_models + 1) if task_bytes(b, n_models, unit, in_flight=in_flight) <= memory_bytes]
    if feasible:
        assert task_bytes(work.block_size, n_models, unit, in_flight=in_flight) <= memory_bytes  # within budget
        assert work.block_size <= max(feasible)
        if _n_tiles(n_models, max(feasible)) * len(work.segments) >= workers:
            assert work.block_size == max(feasible)  # cut no further than the budget asks
    else:  # nothing fits: the smallest possible tasks
        assert work.block_size == 1
    # Enough tasks for the workers whenever cutting the terms or the models can give them.
    n_units = -(-n_terms // unit)
    if _n_tiles(n_models, 1) * (n_units if split_terms else 1) >= workers:
        assert tasks >= workers
    # No more segments than about four tasks per worker ask for.
    assert len(work.segments) <= max(1, -(-4 * workers // _n_tiles(n_models, work.block_size)))


def test_one_block_streamed_in_chunks_when_two_chunks_of_every_model_fit():
    work = plan_similarity_work(1000, 12_497_500, 2**16, 2**30, workers=2)
    assert work.block_size == 1000 and len(work.segments) == 8  # each stored chunk read once, 4 tasks a worker
    assert task_bytes(1000, 1000, 2**16) <= 2**30
    small = plan_similarity_work(500, 124_750, 2**16, 2**30, workers=2)
    assert small.block_size == 500 and small.segments == ((0, 65_536), (65_536, 124_750))
    fixed = plan_similarity_work(500, 124_750, 2**16, 2**30, workers=2, block_size=64)
    assert fixed.block_size == 64
    tight = plan_similarity_work(1000, 12_497_500, 2**16, 256 * 2**20, workers=2)
    assert tight.block_size < 1000 and task_bytes(tight.block_size, 1000, 2**16) <= 256 * 2**20


def test_cutting_models_for_more_workers_ends():
    """5 models, one segment, 6 workers: block sizes 5, 3, 2 (where ceil(5/3) == ceil(5/4) once looped forever)."""
    work = plan_similarity_work(5, 45, 45, 2**30, workers=6, split_terms=False)
    assert work.block_size == 2 and work.segments == ((0, 45),)
