"""Options of the RDM and similarity stages."""

from __future__ import annotations

from dataclasses import dataclass

from rsa_ray.rdm import DISTANCES
from rsa_ray.similarity import METHODS


@dataclass(frozen=True)
class SimilarityOptions:
    """How RDMs and the similarity matrix are computed.

    Attributes:
        method: Similarity between RDMs: ``spearman`` (the paper's), ``pearson`` or ``kendall_tau_a``.
        distance: RDM distance: ``correlation``, ``cosine`` or ``euclidean``.
        center_features: Centre each feature over the probe images first (correlation only).
        tile_memory_bytes: Memory one similarity tile task may use for its two blocks
            of float32 vectors; sets the models per tile side.
        block_size: Models per tile side; overrides ``tile_memory_bytes`` when set.

    Example:
        >>> SimilarityOptions(tile_memory_bytes=8 * 1000 * 10).models_per_tile(1000)
        10
    """

    method: str = "spearman"
    distance: str = "correlation"
    center_features: bool = True
    tile_memory_bytes: int = 512 * 2**20
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

    def models_per_tile(self, rdm_length: int, n_models: int | None = None, workers: int = 1) -> int:
        """Models per tile side: two blocks of float32 vectors of ``rdm_length`` fit the budget, and
        (given ``n_models``) there are enough tiles to keep ``workers`` busy, about two each.

        Example:
            >>> SimilarityOptions().models_per_tile(124_750, n_models=500, workers=2)
            167
        """
        if self.block_size is not None:
            return self.block_size
        by_memory = max(1, self.tile_memory_bytes // (2 * 4 * max(rdm_length, 1)))
        if n_models is None:
            return by_memory
        blocks = 1
        while blocks * (blocks + 1) // 2 < 2 * workers and blocks < n_models:
            blocks += 1
        return max(1, min(by_memory, -(-n_models // blocks)))
