"""The operator's settings of one store, kept in its root group's attributes.

Settings change what the store accepts, not what it computes, so they are not part
of any entry's identity:

- ``allow_torchscript``: whether TorchScript archives (programs, not weights) may be
  registered and loaded for this store's models. Off unless the operator turns it on
  (``rsa-ray settings --allow-torchscript yes``); a run can also allow it with
  ``RSA_RAY_ALLOW_TORCHSCRIPT=1`` (:mod:`rsa_ray.models.torchscript`).
- ``max_weights_size``: the largest weights file fetched or hashed (4 GiB unless changed,
  ``rsa-ray settings --max-weights-size 8GiB``), checked by size before any byte is read.
- ``allow_weights_urls``: URL prefixes weights may come from besides local files and the
  store's own bucket (``rsa-ray settings --allow-weights-url https://models.example.org/zoo/``);
  anything else is refused before any network access (:mod:`storage.weights_policy`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any

from rsa_ray.model_entry.specs import is_byte_count
from storage.backend import Backend, backend_errors
from storage.entry_documents import group_document
from storage.errors import CorruptEntryError
from storage.weights_policy import DEFAULT_MAX_WEIGHTS_SIZE, WeightsPolicy, own_bucket_prefix, url_prefix

_ROOT = "zarr.json"
_ATTRIBUTE = "settings"


@dataclass(frozen=True)
class StoreSettings:
    """What the operator allows in a store.

    Attributes:
        allow_torchscript: Register and load TorchScript archives (off by default).
        max_weights_size: The largest weights file accepted, in bytes (default 4 GiB).
        allow_weights_urls: URL prefixes weights may be fetched from, besides local files and the
            store's own bucket (none by default).

    Example:
        >>> StoreSettings().allow_torchscript, StoreSettings().max_weights_size
        (False, 4294967296)
    """

    allow_torchscript: bool = False
    max_weights_size: int = DEFAULT_MAX_WEIGHTS_SIZE
    allow_weights_urls: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.allow_torchscript, bool):
            raise ValueError(f"allow_torchscript must be true or false, got {self.allow_torchscript!r}")
        if not is_byte_count(self.max_weights_size):
            raise ValueError(f"max_weights_size must be a positive whole number of bytes, got {self.max_weights_size!r}")
        if isinstance(self.allow_weights_urls, str) or not isinstance(self.allow_weights_urls, (tuple, list)):
            raise ValueError(f"allow_weights_urls must be a list of URL prefixes, got {self.allow_weights_urls!r}")
        prefixes = tuple(dict.fromkeys(url_prefix(prefix) for prefix in self.allow_weights_urls))
        object.__setattr__(self, "allow_weights_urls", prefixes)

    def weights_policy(self, store_url: str) -> WeightsPolicy:
        """What weights a store at ``store_url`` accepts: local files, its own bucket, the allowed prefixes.

        Example:
            >>> StoreSettings().weights_policy("s3://lab/stores/main").allowed_prefixes
            ('s3://lab/',)
        """
        own = own_bucket_prefix(store_url)
        return WeightsPolicy(((own,) if own else ()) + self.allow_weights_urls, self.max_weights_size)


def _root_attributes(backend: Backend) -> dict[str, Any]:
    payload = backend.get_many([_ROOT])[_ROOT]
    return dict(json.loads(payload).get("attributes", {})) if payload else {}


def _from_stored(stored: Any, url: str) -> StoreSettings:
    if not isinstance(stored, dict):
        stored = {}
    known = {field.name for field in fields(StoreSettings)}
    values = {name: value for name, value in stored.items() if name in known}
    if isinstance(values.get("allow_weights_urls"), list):
        values["allow_weights_urls"] = tuple(values["allow_weights_urls"])
    try:
        return StoreSettings(**values)
    except ValueError as error:
        raise CorruptEntryError(f"the settings in {_ROOT} of store {url} are damaged: {error}; set them again with "
                                "`rsa-ray settings`", _ROOT) from None


def read(backend: Backend) -> StoreSettings:
    """The store's settings (the defaults where none are written).

    Raises:
        CorruptEntryError: If a stored setting has a value of the wrong kind (naming it).

    Example:
        >>> read(Backend.open("memory://settings-read", {}))
        StoreSettings(allow_torchscript=False, max_weights_size=4294967296, allow_weights_urls=())
    """
    with backend_errors(backend.url, _ROOT, "reading the settings of"):
        stored = _root_attributes(backend).get(_ATTRIBUTE) or {}
    return _from_stored(stored, backend.url)


def write(backend: Backend, settings: StoreSettings) -> None:
    """Replaces the store's settings, keeping the root group's other attributes.

    Example:
        >>> backend = Backend.open("memory://settings-write", {})
        >>> write(backend, StoreSettings(allow_torchscript=True, allow_weights_urls=("https://models.example.org/",)))
        >>> read(backend).allow_torchscript, read(backend).allow_weights_urls
        (True, ('https://models.example.org/',))
    """
    with backend_errors(backend.url, _ROOT, "writing the settings of"):
        attributes = _root_attributes(backend)
        attributes[_ATTRIBUTE] = {**asdict(settings), "allow_weights_urls": list(settings.allow_weights_urls)}
        backend.put_bytes(_ROOT, group_document(attributes))
