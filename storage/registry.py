"""The model registry in the store: one Zarr group ``models/{model_id}`` per model, its model entry as attributes.

Entries are ``rsa_ray.model_entry.ModelEntry`` values (no torch needed to read them), stored as ``entry_to_dict(entry)`` under the
``registry_entry`` attribute and read back with ``entry_from_dict``; what the commands' checks found
(each role's output shape and reduced width) is kept beside it as ``layer_shapes``, metadata that is
no part of the model's identity. The group documents are
written directly (one atomic object each, no Zarr round trips):
``{"zarr_format": 3, "node_type": "group", "attributes": {...}}``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from rsa_ray.model_entry import (
    MANIFEST_FORMAT,
    ModelEntry,
    check_unique_ids,
    entry_from_dict,
    entry_to_dict,
    fail,
    is_location_independent,
    parse_entry,
)
from storage.backend import Backend, backend_errors
from storage.entry_documents import group_document
from storage.errors import CorruptEntryError, EntryConflictError, EntryNotFoundError
from storage.names import validate_id
from storage.provenance import utc_now
from storage.redaction import has_credentials, redact_url

_DAMAGED_HINT = "; `rsa-ray verify --repair` removes it, then `rsa-ray models add` registers the model again"


def _attributes(backend: Backend, model_ids: list[str]) -> dict[str, dict[str, Any] | None]:
    """The attributes of each model's group document (None where it is not registered)."""
    documents = backend.get_documents((f"models/{model_id}/zarr.json" for model_id in model_ids), _DAMAGED_HINT)
    found: dict[str, dict[str, Any] | None] = {}
    for model_id in model_ids:
        document = documents[f"models/{model_id}/zarr.json"]
        found[model_id] = document.get("attributes", {}) if document is not None else None
    return found


def _documents(backend: Backend, model_ids: list[str]) -> dict[str, dict[str, Any] | None]:
    """The stored ``entry_to_dict`` form of each model (None where it is not registered)."""
    return {model_id: attributes.get("registry_entry") if attributes is not None else None
            for model_id, attributes in _attributes(backend, model_ids).items()}


def _entry(backend: Backend, model_id: str, document: dict[str, Any]) -> ModelEntry:
    try:
        return entry_from_dict(document)
    except ValueError as error:
        raise CorruptEntryError(f"model {model_id!r} in store {backend.url}: its registry entry does not "
                                f"parse ({error}); register it again with replace=True") from None


def check_registrable(model_entry: Any, position: int = 0, allow_torchscript: bool = False) -> dict[str, Any]:
    """The stored form of a model entry, once it passes the manifest's checks and its weights path is absolute.

    Raises:
        TypeError: If ``model_entry`` is not an ``rsa_ray.model_entry.ModelEntry``.
        ManifestError: Naming the entry and field (e.g. no weights sha256, a relative weights path,
            credentials in the weights URL).

    Example:
        >>> import dataclasses
        >>> from rsa_ray.models import WeightsRef
        >>> from rsa_ray.models.manifest import example_entry
        >>> check_registrable(dataclasses.replace(example_entry(), weights=WeightsRef("/zoo/d.safetensors")))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        rsa_ray.errors.ManifestError: manifest entry 'depth-small': field 'weights.sha256' must be 64 ...
    """
    if not isinstance(model_entry, ModelEntry):
        raise TypeError(f"register_models takes rsa_ray.models.ModelEntry values, got {type(model_entry).__name__} "
                        f"at position {position}")
    document = json.loads(json.dumps(entry_to_dict(model_entry)))
    parse_entry(document, position, allow_torchscript=allow_torchscript)  # the same rules as a manifest: safe names, sha256, task type...
    if model_entry.weights is not None and has_credentials(model_entry.weights.path):  # the registry is read by everyone
        raise fail(repr(model_entry.model_id), "weights.path", f"must not hold credentials, got "
                   f"{redact_url(model_entry.weights.path)!r}; pass them as storage options or in the environment")
    if model_entry.weights is not None and not is_location_independent(model_entry.weights.path):
        raise fail(repr(model_entry.model_id), "weights.path", f"must be a URL or an absolute path in the registry, got "
                   f"{model_entry.weights.path!r}; load manifests with load_manifest (or parse_manifest with base_url)")
    return document


def _checked_documents(models: list[ModelEntry], allow_torchscript: bool) -> dict[str, dict[str, Any]]:
    documents = [check_registrable(entry, position, allow_torchscript) for position, entry in enumerate(models)]
    check_unique_ids(entry.model_id for entry in models)
    return {entry.model_id: document for entry, document in zip(models, documents)}


def _changed(backend: Backend, models: list[ModelEntry], documents: dict[str, dict[str, Any]],
             replace: bool) -> list[ModelEntry]:
    """The entries not registered identically; raises on one registered differently unless ``replace``."""
    existing = _documents(backend, list(documents))
    changed = [entry for entry in models if existing[entry.model_id] != documents[entry.model_id]]
    for entry in changed:
        if existing[entry.model_id] is not None and not replace:
            raise EntryConflictError(
                f"model {entry.model_id!r} is already registered with a different entry; "
                "pass replace=True to replace it (results computed from the old entry are then recomputed on the next run)"
            )
    return changed


