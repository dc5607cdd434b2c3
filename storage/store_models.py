"""The model registry, the store's settings and fetching the registered models' weights.

A part of :class:`storage.Store` (it inherits this class); call it through the store."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from storage import registry, weights
from storage import settings as store_settings
from storage.settings import StoreSettings

if TYPE_CHECKING:
    from rsa_ray.model_entry import ModelEntry
    from storage.backend import Backend


def _protocol(url: str) -> str:
    """``s3`` for ``s3://`` and ``s3a://``, ``file`` for local paths and ``file://``, else the scheme."""
    scheme = url.split("://", 1)[0] if "://" in url else "file"
    return "s3" if scheme == "s3a" else scheme


class ModelRegistry:
    """The model registry, the store's settings and fetching the registered models' weights. of a :class:`storage.Store` (``self._backend`` is the store's backend)."""

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
            >>> from storage import Store
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
            >>> from storage import Store
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
            >>> from storage import Store
            >>> Store.open("memory://layer-shapes-example").layer_shapes([])
            {}
        """
        return registry.get_layer_shapes(self._backend, model_ids)

    def settings(self) -> StoreSettings:
        """The operator's settings of this store (:mod:`storage.settings`), read each time.

        Example:
            >>> from storage import Store
            >>> Store.open("memory://settings-example").settings().allow_torchscript
            False
        """
        return store_settings.read(self._backend)

    def update_settings(self, **changes: Any) -> StoreSettings:
        """Changes some of the store's settings; returns them all.

        Example:
            >>> from storage import Store
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
            >>> from storage import Store
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
            >>> from storage import Store
            >>> Store.open("s3://bucket/store").fetch_weights("depth-small")  # doctest: +SKIP
            '/root/.cache/rsa_ray/weights/5f1c.../depth-small.safetensors'
        """
        document = registry.get_document(self._backend, model_id)
        reference = document.get("weights")
        if reference is None:
            return None
        return self.fetch_weights_at(reference["path"], reference["sha256"], cache_dir, size=reference.get("size"))

    def fetch_weights_at(self, uri: str, sha256: str, cache_dir: str | None = None, size: int | None = None) -> str:
        """A local, sha256-verified copy of a weights file at ``uri`` (e.g. of a model not yet registered).

        Weights on the store's own protocol are read with the store's storage options. Only the sources
        and sizes the store's settings allow are fetched (:meth:`StoreSettings.weights_policy`).

        Raises:
            rsa_ray.models.WeightsIntegrityError: If the bytes do not match ``sha256``.
            storage.weights.WeightsRefusedError: For a source not allowed or a file over the size limit.
            FileNotFoundError: If there is nothing at ``uri``.

        Example:
            >>> from storage import Store
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
