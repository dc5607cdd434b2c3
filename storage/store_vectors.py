"""RDMs and standardised rank vectors: each probe set's condensed vectors, written whole and read stacked.

A part of :class:`storage.Store` (it inherits this class); call it through the store."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from storage import entries, reading
from storage.identity import EntryIdentity
from storage.errors import EntryShapeError
from storage.names import EntryKey, EntryKind
from storage.provenance import Provenance

# Terms per stored chunk of an RDM or rank vector (1 MiB of float32): small enough that one chunk
# of every model of a large zoo fits a similarity task's memory, large enough for object storage.
VECTOR_CHUNK_TERMS = 2**16


class Vectors:
    """RDMs and standardised rank vectors of a :class:`storage.Store` (``self._backend`` is the store's backend)."""

    def _write_vector(self, kind: EntryKind, key: EntryKey, vector: np.ndarray, provenance: Provenance | None,
                      extra: Mapping[str, Any], overwrite: bool, identity: EntryIdentity | None) -> str:
        path = key.path(kind)
        expected = (self.vector_terms(key.probe_id),)
        vector = np.asarray(vector)
        if vector.shape != expected or vector.dtype.name not in ("float32", "float64"):
            raise EntryShapeError(f"{kind.value} {path!r}: expected float32/float64 of shape {expected} "
                                  f"(the condensed triangle), got {vector.dtype} {vector.shape}")
        if not np.isfinite(vector).all():
            raise ValueError(f"{kind.value} {path!r}: holds NaN or Inf at {np.flatnonzero(~np.isfinite(vector))[:5]}")
        attributes = self._attributes(kind, key, provenance, extra, identity)
        marker = entries.write_whole(self._backend, path, vector.astype(np.float32, copy=False), attributes,
                                     VECTOR_CHUNK_TERMS, overwrite)
        return marker["checksum"]

    def write_rdm(self, key: EntryKey, condensed_rdm: np.ndarray, distance: str = "correlation",
                  center_features: bool = True, provenance: Provenance | None = None, overwrite: bool = False,
                  identity: EntryIdentity | None = None) -> str:
        """Stores a condensed RDM [L] (as float32) with its distance and centring; returns its checksum.

        A complete entry is kept as it is unless ``overwrite``, or unless it was computed from
        inputs other than ``identity``'s (then it is stale and replaced).

        Example:
            >>> from storage import Store
            >>> import rsa_ray
            >>> store = Store.open("memory://rdm-example")
            >>> probe_id = store.add_probe_set(np.zeros((4, 2, 2, 3), np.uint8), list("abcd"), "zeros")
            >>> features = np.random.default_rng(0).normal(size=(4, 16))
            >>> key = EntryKey(probe_id, "m1", "out")
            >>> checksum = store.write_rdm(key, rsa_ray.compute_rdm(features), provenance=Provenance())
            >>> store.read_rdm(key).shape
            (6,)
        """
        extra = {"distance": str(distance), "center_features": bool(center_features)}
        return self._write_vector(EntryKind.RDMS, key, condensed_rdm, provenance, extra, overwrite, identity)

    def read_rdm(self, key: EntryKey) -> np.ndarray:
        """A complete condensed RDM [L] float32, checksum-verified."""
        return reading.read(self._backend, key.path(EntryKind.RDMS))

    def write_rank_vector(self, key: EntryKey, rank_vector: np.ndarray, provenance: Provenance | None = None,
                          overwrite: bool = False, identity: EntryIdentity | None = None) -> str:
        """Stores a standardised rank vector [L] (as float32); returns its checksum (see :meth:`write_rdm`)."""
        return self._write_vector(EntryKind.RANKS, key, rank_vector, provenance, {}, overwrite, identity)

    def read_rank_vectors(self, probe_id: str, layer: str, model_ids: Sequence[str],
                          terms: slice | None = None, out: np.ndarray | None = None) -> np.ndarray:
        """Stacked standardised rank vectors [N, L] of ``model_ids``, in that order; or a slice of their terms.

        Reading a slice aligned to :data:`VECTOR_CHUNK_TERMS` reads each stored chunk once.
        ``out`` (float32, the result's shape) receives the result.

        Example:
            >>> store.read_rank_vectors(probe_id, "out", ["a", "b"], slice(0, 1000)).shape  # doctest: +SKIP
            (2, 1000)
        """
        paths = [EntryKey(probe_id, model_id, layer).path(EntryKind.RANKS) for model_id in model_ids]
        return reading.read_many(self._backend, paths, terms, out)

    def vector_terms(self, probe_id: str) -> int:
        """Terms L of this probe set's condensed RDMs and rank vectors: M (M - 1) / 2 for M images.

        Example:
            >>> from storage import Store
            >>> store = Store.open("memory://vector-terms-example")
            >>> store.vector_terms(store.add_probe_set(np.zeros((5, 2, 2, 3), np.uint8), list("abcde"), "zeros"))
            10
        """
        from rsa_ray.rdm import condensed_length  # imported here: rsa_ray pulls in scipy, writers need none

        return condensed_length(self.probe_set(probe_id).n_images)

    def vector_chunk_terms(self, probe_id: str) -> int:
        """Terms per stored chunk of this probe set's RDMs and rank vectors (at most L).

        Example:
            >>> store.vector_chunk_terms(probe_id)  # doctest: +SKIP
            124750
        """
        return min(VECTOR_CHUNK_TERMS, self.vector_terms(probe_id))
