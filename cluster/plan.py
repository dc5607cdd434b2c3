"""The pure planner: what a run must compute, given what the store already holds.

No Ray and no I/O here: the executor reads the store's state into a
:class:`StoreState`, asks :func:`plan_run` what is missing, and runs only that.
A rerun after a crash therefore redoes only incomplete work, and adding models
computes only their activations, RDMs and the new rows and columns of the
similarity matrix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rsa_ray.tiles import Tile, plan_tiles


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
    """Run one model once and keep these layers' activations."""

    model_id: str
    layers: tuple[str, ...]


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
    """

    layer: str
    model_order: tuple[str, ...]
    n_reused: int
    tiles: tuple[Tile, ...]

    @property
    def up_to_date(self) -> bool:
        """True when the previous version already is this matrix."""
        return not self.tiles


@dataclass(frozen=True)
class RunPlan:
    """Everything one run must compute."""

    extractions: tuple[ExtractionTask, ...]
    rdms: tuple[tuple[str, str], ...]
    similarities: tuple[SimilarityPlan, ...]

    @property
    def is_empty(self) -> bool:
        """True when the store already holds every requested result."""
        return not self.extractions and not self.rdms and all(s.up_to_date for s in self.similarities)


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


def _similarity_plan(state: LayerState, models: Sequence[str], recomputed: set[str], block_size: int) -> SimilarityPlan:
    requested = set(models)
    reused = tuple(m for m in state.previous_models if m in requested and m not in recomputed)
    reused_set = set(reused)
    order = reused + tuple(m for m in models if m not in reused_set)
    if order == state.previous_models:
        return SimilarityPlan(state.layer, order, len(order), ())
    return SimilarityPlan(state.layer, order, len(reused), incremental_tiles(len(order), len(reused), block_size))


def plan_run(models: Sequence[str], layers: Sequence[LayerState], block_size: int = 64) -> RunPlan:
    """Decides what is missing for ``models`` × ``layers``.

    A model's RDM is (re)computed when it is not complete; its activations when
    neither they nor its RDM are complete (an RDM, once complete, no longer needs
    them). A model whose RDM is recomputed is treated as new in the similarity
    matrix, so no stale value survives.

    Args:
        models: Requested model ids, unique, in the order new ones should be appended.
        layers: One :class:`LayerState` per requested layer.
        block_size: Models per similarity tile side.

    Returns:
        The :class:`RunPlan`.

    Raises:
        ValueError: Duplicate models or layers, or no layers.

    Example:
        >>> plan = plan_run(["a", "b"], [LayerState("out", frozenset({"a"}), frozenset({"a"}), ("a",))])
        >>> [t.model_id for t in plan.extractions], plan.rdms, plan.similarities[0].model_order
        (['b'], (('b', 'out'),), ('a', 'b'))
    """
    if len(set(models)) != len(models):
        raise ValueError(f"models must be unique, got {list(models)}")
    if not layers:
        raise ValueError("plan_run needs at least one layer")
    if len({state.layer for state in layers}) != len(layers):
        raise ValueError(f"layers must be unique, got {[state.layer for state in layers]}")
    missing_layers: dict[str, list[str]] = {model: [] for model in models}
    rdms: list[tuple[str, str]] = []
    similarities = []
    for state in layers:
        recomputed = {model for model in models if model not in state.complete_rdms}
        for model in models:
            if model in recomputed:
                rdms.append((model, state.layer))
                if model not in state.complete_activations:
                    missing_layers[model].append(state.layer)
        similarities.append(_similarity_plan(state, models, recomputed, block_size))
    extractions = tuple(ExtractionTask(m, tuple(layers_)) for m, layers_ in missing_layers.items() if layers_)
    return RunPlan(extractions, tuple(rdms), tuple(similarities))
