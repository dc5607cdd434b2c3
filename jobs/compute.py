"""Bringing a store's similarities up to date on Ray: the step behind extract, similarity, taxonomy and rerank."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cluster.options import ExtractionOptions, SimilarityOptions
    from cluster.pipeline import RunSummary
    from cluster.probe_sets import ExtractedStage
    from storage import Store


@dataclass(frozen=True)
class ComputeOptions:
    """How a command computes: the compute flags (:func:`jobs.common.add_compute_arguments`) as one object.

    Attributes:
        method: Similarity between RDMs (``spearman``, ``pearson``, ``kendall_tau_a``).
        dtype: Forward-pass precision (``fp32``, ``tf32``, ``bf16``, ``fp16``, or the earlier names).
        task_memory_mb: Memory one similarity task may hold, in MiB.
        backend: Where RDMs and products are computed (``auto``: torch on the cluster's GPUs where it has any).
        reduce: One reduction for every layer (None: each layer's own from the manifest).
        rdms_on_actor: Whether encoder actors compute the RDMs where the activations are.
        keep_activations: Whether full activations are stored then.

    The stage options are built from these when the run starts (:meth:`similarity_options`,
    :meth:`extraction_options`); importing this module imports nothing of the numerical side.

    Example:
        >>> ComputeOptions(dtype="bf16").extraction_options().dtype
        'bfloat16'
    """

    method: str = "spearman"
    dtype: str = "fp32"
    task_memory_mb: int = 1024
    backend: str = "auto"
    reduce: str | None = None
    rdms_on_actor: str = "auto"
    keep_activations: bool = False

    def similarity_options(self) -> SimilarityOptions:
        """The :class:`cluster.options.SimilarityOptions` of these flags.

        Example:
            >>> ComputeOptions(task_memory_mb=256).similarity_options().tile_memory_bytes == 256 * 2**20
            True
        """
        from cluster.options import SimilarityOptions

        return SimilarityOptions(method=self.method, tile_memory_bytes=self.task_memory_mb * 2**20, backend=self.backend)

    def extraction_options(self) -> ExtractionOptions:
        """The :class:`cluster.options.ExtractionOptions` of these flags.

        Example:
            >>> ComputeOptions(rdms_on_actor="never").extraction_options().rdms_on_actor
            'never'
        """
        from cluster.options import ExtractionOptions

        return ExtractionOptions(dtype=self.dtype, reduce=self.reduce, rdms_on_actor=self.rdms_on_actor,
                                 keep_activations=self.keep_activations)


def connect_once(address: str | None):
    """Connects the command to Ray: called once, by the subcommand's ``run``, before its first stage.

    Returns:
        The cluster's :class:`cluster.connect.ClusterResources`.

    Example:
        >>> connect_once(None).cpus  # doctest: +SKIP
        8
    """
    from cluster import connect as connection  # imported here: a command only parsing its flags needs no Ray

    return connection.connect(address)


@dataclass(frozen=True)
class ProbeSelection:
    """What a command compares on one probe set, with the compute flags that run uses.

    Attributes:
        probe_id: The probe set.
        model_ids: The models.
        layers: The layer roles.
        options: The run's compute flags.

    Example:
        >>> ProbeSelection("targets-digits", ("a", "b"), ("default",)).options.dtype
        'fp32'
    """

    probe_id: str
    model_ids: tuple[str, ...]
    layers: tuple[str, ...]
    options: ComputeOptions = ComputeOptions()


def extract_probe_sets(store: Store, selections: Sequence[ProbeSelection]) -> ExtractedStage:
    """Extracts what every selection lacks as one stage (one actor pool, each model built once), before any RDM task.

    Pass the result to each :func:`compute_similarities` that follows (``stage``): it then extracts
    nothing the stage ran. Selections whose runs extract with other flags (``--dtype``, ``--reduce``)
    get a pool each.

    Example:
        >>> stage = extract_probe_sets(store, [ProbeSelection(shared, models, ("default",)),
        ...                                    ProbeSelection("targets-digits", models, ("default",))])  # doctest: +SKIP
    """
    from cluster.probe_sets import ExtractedStage, ProbeSetWork
    from cluster.probe_sets import extract_probe_sets as run_stage
    from cluster.resolvers import StoreResolver

    by_extraction: dict[ExtractionOptions, list[ProbeSetWork]] = {}
    for selection in selections:
        similarity = selection.options.similarity_options()
        by_extraction.setdefault(selection.options.extraction_options(), []).append(ProbeSetWork(
            selection.probe_id, tuple(selection.model_ids), tuple(selection.layers), similarity.distance,
            similarity.center_features))
    stages = [run_stage(store, work, StoreResolver(store), extraction) for extraction, work in by_extraction.items()]
    return ExtractedStage(tuple(o for stage in stages for o in stage.outcomes),
                          tuple(plan for stage in stages for plan in stage.plans))


def compute_similarities(store: Store, probe_id: str, model_ids: Sequence[str], layers: Sequence[str],
                         options: ComputeOptions = ComputeOptions(), fence: Callable[[], None] | None = None,
                         stage: ExtractedStage | None = None) -> RunSummary:
    """Extracts what is missing, then computes RDMs and new similarity versions, on the Ray the command connected to.

    The summary states the precision used. ``fence`` is called right before each version is marked
    complete (``Lock.check`` of the lock the run holds: a run whose lock was taken over commits no version).
    ``stage`` (:func:`extract_probe_sets`): what an earlier stage of the command extracted, not run again.

    Raises:
        RuntimeError: Ray is not connected (the command's ``run`` connects once, :func:`connect_once`).

    Example:
        >>> compute_similarities(store, probe_id, ["a", "b"], ["encoder.output"], ComputeOptions())  # doctest: +SKIP
    """
    import ray

    from cluster.extract import extract_all
    from cluster.pipeline import run_similarity
    from cluster.resolvers import StoreResolver

    if not ray.is_initialized():
        raise RuntimeError("connect to Ray first (jobs.compute.connect_once): similarities are computed on a cluster")
    extraction, similarity = options.extraction_options(), options.similarity_options()
    extractor = (functools.partial(extract_all, resolver=StoreResolver(store), options=extraction) if stage is None
                 else stage.extractor(StoreResolver(store), extraction))
    planned = None if stage is None else stage.plan_for(
        probe_id, model_ids, layers, extraction.settings(similarity.distance, similarity.center_features))
    # run_similarity logs its summary (what was computed, what failed and why) on the rsa_ray logger.
    return run_similarity(store, probe_id, model_ids, layers, similarity, extractor=extractor,
                          extraction=extraction, fence=fence, planned=planned)


def exit_code(summary: RunSummary) -> int:
    """0 when every model succeeded, 3 when some failed (their errors are in the failures table)."""
    return 3 if summary.failures else 0
