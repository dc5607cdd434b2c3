"""The RDM and similarity work of the pipeline, as plain functions and their Ray remotes.

Each task reads its inputs from the store and writes its outputs there itself:
arrays never travel through the driver, except one similarity tile's block.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
import numpy as np
import ray

from cluster.options import ExtractionOptions, SimilarityOptions
from cluster.outcomes import ModelOutcome
from cluster.rdm_writer import rdm_claim, rdm_is_current, write_rdm_and_ranks
from rsa_ray.errors import DegenerateInputError
from rsa_ray.backends.dispatch import NUMPY, rdm_and_rank_vector, similarity_block, vectors_product
from rsa_ray.backends.select import BackendChoice
from storage import CorruptEntryError, EntryKey, EntryKind, EntryNotFoundError, IncompleteEntryError, Lock, Store
from storage.identity import ComputeSettings, EntryIdentity


_RDM_KINDS = (EntryKind.ACTIVATIONS, EntryKind.RDMS, EntryKind.RANKS)


def compute_and_store_rdm(store: Store, key: EntryKey, options: SimilarityOptions,
                          settings: ComputeSettings | None = None,
                          identities: Mapping[EntryKind, EntryIdentity] | None = None,
                          backend: BackendChoice = NUMPY) -> ModelOutcome:
    """Reads a model's activations, stores its RDM and then its standardised rank vector.

    The rank vector is computed from the float64 RDM before the RDM is stored as
    float32, so Spearman sees no ties that float32 rounding would create. It is
    written last: its completion marks the model's RDM stage done. Both carry the
    identity of what they were computed from (:mod:`storage.identity`); activations
    computed from other inputs than the registry and ``settings`` say are refused as
    stale. Input that makes the model's RDM undefined is reported, not raised.

    Args:
        identities: The expected identity of the entry of each kind (read from the registry if None).
        backend: Where the RDM and ranks are computed (:func:`cluster.options.resolve_backend`).

    Example:
        >>> compute_and_store_rdm(store, EntryKey(probe_id, "m1", "out"), SimilarityOptions())  # doctest: +SKIP
        ModelOutcome(model_id='m1', layer='out', error=None)
    """
    settings = settings or _settings(options)
    if identities is None:
        identities = {kind: store.expected_identities(key.probe_id, [key.model_id], [key.layer], kind, settings)[key]
                      for kind in _RDM_KINDS}
    with rdm_claim(store, key) as held:
        return _compute_claimed_rdm(store, key, options, identities, held, backend)


def _compute_claimed_rdm(store: Store, key: EntryKey, options: SimilarityOptions,
                         identities: Mapping[EntryKind, EntryIdentity], held: Lock,
                         backend: BackendChoice) -> ModelOutcome:
    if rdm_is_current(store, key, identities):
        return ModelOutcome(key.model_id, key.layer)  # another run stored it while this one waited for the claim
    try:
        activations = store.stored_attributes([key], EntryKind.ACTIVATIONS)[key]
        if activations is None or not identities[EntryKind.ACTIVATIONS].matches(activations):
            return ModelOutcome(key.model_id, key.layer, "activations are missing or were computed from other inputs "
                              "(weights, preprocessing, dtype, probe set); extract them again")
        features = store.read_activations(key)
        condensed_rdm, rank_vector = rdm_and_rank_vector(features, options.distance, options.center_features,
                                                         name=key.model_id, backend=backend)
    except (DegenerateInputError, EntryNotFoundError, IncompleteEntryError, CorruptEntryError) as error:
        return ModelOutcome(key.model_id, key.layer, f"{type(error).__name__}: {error}")
    write_rdm_and_ranks(store, key, condensed_rdm, rank_vector, options.distance, options.center_features,
                        identities, [held])
    return ModelOutcome(key.model_id, key.layer)


def _settings(options: SimilarityOptions) -> ComputeSettings:
    """The settings of a run at the default forward and stored dtypes, with ``options``' RDM distance."""
    return ExtractionOptions().settings(options.distance, options.center_features)