def pending(backend: Backend, models: Iterable[ModelEntry], replace: bool = False,
            allow_torchscript: bool = False) -> tuple[ModelEntry, ...]:
    """The entries :func:`register` would write (new ones, and changed ones with ``replace``); writes nothing.

    Raises:
        TypeError, ManifestError, EntryConflictError: As :func:`register` would.
    """
    models = list(models)
    documents = _checked_documents(models, allow_torchscript)
    with backend_errors(backend.url, "models", "reading models from"):
        return tuple(_changed(backend, models, documents, replace))


def register(backend: Backend, models: Iterable[ModelEntry], replace: bool = False,
             allow_torchscript: bool = False,
             layer_shapes: Mapping[str, Mapping[str, Any]] | None = None) -> tuple[str, ...]:
    """Registers models; returns the ids newly written (ones already registered identically are skipped).

    Args:
        backend: The store's backend.
        models: The entries.
        replace: Replace models registered with a different entry.
        allow_torchscript: The store's TorchScript setting.
        layer_shapes: Per model id, what its check found for each role
            (``{role: {"shape": [...], "width": N}}``), kept beside the entry as the ``layer_shapes``
            attribute: registry metadata, not part of the model's identity.

    Raises:
        TypeError: If a value is not an ``rsa_ray.models.ModelEntry``.
        ManifestError: If an entry is invalid (no weights sha256, relative weights path...).
        EntryConflictError: If a model id is registered with a different entry and ``replace`` is False;
            nothing is written then.
    """
    models = list(models)
    documents = _checked_documents(models, allow_torchscript)
    shapes = layer_shapes or {}
    with backend_errors(backend.url, "models", "registering models in"):
        changed = _changed(backend, models, documents, replace)
        backend.put_many({
            f"models/{entry.model_id}/zarr.json": group_document({
                "registry_entry": documents[entry.model_id], "entry_format": MANIFEST_FORMAT, "registered": utc_now(),
                **({"layer_shapes": json.loads(json.dumps(shapes[entry.model_id]))} if entry.model_id in shapes else {})})
            for entry in changed
        })
    return tuple(entry.model_id for entry in changed)


def get_layer_shapes(backend: Backend, model_ids: Iterable[str]) -> dict[str, dict[str, Any] | None]:
    """Each model's recorded ``layer_shapes`` (None for one registered without checks), in one batched read.

    Raises:
        EntryNotFoundError: Naming the first model that is not registered.
    """
    found = _registered(backend, model_ids, _attributes)
    return {model_id: attributes.get("layer_shapes") for model_id, attributes in found.items()}


def get_documents(backend: Backend, model_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The stored ``entry_to_dict`` forms of several models, in one batched read.

    Raises:
        EntryNotFoundError: Naming the first model that is not registered.
    """
    return _registered(backend, model_ids, _documents)


def _registered(backend: Backend, model_ids: Iterable[str], read) -> dict[str, dict[str, Any]]:
    """``read(backend, ids)`` for registered models only, in one batched read; raises naming the first unknown id."""
    model_ids = [validate_id(model_id, "model id") for model_id in model_ids]
    with backend_errors(backend.url, "models", "reading models from"):
        found = read(backend, model_ids)
    for model_id in model_ids:
        if found[model_id] is None:
            raise EntryNotFoundError(f"model {model_id!r} is not registered in {backend.url}")
    return {model_id: found[model_id] for model_id in model_ids}


def get_document(backend: Backend, model_id: str) -> dict[str, Any]:
    """The stored ``entry_to_dict`` form of a model's entry (no torch import needed to read it).

    Raises:
        EntryNotFoundError: If the model is not registered.
    """
    return get_documents(backend, [model_id])[model_id]


def get(backend: Backend, model_id: str) -> ModelEntry:
    """The registered model entry of ``model_id``.

    Raises:
        EntryNotFoundError: If the model is not registered.
    """
    return get_many(backend, [model_id])[0]


def get_many(backend: Backend, model_ids: Iterable[str]) -> tuple[ModelEntry, ...]:
    """The registered model entries of ``model_ids``, in that order, in one batched read.

    Raises:
        EntryNotFoundError: Naming the first model that is not registered.
        CorruptEntryError: If a stored model entry does not parse.
    """
    model_ids = list(model_ids)
    found = get_documents(backend, model_ids)
    return tuple(_entry(backend, model_id, found[model_id]) for model_id in model_ids)


def list_ids(backend: Backend) -> tuple[str, ...]:
    """Ids of the registered models, sorted."""
    with backend_errors(backend.url, "models", "listing"):
        return tuple(name for name in backend.list_names("models") if name != "zarr.json")
