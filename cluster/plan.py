"""The pure planner: what a run must compute, given what the store already holds.

No Ray and no I/O here: the executor reads the store's state into one
:class:`LayerState` per layer, asks :func:`plan_inputs` (through :func:`cluster.inputs.plan_run_inputs`,
the entry every command plans from) and then, per layer, :func:`plan_similarity` what
is missing, and runs only that.
A rerun after a crash therefore redoes only incomplete work, and adding models
computes only their activations, RDMs and the new rows and columns of the
similarity matrix.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rsa_ray.tiles import Tile, plan_tiles

if TYPE_CHECKING:
    from cluster.options import SimilarityOptions


@dataclass(frozen=True)
class LayerState:
    """What the store holds for one layer.

    Attributes:
        layer: The layer name.
        complete_activations: Models whose activations for this layer are complete.
        complete_rdms: Models whose RDM and rank vector for this layer are complete.
        previous_models: Ordered model ids of the latest similarity version for this
            layer and method, or empty if there is none.
    """

    layer: str
    complete_activations: frozenset[str] = frozenset()
    complete_rdms: frozenset[str] = frozenset()
    previous_models: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExtractionTask:
    """Run one model once and keep these layers' activations.

    Attributes:
        model_id: The model.
        layers: The layer roles to read.
        distance: The RDM distance of a layer too wide to store, whose RDM the actor computes
            (:mod:`cluster.wide_layers`); the run's own.
        center_features: Whether that RDM centres the features first.

    Example:
        >>> ExtractionTask("m1", ("out",)).distance
        'correlation'
    """

    model_id: str
    layers: tuple[str, ...]
    distance: str = "correlation"
    center_features: bool = True


@dataclass(frozen=True)
class ProbeExtraction:
    """One extraction task on a named probe set: the unit of an extraction stage over several probe sets.

    Attributes:
        probe_id: The probe set the model runs over.
        task: The model and the layers to read.

    Example:
        >>> ProbeExtraction("targets-digits", ExtractionTask("m1", ("out",))).model_id
        'm1'
    """

    probe_id: str
    task: ExtractionTask

    @property
    def model_id(self) -> str:
        """The task's model."""
        return self.task.model_id

    @property
    def layers(self) -> tuple[str, ...]:
        """The task's layer roles."""
        return self.task.layers


def queues_by_model(extractions: Sequence[ProbeExtraction], n_queues: int) -> list[list[ProbeExtraction]]:
    """Splits a stage's extractions into at most ``n_queues`` queues, models dealt round-robin in first-seen order,
    each model's probe sets one after another in one queue (so the actor that runs it builds it once).

    Example:
        >>> work = [ProbeExtraction(p, ExtractionTask(m, ("out",))) for p in ("shared", "t") for m in "abc"]
        >>> [[(e.probe_id, e.model_id) for e in queue] for queue in queues_by_model(work, 2)]
        [[('shared', 'a'), ('t', 'a'), ('shared', 'c'), ('t', 'c')], [('shared', 'b'), ('t', 'b')]]
    """
    if n_queues < 1:
        raise ValueError(f"n_queues must be >= 1, got {n_queues}")
    by_model: dict[str, list[ProbeExtraction]] = {}
    for extraction in extractions:
        by_model.setdefault(extraction.model_id, []).append(extraction)
    groups = list(by_model.values())
    queues = [[e for group in groups[index::n_queues] for e in group] for index in range(min(n_queues, len(groups)))]
    return queues


@dataclass(frozen=True)
class SimilarityPlan:
    """The next similarity version of one layer.

    Attributes:
        layer: The layer.
        model_order: Model ids of the new version, in order: the reused models of the
            previous version first (their order kept), then the new ones.
        n_reused: How many leading models keep their block from the previous version.
        tiles: Tiles of the new matrix to compute (symmetric: each needed cell is in
            exactly one tile or its mirror).
        segments: Term ranges ``(start, stop)`` of the compared vectors, in order and
            covering them once; each tile is computed once per segment and the partial
            products summed. Empty: one task per tile over the whole vectors.
    """

    layer: str
    model_order: tuple[str, ...]
    n_reused: int
    tiles: tuple[Tile, ...]
    segments: tuple[tuple[int, int], ...] = ()

    @property
    def up_to_date(self) -> bool:
        """True when the previous version already is this matrix."""
        return not self.tiles


