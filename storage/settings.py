"""The operator's settings of one store, kept in its root group's attributes.

Settings change what the store accepts, not what it computes, so they are not part
of any entry's identity. Today there is one: whether TorchScript archives (programs,
not weights) may be registered and loaded for this store's models. It is off unless
the operator turns it on (``rsa-ray settings --allow-torchscript yes``); a run can
also allow it with ``RSA_RAY_ALLOW_TORCHSCRIPT=1`` (:mod:`rsa_ray.models.torchscript`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any

from storage.backend import Backend, backend_errors
from storage.entry_documents import group_document

_ROOT = "zarr.json"
_ATTRIBUTE = "settings"


@dataclass(frozen=True)
class StoreSettings:
    """What the operator allows in a store.

    Attributes:
        allow_torchscript: Register and load TorchScript archives (off by default).

    Example:
        >>> StoreSettings().allow_torchscript
        False
    """

    allow_torchscript: bool = False


def _root_attributes(backend: Backend) -> dict[str, Any]:
    payload = backend.get_many([_ROOT])[_ROOT]
    return dict(json.loads(payload).get("attributes", {})) if payload else {}


def read(backend: Backend) -> StoreSettings:
    """The store's settings (the defaults where none are written).

    Example:
        >>> read(Backend.open("memory://settings-read", {}))
        StoreSettings(allow_torchscript=False)
    """
    with backend_errors(backend.url, _ROOT, "reading the settings of"):
        stored = _root_attributes(backend).get(_ATTRIBUTE) or {}
    known = {field.name for field in fields(StoreSettings)}
    return StoreSettings(**{name: bool(value) for name, value in stored.items() if name in known})


def write(backend: Backend, settings: StoreSettings) -> None:
    """Replaces the store's settings, keeping the root group's other attributes.

    Example:
        >>> backend = Backend.open("memory://settings-write", {})
        >>> write(backend, StoreSettings(allow_torchscript=True))
        >>> read(backend).allow_torchscript
        True
    """
    with backend_errors(backend.url, _ROOT, "writing the settings of"):
        attributes = _root_attributes(backend)
        attributes[_ATTRIBUTE] = asdict(settings)
        backend.put_bytes(_ROOT, group_document(attributes))