def compute_and_store_rdms(store: Store, keys: Sequence[EntryKey], options: SimilarityOptions,
                           settings: ComputeSettings | None = None,
                           backend: BackendChoice = NUMPY) -> list[ModelOutcome]:
    """:func:`compute_and_store_rdm` for several models in one task; those already up to date are skipped.

    Skipping what a previous attempt finished makes a retried task (after its worker died)
    redo only the models it had not stored yet. The expected identities and what is stored
    are read in a few batched reads per layer, not per model.

    Example:
        >>> compute_and_store_rdms(store, [EntryKey(probe_id, "m1", "out")], SimilarityOptions())  # doctest: +SKIP
        [ModelOutcome(model_id='m1', layer='out', error=None)]
    """
    settings = settings or _settings(options)
    expected: dict[EntryKey, dict[EntryKind, EntryIdentity]] = {key: {} for key in keys}
    done = set(keys)
    for probe_id, layer in {(key.probe_id, key.layer) for key in keys}:
        group = [key for key in keys if (key.probe_id, key.layer) == (probe_id, layer)]
        for kind in _RDM_KINDS:
            identities = store.expected_identities(probe_id, [key.model_id for key in group], [layer], kind, settings)
            stored = store.stored_attributes(group, kind)
            for key in group:
                expected[key][kind] = identities[key]
                if kind is not EntryKind.ACTIVATIONS and (stored[key] is None or not identities[key].matches(stored[key])):
                    done.discard(key)
    return [ModelOutcome(key.model_id, key.layer) if key in done
            else compute_and_store_rdm(store, key, options, settings, expected[key], backend) for key in keys]


def compute_similarity_tile(
    store: Store,
    probe_id: str,
    layer: str,
    row_models: Sequence[str],
    col_models: Sequence[str],
    method: str,
    terms: tuple[int, int] | None = None,
    backend: BackendChoice = NUMPY,
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
        start, stop = terms if terms is not None else (0, store.vector_terms(probe_id))
        block = _streamed_product(store, probe_id, layer, row_models, None if same else col_models,
                                  _steps(start, stop, store.vector_chunk_terms(probe_id)), backend)
    else:
        if terms is not None:
            raise ValueError(f"similarity method {method!r} compares whole RDMs; it cannot be split into term segments")
        rows = np.stack([store.read_rdm(EntryKey(probe_id, model_id, layer)) for model_id in row_models])
        cols = rows if same else np.stack([store.read_rdm(EntryKey(probe_id, model_id, layer)) for model_id in col_models])
        block = similarity_block(rows, cols, method, new_names=list(row_models), names=list(col_models),
                                 backend=backend)
    store.record_work("similarity-task", None, probe_id=probe_id, layer=layer, rows=list(row_models),
                      cols=list(col_models), terms=list(terms) if terms is not None else None)
    return block


def _steps(start: int, stop: int, chunk_terms: int) -> list[slice]:
    """``start:stop`` cut on the stored chunk grid."""
    edges = [start, *range((start // chunk_terms + 1) * chunk_terms, stop, chunk_terms), stop]
    return [slice(a, b) for a, b in zip(edges, edges[1:]) if b > a]


def _streamed_product(store: Store, probe_id: str, layer: str, row_models: Sequence[str],
                      col_models: Sequence[str] | None, steps: Sequence[slice],
                      backend: BackendChoice = NUMPY) -> np.ndarray:
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
            product += vectors_product(vectors[0], vectors[1] if len(vectors) > 1 else None, backend=backend)
    return product


compute_and_store_rdms_remote = ray.remote(num_cpus=1, max_retries=3)(compute_and_store_rdms)
compute_similarity_tile_remote = ray.remote(num_cpus=1, max_retries=3)(compute_similarity_tile)