@dataclass(frozen=True)
class InputPlan:
    """The activations and RDMs one run must compute.

    Attributes:
        extractions: One task per model with activations to extract.
        rdms: (model, layer) whose RDM and rank vector to compute.
    """

    extractions: tuple[ExtractionTask, ...]
    rdms: tuple[tuple[str, str], ...]


def incremental_tiles(n_models: int, n_reused: int, block_size: int) -> tuple[Tile, ...]:
    """Tiles covering the rows and columns of models ``n_reused..n_models`` of a symmetric matrix.

    The block of the first ``n_reused`` models is kept from the previous version;
    every other cell on or above the diagonal is covered exactly once.

    Args:
        n_models: Size of the new matrix.
        n_reused: Leading models whose mutual block is already known.
        block_size: Models per tile side.

    Returns:
        The tiles; empty when ``n_reused == n_models``.

    Example:
        >>> [(t.row_start, t.row_stop, t.col_start, t.col_stop) for t in incremental_tiles(5, 3, 2)]
        [(0, 2, 3, 5), (2, 3, 3, 5), (3, 5, 3, 5)]
    """
    if not 0 <= n_reused <= n_models:
        raise ValueError(f"n_reused must lie in 0..{n_models}, got {n_reused}")
    if n_reused == 0:
        return tuple(plan_tiles(n_models, n_models, block_size, symmetric=True))
    # Old rows against new columns: the upper-right rectangle.
    tiles = [
        Tile(tile.row_start, tile.row_stop, n_reused + tile.col_start, n_reused + tile.col_stop)
        for tile in plan_tiles(n_reused, n_models - n_reused, block_size)
    ]
    # New against new: the lower-right square, upper tiles only.
    tiles += [
        Tile(n_reused + t.row_start, n_reused + t.row_stop, n_reused + t.col_start, n_reused + t.col_stop)
        for t in plan_tiles(n_models - n_reused, n_models - n_reused, block_size, symmetric=True)
    ]
    return tuple(tiles)


@dataclass(frozen=True)
class SimilarityWork:
    """How one layer's similarity is cut into tasks.

    Attributes:
        block_size: Models per tile side.
        segments: Term ranges ``(start, stop)`` covering the vectors once, in order.
    """

    block_size: int
    segments: tuple[tuple[int, int], ...]


def task_bytes(block_size: int, n_models: int, step_terms: int, item_bytes: int = 4, in_flight: int = 2) -> int:
    """Memory one similarity task holds: ``in_flight`` steps of its (at most two) blocks, and its product.

    A task streams its segment one step (one stored chunk) at a time, reading the next
    step while it multiplies the current one: two steps in flight. The product is a
    float64 partial plus a float32 temporary per tile side squared.

    Example:
        >>> task_bytes(100, 100, 1000)  # two steps of one diagonal block of 100 x 1000 float32, and the product
        920000
    """
    return in_flight * min(2 * block_size, n_models) * step_terms * item_bytes + block_size * block_size * 12


