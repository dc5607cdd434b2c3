"""The store layer: one Zarr v3 group on fsspec (a local folder or ``s3://``).

Holds probe sets, the model registry, activations, RDMs, standardised rank vectors,
versioned similarity matrices and Parquet result tables (docs/design.md, "The store").
May import ``rsa_ray``; never imports Ray or the layers above it.

An *entry* is one stored array: the activations, RDM or rank vector of one (probe set,
model, layer), named by an :class:`EntryKey` and an :class:`EntryKind`. A *model entry*
is what the registry holds for one model: an ``rsa_ray.models.ModelEntry`` value
(re-exported here as ``ModelEntry``; torch is loaded only when model entries are parsed
or built, not by ``import storage``).

Example:
    >>> import numpy as np
    >>> from storage import EntryKey, Store
    >>> store = Store.open("memory://storage-example")
    >>> probe_id = store.add_probe_set(np.zeros((3, 2, 2, 3), np.uint8), ["a", "b", "c"], "zeros")
    >>> store.missing(probe_id, ["m1"], ["out"])[0].model_id
    'm1'
"""

from storage.entries import EntryLayout
from storage.errors import (
    CorruptEntryError,
    EntryConflictError,
    EntryNotFoundError,
    EntryShapeError,
    IncompleteEntryError,
    InvalidIdError,
    ManifestError,
    StoreUnavailableError,
)
from storage.manifest import TASK_TYPES, load_manifest, parse_manifest
from storage.locks import ExclusiveWritesUnsupportedError, Lock, LockHolder, LockLostError, StoreLockedError
from storage.names import EntryKey, EntryKind, validate_id
from storage.probes import ProbeSetInfo
from storage.provenance import Provenance, library_versions
from storage.similarity import SimilarityInput, SimilarityMatrix
from storage.store import ACTIVATION_DTYPES, Store
from storage.weights import default_cache_dir, fetch_weights

__all__ = [
    "ACTIVATION_DTYPES",
    "TASK_TYPES",
    "CorruptEntryError",
    "EntryConflictError",
    "EntryKey",
    "EntryKind",
    "EntryLayout",
    "EntryNotFoundError",
    "EntryShapeError",
    "IncompleteEntryError",
    "InvalidIdError",
    "ManifestError",
    "ModelEntry",
    "ProbeSetInfo",
    "Provenance",
    "SimilarityInput",
    "SimilarityMatrix",
    "ExclusiveWritesUnsupportedError",
    "Lock",
    "LockHolder",
    "LockLostError",
    "Store",
    "StoreLockedError",
    "StoreUnavailableError",
    "default_cache_dir",
    "fetch_weights",
    "library_versions",
    "load_manifest",
    "parse_manifest",
    "validate_id",
]


def __getattr__(name: str):
    """``storage.ModelEntry`` is ``rsa_ray.model_entry.ModelEntry`` (no torch), imported on first use."""
    if name == "ModelEntry":
        from rsa_ray.model_entry import ModelEntry

        return ModelEntry
    raise AttributeError(f"module 'storage' has no attribute {name!r}")
