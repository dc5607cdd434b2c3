"""The write-then-mark-complete protocol shared by every array entry.

An entry is one Zarr array chunked along its first axis ("rows"). The driver
creates it once; writers fill whole row chunks, each chunk by exactly one writer
(zarr-python loses data when two writers touch one chunk or shard: issue 3682, so
there is no sharding and writes must be chunk-aligned). After each chunk a small
chunk marker records its CRC-32C. :func:`finalize` checks that every chunk has a
marker and only then writes ``_complete.json``, last. A reader
(:mod:`storage.reading`) trusts an entry only when that marker exists, and
verifies every chunk it reads against it. An entry written whole by one writer
(:func:`write_whole`: RDMs and rank vectors) skips the chunk markers: its data,
then its completion marker.

Checksums: :mod:`storage.checksums`; the entry's documents (array metadata,
markers): :mod:`storage.entry_documents`.

Rewriting a chunk first deletes its marker, and recreating an entry first deletes
the entry marker and then the chunk markers, so no marker ever vouches for data
written (or deleted) after it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from storage.backend import Backend, backend_errors
from storage.checksums import MARKER_FORMAT, chunk_crc32c, little_endian_bytes
from storage.entry_documents import (
    MARKER,
    StoredEntry,
    array_document,
    chunk_key,
    parent_groups,
    stored_entry,
)
from storage.errors import EntryConflictError, EntryShapeError, IncompleteEntryError
from storage.identity import IDENTITY_ATTRIBUTE, IDENTITY_INPUTS_ATTRIBUTE
from storage.locks import create_exclusive
from storage.names import sha256_of_json
from storage.provenance import utc_now

if TYPE_CHECKING:
    import zarr

_CHUNK_MARKERS = "_chunks"
_TARGET_CHUNK_BYTES = 4 * 2**20


@dataclass(frozen=True)
class EntryLayout:
    """What an entry holds and which row ranges still need writing.

    Attributes:
        path: The entry's path in the store (also its name in errors).
        shape: Full array shape; axis 0 is the row axis writers split on.
        dtype: The stored dtype name.
        rows_per_chunk: Rows in each chunk; writers write whole chunks.
        complete: Whether the entry is marked complete.
        pending: ``(start, stop)`` row ranges whose chunks are not yet written.
    """

    path: str
    shape: tuple[int, ...]
    dtype: str
    rows_per_chunk: int
    complete: bool
    pending: tuple[tuple[int, int], ...]


def contiguous_runs(ranges: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Merges adjacent ``(start, stop)`` row ranges, so one call can write many chunks concurrently.

    Example:
        >>> contiguous_runs([(0, 2), (2, 4), (6, 8)])
        [(0, 4), (6, 8)]
    """
    runs: list[tuple[int, int]] = []
    for start, stop in ranges:
        if runs and runs[-1][1] == start:
            runs[-1] = (runs[-1][0], stop)
        else:
            runs.append((start, stop))
    return runs


