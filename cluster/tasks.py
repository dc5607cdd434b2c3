"""The CPU work of the pipeline, as plain functions and their Ray remotes.

Each task reads its inputs from the store and writes its outputs there itself:
arrays never travel through the driver, except one similarity tile's block.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import ray

from cluster.options import SimilarityOptions
from rsa_ray.errors import DegenerateInputError
from rsa_ray.ranks import standardized_ranks
from rsa_ray.rdm import compute_rdm, condensed_length
from rsa_ray.similarity import similarity_to
from rsa_ray.tiles import tiled_product
from storage import EntryKey, EntryKind, EntryNotFoundError, IncompleteEntryError, Store


@dataclass(frozen=True)
class RdmOutcome:
    """What became of one (model, layer) RDM.

    Attributes:
        model_id: The model.
        layer: The layer.
        error: None when the RDM and rank vector are stored; else why not.
    """

    model_id: str
    layer: str
    error: str | None = None


def compute_and_store_rdm(store: Store, key: EntryKey, options: SimilarityOptions) -> RdmOutcome:
    """Reads a model's activations, stores its RDM and then its standardised rank vector.

    The rank vector is computed from the float64 RDM before the RDM is stored as
    float32, so Spearman sees no ties that float32 rounding would create. It is
    written last: its completion marks the model's RDM stage done. Input that makes
    the model's RDM undefined is reported, not raised.

    Example:
        >>> compute_and_store_rdm(store, EntryKey(probe_id, "m1", "out"), SimilarityOptions())  # doctest: +SKIP
        RdmOutcome(model_id='m1', layer='out', error=None)
    """
    try:
        features = store.read_activations(key)
        condensed_rdm = compute_rdm(features, options.distance, options.center_features, name=key.model_id)
        rank_vector = standardized_ranks(condensed_rdm, names=[key.model_id], workers=1)[0]
    except (DegenerateInputError, EntryNotFoundError, IncompleteEntryError) as error:
        return RdmOutcome(key.model_id, key.layer, f"{type(error).__name__}: {error}")
    provenance = store.provenance(key)
    store.write_rdm(key, condensed_rdm, options.distance, options.center_features, provenance=provenance)
    store.write_rank_vector(key, rank_vector.astype(np.float32), provenance=provenance)
    return RdmOutcome(key.model_id, key.layer)


def compute_and_store_rdms(store: Store, keys: Sequence[EntryKey], options: SimilarityOptions) -> list[RdmOutcome]:
    """:func:`compute_and_store_rdm` for several models in one task; those already complete are skipped.

    Skipping what a previous attempt finished makes a retried task (after its worker died)
    redo only the models it had not stored yet.

    Example:
        >>> compute_and_store_rdms(store, [EntryKey(probe_id, "m1", "out")], SimilarityOptions())  # doctest: +SKIP
        [RdmOutcome(model_id='m1', layer='out', error=None)]
    """
    done = set(keys)
    for probe_id, layer in {(key.probe_id, key.layer) for key in keys}:  # two batched checks per layer
        models = [key.model_id for key in keys if (key.probe_id, key.layer) == (probe_id, layer)]
        for kind in (EntryKind.RANKS, EntryKind.RDMS):
            done -= set(store.missing(probe_id, models, [layer], kind))
    return [RdmOutcome(key.model_id, key.layer) if key in done else compute_and_store_rdm(store, key, options)
            for key in keys]


def compute_similarity_tile(
    store: Store,
    probe_id: str,
    layer: str,
    row_models: Sequence[str],
    col_models: Sequence[str],
    method: str,
    terms: tuple[int, int] | None = None,
) -> np.ndarray:
    """One block of the similarity matrix, reading only its two blocks of models.

    Spearman multiplies the stored standardised rank vectors over ``terms`` (all by
    default), streaming them one stored chunk at a time and reading the next chunk
    while it multiplies the current one; over a segment, the result is a partial
    product that the caller sums over segments (and clips to [-1, 1]). The other
    methods read the stored RDMs whole.

    Returns:
        float64 (len(row_models), len(col_models)).

    Raises:
        ValueError: ``terms`` with a method other than spearman.

    Example:
        >>> compute_similarity_tile(store, probe_id, "out", ["a"], ["a", "b"], "spearman")  # doctest: +SKIP
        array([[1.  , 0.42]])
    """
    same = list(col_models) == list(row_models)
    if method == "spearman":
        start, stop = terms if terms is not None else (0, condensed_length(store.probe_set(probe_id).n_images))
        return _streamed_product(store, probe_id, layer, row_models, None if same else col_models,
                                 _steps(start, stop, store.vector_chunk_terms(probe_id)))
    if terms is not None:
        raise ValueError(f"similarity method {method!r} compares whole RDMs; it cannot be split into term segments")
    rows = np.stack([store.read_rdm(EntryKey(probe_id, model_id, layer)) for model_id in row_models])
    cols = rows if same else np.stack([store.read_rdm(EntryKey(probe_id, model_id, layer)) for model_id in col_models])
    return similarity_to(rows, cols, method=method, new_names=list(row_models), names=list(col_models))


def _steps(start: int, stop: int, chunk_terms: int) -> list[slice]:
    """``start:stop`` cut on the stored chunk grid."""
    edges = [start, *range((start // chunk_terms + 1) * chunk_terms, stop, chunk_terms), stop]
    return [slice(a, b) for a, b in zip(edges, edges[1:]) if b > a]


def _streamed_product(store: Store, probe_id: str, layer: str, row_models: Sequence[str],
                      col_models: Sequence[str] | None, steps: Sequence[slice]) -> np.ndarray:
    """Sum over ``steps`` of rows @ cols.T (cols = rows when None), reading step i+1 during product i.

    Two buffers per side take turns (one being multiplied, one being filled), reused
    across steps.
    """
    width = max((step.stop - step.start for step in steps), default=0)
    sides = [row_models] if col_models is None else [row_models, col_models]
    buffers = [[np.empty((len(models), width), np.float32) for models in sides] for _ in range(2)]

    def read(index: int) -> list[np.ndarray]:
        step = steps[index]
        views = [buffer[:, : step.stop - step.start] for buffer in buffers[index % 2]]
        return [store.read_rank_vectors(probe_id, layer, models, step, out=view) for models, view in zip(sides, views)]

    product = np.zeros((len(row_models), len(sides[-1])))
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch") as prefetch:
        pending = prefetch.submit(read, 0) if steps else None
        for index in range(len(steps)):
            vectors = pending.result()
            pending = prefetch.submit(read, index + 1) if index + 1 < len(steps) else None
            product += tiled_product(vectors[0], vectors[1] if len(vectors) > 1 else None)
    return product


compute_and_store_rdms_remote = ray.remote(num_cpus=1, max_retries=3)(compute_and_store_rdms)
compute_similarity_tile_remote = ray.remote(num_cpus=1, max_retries=3)(compute_similarity_tile)
