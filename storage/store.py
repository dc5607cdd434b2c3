"""The :class:`Store`: a small picklable value naming one Zarr v3 group by URL, and its API.

The store holds only ``(url, storage_options)``; filesystems and Zarr handles are
rebuilt lazily in each process, so a store can be shipped to any worker. The
storage options (credentials, endpoint) never appear in its repr, in errors or in
stored attributes, and a pickled store leaves their secrets out: a worker resolves
credentials from its own environment (AWS environment variables, config files, an
instance or pod role), the way every process on a cluster does.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from storage import (claims, damage, entries, entry_documents, locks, probes, reading, registry, similarity, tables, targets,
                     verification, weights, work_log)
from storage.backend import Backend, backend_errors, local_folder, normalize_url
from storage.entries import EntryLayout
from storage.entry_documents import group_document
from storage.errors import EntryShapeError
from storage.identity import ComputeSettings, EntryIdentity, expected_identity
from storage.names import EntryKey, EntryKind
from storage.redaction import without_secrets
from storage.probes import ProbeSetInfo
from storage.provenance import Provenance
from storage import settings as store_settings
from storage.settings import StoreSettings
from storage.similarity import SimilarityMatrix
from storage.targets import TargetRecord
from rsa_ray.target_labels import TargetLabels

if TYPE_CHECKING:
    import pandas as pd

    from rsa_ray.model_entry import ModelEntry

ACTIVATION_DTYPES = ("float16", "float32")
# Terms per stored chunk of an RDM or rank vector (1 MiB of float32): small enough that one chunk
# of every model of a large zoo fits a similarity task's memory, large enough for object storage.
VECTOR_CHUNK_TERMS = 2**16
# The root group and its top-level groups (docs/design.md, "The store"), created when a store is first opened.
_GROUPS = ("", "probes/", "models/", "activations/", "rdms/", "ranks/", "similarity/")
_ROOT_HINT = ("; restore it from a backup, or delete it and the next command writes a new one "
              "(with the default settings: `rsa-ray settings` shows them)")


def _protocol(url: str) -> str:
    """``s3`` for ``s3://`` and ``s3a://``, ``file`` for local paths and ``file://``, else the scheme."""
    scheme = url.split("://", 1)[0] if "://" in url else "file"
    return "s3" if scheme == "s3a" else scheme


