"""What an entry's small objects say, and the documents a writer puts there.

Each entry has a ``zarr.json`` (made by Zarr once per definition and process, the
entry's attributes filled in) and, once complete, a completion marker. Both are
read for many entries in one batched request (:func:`stored_many`, :func:`markers`).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from storage.backend import Backend, backend_errors
from storage.checksums import CHECKSUM_FIELDS

MARKER = "_complete.json"


def read_marker(backend: Backend, path: str) -> dict[str, Any] | None:
    """The entry's completion marker, or None if it is absent or unreadable (so not complete)."""
    with backend_errors(backend.url, path, "reading the completion marker of"):
        payload = backend.get_many([f"{path}/{MARKER}"])[f"{path}/{MARKER}"]
    return parse_marker(payload)


def parse_marker(payload: bytes | None) -> dict[str, Any] | None:
    if payload is None:
        return None
    try:
        marker = json.loads(payload)
    except ValueError:
        return None
    return marker if isinstance(marker, dict) and marker.get("format") in CHECKSUM_FIELDS else None


def markers(backend: Backend, paths: Sequence[str]) -> dict[str, dict[str, Any] | None]:
    """The completion markers of ``paths`` (None where not complete), in one batched read."""
    with backend_errors(backend.url, paths[0] if paths else "", "checking completion of"):
        payloads = backend.get_many(f"{path}/{MARKER}" for path in paths)
    return {path: parse_marker(payloads[f"{path}/{MARKER}"]) for path in paths}


def complete_paths(backend: Backend, paths: Sequence[str]) -> set[str]:
    """Which of ``paths`` are marked complete, in one batched read."""
    return {path for path, marker in markers(backend, paths).items() if marker is not None}


@dataclass(frozen=True)
class StoredEntry:
    """What an entry's ``zarr.json`` and completion marker say (one batched read of both)."""

    shape: tuple[int, ...] | None
    dtype: str | None
    rows_per_chunk: int | None
    attributes: dict[str, Any]
    marker: dict[str, Any] | None
    codec: str | None = None

    @property
    def exists(self) -> bool:
        return self.shape is not None

    @property
    def raw(self) -> bool:
        """Whether each chunk object is the chunk's raw little-endian values."""
        return self.codec == "raw"


def chunk_codec(metadata: Mapping[str, Any]) -> str | None:
    """How a chunk object encodes its values, where :mod:`storage.reading` can decode it without Zarr.

    ``"raw"``: the chunk's little-endian values; ``"zstd"``: those, zstd-compressed; None: any
    other Zarr encoding (read through Zarr).
    """
    encoding = metadata.get("chunk_key_encoding", {})
    if encoding.get("name") != "default" or encoding.get("configuration", {}).get("separator", "/") != "/":
        return None
    if metadata.get("storage_transformers"):
        return None
    codecs = list(metadata.get("codecs", []))
    if not codecs or codecs[0].get("name") != "bytes":
        return None
    endian = codecs[0].get("configuration", {}).get("endian")
    if endian not in ("little", None) or (endian is None and np.dtype(metadata["data_type"]).itemsize > 1):
        return None
    if len(codecs) == 1:
        return "raw"
    if len(codecs) == 2 and codecs[1].get("name") == "zstd":
        return "zstd"
    return None


def stored_entry(backend: Backend, path: str) -> StoredEntry:
    """What one entry's ``zarr.json`` and completion marker say."""
    return stored_many(backend, [path])[path]


def stored_many(backend: Backend, paths: Sequence[str]) -> dict[str, StoredEntry]:
    """What each entry's ``zarr.json`` and completion marker say, in one batched read of both."""
    payloads = backend.get_many([name for path in paths for name in (f"{path}/zarr.json", f"{path}/{MARKER}")])
    return {path: _parse_stored(payloads[f"{path}/zarr.json"], payloads[f"{path}/{MARKER}"]) for path in paths}


def _parse_stored(document: bytes | None, marker_payload: bytes | None) -> StoredEntry:
    marker = parse_marker(marker_payload)
    try:
        metadata = json.loads(document or b"null")
    except ValueError:
        metadata = None
    if not isinstance(metadata, dict) or metadata.get("node_type") != "array":
        return StoredEntry(None, None, None, {}, marker)
    return StoredEntry(
        shape=tuple(metadata["shape"]),
        dtype=str(np.dtype(metadata["data_type"])),
        rows_per_chunk=metadata["chunk_grid"]["configuration"]["chunk_shape"][0],
        attributes=metadata.get("attributes", {}),
        marker=marker,
        codec=chunk_codec(metadata),
    )


def array_document(shape: tuple[int, ...], dtype: str, rows_per_chunk: int, attributes: Mapping[str, Any],
                    compress: bool = True) -> bytes:
    """The ``zarr.json`` of the entry's array (then written as one object).

    Uncompressed entries (``compress=False``) use the plain little-endian ``bytes`` codec, so a
    chunk object is the chunk's raw values: :mod:`storage.reading` reads them without Zarr.
    """
    document = json.loads(_bare_array_document(tuple(shape), str(np.dtype(dtype)), rows_per_chunk, compress))
    document["attributes"] = json.loads(json.dumps(dict(attributes)))
    return json.dumps(document, indent=2).encode()


@functools.lru_cache(maxsize=64)
def _bare_array_document(shape: tuple[int, ...], dtype: str, rows_per_chunk: int, compress: bool) -> bytes:
    """The array document without attributes, made by Zarr in memory (once per definition and process)."""
    import zarr  # here, not at the top: reading documents (``models list``) never imports Zarr

    documents: dict[str, Any] = {}
    zarr.create_array(
        store=zarr.storage.MemoryStore(documents),
        name="entry",
        shape=shape,
        dtype=dtype,
        chunks=(rows_per_chunk, *shape[1:]),
        fill_value=np.nan if np.dtype(dtype).kind == "f" else 0,
        config={"write_empty_chunks": True},
        **({} if compress else {"compressors": None}),
    )
    return documents["entry/zarr.json"].to_bytes()


def chunk_key(path: str, index: int, ndim: int) -> str:
    """The object holding row chunk ``index`` of an entry (Zarr v3's default chunk key encoding).

    Example:
        >>> chunk_key("ranks/p/m/out", 3, 1), chunk_key("activations/p/m/out", 0, 2)
        ('ranks/p/m/out/c/3', 'activations/p/m/out/c/0/0')
    """
    return "/".join([path, "c", str(index), *["0"] * (ndim - 1)])


def group_document(attributes: Mapping[str, Any]) -> bytes:
    """The ``zarr.json`` of a Zarr v3 group holding ``attributes``.

    Example:
        >>> json.loads(group_document({}))["node_type"]
        'group'
    """
    return json.dumps({"zarr_format": 3, "node_type": "group", "attributes": dict(attributes)}).encode()


def parent_groups(backend: Backend, path: str) -> dict[str, bytes]:
    """Group documents for the entry's parents below the top level (e.g. ``activations/p``,
    ``activations/p/m``) that this process has not written yet: identical bytes from every
    writer, so rewriting them is harmless, and once is enough."""
    parts = path.split("/")[:-1]
    names = ("/".join(parts[:depth]) + "/zarr.json" for depth in range(2, len(parts) + 1))
    return {name: group_document({}) for name in names if name not in backend.written_groups}
