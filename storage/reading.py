"""Verified reads of complete entries: whole, a slice, or a list of rows; one entry or many.

Only the chunks that hold the asked-for rows are fetched, and each is checked
against the checksum its completion marker recorded before any row is returned.
Entries whose chunks are raw or zstd-compressed little-endian values (every
entry this package writes) are read as chunk objects in one batched request per
group of entries (concurrent on object storage) and decoded here, without Zarr's
per-array overhead; any other encoding is read through Zarr.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

from storage import damage
from storage.backend import Backend, backend_errors, is_io_failure
from storage.checksums import chunk_matches
from storage.entries import open_array
from storage.entry_documents import StoredEntry, chunk_key, stored_many
from storage.errors import CorruptEntryError, IncompleteEntryError

if TYPE_CHECKING:
    import zarr

# Raw chunk bytes fetched per batched request by :func:`read_many` (bounds its memory beyond the result).
_BATCH_BYTES = 64 * 2**20


def read(backend: Backend, path: str, rows: Sequence[int] | slice | None = None, repair: bool = True) -> np.ndarray:
    """Reads a complete entry (all rows, a slice or a list of rows), verifying every chunk read.

    A damaged entry is withdrawn (:func:`storage.damage.withdraw`) unless ``repair`` is False:
    it then counts as missing, and the next run recomputes it.

    Raises:
        IncompleteEntryError: If the entry is not marked complete.
        CorruptEntryError: If a chunk fails its checksum, is missing or cannot be decoded; one line
            naming the entry, the chunk and what recomputes it.

    Example:
        >>> from storage.entries import write_whole
        >>> backend = Backend.open("memory://read-example", {})
        >>> _ = write_whole(backend, "ranks/p/m/out", np.arange(5, dtype=np.float32), {}, rows_per_chunk=2)
        >>> read(backend, "ranks/p/m/out", slice(1, 4))
        array([1., 2., 3.], dtype=float32)
    """
    with withdrawing_damaged(backend, repair):
        with backend_errors(backend.url, path, "reading"):
            stored = _complete(backend, [path])[path]
        return _read_selection(backend, path, stored, _selection(rows, stored.shape[0], path))


@contextlib.contextmanager
def withdrawing_damaged(backend: Backend, repair: bool = True) -> Iterator[None]:
    """Withdraws the entry a :class:`CorruptEntryError` inside the block names, and says so in its message.

    Example:
        >>> with withdrawing_damaged(backend):  # doctest: +SKIP
        ...     reading.read(backend, "ranks/p1/m1/out", repair=False)
    """
    try:
        yield
    except CorruptEntryError as error:
        if not repair or error.path is None:
            raise
        raise _withdrawn(backend, error) from None


def _withdrawn(backend: Backend, error: CorruptEntryError) -> CorruptEntryError:
    """The error of a damaged entry once it is withdrawn (or why it could not be)."""
    path, message = error.path, str(error)
    try:
        withdrawn = damage.withdraw(backend, path, error.chunks, message,
                                    None if error.checksum is None else {"checksum": error.checksum})
    except Exception as failure:  # e.g. read-only credentials: the damage is still reported
        outcome = (f"it could not be marked incomplete ({type(failure).__name__}: {_one_line(failure)}); "
                   "`rsa-ray verify --repair` with write access does")
    else:
        outcome = (f"marked incomplete: {damage.describe(path)} ({damage.recomputed_by(path)})" if withdrawn
                   else f"{damage.describe(path)} was already withdrawn, or rewritten since; read it again")
    return CorruptEntryError(f"{message}; {outcome}", path, error.chunks, error.checksum)


def _read_selection(backend: Backend, path: str, stored: StoredEntry, selection: slice | np.ndarray) -> np.ndarray:
    """The selected rows of a complete entry whose documents were already read."""
    n_rows, step = stored.shape[0], stored.rows_per_chunk
    with backend_errors(backend.url, path, "reading"):
        if isinstance(selection, slice):
            chunks = _slice_chunks(stored, selection)
        else:
            chunks = np.unique(selection // step)
        block = _read_chunks(backend, path, stored, chunks)
    if isinstance(selection, slice):
        offset = int(chunks[0]) * step if chunks.size else 0
        return block[selection.start - offset:selection.stop - offset]
    covered = np.concatenate([np.arange(c * step, min((c + 1) * step, n_rows)) for c in chunks] or [[]])
    return block[np.searchsorted(covered.astype(np.int64), selection)]


def read_many(backend: Backend, paths: Sequence[str], rows: slice | None = None,
              out: np.ndarray | None = None) -> np.ndarray:
    """Stacks the same rows of several complete entries of one shape and dtype, verifying every chunk.

    Chunk objects are fetched a few tens of MB per batched request and decoded straight
    into the result (entries of an encoding this module cannot decode: through Zarr).

    Args:
        backend: The store's backend.
        paths: Entry paths; every entry must have the same shape and dtype.
        rows: A slice of the row axis (step 1), or None for all rows.
        out: Where to put the result (its shape and dtype); a reused buffer spares a
            process the cost of fresh memory on every read.

    Returns:
        ``(len(paths), n_selected_rows, ...)`` in the entries' dtype (``out`` when given).

    Raises:
        IncompleteEntryError: If an entry is not marked complete (naming it).
        CorruptEntryError: If a chunk fails its checksum, is missing or cannot be decoded.
        ValueError: If the entries differ in shape or dtype, or ``rows`` is not a step-1 slice.

    Example:
        >>> from storage.entries import write_whole
        >>> backend = Backend.open("memory://read-many-example", {})
        >>> for name in "ab":
        ...     _ = write_whole(backend, f"ranks/p/{name}/out", np.full(3, ord(name), np.float32), {})
        >>> read_many(backend, ["ranks/p/a/out", "ranks/p/b/out"], slice(0, 2))
        array([[97., 97.],
               [98., 98.]], dtype=float32)
    """
    paths = list(paths)
    if not paths:
        raise ValueError("read_many needs at least one entry path")
    with withdrawing_damaged(backend):
        return _read_many(backend, paths, rows, out)


def _read_many(backend: Backend, paths: list[str], rows: slice | None, out: np.ndarray | None) -> np.ndarray:
    with backend_errors(backend.url, paths[0], "reading"):
        stored = _complete(backend, paths)
    first = stored[paths[0]]
    for path in paths[1:]:
        if (stored[path].shape, stored[path].dtype) != (first.shape, first.dtype):
            raise ValueError(f"entries differ: {paths[0]!r} is {first.dtype} {first.shape}, "
                             f"{path!r} is {stored[path].dtype} {stored[path].shape}")
    selection = _selection(rows, first.shape[0], paths[0])
    if not isinstance(selection, slice):
        raise ValueError(f"read_many reads a step-1 slice of rows, got {rows!r}")
    shape = (len(paths), selection.stop - selection.start, *first.shape[1:])
    if out is not None and (out.shape != shape or out.dtype != np.dtype(first.dtype)):
        raise ValueError(f"out must have shape {shape} and dtype {first.dtype}, got {out.shape} {out.dtype}")
    result = np.empty(shape, dtype=first.dtype) if out is None else out
    batch: list[int] = []
    batch_bytes = 0
    for index, path in enumerate(paths):
        entry = stored[path]
        if entry.codec is None:
            result[index] = _read_selection(backend, path, entry, selection)
            continue
        batch.append(index)
        batch_bytes += _chunk_bytes(entry) * len(_slice_chunks(entry, selection))
        if batch_bytes >= _BATCH_BYTES:
            _fill_batch(backend, paths, stored, batch, selection, result)
            batch, batch_bytes = [], 0
    if batch:
        _fill_batch(backend, paths, stored, batch, selection, result)
    return result


def check(backend: Backend, path: str) -> CorruptEntryError | None:
    """Reads every chunk of a complete entry and checks it; the damage found (all its damaged chunks), or None.

    Reads a few tens of MB at a time; withdraws nothing (:func:`storage.damage.withdraw` does).

    Raises:
        IncompleteEntryError: If the entry is not marked complete.

    Example:
        >>> from storage.entries import write_whole
        >>> backend = Backend.open("memory://check-example", {})
        >>> _ = write_whole(backend, "ranks/p/m/out", np.arange(5, dtype=np.float32), {}, rows_per_chunk=2)
        >>> check(backend, "ranks/p/m/out") is None
        True
    """
    try:
        with backend_errors(backend.url, path, "checking"):
            stored = _complete(backend, [path])[path]
    except CorruptEntryError as error:
        return error
    step, n_rows = stored.rows_per_chunk, stored.shape[0]
    per_batch = step * max(1, _BATCH_BYTES // max(1, _chunk_bytes(stored)))
    found: list[CorruptEntryError] = []
    for start in range(0, n_rows, per_batch):
        try:
            _read_selection(backend, path, stored, slice(start, min(start + per_batch, n_rows)))
        except CorruptEntryError:  # find every damaged chunk of the batch, one at a time
            for chunk_start in range(start, min(start + per_batch, n_rows), step):
                try:
                    _read_selection(backend, path, stored, slice(chunk_start, min(chunk_start + step, n_rows)))
                except CorruptEntryError as error:
                    found.append(error)
    if not found:
        return None
    more = f" (and {len(found) - 1} more damaged chunks)" if len(found) > 1 else ""
    return CorruptEntryError(f"{found[0]}{more}", path, tuple(c for error in found for c in error.chunks),
                             found[0].checksum)


def _complete(backend: Backend, paths: Sequence[str]) -> dict[str, StoredEntry]:
    stored = stored_many(backend, paths)
    for path, entry in stored.items():
        if entry.marker is None:
            raise IncompleteEntryError(f"entry {path!r} is not complete in store {backend.url}; (re)compute it")
        if not entry.exists or [list(entry.shape), entry.dtype] != [entry.marker.get("shape"), entry.marker.get("dtype")]:
            found = f"{entry.shape}/{entry.dtype}" if entry.exists else "(missing or unreadable zarr.json)"
            raise CorruptEntryError(f"entry {path!r}: array metadata {found} disagrees with its completion marker",
                                    path, (), entry.marker.get("checksum"))
    return stored


def _chunk_bytes(entry: StoredEntry) -> int:
    return entry.rows_per_chunk * int(np.prod(entry.shape[1:], dtype=np.int64)) * np.dtype(entry.dtype).itemsize


def _slice_chunks(entry: StoredEntry, selection: slice) -> np.ndarray:
    """Indices of the chunks holding rows ``selection`` (a step-1 slice with concrete bounds)."""
    step = entry.rows_per_chunk
    if selection.stop <= selection.start:
        return np.zeros(0, np.int64)
    return np.arange(selection.start // step, -(-selection.stop // step))


def _fill_batch(backend: Backend, paths: Sequence[str], stored: dict[str, StoredEntry], batch: Sequence[int], selection: slice,
                result: np.ndarray) -> None:
    """Fetches the chunks of ``paths[batch]`` covering ``selection`` in one request and copies them in."""
    wanted = {index: _slice_chunks(stored[paths[index]], selection) for index in batch}
    keys = [chunk_key(paths[index], int(chunk), len(stored[paths[index]].shape)) for index in batch for chunk in wanted[index]]
    with backend_errors(backend.url, paths[batch[0]], "reading"):
        payloads = backend.get_many(keys)
    for index in batch:
        path, entry = paths[index], stored[paths[index]]
        chunks = wanted[index]
        if not chunks.size:
            continue
        block = _decode_raw(path, entry, chunks, {int(c): payloads[chunk_key(path, int(c), len(entry.shape))] for c in chunks})
        offset = int(chunks[0]) * entry.rows_per_chunk
        result[index] = block[selection.start - offset:selection.stop - offset]


def _read_chunks(backend: Backend, path: str, entry: StoredEntry, chunks: np.ndarray) -> np.ndarray:
    """The rows of ``chunks`` (ascending chunk indices) of one entry, each verified."""
    if entry.codec is not None:
        keys = {int(c): chunk_key(path, int(c), len(entry.shape)) for c in chunks}
        payloads = backend.get_many(keys.values())
        return _decode_raw(path, entry, chunks, {c: payloads[key] for c, key in keys.items()})
    array = open_array(backend, path)
    step, n_rows = entry.rows_per_chunk, entry.shape[0]
    covered = np.concatenate([np.arange(c * step, min((c + 1) * step, n_rows)) for c in chunks] or [[]]).astype(np.int64)
    try:
        block = _read_covered(array, covered)
    except Exception as error:
        if is_io_failure(error):
            raise
        raise CorruptEntryError(f"entry {path!r}: a chunk of chunks {int(chunks[0])}..{int(chunks[-1])} cannot be "
                                f"decoded ({_one_line(error)})", path, tuple(int(c) for c in chunks),
                                entry.marker.get("checksum")) from error
    offset = 0
    for chunk in chunks:
        length = min(step, n_rows - chunk * step)
        _verify(path, entry, int(chunk), block[offset:offset + length])
        offset += length
    return block


def _decode_raw(path: str, entry: StoredEntry, chunks: np.ndarray, payloads: dict[int, bytes | None]) -> np.ndarray:
    step, n_rows = entry.rows_per_chunk, entry.shape[0]
    dtype = np.dtype(entry.dtype).newbyteorder("<")
    pieces = []
    for chunk in (int(c) for c in chunks):
        payload = payloads[chunk]
        length = min(step, n_rows - chunk * step)
        if payload is None:
            raise _chunk_damage(path, entry, chunk, length, "is missing")
        if entry.codec == "zstd":
            from numcodecs import zstd  # here, not at the top: reading documents never imports Zarr's codecs

            try:
                payload = zstd.decompress(payload)
            except RuntimeError as error:
                raise _chunk_damage(path, entry, chunk, length, f"cannot be decoded ({_one_line(error)})") from error
        values = np.frombuffer(payload, dtype=dtype) if len(payload) % dtype.itemsize == 0 else np.zeros(0, dtype)
        if values.size != step * int(np.prod(entry.shape[1:], dtype=np.int64)):
            raise _chunk_damage(path, entry, chunk, length, f"holds {len(payload)} bytes, not {_chunk_bytes(entry)}")
        rows = values.reshape(step, *entry.shape[1:])[:length]
        _verify(path, entry, chunk, rows)
        pieces.append(rows)
    if not pieces:
        return np.empty((0, *entry.shape[1:]), np.dtype(entry.dtype))
    block = pieces[0] if len(pieces) == 1 else np.concatenate(pieces)
    return block.astype(np.dtype(entry.dtype), copy=False)


def _chunk_damage(path: str, entry: StoredEntry, chunk: int, length: int, what: str) -> CorruptEntryError:
    start = chunk * entry.rows_per_chunk
    return CorruptEntryError(f"entry {path!r}: the chunk of rows {start}:{start + length} {what} (chunk {chunk})",
                             path, (chunk,), entry.marker.get("checksum"))


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())[:200]


def _verify(path: str, entry: StoredEntry, chunk: int, rows: np.ndarray) -> None:
    try:
        matches = chunk_matches(entry.marker, chunk, rows)
    except (KeyError, IndexError, TypeError):  # a marker without this chunk's checksum
        matches = False
    if not matches:
        step = entry.rows_per_chunk
        algorithm = "sha256" if entry.marker["format"] == 1 else "CRC-32C"
        raise CorruptEntryError(
            f"entry {path!r}: rows {chunk * step}:{chunk * step + len(rows)} fail their {algorithm} checksum "
            f"(chunk {chunk})", path, (chunk,), entry.marker.get("checksum"))


def _read_covered(array: zarr.Array, covered: np.ndarray) -> np.ndarray:
    if covered.size == 0:
        return np.empty((0, *array.shape[1:]), array.dtype)
    if covered[-1] - covered[0] + 1 == covered.size:  # one contiguous run: a plain slice
        return array[int(covered[0]):int(covered[-1]) + 1]
    return array.oindex[covered]


def _selection(rows: Sequence[int] | slice | None, n_rows: int, path: str) -> slice | np.ndarray:
    """``rows`` as a step-1 ``slice(start, stop)`` with concrete bounds, or as an array of row indices."""
    if rows is None:
        return slice(0, n_rows)
    if isinstance(rows, slice):
        start, stop, stride = rows.indices(n_rows)
        if stride == 1:
            return slice(start, max(start, stop))
        return np.arange(start, stop, stride, dtype=np.int64)
    indices = np.asarray(rows)
    if indices.ndim != 1 or (indices.size and not np.issubdtype(indices.dtype, np.integer)):
        raise ValueError(f"entry {path!r}: rows must be a slice or a 1-d sequence of integers, got {rows!r}")
    indices = indices.astype(np.int64)
    if indices.size and (indices.min() < -n_rows or indices.max() >= n_rows):
        raise IndexError(f"entry {path!r}: row index out of range for {n_rows} rows")
    return np.where(indices < 0, indices + n_rows, indices)
