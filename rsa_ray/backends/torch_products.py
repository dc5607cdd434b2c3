"""The similarity product of standardised vectors with torch, accumulated in float64.

The same rules as :func:`rsa_ray.tiled_product`: float64 inputs are multiplied in
float64; if either side is float32 (the stored rank vectors), both are multiplied
in float32 over chunks of :data:`rsa_ray.tiles.ACCUMULATION_CHUNK` terms and the
chunks summed in float64, tile by tile, so the temporaries stay bounded. The
new-row product (:func:`torch_similarity_to`) serves incremental updates: K new
models against N existing ones cost K·N dot products.

Agreement with numpy: float64 within 1e-12; float32 inputs within 5e-6 (float32
products of unit vectors, float64 across chunks). On a GPU the float32 bound holds
only with TF32 off for matmul (``torch.backends.cuda.matmul.allow_tf32 = False``,
the torch default).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from rsa_ray.errors import DegenerateInputError
from rsa_ray.tiles import ACCUMULATION_CHUNK, plan_tiles

from rsa_ray.backends.torch_ranks import torch_standardize, torch_standardized_ranks

_STANDARDISERS = {"spearman": torch_standardized_ranks, "pearson": torch_standardize}
TORCH_METHODS: tuple[str, ...] = tuple(_STANDARDISERS)


def _tile_product(left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    if left.dtype == torch.float32 or right.dtype == torch.float32:
        left, right = left.to(torch.float32), right.to(torch.float32)
        block = torch.zeros((left.shape[0], right.shape[0]), dtype=torch.float64, device=left.device)
        for start in range(0, left.shape[1], ACCUMULATION_CHUNK):
            stop = start + ACCUMULATION_CHUNK
            block += (left[:, start:stop] @ right[:, start:stop].T).to(torch.float64)
        return block
    return left.to(torch.float64) @ right.to(torch.float64).T


def torch_tiled_product(
    vectors_a: torch.Tensor,
    vectors_b: torch.Tensor | None = None,
    block_size: int = 1024,
) -> torch.Tensor:
    """``vectors_a @ vectors_b.T`` in float64 tiles, as :func:`rsa_ray.tiled_product`.

    Args:
        vectors_a: (N, L) rows, float32 or float64, on any device.
        vectors_b: (K, L) rows on the same device, or None for the symmetric product of
            ``vectors_a`` with itself (upper tiles computed, then mirrored).
        block_size: Rows per tile on each side (larger than numpy's default: a GPU wants
            big products; temporaries are ``block_size²`` float64 values).

    Returns:
        float64 (N, K), or (N, N), on the inputs' device.

    Raises:
        ValueError: Shapes that cannot be multiplied, or ``block_size`` < 1.

    Example:
        >>> torch_tiled_product(torch.eye(3, dtype=torch.float64), block_size=2).tolist() == torch.eye(3).tolist()
        True
    """
    symmetric = vectors_b is None
    other = vectors_a if symmetric else vectors_b
    if vectors_a.ndim != 2 or other.ndim != 2 or vectors_a.shape[1] != other.shape[1]:
        raise ValueError(f"cannot multiply vectors of shapes {tuple(vectors_a.shape)} and {tuple(other.shape)}")
    product = torch.empty((vectors_a.shape[0], other.shape[0]), dtype=torch.float64, device=vectors_a.device)
    for tile in plan_tiles(vectors_a.shape[0], other.shape[0], block_size, symmetric):
        block = _tile_product(vectors_a[tile.row_start : tile.row_stop], other[tile.col_start : tile.col_stop])
        product[tile.row_start : tile.row_stop, tile.col_start : tile.col_stop] = block
        if symmetric and tile.col_start != tile.row_start:
            product[tile.col_start : tile.col_stop, tile.row_start : tile.row_stop] = block.T
    return product


def torch_similarity_of_vectors(
    vectors_a: torch.Tensor, vectors_b: torch.Tensor | None = None, block_size: int = 1024
) -> torch.Tensor:
    """Similarity from standardised vectors (e.g. stored rank vectors), as :func:`rsa_ray.similarity_of_vectors`.

    Args:
        vectors_a: (N, L) standardised rows, float32 or float64.
        vectors_b: (K, L) rows (new models against ``vectors_a``: the incremental case),
            or None for the symmetric all-pairs matrix (ones on the diagonal).
        block_size: Rows per tile.

    Returns:
        float64 (N, K) or (N, N), clipped to [-1, 1].

    Raises:
        DegenerateInputError: A row holds NaN or Inf (names ``vectors_a[i]`` or ``vectors_b[i]``).

    Example:
        >>> v = torch_standardized_ranks(torch.tensor([[1.0, 3.0, 2.0], [1.0, 2.0, 3.0]]))
        >>> round(float(torch_similarity_of_vectors(v)[0, 1]), 6)
        0.5
    """
    product = torch_tiled_product(vectors_a, vectors_b, block_size)
    if not bool(torch.isfinite(product).all()):
        for label, vectors in (("vectors_a", vectors_a), ("vectors_b", vectors_b)):
            if vectors is not None:
                bad_rows = torch.nonzero(~torch.isfinite(vectors).all(dim=-1)).flatten()
                if bad_rows.numel():
                    raise DegenerateInputError(f"{label}[{int(bad_rows[0])}]", "standardised vectors hold NaN or Inf")
        raise ValueError("the product of the standardised vectors overflowed: they are not unit vectors")
    product = product.clamp(-1.0, 1.0)
    if vectors_b is None:
        product.fill_diagonal_(1.0)
    return product


def torch_similarity_to(
    new_rdms: torch.Tensor,
    rdms: torch.Tensor,
    method: str = "spearman",
    block_size: int = 1024,
    new_names: Sequence[str] | None = None,
    names: Sequence[str] | None = None,
) -> torch.Tensor:
    """Rows of new models against existing ones, from RDMs, as :func:`rsa_ray.similarity_to`.

    Args:
        new_rdms: (K, L) condensed RDMs of the new models, or one (L,) vector.
        rdms: (N, L) condensed RDMs to compare with, on the same device.
        method: ``"spearman"`` or ``"pearson"`` (Kendall's tau has no product form and
            stays on numpy).
        block_size: Rows per tile.
        new_names: Names of the new models, for error messages.
        names: Names of the existing models, for error messages.

    Returns:
        float64 (K, N) clipped to [-1, 1]; within 1e-12 of numpy.

    Raises:
        ValueError: Unknown method, mismatched lengths.
        DegenerateInputError: An RDM is constant or holds NaN/Inf (names the model).

    Example:
        >>> rdms = torch.rand(4, 45, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        >>> torch_similarity_to(rdms[3], rdms).shape
        torch.Size([1, 4])
    """
    try:
        standardise = _STANDARDISERS[method]
    except KeyError:
        raise ValueError(f"unknown similarity method {method!r} for the torch backend; valid: {', '.join(TORCH_METHODS)}") from None
    vectors_new = standardise(new_rdms, names=new_names)
    vectors_old = standardise(rdms, names=names)
    if vectors_new.shape[1] != vectors_old.shape[1]:
        raise ValueError(f"new RDMs have length {vectors_new.shape[1]}, existing ones have length {vectors_old.shape[1]}")
    return torch_tiled_product(vectors_new, vectors_old, block_size).clamp(-1.0, 1.0)
