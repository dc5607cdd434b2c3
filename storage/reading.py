"""Verified reads of complete entries: whole, a slice, or a list of rows.

Only the chunks that hold the asked-for rows are fetched, and each is checked
against the sha256 its completion marker recorded before any row is returned.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import zarr

from storage.backend import Backend, backend_errors, is_io_failure
from storage.entries import chunk_sha256, open_array, read_marker
from storage.errors import CorruptEntryError, IncompleteEntryError


def read(backend: Backend, path: str, rows: Sequence[int] | slice | None = None) -> np.ndarray:
    """Reads a complete entry (all rows, a slice or a list of rows), verifying every chunk read.

    Raises:
        IncompleteEntryError: If the entry is not marked complete.
        CorruptEntryError: If a chunk fails its checksum or cannot be decoded.
    """
    with backend_errors(backend.url, path, "reading"):
        marker = read_marker(backend, path)
        if marker is None:
            raise IncompleteEntryError(f"entry {path!r} is not complete in store {backend.url}; (re)compute it")
        array = open_array(backend, path)
        if [list(array.shape), str(array.dtype)] != [marker["shape"], marker["dtype"]]:
            raise CorruptEntryError(f"entry {path!r}: array metadata {array.shape}/{array.dtype} disagrees with its marker")
        wanted = _row_indices(rows, array.shape[0], path)
        step = array.chunks[0]
        chunks = np.unique(wanted // step) if wanted.size else np.zeros(0, dtype=np.int64)
        covered = np.concatenate([np.arange(c * step, min((c + 1) * step, array.shape[0])) for c in chunks] or [[]])
        covered = covered.astype(np.int64)
        try:
            block = _read_covered(array, covered)
        except Exception as error:
            if is_io_failure(error):
                raise
            raise CorruptEntryError(f"entry {path!r}: a chunk cannot be decoded ({error})") from error
    offset = 0
    for chunk in chunks:
        length = min(step, array.shape[0] - chunk * step)
        if chunk_sha256(block[offset:offset + length]) != marker["chunk_sha256"][chunk]:
            raise CorruptEntryError(
                f"entry {path!r}: rows {chunk * step}:{chunk * step + length} fail their sha256 checksum"
            )
        offset += length
    positions = np.searchsorted(covered, wanted)
    return block[positions]


def _read_covered(array: zarr.Array, covered: np.ndarray) -> np.ndarray:
    if covered.size == 0:
        return np.empty((0, *array.shape[1:]), array.dtype)
    if covered[-1] - covered[0] + 1 == covered.size:  # one contiguous run: a plain slice
        return array[int(covered[0]):int(covered[-1]) + 1]
    return array.oindex[covered]


def _row_indices(rows: Sequence[int] | slice | None, n_rows: int, path: str) -> np.ndarray:
    if rows is None:
        return np.arange(n_rows, dtype=np.int64)
    if isinstance(rows, slice):
        return np.arange(n_rows, dtype=np.int64)[rows]
    indices = np.asarray(rows)
    if indices.ndim != 1 or (indices.size and not np.issubdtype(indices.dtype, np.integer)):
        raise ValueError(f"entry {path!r}: rows must be a slice or a 1-d sequence of integers, got {rows!r}")
    indices = indices.astype(np.int64)
    if indices.size and (indices.min() < -n_rows or indices.max() >= n_rows):
        raise IndexError(f"entry {path!r}: row index out of range for {n_rows} rows")
    return np.where(indices < 0, indices + n_rows, indices)
