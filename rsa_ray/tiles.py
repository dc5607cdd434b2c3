"""Tiled products of standardised vectors, accumulated in float64.

The all-pairs similarity of N models is one product ``A @ B.T`` of standardised
vectors. It is computed tile by tile (``block_size`` rows of each side) so that
the temporaries stay bounded and, for a symmetric product, only the upper
tiles are computed. Float64 inputs give a float64 product. Float32 inputs (the
stored rank vectors) are multiplied in float32 over chunks of
:data:`ACCUMULATION_CHUNK` terms whose partial products are summed in float64:
a float32 sum over ~10^5 terms loses ~1e-6, this loses ~2e-8 at float32 speed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


ACCUMULATION_CHUNK = 2048


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

    Float64 inputs are multiplied in float64. If either side is float32, both are
    multiplied in float32 over chunks of :data:`ACCUMULATION_CHUNK` terms and the
    chunks summed in float64 (error ~1e-8 on unit vectors, at float32 speed).

    Args:
        vectors_a: (N, L) rows, float32 or float64.
        vectors_b: (K, L) rows, or None for the symmetric product of ``vectors_a``
            with itself (only upper tiles are computed, then mirrored).
        block_size: Rows per tile on each side; bounds the output temporaries to
            ``block_size²`` values.

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
        block = _tile_product(
            vectors_a[tile.row_start : tile.row_stop], other[tile.col_start : tile.col_stop]
        )
        product[tile.row_start : tile.row_stop, tile.col_start : tile.col_stop] = block
        if symmetric and tile.col_start != tile.row_start:
            product[tile.col_start : tile.col_stop, tile.row_start : tile.row_stop] = block.T
    return product


def _tile_product(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    if left.dtype == np.float32 or right.dtype == np.float32:
        left = left.astype(np.float32, copy=False)
        right = right.astype(np.float32, copy=False)
        block = np.zeros((left.shape[0], right.shape[0]), dtype=np.float64)
        for start in range(0, left.shape[1], ACCUMULATION_CHUNK):
            stop = start + ACCUMULATION_CHUNK
            block += left[:, start:stop] @ right[:, start:stop].T
        return block
    return left.astype(np.float64, copy=False) @ right.astype(np.float64, copy=False).T
