"""Model resolvers: from a model id to its registry entry and a local copy of its weights."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cluster.encoder import LoadedModelSource

if TYPE_CHECKING:
    from rsa_ray.models import ModelEntry
    from storage import Store


@dataclass(frozen=True)
class ManifestResolver:
    """Resolves models of a manifest whose weights are local files.

    Attributes:
        entries: The manifest's model entries.
        base_dir: Folder that relative weights paths are relative to (the manifest's folder).

    Example:
        >>> from rsa_ray.models.manifest import example_entry
        >>> ManifestResolver((example_entry(),), "/zoo")(example_entry().model_id).weights_path
        '/zoo/depth-small.safetensors'
    """

    entries: tuple[ModelEntry, ...]
    base_dir: str

    def __call__(self, model_id: str) -> LoadedModelSource:
        for entry in self.entries:
            if entry.model_id == model_id:
                if entry.weights is None:
                    return LoadedModelSource(entry, None)
                return LoadedModelSource(entry, os.fspath(Path(self.base_dir) / entry.weights.path))
        raise KeyError(f"model {model_id!r} is not in the manifest at {self.base_dir!r}")


@dataclass(frozen=True)
class StoreResolver:
    """Resolves registered models: the entry from the store's registry, the weights fetched
    (from any fsspec URL, sha256-checked) into a local cache on the machine that runs the model.

    Attributes:
        store: The store holding the registry.
        cache_dir: Local weights cache (default: the store's default).

    Example:
        >>> StoreResolver(store)("depth-small").weights_path  # doctest: +SKIP
        '/root/.cache/rsa_ray/weights/3f2a.../depth-small.safetensors'
    """

    store: Store
    cache_dir: str | None = None

    def __call__(self, model_id: str) -> LoadedModelSource:
        return LoadedModelSource(self.store.model(model_id), self.store.fetch_weights(model_id, self.cache_dir))
