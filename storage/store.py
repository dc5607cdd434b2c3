"""The :class:`Store`: a small picklable value naming one Zarr v3 group by URL, and its API.

The store holds only ``(url, storage_options)``; filesystems and Zarr handles are
rebuilt lazily in each process, so a store can be shipped to any worker. The
storage options (credentials, endpoint) never appear in its repr, in errors or in
stored attributes, and a pickled store leaves their secrets out: a worker resolves
credentials from its own environment (AWS environment variables, config files, an
instance or pod role), the way every process on a cluster does.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from storage import locks
from storage.backend import Backend, backend_errors, local_folder, normalize_url
from storage.entry_documents import group_document
from storage.redaction import without_secrets
from storage.store_entries import ACTIVATION_DTYPES, Entries
from storage.store_models import ModelRegistry
from storage.store_probes import ProbeSets
from storage.store_results import Results
from storage.store_upkeep import Upkeep
from storage.store_vectors import VECTOR_CHUNK_TERMS, Vectors

__all__ = ["ACTIVATION_DTYPES", "VECTOR_CHUNK_TERMS", "Store"]

# The root group and its top-level groups (docs/design.md, "The store"), created when a store is first opened.
_GROUPS = ("", "probes/", "models/", "activations/", "rdms/", "ranks/", "similarity/")
_ROOT_HINT = ("; restore it from a backup, or delete it and the next command writes a new one "
              "(with the default settings: `rsa-ray settings` shows them)")


@dataclass(frozen=True)
class Store(ProbeSets, ModelRegistry, Entries, Vectors, Results, Upkeep):
    """One store at a URL: a local folder (the default), ``file://`` or ``s3://bucket/prefix``.

    Its API comes by concern from the classes it inherits: probe sets and targets (:mod:`storage.store_probes`),
    the model registry and settings (:mod:`storage.store_models`), entries (:mod:`storage.store_entries`), RDMs
    and rank vectors (:mod:`storage.store_vectors`), similarity versions and tables (:mod:`storage.store_results`),
    locks, the work log and repair (:mod:`storage.store_upkeep`).

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
