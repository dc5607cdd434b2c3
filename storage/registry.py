"""The model registry in the store: one Zarr group ``models/{model_id}`` per model, its entry as attributes.

The group documents are written directly (one atomic object each, no Zarr round
trips): ``{"zarr_format": 3, "node_type": "group", "attributes": {...}}``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from storage.backend import Backend, backend_errors
from storage.entries import group_document
from storage.errors import EntryConflictError, EntryNotFoundError
from storage.manifest import ModelEntry, parse_entry
from storage.names import validate_id
from storage.provenance import utc_now


def _stored_entries(backend: Backend, model_ids: list[str]) -> dict[str, ModelEntry | None]:
    payloads = backend.get_many(f"models/{model_id}/zarr.json" for model_id in model_ids)
    found: dict[str, ModelEntry | None] = {}
    for model_id in model_ids:
        payload = payloads[f"models/{model_id}/zarr.json"]
        raw = json.loads(payload).get("attributes", {}).get("registry_entry") if payload else None
        found[model_id] = parse_entry(raw) if raw is not None else None
    return found


def register(backend: Backend, models: Iterable[ModelEntry], replace: bool = False) -> tuple[str, ...]:
    """Registers models; returns the ids newly written (ones already registered identically are skipped).

    Raises:
        EntryConflictError: If a model id is registered with a different entry and ``replace`` is False;
            nothing is written then.
    """
    models = list(models)
    for entry in models:
        if not isinstance(entry, ModelEntry):
            raise TypeError(f"register_models takes ModelEntry values, got {type(entry).__name__}")
    with backend_errors(backend.url, "models", "registering models in"):
        existing = _stored_entries(backend, [entry.model_id for entry in models])
        changed = [entry for entry in models if existing[entry.model_id] != entry]
        for entry in changed:
            if existing[entry.model_id] is not None and not replace:
                raise EntryConflictError(
                    f"model {entry.model_id!r} is already registered with a different entry; "
                    "pass replace=True to replace it (its stored results keep the old provenance)"
                )
        backend.put_many({
            f"models/{entry.model_id}/zarr.json": group_document(
                {"registry_entry": entry.to_dict(), "registered": utc_now()})
            for entry in changed
        })
    return tuple(entry.model_id for entry in changed)


def get(backend: Backend, model_id: str) -> ModelEntry:
    """The registered entry of ``model_id``.

    Raises:
        EntryNotFoundError: If the model is not registered.
    """
    return get_many(backend, [model_id])[0]


def get_many(backend: Backend, model_ids: Iterable[str]) -> tuple[ModelEntry, ...]:
    """The registered entries of ``model_ids``, in that order, in one batched read.

    Raises:
        EntryNotFoundError: Naming the first model that is not registered.
    """
    model_ids = [validate_id(model_id, "model id") for model_id in model_ids]
    with backend_errors(backend.url, "models", "reading models from"):
        found = _stored_entries(backend, model_ids)
    for model_id in model_ids:
        if found[model_id] is None:
            raise EntryNotFoundError(f"model {model_id!r} is not registered in {backend.url}")
    return tuple(found[model_id] for model_id in model_ids)


def list_ids(backend: Backend) -> tuple[str, ...]:
    """Ids of the registered models, sorted."""
    with backend_errors(backend.url, "models", "listing"):
        return tuple(name for name in backend.list_names("models") if name != "zarr.json")
