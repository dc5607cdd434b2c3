"""Bringing a store's similarities up to date on Ray: the step behind extract, similarity, taxonomy and rerank."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cluster.pipeline import RunSummary
    from storage import Store


def compute_similarities(
    store: Store,
    probe_id: str,
    model_ids: Sequence[str],
    layers: Sequence[str],
    method: str = "spearman",
    dtype: str = "fp32",
    address: str | None = None,
    task_memory_mb: int = 1024,
    fence: Callable[[], None] | None = None,
    backend: str = "auto",
    reduce: str | None = None,
    rdms_on_actor: str = "auto",
    keep_activations: bool = False,
) -> RunSummary:
    """Extracts what is missing, then computes RDMs and new similarity versions.

    ``dtype`` is the forward-pass precision (``fp32``, ``tf32``, ``bf16``, ``fp16``, or the earlier
    names); the summary states the precision used. ``fence`` is called right before each version is
    marked complete (``Lock.check`` of the lock the run holds: a run whose lock was taken over commits
    no version). ``backend`` says where RDMs and products are computed (``auto``: torch on the cluster's
    GPUs where it has any); ``reduce`` overrides every layer's reduction (None: each layer's own from the
    manifest); ``rdms_on_actor`` and ``keep_activations`` say whether encoder actors compute the RDMs
    where the activations are, and whether full activations are stored then
    (:class:`cluster.extract.ExtractionOptions`).

    Example:
        >>> compute_similarities(store, probe_id, ["a", "b"], ["encoder.output"])  # doctest: +SKIP
    """
    from cluster.connect import connect  # imported here: a command only parsing its flags needs no Ray
    from cluster.extract import ExtractionOptions, extract_all
    from cluster.options import SimilarityOptions
    from cluster.pipeline import run_similarity
    from cluster.resolvers import StoreResolver

    connect(address)
    extraction = ExtractionOptions(dtype=dtype, reduce=reduce, rdms_on_actor=rdms_on_actor,
                                   keep_activations=keep_activations)
    extractor = functools.partial(extract_all, resolver=StoreResolver(store), options=extraction)
    # run_similarity logs its summary (what was computed, what failed and why) on the rsa_ray logger.
    options = SimilarityOptions(method=method, tile_memory_bytes=task_memory_mb * 2**20, backend=backend)
    return run_similarity(store, probe_id, model_ids, layers, options, extractor=extractor, extraction=extraction,
                          fence=fence)


def exit_code(summary: RunSummary) -> int:
    """0 when every model succeeded, 3 when some failed (their errors are in the failures table)."""
    return 3 if summary.failures else 0
