"""Entries: one array per (probe set, model, layer) and kind; activations, layouts, completeness, currency.

A part of :class:`storage.Store` (it inherits this class); call it through the store."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from storage import entries, entry_documents, reading, registry
from storage.entries import EntryLayout
from storage.errors import EntryShapeError
from storage.identity import ComputeSettings, EntryIdentity, expected_identity
from storage.names import EntryKey, EntryKind
from storage.provenance import Provenance

if TYPE_CHECKING:
    from storage.backend import Backend

ACTIVATION_DTYPES = ("float16", "float32")


class Entries:
    """Entries of a :class:`storage.Store` (``self._backend`` is the store's backend)."""

    def provenance(self, key: EntryKey) -> Provenance:
        """The provenance an entry for ``key`` gets by default: from the registry and the probe set.

        The weights sha256 (None without weights) and the preprocessing (a plain dict) are read
        from the stored entry as they are: equal to ``entry_to_dict(store.model(...))``'s, without
        loading torch in the processes that only compute RDMs.
        """
        document = registry.get_document(self._backend, key.model_id)
        weights_reference = document.get("weights")
        return Provenance(probe_hash=self.probe_set(key.probe_id).content_hash,
                          weights_sha256=weights_reference["sha256"] if weights_reference else None,
                          preprocessing=dict(document["preprocessing"]))

    def entry_attributes(self, key: EntryKey, kind: EntryKind | str = EntryKind.ACTIVATIONS) -> dict[str, Any]:
        """The attributes stored on an existing entry, complete or not (its identity, provenance...).

        Raises:
            IncompleteEntryError: If the entry was never created.
        """
        return entries.attributes(self._backend, key.path(EntryKind(kind)))

    def entry_provenance(self, key: EntryKey, kind: EntryKind | str = EntryKind.ACTIVATIONS) -> Provenance:
        """The provenance stored on an existing entry."""
        return Provenance.from_attrs(entries.attributes(self._backend, key.path(EntryKind(kind)))["provenance"])

    def expected_identities(self, probe_id: str, model_ids: Sequence[str], layers: Sequence[str] | None,
                            kind: EntryKind | str, settings: ComputeSettings) -> dict[EntryKey, EntryIdentity]:
        """The identity each (model, layer) entry of ``kind`` must carry to be up to date, in one batched read.

        Args:
            layers: Layers of every model; default each model's registered layers.

        Example:
            >>> store.expected_identities(probe_id, ["m1"], ["out"], "rdms", ComputeSettings())  # doctest: +SKIP
            {EntryKey(probe_id='...', model_id='m1', layer='out', pooled=False): EntryIdentity(digest='...', ...)}
        """
        documents = registry.get_documents(self._backend, model_ids)
        probe_hash = self.probe_set(probe_id).content_hash
        identities = {}
        for model_id in model_ids:
            for layer in (layers if layers is not None else documents[model_id]["layers"]):
                identities[EntryKey(probe_id, model_id, layer)] = expected_identity(
                    EntryKind(kind), documents[model_id], probe_hash, layer, settings)
        return identities

    def _create(self, kind: EntryKind, key: EntryKey, shape: tuple[int, ...], dtype: str,
                provenance: Provenance | None, extra: Mapping[str, Any], rows_per_chunk: int | None,
                overwrite: bool, identity: EntryIdentity | None = None) -> EntryLayout:
        attributes = self._attributes(kind, key, provenance, extra, identity)
        return entries.create(self._backend, key.path(kind), shape, dtype, attributes, rows_per_chunk, overwrite)

    def _attributes(self, kind: EntryKind, key: EntryKey, provenance: Provenance | None, extra: Mapping[str, Any],
                    identity: EntryIdentity | None) -> dict[str, Any]:
        return {"kind": kind.value, "probe_id": key.probe_id, "model_id": key.model_id, "layer": key.stored_layer,
                **extra, **(identity.attributes() if identity is not None else {}),
                "provenance": (provenance or self.provenance(key)).to_attrs()}

    def create_activations(self, key: EntryKey, n_features: int, dtype: str = "float32",
                           rows_per_chunk: int | None = None, provenance: Provenance | None = None,
                           overwrite: bool = False, identity: EntryIdentity | None = None) -> EntryLayout:
        """Creates (once; the driver does this) the [M, n_features] activations of ``key``.

        Returns the layout, whose ``pending`` row ranges are what writers still have to fill
        (each range whole chunks, one writer each). Resumes an interrupted entry. With an
        ``identity`` (:meth:`expected_identities`), a complete entry computed from other inputs
        is stale and replaced.

        Example:
            >>> from storage import Store
            >>> store = Store.open("memory://activations-example")
            >>> probe_id = store.add_probe_set(np.zeros((3, 2, 2, 3), np.uint8), ["a", "b", "c"], "zeros")
            >>> key = EntryKey(probe_id, "m1", "out")
            >>> store.create_activations(key, 8, rows_per_chunk=2, provenance=Provenance()).pending
            ((0, 2), (2, 3))
        """
        path = key.path(EntryKind.ACTIVATIONS)
        if not isinstance(n_features, (int, np.integer)) or n_features < 1:
            raise EntryShapeError(f"activations {path!r}: n_features must be an integer >= 1, got {n_features!r}")
        shape = (self.probe_set(key.probe_id).n_images, int(n_features))
        if np.dtype(dtype).name not in ACTIVATION_DTYPES:
            raise EntryShapeError(f"activations {path!r}: expected shape {shape} with a dtype in "
                                  f"{ACTIVATION_DTYPES}, got dtype {np.dtype(dtype).name}")
        return self._create(EntryKind.ACTIVATIONS, key, shape, np.dtype(dtype).name, provenance, {},
                            rows_per_chunk, overwrite, identity)

    def write_activation_rows(self, key: EntryKey, start: int, rows: np.ndarray) -> None:
        """Writes rows ``start:start+len(rows)`` (whole chunks) of a created activations entry."""
        entries.write_rows(self._backend, key.path(EntryKind.ACTIVATIONS), start, rows)

    def finalize(self, key: EntryKey, kind: EntryKind | str = EntryKind.ACTIVATIONS) -> str:
        """Marks an entry complete once all its chunks are written; returns its checksum."""
        return entries.finalize(self._backend, key.path(EntryKind(kind)))["checksum"]

    def write_activations(self, key: EntryKey, features: np.ndarray, provenance: Provenance | None = None,
                          rows_per_chunk: int | None = None, overwrite: bool = False) -> str:
        """Creates, fills and completes an activations entry in one call; returns its checksum.

        Writes only the chunks not yet written (resuming an interrupted write); a complete
        entry is kept as it is unless ``overwrite``.

        Raises:
            EntryShapeError: If ``features`` is not [M, D] float16/float32 for the probe set's M.
        """
        features = np.asarray(features)
        if features.ndim != 2:
            raise EntryShapeError(f"activations {key.path(EntryKind.ACTIVATIONS)!r}: features must have shape "
                                  f"(M, D) = ({self.probe_set(key.probe_id).n_images}, D), got {features.shape}")
        layout = self.create_activations(key, features.shape[1], features.dtype.name, rows_per_chunk, provenance,
                                         overwrite)
        if features.shape[0] != layout.shape[0]:
            raise EntryShapeError(f"activations {layout.path!r}: expected shape {layout.shape}, got {features.shape}")
        return self._fill(layout, EntryKind.ACTIVATIONS, key, features)

    def _fill(self, layout: EntryLayout, kind: EntryKind, key: EntryKey, values: np.ndarray) -> str:
        for start, stop in entries.contiguous_runs(layout.pending):
            entries.write_rows(self._backend, layout.path, start, values[start:stop])
        return self.finalize(key, kind)

    def read_activations(self, key: EntryKey, rows: Sequence[int] | slice | None = None) -> np.ndarray:
        """A complete activations entry (all rows or some), checksum-verified."""
        return reading.read(self._backend, key.path(EntryKind.ACTIVATIONS), rows)

    def layout(self, key: EntryKey, kind: EntryKind | str = EntryKind.ACTIVATIONS) -> EntryLayout:
        """An existing entry's layout: shape, chunking, completeness and pending row ranges."""
        return entries.layout(self._backend, key.path(EntryKind(kind)))

    def is_complete(self, key: EntryKey, kind: EntryKind | str = EntryKind.ACTIVATIONS) -> bool:
        """Whether the entry is marked complete (its marker is written last, after every chunk)."""
        return entry_documents.read_marker(self._backend, key.path(EntryKind(kind))) is not None

    def missing(self, probe_id: str, model_ids: Iterable[str], layers: Iterable[str] | None = None,
                kind: EntryKind | str = EntryKind.ACTIVATIONS,
                settings: ComputeSettings | None = None) -> tuple[EntryKey, ...]:
        """The (model, layer) entries of a probe set that still need computing, in one batched check.

        Args:
            layers: Layers to check for every model; default each model's registered layers.
            settings: With run settings, a complete entry computed from other inputs than the
                registered model, probe set and settings give (:mod:`storage.identity`) is stale and
                counts as missing; without, only completeness is checked.

        Example:
            >>> from storage import Store
            >>> store = Store.open("memory://missing-example")
            >>> probe_id = store.add_probe_set(np.zeros((3, 2, 2, 3), np.uint8), ["a", "b", "c"], "zeros")
            >>> store.write_activations(EntryKey(probe_id, "m1", "out"), np.ones((3, 4), np.float32),
            ...                         provenance=Provenance())  # doctest: +ELLIPSIS
            '...'
            >>> [key.model_id for key in store.missing(probe_id, ["m1", "m2"], ["out"])]
            ['m2']
        """
        model_ids = list(model_ids)
        if layers is not None:
            layers_of = dict.fromkeys(model_ids, tuple(layers))
        else:
            layers_of = {model.model_id: model.layers for model in registry.get_many(self._backend, model_ids)}
        keys = [EntryKey(probe_id, model_id, layer) for model_id in model_ids for layer in layers_of[model_id]]
        paths = [key.path(EntryKind(kind)) for key in keys]
        if settings is None:
            complete = entry_documents.complete_paths(self._backend, paths) if paths else set()
            return tuple(key for key, path in zip(keys, paths) if path not in complete)
        expected = self.expected_identities(probe_id, model_ids, layers, kind, settings)
        stored = entry_documents.stored_many(self._backend, paths) if paths else {}
        return tuple(key for key, path in zip(keys, paths)
                     if stored[path].marker is None or not expected[key].matches(stored[path].attributes))

    def completion_checksums(self, keys: Sequence[EntryKey], kind: EntryKind | str) -> dict[EntryKey, str | None]:
        """Each entry's completion checksum (None where it is not complete), in one batched read."""
        paths = [key.path(EntryKind(kind)) for key in keys]
        found = entry_documents.markers(self._backend, paths) if paths else {}
        return {key: (found[path] or {}).get("checksum") for key, path in zip(keys, paths)}

    def stored_attributes(self, keys: Sequence[EntryKey], kind: EntryKind | str) -> dict[EntryKey, dict[str, Any] | None]:
        """Each complete entry's attributes (None where it is not complete), in one batched read.

        Example:
            >>> store.stored_attributes([EntryKey(probe_id, "m1", "out")], "rdms")  # doctest: +SKIP
            {EntryKey(probe_id='...', model_id='m1', layer='out', pooled=False): {'kind': 'rdms', 'identity': '...', ...}}
        """
        paths = [key.path(EntryKind(kind)) for key in keys]
        stored = entry_documents.stored_many(self._backend, paths) if paths else {}
        return {key: dict(stored[path].attributes) if stored[path].marker is not None else None
                for key, path in zip(keys, paths)}
