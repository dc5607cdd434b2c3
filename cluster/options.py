"""Options of the RDM and similarity stages."""

from __future__ import annotations

from dataclasses import dataclass

from cluster.plan import SimilarityWork, plan_similarity_work
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
            per tile side and the segment length.
        block_size: Models per tile side; overrides the choice from ``tile_memory_bytes``.

    Example:
        >>> SimilarityOptions(tile_memory_bytes=2**30).work(1000, 12_497_500, 2**18).block_size
        1000
    """

    method: str = "spearman"
    distance: str = "correlation"
    center_features: bool = True
    tile_memory_bytes: int = 2**30
    block_size: int | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown similarity method {self.method!r}; valid: {', '.join(METHODS)}")
        if self.distance not in DISTANCES:
            raise ValueError(f"unknown distance {self.distance!r}; valid: {', '.join(DISTANCES)}")
        if self.block_size is not None and self.block_size < 1:
            raise ValueError(f"block_size must be >= 1, got {self.block_size}")
        if self.tile_memory_bytes < 1:
            raise ValueError(f"tile_memory_bytes must be positive, got {self.tile_memory_bytes}")

    def work(self, n_models: int, n_terms: int, chunk_terms: int, workers: int = 1) -> SimilarityWork:
        """How a layer's similarity is cut into tasks (:func:`cluster.plan.plan_similarity_work`).

        Spearman tasks multiply segments of the stored rank vectors; the other methods
        read whole RDMs (float32, standardised in float64 by the task).

        Example:
            >>> SimilarityOptions().work(500, 124_750, 124_750, workers=2).block_size
            250
        """
        spearman = self.method == "spearman"
        return plan_similarity_work(n_models, n_terms, chunk_terms, self.tile_memory_bytes, workers,
                                    split_terms=spearman, block_size=self.block_size, item_bytes=4 if spearman else 12)
