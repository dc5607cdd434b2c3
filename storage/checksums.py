"""Chunk checksums, as completion markers record them.

CRC-32C (marker format 2, what is written now) runs at memory speed; sha256
(format 1) made reading rank vectors slower than multiplying them, and entries
completed with it stay readable. Both guard against corruption, not tampering:
model weights, which are untrusted, are verified by sha256 where they are fetched.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import google_crc32c
import numpy as np

MARKER_FORMAT = 2
# Marker format → the marker's field listing each chunk's checksum.
CHECKSUM_FIELDS = {1: "chunk_sha256", 2: "chunk_crc32c"}


def little_endian_bytes(rows: np.ndarray) -> np.ndarray:
    """A chunk's values as little-endian C-order bytes (a view where they already are)."""
    return np.ascontiguousarray(rows, dtype=rows.dtype.newbyteorder("<")).view(np.uint8).reshape(-1)


def chunk_sha256(rows: np.ndarray) -> str:
    """sha256 of a chunk's values as little-endian C-order bytes (marker format 1)."""
    return hashlib.sha256(little_endian_bytes(rows)).hexdigest()


def chunk_crc32c(rows: np.ndarray) -> str:
    """CRC-32C of a chunk's values as little-endian C-order bytes, 8 hex digits (what markers record).

    Example:
        >>> chunk_crc32c(np.zeros(4, dtype=np.float32))
        '42709aea'
    """
    return f"{google_crc32c.value(little_endian_bytes(rows)):08x}"


def chunk_matches(marker: Mapping[str, Any], index: int, rows: np.ndarray) -> bool:
    """Whether chunk ``index``'s values match the checksum the entry's completion marker records."""
    field_name = CHECKSUM_FIELDS[marker["format"]]
    checksum = chunk_sha256 if marker["format"] == 1 else chunk_crc32c
    return checksum(rows) == marker[field_name][index]