def plan_similarity_work(
    n_models: int,
    n_terms: int,
    chunk_terms: int,
    memory_bytes: int,
    workers: int = 1,
    split_terms: bool = True,
    block_size: int | None = None,
    item_bytes: int = 4,
) -> SimilarityWork:
    """Cuts an N x N similarity of vectors of ``n_terms`` into tiles x segments within a memory budget.

    Reading is the cost to cut: every tile re-reads its blocks. A task streams its
    segment one stored chunk at a time, so its memory depends on the block size, not on
    the segment's length: the whole model set forms one block whenever two chunks of
    every model fit the budget, and each chunk is then read once. The vectors are cut
    into segments only to give every worker about four tasks (for balance and progress). Only when one block does
    not fit, or leaves fewer tasks than workers, are the models cut into blocks.

    Args:
        n_models: Models in the matrix.
        n_terms: Length of each vector.
        chunk_terms: Terms per stored chunk: a task's streaming step, and segments start on
            chunk boundaries.
        memory_bytes: Budget of one task (:func:`task_bytes`).
        workers: CPUs that run the tasks.
        split_terms: Whether partial products over segments can be summed (stored
            standardised vectors); if not, every task reads whole vectors at once.
        block_size: Models per tile side, fixed by the caller; None to choose it.
        item_bytes: Bytes a task holds per loaded vector term.

    Returns:
        The :class:`SimilarityWork`.

    Example:
        >>> work = plan_similarity_work(1000, 12_497_500, 2**16, 2**30, workers=2)
        >>> work.block_size, len(work.segments)  # one block; four segments per worker
        (1000, 8)
    """
    n_models, workers = max(n_models, 1), max(workers, 1)
    unit = max(1, min(chunk_terms, n_terms) if split_terms else n_terms)
    n_units = -(-max(n_terms, 1) // unit)
    block = block_size if block_size is not None else _largest_block(
        n_models, lambda size: task_bytes(size, n_models, unit, item_bytes, 2 if split_terms else 1) <= memory_bytes)
    block = min(block, n_models)
    n_segments = min(n_units, -(-4 * workers // _n_tiles(n_models, block))) if split_terms else 1
    if block_size is None:
        block = _enough_tiles(n_models, block, n_segments, workers)
    units = -(-n_units // n_segments)
    segment = units * unit
    segments = tuple((start, min(start + segment, n_terms)) for start in range(0, n_terms, segment))
    return SimilarityWork(block, segments)


def _largest_block(n_models: int, fits: Callable[[int], bool]) -> int:
    """The whole model set if it fits one task, else the largest block that does (1 if none does)."""
    if fits(n_models):
        return n_models
    low, high = 1, n_models
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if fits(middle) else (low, middle - 1)
    return low


def _enough_tiles(n_models: int, block: int, n_segments: int, workers: int) -> int:
    """``block``, made smaller until the tiles × segments give every worker a task (or blocks of one model)."""
    blocks = -(-n_models // block)
    while block > 1 and _n_tiles(n_models, block) * n_segments < workers:
        blocks += 1  # one more block per side (the block size may stay, then shrinks at the next)
        block = -(-n_models // blocks)
    return block


def similarity_work(options: SimilarityOptions, n_models: int, n_terms: int, chunk_terms: int,
                    workers: int = 1) -> SimilarityWork:
    """How a layer's similarity is cut into tasks under ``options`` (:func:`plan_similarity_work`).

    Spearman tasks multiply segments of the stored rank vectors; the other methods
    read whole RDMs (float32, standardised in float64 by the task).

    Args:
        options: The method, the memory of one task and an optional fixed block size.
        n_models: Models in the matrix.
        n_terms: Length of each vector.
        chunk_terms: Terms per stored chunk.
        workers: CPUs that run the tasks.

    Returns:
        The :class:`SimilarityWork`.

    Example:
        >>> from cluster.options import SimilarityOptions
        >>> similarity_work(SimilarityOptions(), 500, 124_750, 124_750, workers=2).block_size
        250
        >>> similarity_work(SimilarityOptions(tile_memory_bytes=2**30), 1000, 12_497_500, 2**16).block_size
        1000
    """
    spearman = options.method == "spearman"
    return plan_similarity_work(n_models, n_terms, chunk_terms, options.tile_memory_bytes, workers,
                                split_terms=spearman, block_size=options.block_size, item_bytes=4 if spearman else 12)


def _n_tiles(n_models: int, block: int) -> int:
    blocks = -(-n_models // block)
    return blocks * (blocks + 1) // 2


def _check_request(models: Sequence[str], layers: Sequence[LayerState]) -> None:
    if len(set(models)) != len(models):
        raise ValueError(f"models must be unique, got {list(models)}")
    if not layers:
        raise ValueError("a plan needs at least one layer")
    if len({state.layer for state in layers}) != len(layers):
        raise ValueError(f"layers must be unique, got {[state.layer for state in layers]}")


def plan_inputs(models: Sequence[str], layers: Sequence[LayerState]) -> InputPlan:
    """The activations and RDMs missing for ``models`` × ``layers``.

    A model's RDM is (re)computed when it is not complete; its activations when
    neither they nor its RDM are complete (an RDM, once complete, no longer needs
    them). Only ``complete_activations`` and ``complete_rdms`` of each state are read.

    Args:
        models: Requested model ids, unique.
        layers: One :class:`LayerState` per requested layer.

    Returns:
        The :class:`InputPlan`: one extraction task per model, for all its missing layers.

    Raises:
        ValueError: Duplicate models or layers, or no layers.

    Example:
        >>> plan = plan_inputs(["a", "b"], [LayerState("out", frozenset({"a", "b"}), frozenset({"a"}))])
        >>> plan.extractions, plan.rdms
        ((), (('b', 'out'),))
    """
    _check_request(models, layers)
    missing_layers: dict[str, list[str]] = {model: [] for model in models}
    rdms: list[tuple[str, str]] = []
    for state in layers:
        for model in models:
            if model not in state.complete_rdms:
                rdms.append((model, state.layer))
                if model not in state.complete_activations:
                    missing_layers[model].append(state.layer)
    extractions = tuple(ExtractionTask(m, tuple(layers_)) for m, layers_ in missing_layers.items() if layers_)
    return InputPlan(extractions, tuple(rdms))


def plan_inputs_by_layer(models_of: Sequence[tuple[LayerState, Sequence[str]]], models: Sequence[str]) -> InputPlan:
    """:func:`plan_inputs` where each layer has its own models (those that have that layer role).

    Args:
        models_of: ``(state, model ids)`` per layer, unique layers.
        models: Every model id, in the order extraction tasks are listed.

    Returns:
        The :class:`InputPlan`: one extraction task per model, for all its missing layers.

    Example:
        >>> plan = plan_inputs_by_layer([(LayerState("out"), ["a", "b"]), (LayerState("mid"), ["b"])], ["a", "b"])
        >>> [(task.model_id, task.layers) for task in plan.extractions]
        [('a', ('out',)), ('b', ('out', 'mid'))]
    """
    _check_request(models, [state for state, _ in models_of])
    plans = [plan_inputs(list(layer_models), [state]) for state, layer_models in models_of]
    missing: dict[str, list[str]] = {model: [] for model in models}
    for plan in plans:
        for task in plan.extractions:
            missing[task.model_id].extend(task.layers)
    extractions = tuple(ExtractionTask(model, tuple(layers)) for model, layers in missing.items() if layers)
    return InputPlan(extractions, tuple(key for plan in plans for key in plan.rdms))


def plan_similarity(
    state: LayerState,
    models: Sequence[str],
    block_size: int = 64,
    segments: tuple[tuple[int, int], ...] = (),
) -> SimilarityPlan:
    """The next similarity version of one layer, from its ``complete_rdms`` and ``previous_models``.

    A model whose RDM is not complete (it is, or was, recomputed) is treated as new in the
    matrix, so no stale value survives; the others of the previous version keep their block.

    Args:
        state: What the store holds for the layer.
        models: Requested model ids, unique, in the order new ones should be appended.
        block_size: Models per similarity tile side.
        segments: Term ranges of the vectors each tile is computed over (see
            :class:`SimilarityPlan`); empty for whole vectors.

    Returns:
        The :class:`SimilarityPlan`.

    Example:
        >>> plan = plan_similarity(LayerState("out", complete_rdms=frozenset({"a", "b"}), previous_models=("a",)),
        ...                        ["a", "b"])
        >>> plan.model_order, plan.n_reused, len(plan.tiles)
        (('a', 'b'), 1, 2)
    """
    requested = set(models)
    reused = tuple(m for m in state.previous_models if m in requested and m in state.complete_rdms)
    reused_set = set(reused)
    order = reused + tuple(m for m in models if m not in reused_set)
    if order == state.previous_models:
        return SimilarityPlan(state.layer, order, len(order), (), segments)
    return SimilarityPlan(state.layer, order, len(reused), incremental_tiles(len(order), len(reused), block_size),
                          segments)
