"""Tiled products of standardised vectors, accumulated in float64.

The all-pairs similarity of N models is one product ``A @ B.T`` of standardised
vectors. It is computed tile by tile (``block_size`` rows of each side) so that
the temporaries stay bounded and, for a symmetric product, only the upper
tiles are computed. Inputs may be stored in float32; each tile is promoted to
float64 before the product, because a float32 sum over ~10^5 terms loses ~1e-6.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Tile:
    """One output block ``[row_start:row_stop, col_start:col_stop]`` of a product."""

    row_start: int
    row_stop: int
    col_start: int
    col_stop: int


def plan_tiles(n_rows: int, n_cols: int, block_size: int, symmetric: bool = False) -> list[Tile]:
    """The tiles that cover an (n_rows, n_cols) product.

    Args:
        n_rows: Rows of the output.
        n_cols: Columns of the output.
        block_size: Rows and columns per tile (the last tile of a side may be smaller).
        symmetric: The output is symmetric (n_rows == n_cols): only tiles on or above
            the diagonal are listed.

    Returns:
        The tiles, row-major.

    Raises:
        ValueError: ``block_size`` < 1, or ``symmetric`` with a non-square output.

    Example:
        >>> [(t.row_start, t.col_start) for t in plan_tiles(5, 5, 3, symmetric=True)]
        [(0, 0), (0, 3), (3, 3)]
    """
    if block_size < 1:
        raise ValueError(f"block_size must be >= 1, got {block_size}")
    if symmetric and n_rows != n_cols:
        raise ValueError(f"a symmetric product must be square, got {n_rows} x {n_cols}")
    tiles = []
    for row_start in range(0, n_rows, block_size):
        first_col = row_start if symmetric else 0
        for col_start in range(first_col, n_cols, block_size):
            tiles.append(
                Tile(row_start, min(row_start + block_size, n_rows), col_start, min(col_start + block_size, n_cols))
            )
    return tiles


def tiled_product(
    vectors_a: np.ndarray,
    vectors_b: np.ndarray | None = None,
    block_size: int = 128,
) -> np.ndarray:
    """``vectors_a @ vectors_b.T`` computed in float64 tiles.

    Args:
        vectors_a: (N, L) rows, float32 or float64.
        vectors_b: (K, L) rows, or None for the symmetric product of ``vectors_a``
            with itself (only upper tiles are computed, then mirrored).
        block_size: Rows per tile on each side; bounds each temporary to
            ``block_size * L`` float64 values.

    Returns:
        float64 (N, K), or (N, N) when ``vectors_b`` is None.

    Example:
        >>> a = np.eye(3)
        >>> tiled_product(a, block_size=2).tolist() == np.eye(3).tolist()
        True
    """
    symmetric = vectors_b is None
    other = vectors_a if symmetric else vectors_b
    if vectors_a.ndim != 2 or other.ndim != 2 or vectors_a.shape[1] != other.shape[1]:
        raise ValueError(f"cannot multiply vectors of shapes {vectors_a.shape} and {other.shape}")
    product = np.empty((vectors_a.shape[0], other.shape[0]), dtype=np.float64)
    for tile in plan_tiles(vectors_a.shape[0], other.shape[0], block_size, symmetric):
        left = vectors_a[tile.row_start : tile.row_stop].astype(np.float64, copy=False)
        right = other[tile.col_start : tile.col_stop].astype(np.float64, copy=False)
        block = left @ right.T
        product[tile.row_start : tile.row_stop, tile.col_start : tile.col_stop] = block
        if symmetric and tile.col_start != tile.row_start:
            product[tile.col_start : tile.col_stop, tile.row_start : tile.row_stop] = block.T
    return product