def default_rows_per_chunk(shape: Sequence[int], dtype: np.dtype | str) -> int:
    """Rows per chunk for about 4 MiB chunks (at least one row).

    Example:
        >>> default_rows_per_chunk((500, 2048), "float32")
        500
    """
    row_bytes = max(1, math.prod(shape[1:]) * np.dtype(dtype).itemsize)
    return int(max(1, min(shape[0], _TARGET_CHUNK_BYTES // row_bytes)))


def _chunk_ranges(n_rows: int, rows_per_chunk: int) -> tuple[tuple[int, int], ...]:
    return tuple((start, min(start + rows_per_chunk, n_rows)) for start in range(0, n_rows, rows_per_chunk))


def _chunk_marker(path: str, index: int) -> str:
    return f"{path}/{_CHUNK_MARKERS}/{index}.json"


def _without_times(document: Any) -> Any:
    """The document with every ``created`` time dropped: what defines an entry, not when."""
    if isinstance(document, Mapping):
        return {key: _without_times(value) for key, value in document.items() if key != "created"}
    if isinstance(document, (list, tuple)):
        return [_without_times(value) for value in document]
    return document


def _definition(path: str, shape: Sequence[int], dtype: str, rows_per_chunk: int | None) -> tuple[tuple[int, ...], int]:
    """The entry's shape as ints and its rows per chunk (the default for about 4 MiB chunks if None)."""
    shape = tuple(int(size) for size in shape)
    rows_per_chunk = int(rows_per_chunk or default_rows_per_chunk(shape, dtype))
    if rows_per_chunk < 1:
        raise ValueError(f"entry {path!r}: rows_per_chunk must be >= 1, got {rows_per_chunk}")
    return shape, rows_per_chunk


def _conflict(path: str, stored: StoredEntry, shape: tuple[int, ...], dtype: str, rows_per_chunk: int) -> EntryConflictError:
    return EntryConflictError(
        f"entry {path!r} is complete with shape {stored.shape}, dtype {stored.dtype}, "
        f"{stored.rows_per_chunk} rows per chunk and its own attributes; asked for shape {shape}, "
        f"dtype {dtype}, {rows_per_chunk} rows per chunk; pass overwrite=True to replace it"
    )


def _defining(attributes: Mapping[str, Any], legacy: bool = False) -> Any:
    """The attributes that define an entry's values: not when it was written, nor by which library versions.

    ``legacy`` also drops the identity attributes, to compare with an entry written before they existed.
    """
    document = _without_times(json.loads(json.dumps(dict(attributes))))
    provenance = document.get("provenance")
    if isinstance(provenance, dict):
        provenance.pop("library_versions", None)
    if legacy:
        document.pop(IDENTITY_ATTRIBUTE, None)
        document.pop(IDENTITY_INPUTS_ATTRIBUTE, None)
    return document


def _same_definition(stored: StoredEntry, shape, dtype, rows_per_chunk, attributes) -> bool:
    legacy = IDENTITY_ATTRIBUTE not in stored.attributes
    return (
        stored.shape == tuple(shape)
        and stored.dtype == str(np.dtype(dtype))
        and stored.rows_per_chunk == rows_per_chunk
        and _defining(stored.attributes, legacy) == _defining(attributes, legacy)
    )


def _replaces_stale(stored: StoredEntry, attributes: Mapping[str, Any]) -> bool:
    """An entry written with an identity replaces a complete one with another identity: that one was computed
    from other inputs (new weights, another dtype), so it is stale, not a conflict."""
    new = attributes.get(IDENTITY_ATTRIBUTE)
    return new is not None and stored.attributes.get(IDENTITY_ATTRIBUTE) != new


def create(
    backend: Backend,
    path: str,
    shape: Sequence[int],
    dtype: str,
    attributes: Mapping[str, Any],
    rows_per_chunk: int | None = None,
    overwrite: bool = False,
    compress: bool = True,
) -> EntryLayout:
    """Creates the entry's array once, or resumes an interrupted one with the same definition.

    A complete entry with the same definition is left alone; one with a different
    definition raises unless ``overwrite``. An incomplete one with the same
    definition keeps the chunks already written; otherwise (or with ``overwrite``)
    the entry is deleted and recreated empty.

    Raises:
        EntryConflictError: If a complete entry differs and ``overwrite`` is False.
        StoreUnavailableError: If the backend fails.
    """
    shape, rows_per_chunk = _definition(path, shape, dtype, rows_per_chunk)
    with backend_errors(backend.url, path, "creating"):
        stored = stored_entry(backend, path)
        same = _same_definition(stored, shape, dtype, rows_per_chunk, attributes)
        if stored.marker is not None and not overwrite and (same or not _replaces_stale(stored, attributes)):
            if not same:
                raise _conflict(path, stored, shape, dtype, rows_per_chunk)
            return layout(backend, path)
        if same and stored.marker is None and not overwrite:
            return layout(backend, path)  # resume: keep the chunks already written
        _delete(backend, path, stored)
        groups = parent_groups(backend, path)
        backend.put_many({**groups, f"{path}/zarr.json": array_document(shape, dtype, rows_per_chunk, attributes, compress)})
        backend.written_groups.update(groups)
    return EntryLayout(path, shape, str(np.dtype(dtype)), rows_per_chunk, False, _chunk_ranges(shape[0], rows_per_chunk))


def claim(backend: Backend, path: str, shape: Sequence[int], dtype: str, attributes: Mapping[str, Any],
          rows_per_chunk: int | None = None) -> bool:
    """Creates a new entry's array only if nothing is there yet, atomically; False if it exists.

    Of several writers claiming one path at once exactly one gets True; the entry is then
    filled like any other (:func:`write_rows`, :func:`finalize`).

    Example:
        >>> claim(backend, "similarity/p/out/v00001", (2, 2), "float64", {})  # doctest: +SKIP
        True
    """
    shape, rows_per_chunk = _definition(path, shape, dtype, rows_per_chunk)
    with backend_errors(backend.url, path, "creating"):
        groups = parent_groups(backend, path)
        backend.put_many(groups)
        backend.written_groups.update(groups)
        try:
            create_exclusive(backend, f"{path}/zarr.json", array_document(shape, dtype, rows_per_chunk, attributes))
        except FileExistsError:
            return False
    return True


def _delete(backend: Backend, path: str, stored: StoredEntry) -> None:
    """Deletes an existing entry. Unmarks before deleting anything: first the entry, then its chunks
    (a crash part-way leaves only markers whose chunks are still intact), then data and metadata."""
    if stored.exists or stored.marker is not None:
        backend.remove([f"{path}/{MARKER}"])
        backend.remove_tree(f"{path}/{_CHUNK_MARKERS}")
        backend.remove_tree(path)


def write_whole(
    backend: Backend,
    path: str,
    values: np.ndarray,
    attributes: Mapping[str, Any],
    rows_per_chunk: int | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Writes a whole uncompressed entry in one pass by one writer; returns its completion marker.

    The chunk objects (raw little-endian values, the edge chunk padded with the fill
    value as Zarr stores it) and the array metadata go in one batch, then the completion
    marker with every chunk's CRC-32C, last; no per-chunk markers. A complete entry with
    the same definition is kept unless ``overwrite``; one that differs raises.

    Raises:
        EntryConflictError: If a complete entry differs and ``overwrite`` is False.
        StoreUnavailableError: If the backend fails (nothing is marked complete).

    Example:
        >>> from storage.backend import Backend
        >>> backend = Backend.open("memory://write-whole-example", {})
        >>> write_whole(backend, "ranks/p/m/out", np.arange(3, dtype=np.float32), {})["shape"]
        [3]
    """
    values = np.asarray(values)
    dtype = str(values.dtype)
    shape, rows_per_chunk = _definition(path, values.shape, dtype, rows_per_chunk)
    with backend_errors(backend.url, path, "writing"):
        stored = stored_entry(backend, path)
        # A complete entry holding the same values is kept however it was chunked or encoded.
        same = _same_definition(stored, shape, dtype, stored.rows_per_chunk, attributes)
        if stored.marker is not None and not overwrite and (same or not _replaces_stale(stored, attributes)):
            if not same:
                raise _conflict(path, stored, shape, dtype, rows_per_chunk)
            return stored.marker
        _delete(backend, path, stored)
        fill = np.nan if values.dtype.kind == "f" else 0
        groups = parent_groups(backend, path)
        objects = {**groups, f"{path}/zarr.json": array_document(shape, dtype, rows_per_chunk, attributes, compress=False)}
        checksums = []
        for index, (start, stop) in enumerate(_chunk_ranges(shape[0], rows_per_chunk)):
            rows = values[start:stop]
            checksums.append(chunk_crc32c(rows))
            if stop - start < rows_per_chunk:  # Zarr stores edge chunks whole
                rows = np.concatenate([rows, np.full((rows_per_chunk - (stop - start), *shape[1:]), fill, values.dtype)])
            objects[chunk_key(path, index, len(shape))] = little_endian_bytes(rows).tobytes()
        backend.put_many(objects)
        backend.written_groups.update(groups)
        marker = _completion_marker(shape, dtype, rows_per_chunk, checksums)
        backend.put_bytes(f"{path}/{MARKER}", json.dumps(marker).encode())
    return marker


def open_array(backend: Backend, path: str, mode: str = "r") -> zarr.Array:
    """The entry's Zarr array (raises :class:`IncompleteEntryError` if it was never created)."""
    import zarr  # here, not at the top: reading documents (``models list``) never imports Zarr

    try:
        array = zarr.open_array(store=backend.zarr_store, path=path, mode=mode, zarr_format=3)
    except FileNotFoundError:
        raise IncompleteEntryError(f"entry {path!r} does not exist in store {backend.url}; create it first") from None
    # a chunk equal to the fill value (all-zero uint8 images) must still be written:
    # readers verify every chunk against its marker and take an absent one for a missing one
    return array if mode == "r" else array.with_config({"write_empty_chunks": True})


def _require(backend: Backend, path: str) -> StoredEntry:
    stored = stored_entry(backend, path)
    if not stored.exists:
        raise IncompleteEntryError(f"entry {path!r} does not exist in store {backend.url}; create it first")
    return stored


def _chunk_checksums(backend: Backend, path: str, n_chunks: int) -> list[str | None]:
    """Each chunk's recorded CRC-32C, or None where the chunk is not (known to be) written.

    A chunk marker from an earlier format (sha256) counts as not written: the chunk is rewritten.
    """
    payloads = backend.get_many(_chunk_marker(path, index) for index in range(n_chunks))
    checksums: list[str | None] = []
    for index in range(n_chunks):
        try:
            checksum = json.loads(payloads[_chunk_marker(path, index)] or b"null")["crc32c"]
        except (ValueError, TypeError, KeyError):
            checksum = None
        checksums.append(checksum if isinstance(checksum, str) else None)
    return checksums


def layout(backend: Backend, path: str) -> EntryLayout:
    """The entry's layout and the row ranges still to write.

    Raises:
        IncompleteEntryError: If the entry was never created.
    """
    with backend_errors(backend.url, path, "inspecting"):
        stored = _require(backend, path)
        ranges = _chunk_ranges(stored.shape[0], stored.rows_per_chunk)
        complete = stored.marker is not None
        done = [] if complete else _chunk_checksums(backend, path, len(ranges))
    pending = () if complete else tuple(rows for rows, marker in zip(ranges, done) if marker is None)
    return EntryLayout(path, stored.shape, stored.dtype, stored.rows_per_chunk, complete, pending)


def _check_rows(array: zarr.Array, path: str, start: int, rows: np.ndarray) -> int:
    expected = (array.shape[0], *array.shape[1:])
    if not isinstance(rows, np.ndarray) or rows.shape[1:] != tuple(array.shape[1:]) or rows.ndim != array.ndim:
        got = getattr(rows, "shape", type(rows).__name__)
        raise EntryShapeError(
            f"entry {path!r}: rows must have shape (n, {', '.join(map(str, expected[1:]))}) "
            f"of the entry's shape {expected}, got {got}"
        )
    if rows.dtype != array.dtype:
        raise EntryShapeError(f"entry {path!r}: rows must have dtype {array.dtype} (shape {expected}), got {rows.dtype}")
    stop = start + rows.shape[0]
    step = array.chunks[0]
    if start < 0 or stop > array.shape[0] or rows.shape[0] == 0:
        raise EntryShapeError(f"entry {path!r}: rows {start}:{stop} are outside 0:{array.shape[0]} (shape {expected})")
    if start % step or (stop % step and stop != array.shape[0]):
        raise EntryShapeError(
            f"entry {path!r}: rows {start}:{stop} do not cover whole chunks of {step} rows; "
            "each chunk must be written by exactly one writer"
        )
    return stop


def write_rows(backend: Backend, path: str, start: int, rows: np.ndarray) -> None:
    """Writes whole row chunks ``start:start+len(rows)`` and their chunk markers.

    Raises:
        EntryShapeError: Wrong shape or dtype, or rows not aligned to whole chunks.
        StoreUnavailableError: If the backend fails (the chunks stay unmarked).
    """
    with backend_errors(backend.url, path, f"writing rows {start}:{start + len(rows)} of"):
        array = open_array(backend, path, mode="r+")
        stop = _check_rows(array, path, start, rows)
        step = array.chunks[0]
        first = start // step
        indices = range(first, first + math.ceil((stop - start) / step))
        backend.remove(_chunk_marker(path, index) for index in indices)
        array[start:stop] = rows
        backend.put_many({
            _chunk_marker(path, index): json.dumps({
                "rows": [index * step, min((index + 1) * step, array.shape[0])],
                "crc32c": chunk_crc32c(rows[index * step - start:(index + 1) * step - start]),
            }).encode()
            for index in indices
        })


def finalize(backend: Backend, path: str) -> dict[str, Any]:
    """Marks the entry complete once every chunk has its marker; returns the marker.

    Raises:
        IncompleteEntryError: If some chunks are unwritten, naming their rows.
    """
    with backend_errors(backend.url, path, "finalizing"):
        stored = _require(backend, path)
        if stored.marker is not None:
            return stored.marker
        ranges = _chunk_ranges(stored.shape[0], stored.rows_per_chunk)
        checksums = _chunk_checksums(backend, path, len(ranges))
        missing = [rows for rows, checksum in zip(ranges, checksums) if checksum is None]
        if missing:
            shown = ", ".join(f"{a}:{b}" for a, b in missing[:8]) + (" ..." if len(missing) > 8 else "")
            raise IncompleteEntryError(f"entry {path!r} cannot be marked complete: rows {shown} are not written")
        _verify_chunks(backend, path, ranges, checksums)
        marker = _completion_marker(stored.shape, stored.dtype, stored.rows_per_chunk, checksums)
        backend.put_bytes(f"{path}/{MARKER}", json.dumps(marker).encode())
    return marker


def _verify_chunks(backend: Backend, path: str, ranges: Sequence[tuple[int, int]], checksums: Sequence[str]) -> None:
    """Reads every chunk back and checks it against its chunk marker before the entry is marked complete.

    A chunk whose bytes no longer match (another writer rewrote it after its marker was written) loses
    its marker, so the next run rewrites that chunk, and the entry is not marked complete.

    Raises:
        IncompleteEntryError: Naming the rows that changed.
    """
    array = open_array(backend, path)
    changed = []
    for index, ((start, stop), checksum) in enumerate(zip(ranges, checksums)):
        if chunk_crc32c(np.asarray(array[start:stop])) != checksum:
            changed.append((index, start, stop))
    if changed:
        backend.remove(_chunk_marker(path, index) for index, _, _ in changed)
        shown = ", ".join(f"{start}:{stop}" for _, start, stop in changed[:8])
        raise IncompleteEntryError(f"entry {path!r} cannot be marked complete: rows {shown} changed after their "
                                   "checksum was recorded (another writer); they will be rewritten")


def _completion_marker(shape: Sequence[int], dtype: str, rows_per_chunk: int, checksums: Sequence[str]) -> dict[str, Any]:
    definition = {"shape": list(shape), "dtype": dtype, "rows_per_chunk": rows_per_chunk}
    return {
        "format": MARKER_FORMAT,
        **definition,
        "chunk_crc32c": list(checksums),
        "checksum": sha256_of_json({**definition, "chunk_crc32c": list(checksums)}),
        "completed": utc_now(),
    }


def attributes(backend: Backend, path: str) -> dict[str, Any]:
    """The entry's stored attributes (provenance and kind-specific fields).

    Raises:
        IncompleteEntryError: If the entry was never created.
    """
    with backend_errors(backend.url, path, "reading attributes of"):
        return dict(_require(backend, path).attributes)