@dataclass(frozen=True)
class Store:
    """One store at a URL: a local folder (the default), ``file://`` or ``s3://bucket/prefix``.

    Attributes:
        url: The normalized URL (local paths become absolute ``file://`` URLs).
        storage_options: fsspec options (for s3: ``endpoint_url``, ``key``, ``secret``,
            ``client_kwargs``...). Left out of ``repr`` and equality; default: the standard
            AWS environment variables and config files. Secrets (``key``, ``secret``,
            ``token``...) are not pickled: an unpickled store finds credentials in its
            process's environment.

    Example:
        >>> Store.open("s3://bucket/prefix", {"profile": "team"})  # doctest: +SKIP
        Store(url='s3://bucket/prefix')
        >>> Store.open("memory://store-example")
        Store(url='memory://store-example')
    """

    url: str
    storage_options: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def open(cls, url: str, storage_options: Mapping[str, Any] | None = None) -> "Store":
        """Opens (creating if needed) the store group at ``url``.

        Raises:
            ValueError: If the URL embeds credentials.
            StoreUnavailableError: If the backend cannot be reached.
            CorruptEntryError: If the root document ``zarr.json`` is damaged (naming it).

        Example:
            >>> Store.open("memory://example").url
            'memory://example'
        """
        store = cls(normalize_url(url), dict(storage_options or {}))
        with backend_errors(store.url, "zarr.json", "opening the root group of"):
            backend = store._backend  # inside: a local root that cannot be created is an unreachable store
            if backend.get_documents(["zarr.json"], _ROOT_HINT)["zarr.json"] is None:  # a damaged one: raises
                backend.put_many({f"{folder}zarr.json": group_document({}) for folder in _GROUPS if folder})
                backend.put_bytes("zarr.json", group_document({}))  # last: its presence means all are there
        locks.probe_exclusive_writes(backend)  # once per URL and process; warns if create-only writes are ignored
        return store

    def __getstate__(self) -> dict[str, Any]:
        """The URL and the non-secret storage options (endpoint, region, ``anon``...): never credentials."""
        return {"url": self.url, "storage_options": without_secrets(self.storage_options)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        object.__setattr__(self, "url", state["url"])
        object.__setattr__(self, "storage_options", state["storage_options"])

    @functools.cached_property
    def _backend(self) -> Backend:
        return Backend.open(self.url, self.storage_options)

    def local_folder(self) -> str | None:
        """The folder of a local store (a ``file://`` URL), or None for any other (``s3://``, ``memory://``...).

        Example:
            >>> Store("file:///data/rsa-store").local_folder(), Store("s3://bucket/store").local_folder()
            ('/data/rsa-store', None)
        """
        return local_folder(self.url)

    # Probe sets ------------------------------------------------------------------------------

    def add_probe_set(self, images: np.ndarray, ids: Sequence[str], source: str,
                      rows_per_chunk: int | None = None, labels: TargetLabels | None = None) -> str:
        """Stores uint8 images [M, H, W, 3] with one id each; returns the content-hash probe set id.

        Adding the same images and ids again writes nothing and returns the same id. With
        ``labels`` (one per image) it is a target's labelled probe set, which the label-based
        transferability scores read (:meth:`read_probe_labels`).

        Example:
            >>> store = Store.open("memory://probes-example")
            >>> probe_id = store.add_probe_set(np.zeros((3, 4, 4, 3), np.uint8), ["a", "b", "c"], "zeros")
            >>> store.probe_set(probe_id).n_images
            3
        """
        return probes.add(self._backend, images, ids, source, rows_per_chunk, labels)

    def probe_set(self, probe_id: str) -> ProbeSetInfo:
        """The description of a stored probe set (ids, size, source, hash).

        A probe set's id is the hash of its content, so a complete one never changes:
        its description is read once per process.
        """
        if probe_id not in self._probe_sets:
            self._probe_sets[probe_id] = probes.info(self._backend, probe_id)
        return self._probe_sets[probe_id]

    @functools.cached_property
    def _probe_sets(self) -> dict[str, ProbeSetInfo]:
        return {}

    def read_probe_images(self, probe_id: str, rows: Sequence[int] | slice | None = None) -> np.ndarray:
        """All images of a probe set, or the given rows, checksum-verified."""
        return probes.read(self._backend, probe_id, rows)

    def read_probe_labels(self, probe_id: str) -> TargetLabels:
        """The labels of a target's labelled probe set.

        Example:
            >>> store = Store.open("memory://labels-example")
            >>> labels = TargetLabels.from_array(np.array([0, 1, 1]))
            >>> probe_id = store.add_probe_set(np.zeros((3, 4, 4, 3), np.uint8), ["a", "b", "c"], "t", labels=labels)
            >>> store.read_probe_labels(probe_id).values.tolist()
            [0, 1, 1]
        """
        return probes.read_labels(self._backend, probe_id)

    def shared_probe_set_ids(self) -> tuple[str, ...]:
        """Ids of the complete probe sets that are not a target's labelled images (what taxonomies compare on)."""
        return tuple(p for p in self.probe_set_ids() if self.probe_set(p).label_kind is None)

    # Targets ---------------------------------------------------------------------------------

    def record_target(self, record: TargetRecord) -> None:
        """Stores (or replaces) a target task's record: its labelled probe set and its model.

        Example:
            >>> store = Store.open("memory://target-example")
            >>> store.record_target(TargetRecord("digits", "p" * 32, "sklearn-digits", "classes"))
            >>> store.target("digits").data, store.target("other")
            ('sklearn-digits', None)
        """
        targets.write(self._backend, record)

    def target(self, name: str) -> TargetRecord | None:
        """The recorded target called ``name``, or None."""
        return targets.read(self._backend, name)

    def target_names(self) -> tuple[str, ...]:
        """Names of the recorded targets."""
        return targets.names(self._backend)

    def probe_set_ids(self) -> tuple[str, ...]:
        """Ids of the complete probe sets."""
        return probes.list_ids(self._backend)

    # Model registry --------------------------------------------------------------------------

    def register_models(self, models: Iterable[ModelEntry], replace: bool = False,
                        layer_shapes: Mapping[str, Mapping[str, Any]] | None = None) -> tuple[str, ...]:
        """Registers ``rsa_ray.models.ModelEntry`` values; returns the ids newly written.

        Each model entry must pass the manifest's checks, with a weights sha256 and a URL or absolute
        weights path (:func:`storage.load_manifest` resolves relative ones). The model itself is not
        built or run here: ``rsa-ray models add`` checks it first and passes what it found as
        ``layer_shapes`` (per model id, ``{role: {"shape": [...], "width": N}}``), kept as registry
        metadata beside the entry (:meth:`layer_shapes`), not as part of the model's identity.

        Raises:
            ManifestError: Naming the entry and field that is not registrable.
            EntryConflictError: If an id is registered with another entry and ``replace`` is False.

        Example:
            >>> from storage import parse_manifest
            >>> store = Store.open("memory://registry-example")
            >>> store.register_models(parse_manifest([{"model_id": "m1", "source": "safetensors",
            ...     "task": "edges", "task_type": "2d",
            ...     "architecture": {"target": "rsa_ray.models.encoder_decoder:build_encoder_decoder"},
            ...     "weights": {"path": "s3://zoo/m1.safetensors", "sha256": "0" * 64}, "layers": ["out"]}]))
            ('m1',)
            >>> store.model("m1").weights.path
            's3://zoo/m1.safetensors'
        """
        return registry.register(self._backend, models, replace, self.settings().allow_torchscript, layer_shapes)

    def pending_models(self, models: Iterable[ModelEntry], replace: bool = False) -> tuple[ModelEntry, ...]:
        """The entries :meth:`register_models` would write (new, or changed with ``replace``); writes nothing.

        Raises:
            ManifestError: Naming the entry and field that is not registrable.
            EntryConflictError: If an id is registered with another entry and ``replace`` is False.

        Example:
            >>> import dataclasses
            >>> from rsa_ray.models import WeightsRef
            >>> from rsa_ray.models.manifest import example_entry
            >>> entry = dataclasses.replace(example_entry(), weights=WeightsRef("s3://zoo/d.safetensors", "0" * 64))
            >>> [pending.model_id for pending in Store.open("memory://pending-example").pending_models([entry])]
            ['depth-small']
        """
        return registry.pending(self._backend, models, replace, self.settings().allow_torchscript)

    def layer_shapes(self, model_ids: Sequence[str]) -> dict[str, dict[str, Any] | None]:
        """Each model's recorded output shape and reduced width per role (None if registered unchecked).

        Raises:
            EntryNotFoundError: Naming the first model that is not registered.

        Example:
            >>> Store.open("memory://layer-shapes-example").layer_shapes([])
            {}
        """
        return registry.get_layer_shapes(self._backend, model_ids)

    def settings(self) -> StoreSettings:
        """The operator's settings of this store (:mod:`storage.settings`), read each time.

        Example:
            >>> Store.open("memory://settings-example").settings().allow_torchscript
            False
        """
        return store_settings.read(self._backend)

    def update_settings(self, **changes: Any) -> StoreSettings:
        """Changes some of the store's settings; returns them all.

        Example:
            >>> Store.open("memory://update-settings").update_settings(allow_torchscript=True).allow_torchscript
            True
        """
        updated = dataclasses.replace(self.settings(), **changes)
        store_settings.write(self._backend, updated)
        return updated

    def model(self, model_id: str) -> ModelEntry:
        """The registered ``rsa_ray.models.ModelEntry`` of a model (raises :class:`EntryNotFoundError` if unknown)."""
        return registry.get(self._backend, model_id)

    def models(self, model_ids: Sequence[str]) -> tuple[ModelEntry, ...]:
        """The registered model entries of ``model_ids``, in that order, in one batched read."""
        return registry.get_many(self._backend, model_ids)

    def model_documents(self, model_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The stored documents of registered models (plain dicts, as registered), in one batched read.

        Unlike :meth:`models` this builds no ``ModelEntry`` and so never imports torch: what
        ``rsa-ray models list`` reads.

        Raises:
            EntryNotFoundError: Naming the first model that is not registered.

        Example:
            >>> Store.open("memory://model-documents").model_documents([])
            {}
        """
        return registry.get_documents(self._backend, model_ids)

    def model_ids(self) -> tuple[str, ...]:
        """Ids of all registered models, sorted."""
        return registry.list_ids(self._backend)

    def fetch_weights(self, model_id: str, cache_dir: str | None = None) -> str | None:
        """A local, sha256-verified copy of a registered model's weights (None if it has none).

        Weights on the store's own protocol (e.g. ``s3://`` beside an ``s3://`` store) are read
        with the store's storage options, so its endpoint and credentials apply.

        Args:
            model_id: The registered model.
            cache_dir: Download cache; default ``$RSA_RAY_CACHE`` or ``~/.cache/rsa_ray/weights``.

        Raises:
            EntryNotFoundError: If the model is not registered.
            rsa_ray.models.WeightsIntegrityError: If the bytes do not match the registered sha256.

        Example:
            >>> Store.open("s3://bucket/store").fetch_weights("depth-small")  # doctest: +SKIP
            '/root/.cache/rsa_ray/weights/5f1c.../depth-small.safetensors'
        """
        document = registry.get_document(self._backend, model_id)
        reference = document.get("weights")
        if reference is None:
            return None
        return self.fetch_weights_at(reference["path"], reference["sha256"], cache_dir)

    def fetch_weights_at(self, uri: str, sha256: str, cache_dir: str | None = None, size: int | None = None) -> str:
        """A local, sha256-verified copy of a weights file at ``uri`` (e.g. of a model not yet registered).

        Weights on the store's own protocol are read with the store's storage options. Only the sources
        and sizes the store's settings allow are fetched (:meth:`StoreSettings.weights_policy`).

        Raises:
            rsa_ray.models.WeightsIntegrityError: If the bytes do not match ``sha256``.
            storage.weights.WeightsRefusedError: For a source not allowed or a file over the size limit.
            FileNotFoundError: If there is nothing at ``uri``.

        Example:
            >>> Store.open("s3://bucket/store").fetch_weights_at("s3://bucket/zoo/m1.safetensors", "0" * 64)  # doctest: +SKIP
            '/root/.cache/rsa_ray/weights/000.../m1.safetensors'
        """
        return weights.fetch_weights(uri, sha256, cache_dir or weights.default_cache_dir(), *self._weights_access(uri),
                                     size=size)

    def provisional_weights_at(self, uri: str, sha256: str, cache_dir: str | None = None,
                               size: int | None = None) -> AbstractContextManager[str]:
        """As :meth:`fetch_weights_at`, for a block: the copy stays in the cache only if the block succeeds.

        Example:
            >>> with store.provisional_weights_at("s3://bucket/zoo/m1.safetensors", "0" * 64) as path:  # doctest: +SKIP
            ...     check_model(entry, path, image)
        """
        return weights.provisional_weights(uri, sha256, cache_dir or weights.default_cache_dir(),
                                           *self._weights_access(uri), size=size)

    def _weights_access(self, uri: str) -> tuple[Mapping[str, Any] | None, weights.WeightsPolicy]:
        """The storage options for ``uri`` (the store's own, on its protocol) and the store's weights policy."""
        same_protocol = _protocol(uri) == _protocol(self.url)
        return self.storage_options if same_protocol else None, self.settings().weights_policy(self.url)

    # Entries: one array per (probe set, model, layer) and kind -------------------------------------

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
            {EntryKey(probe_id='...', model_id='m1', layer='out'): EntryIdentity(digest='...', ...)}
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
        return {"kind": kind.value, "probe_id": key.probe_id, "model_id": key.model_id, "layer": key.layer,
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
            {EntryKey(probe_id='...', model_id='m1', layer='out'): {'kind': 'rdms', 'identity': '...', ...}}
        """
        paths = [key.path(EntryKind(kind)) for key in keys]
        stored = entry_documents.stored_many(self._backend, paths) if paths else {}
        return {key: dict(stored[path].attributes) if stored[path].marker is not None else None
                for key, path in zip(keys, paths)}

    # Similarity versions and tables --------------------------------------------------------------

    def write_similarity(self, probe_id: str, layer: str, model_ids: Sequence[str], matrix: np.ndarray,
                         method: str, inputs: Sequence[str] | None = None,
                         identities: Mapping[str, str] | None = None, fence: Callable[[], None] | None = None) -> int:
        """Writes a new similarity version for (probe set, layer); returns its number. History is kept.

        ``fence`` (e.g. ``Lock.check`` of the lock the run holds) is called right before the
        version is marked complete: if it raises, no complete version is written.

        Example:
            >>> store = Store.open("memory://similarity-example")
            >>> probe_id = store.add_probe_set(np.zeros((3, 2, 2, 3), np.uint8), ["a", "b", "c"], "zeros")
            >>> store.write_similarity(probe_id, "out", ["m1", "m2"], np.eye(2), "spearman")
            1
            >>> store.read_similarity(probe_id, "out").model_ids
            ('m1', 'm2')
        """
        provenance = Provenance(probe_hash=self.probe_set(probe_id).content_hash)
        return similarity.write(self._backend, probe_id, layer, model_ids, matrix, method, inputs, provenance,
                                identities, fence)

    def read_similarity(self, probe_id: str, layer: str, version: int | None = None) -> SimilarityMatrix:
        """The latest complete similarity version, or the one asked for."""
        return similarity.read(self._backend, probe_id, layer, version)

    def similarity_versions(self, probe_id: str, layer: str) -> tuple[int, ...]:
        """The complete similarity versions of (probe set, layer), oldest first."""
        return similarity.versions(self._backend, probe_id, layer)

    def claim(self, work: str, lease_seconds: float | None = None,
              wait_seconds: float = claims.DEFAULT_CLAIM_WAIT) -> AbstractContextManager[locks.Lock]:
        """A context manager holding the claim on ``work`` (an entry path), waiting while another run holds it.

        See :mod:`storage.claims`: the holder calls ``check()`` on what it yields before each write; the
        lease defaults to :func:`storage.claims.default_lease`.

        Example:
            >>> with store.claim("rdms/p1/m1/out") as held:  # doctest: +SKIP
            ...     held.check()
        """
        return claims.claim(self._backend, work, lease_seconds, wait_seconds)

    def lock(self, name: str, lease_seconds: float = locks.DEFAULT_LEASE_SECONDS,
             stale_after: float = locks.DEFAULT_STALE_AFTER,
             max_clock_skew: float = locks.DEFAULT_MAX_CLOCK_SKEW) -> AbstractContextManager[locks.Lock]:
        """A context manager holding the store-wide lock ``name``, its lease renewed meanwhile (:mod:`storage.locks`).

        Args:
            name: The lock's name.
            lease_seconds: How long the lock stays held if its holder stops renewing it (dies, hangs).
            stale_after: Age after which a lock written by the previous release (no lease) is broken.
            max_clock_skew: How far the clocks of the machines sharing the store may differ.

        Raises:
            StoreLockedError: Another run holds it.
            ExclusiveWritesUnsupportedError: The backend ignores create-only writes.

        Example:
            >>> store = Store.open("memory://lock-example")
            >>> with store.lock("rerank") as lock:
            ...     lock.check()  # raises LockLostError once another run has taken the lock over
            ...     lock.token
            1
        """
        return locks.hold(self._backend, name, lease_seconds, stale_after, max_clock_skew)

    @property
    def exclusive_writes(self) -> bool | None:
        """Whether the backend honours create-only writes (probed once per URL and process).

        None when it cannot be told (the store could not be written, e.g. read-only
        credentials). Where False, locks are refused and :meth:`open` logged a warning.

        Example:
            >>> Store.open("memory://exclusive-writes-example").exclusive_writes
            True
        """
        return locks.probe_exclusive_writes(self._backend)

    def record_work(self, stage: str, key: EntryKey | None = None, **details: Any) -> None:
        """Appends one record of a computation that ran to the store's work log (:mod:`storage.work_log`)."""
        work_log.record(self._backend, stage, key, details)

    def work_records(self, stage: str | None = None, since: str | None = None) -> list[dict[str, Any]]:
        """The work log's records (of one stage, or all), oldest first; with ``since`` (a UTC time
        as :func:`storage.provenance.utc_now` writes it), only those written at or after it: what one
        run computed, for the counts a command prints.

        Example:
            >>> store = Store.open("memory://work-log-example")
            >>> store.record_work("rdm", EntryKey("p", "m1", "out"))
            >>> [record["model_id"] for record in store.work_records("rdm")]
            ['m1']
        """
        return work_log.read(self._backend, stage, since)

    # Damage and repair ---------------------------------------------------------------------------

    def verify(self) -> verification.Scan:
        """Reads every chunk of every complete entry and every document, checking them; writes nothing.

        Example:
            >>> Store.open("memory://verify-example").verify().problems
            ()
        """
        return verification.scan(self._backend)

    def repair(self, found: verification.Scan) -> list[tuple[verification.Problem, str]]:
        """Withdraws the damaged entries :meth:`verify` found (the next run recomputes exactly them).

        Returns each problem with what was done; see :func:`storage.verification.repair`.

        Example:
            >>> store = Store.open("memory://repair-example")
            >>> store.repair(store.verify())
            []
        """
        return verification.repair(self._backend, found)

    def withdraw_damaged(self, key: EntryKey, kind: EntryKind | str, reason: str) -> bool:
        """Withdraws an entry found damaged elsewhere (its completion, and an RDM's rank vector's), recording why.

        Readers of this store do this themselves when a chunk fails its checksum; True if it was
        complete and is now withdrawn.

        Example:
            >>> Store.open("memory://withdraw-example").withdraw_damaged(EntryKey("p", "m", "out"), "rdms", "x")
            False
        """
        return damage.withdraw(self._backend, key.path(EntryKind(kind)), (), reason)

    def damage_records(self) -> list[dict[str, Any]]:
        """The work log's records of damaged entries found and withdrawn, oldest first."""
        return damage.damaged_records(self._backend)

    def write_table(self, name: str, frame: pd.DataFrame) -> None:
        """Replaces result table ``name`` (Parquet beside the group).

        Example:
            >>> import pandas as pd
            >>> store = Store.open("memory://tables-example")
            >>> store.write_table("rankings", pd.DataFrame({"model_id": ["m2", "m1"], "similarity": [0.9, 0.4]}))
            >>> store.read_table("rankings")["model_id"].tolist()
            ['m2', 'm1']
        """
        tables.write(self._backend, name, frame)

    def append_table(self, name: str, frame: pd.DataFrame) -> None:
        """Appends rows to table ``name``; safe from many writers at once."""
        tables.append(self._backend, name, frame)

    def read_table(self, name: str) -> pd.DataFrame:
        """The whole table ``name``."""
        return tables.read(self._backend, name)

    def table_names(self) -> tuple[str, ...]:
        """Names of the stored tables."""
        return tables.names(self._backend)
