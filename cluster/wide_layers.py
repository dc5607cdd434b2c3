"""Layers too wide to store whole: their RDM is computed on the encoder actor as batches pass.

A layer is *wide* when its activations over the probe set (M × D float32) would exceed
``ExtractionOptions.wide_layer_mb``. Its batches are not written to the store: each batch's
rows go to a local temporary file, laid out by column blocks, and after the last batch the
M × M Gram matrix is summed block by block in float64
(:func:`rsa_ray.blockwise_rdm.compute_rdm_from_blocks`). The actor then stores the RDM and its
standardised rank vector under the identities the RDM stage would give them, and the layer's
globally average-pooled features (what label-based scores read) as activations under the layer's
pooled key (:meth:`storage.EntryKey.pooled_features`). The file is unlinked when it is created, so
it is gone when the actor ends, however it ends.

Memory one actor holds per wide layer: one batch of rows (batch × D × 4 bytes, the module's output
itself: neither reduced nor rounded to the stored dtype as a whole copy), the Gram (M × M × 8) and one
block (``GRAM_BLOCK_BYTES``), never M × D; beside the forward pass's own working memory
(``bench/wide_layer_memory.py``).
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

from rsa_ray.blockwise_rdm import compute_rdm_from_blocks

POOLED_REDUCTION = "avg"  # rsa_ray.models.reductions.POOLED_REDUCTION (not imported here: it pulls in torch)
# Where the temporary files go (default: the system's temporary folder); it should be local disk.
WIDE_LAYER_DIR_VARIABLE = "RSA_RAY_WIDE_LAYER_DIR"
# One column block as read (float32) plus its float64 copy: 64 MiB.
GRAM_BLOCK_BYTES = 64 * 2**20
def pooled_features_key(role: str) -> str:
    """The key of a role's pooled features among one batch's features (NUL never occurs in a role)."""
    return f"{role}\x00pooled"


def is_wide(n_images: int, width: int, wide_layer_mb: float | None) -> bool:
    """Whether a layer of ``width`` values per image is too wide to store whole (None: never).

    Example:
        >>> is_wide(500, 802_816, 512), is_wide(500, 2048, 512), is_wide(500, 802_816, None)
        (True, False, False)
    """
    return wide_layer_mb is not None and n_images * width * 4 > wide_layer_mb * 2**20


def block_columns(n_images: int, width: int, block_bytes: int = GRAM_BLOCK_BYTES) -> int:
    """Features per column block, so that one block read (float32) and copied (float64) fits ``block_bytes``.

    Example:
        >>> block_columns(500, 802_816)
        11184
    """
    return max(1, min(width, block_bytes // (n_images * 12)))


class ColumnBlockFile:
    """An [M, D] float32 matrix on local disk, written by rows and read by column blocks.

    Block b (features ``edges[b]:edges[b + 1]``) is one contiguous [M, width_b] region, so
    writing a batch is one write per block and reading a block is one read; nothing is
    memory-mapped, so the process's resident memory never holds the file.

    Example:
        >>> matrix = np.arange(12, dtype=np.float32).reshape(3, 4)
        >>> with ColumnBlockFile(3, 4, columns=3) as blocks:
        ...     blocks.write_rows(0, matrix[:2]); blocks.write_rows(2, matrix[2:])
        ...     blocks.read_block(1).ravel().tolist()
        [3.0, 7.0, 11.0]
    """

    def __init__(self, n_images: int, width: int, columns: int, directory: str | None = None):
        self.n_images, self.width = n_images, width
        self.edges = [*range(0, width, columns), width]
        self._file = tempfile.TemporaryFile(dir=directory)  # unlinked at once: removed however the process ends
        self._file.truncate(n_images * width * 4)

    @property
    def n_blocks(self) -> int:
        """How many column blocks the matrix is cut into."""
        return len(self.edges) - 1

    def _offset(self, block: int, row: int) -> int:
        start, stop = self.edges[block], self.edges[block + 1]
        return (self.n_images * start + row * (stop - start)) * 4

    def write_rows(self, start: int, rows: np.ndarray, through_dtype: str = "float32") -> None:
        """Writes ``rows`` ([batch, D]) as rows ``start..start + batch`` of the matrix.

        Each block's part is rounded through ``through_dtype`` (the stored dtype) on its own, so the
        batch is never copied whole: what is held beside ``rows`` is one block's part of it.
        """
        if rows.shape[1] != self.width or start + rows.shape[0] > self.n_images:
            raise ValueError(f"rows of shape {rows.shape} at row {start} do not fit an [{self.n_images}, {self.width}] matrix")
        rounded = np.dtype(through_dtype) != np.float32
        for block in range(self.n_blocks):
            part = rows[:, self.edges[block]:self.edges[block + 1]]
            part = part.astype(through_dtype).astype(np.float32) if rounded else np.ascontiguousarray(part, np.float32)
            os.pwrite(self._file.fileno(), part.data, self._offset(block, start))

    def read_block(self, block: int) -> np.ndarray:
        """Every image's values of the features of column block ``block``, float32 [M, width_b]."""
        columns = self.edges[block + 1] - self.edges[block]
        data = os.pread(self._file.fileno(), self.n_images * columns * 4, self._offset(block, 0))
        return np.frombuffer(data, dtype=np.float32).reshape(self.n_images, columns)

    def close(self) -> None:
        """Closes (and so deletes) the file."""
        self._file.close()

    def __enter__(self) -> "ColumnBlockFile":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_column_blocks(n_images: int, width: int) -> ColumnBlockFile:
    """An empty [n_images, width] matrix on local disk (in ``$RSA_RAY_WIDE_LAYER_DIR`` when set), cut into blocks.

    Example:
        >>> with open_column_blocks(500, 802_816) as blocks:
        ...     blocks.n_blocks
        72
    """
    return ColumnBlockFile(n_images, width, block_columns(n_images, width), os.environ.get(WIDE_LAYER_DIR_VARIABLE) or None)


def wide_layer_rdm(blocks: ColumnBlockFile, distance: str, center_features: bool, name: str) -> np.ndarray:
    """The condensed RDM (float64) of the matrix in ``blocks``, as :func:`rsa_ray.rdm.compute_rdm` gives it.

    Example:
        >>> with ColumnBlockFile(3, 4, columns=2) as blocks:  # doctest: +SKIP
        ...     wide_layer_rdm(blocks, "correlation", True, "m1")
    """
    return compute_rdm_from_blocks(blocks.read_block, blocks.n_blocks, distance, center_features, name=name)
