"""The CPU work of the pipeline, as plain functions and their Ray remotes.

Each task reads its inputs from the store and writes its outputs there itself:
arrays never travel through the driver, except one similarity tile's block.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import ray

from cluster.options import SimilarityOptions
from rsa_ray.errors import DegenerateInputError
from rsa_ray.ranks import standardized_ranks
from rsa_ray.rdm import compute_rdm
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
    done = {key for key in keys if store.is_complete(key, EntryKind.RANKS) and store.is_complete(key, EntryKind.RDMS)}
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

    Spearman multiplies the stored standardised rank vectors, over ``terms`` only when
    given: the result is then a partial product that the caller sums over segments
    (and clips to [-1, 1]). The other methods read the stored RDMs whole.

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
        segment = slice(*terms) if terms is not None else None
        rows = store.read_rank_vectors(probe_id, layer, row_models, segment)
        cols = None if same else store.read_rank_vectors(probe_id, layer, col_models, segment)
        return tiled_product(rows, cols)
    if terms is not None:
        raise ValueError(f"similarity method {method!r} compares whole RDMs; it cannot be split into term segments")
    rows = np.stack([store.read_rdm(EntryKey(probe_id, model_id, layer)) for model_id in row_models])
    cols = rows if same else np.stack([store.read_rdm(EntryKey(probe_id, model_id, layer)) for model_id in col_models])
    return similarity_to(rows, cols, method=method, new_names=list(row_models), names=list(col_models))


compute_and_store_rdms_remote = ray.remote(num_cpus=1, max_retries=3)(compute_and_store_rdms)
compute_similarity_tile_remote = ray.remote(num_cpus=1, max_retries=3)(compute_similarity_tile)
