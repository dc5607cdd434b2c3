"""Options of the RDM and similarity stages."""

from __future__ import annotations

from dataclasses import dataclass

from rsa_ray.backends.select import BACKENDS, BackendChoice
from rsa_ray.rdm import DISTANCES
from rsa_ray.similarity import METHODS


@dataclass(frozen=True)
class SimilarityOptions:
    """How RDMs and the similarity matrix are computed.

    Attributes:
        method: Similarity between RDMs: ``spearman`` (the paper's), ``pearson`` or ``kendall_tau_a``.
        distance: RDM distance: ``correlation``, ``cosine`` or ``euclidean``.
        center_features: Centre each feature over the probe images first (correlation only).
        tile_memory_bytes: Memory one similarity task may hold: its blocks of vector
            segments and its product (:func:`cluster.plan.task_bytes`); sets the models
            per tile side and the segment length (:func:`cluster.plan.similarity_work`).
        block_size: Models per tile side; overrides the choice from ``tile_memory_bytes``.
        backend: Where RDMs, ranks and products are computed: ``numpy``, ``torch`` (on the GPUs where the
            cluster has them, else on the CPU), or ``auto`` (torch where the cluster has GPUs, else numpy);
            results agree within the tolerances of :mod:`rsa_ray.backends`.
        gpus_per_task: GPU share one RDM or similarity task asks for when the backend runs on GPUs.

    Example:
        >>> SimilarityOptions(method="pearson").distance
        'correlation'
    """

    method: str = "spearman"
    distance: str = "correlation"
    center_features: bool = True
    tile_memory_bytes: int = 2**30
    block_size: int | None = None
    backend: str = "auto"
    gpus_per_task: float = 0.25

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown backend {self.backend!r}; valid: {', '.join(BACKENDS)}")
        if not 0 < self.gpus_per_task <= 1:
            raise ValueError(f"gpus_per_task must be in (0, 1], got {self.gpus_per_task}")
        if self.method not in METHODS:
            raise ValueError(f"unknown similarity method {self.method!r}; valid: {', '.join(METHODS)}")
        if self.distance not in DISTANCES:
            raise ValueError(f"unknown distance {self.distance!r}; valid: {', '.join(DISTANCES)}")
        if self.block_size is not None and self.block_size < 1:
            raise ValueError(f"block_size must be >= 1, got {self.block_size}")
        if self.tile_memory_bytes < 1:
            raise ValueError(f"tile_memory_bytes must be positive, got {self.tile_memory_bytes}")


def resolve_backend(options: SimilarityOptions, cluster_gpus: float) -> BackendChoice:
    """The backend the tasks of a run use, decided once by the driver from the cluster's resources.

    ``auto`` is torch on the GPUs where the cluster has any, else numpy; ``torch`` without
    GPUs runs torch on the CPU (for tests and comparisons).

    Example:
        >>> resolve_backend(SimilarityOptions(), cluster_gpus=0)
        BackendChoice(name='numpy', device='cpu')
        >>> resolve_backend(SimilarityOptions(), cluster_gpus=8)
        BackendChoice(name='torch', device='cuda')
    """
    if options.backend == "numpy" or (options.backend == "auto" and cluster_gpus <= 0):
        return BackendChoice("numpy")
    return BackendChoice("torch", "cuda" if cluster_gpus > 0 else "cpu")
