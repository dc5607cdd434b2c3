"""Safe names, entry keys and content hashes: how things are addressed in the store.

Ids become path components, so they are validated names, never paths: ASCII
letters, digits, ``.``, ``_`` and ``-``, starting with a letter or digit, at most
128 characters.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from rsa_ray.names import MAX_ID_LENGTH, safe_name_problem
from storage.errors import InvalidIdError

__all__ = ["MAX_ID_LENGTH", "EntryKey", "EntryKind", "canonical_json", "sha256_of_json", "validate_id"]


def validate_id(value: object, what: str = "id") -> str:
    """Returns ``value`` if it is a safe name, else raises naming it.

    Args:
        value: The candidate id.
        what: What the id names, for the message (``"model id"``, ``"layer"``...).

    Returns:
        The id, unchanged.

    Raises:
        InvalidIdError: If ``value`` is not a string, is empty, too long, not ASCII,
            or holds a character outside ``[A-Za-z0-9._-]`` (``/`` and ``..`` included).

    Example:
        >>> validate_id("resnet50.block4", "layer")
        'resnet50.block4'
    """
    problem = safe_name_problem(value, what)
    if problem is not None:
        raise InvalidIdError(problem)
    return value


class EntryKind(enum.Enum):
    """The per-(probe set, model, layer) entry kinds, named by their top-level folder."""

    ACTIVATIONS = "activations"
    RDMS = "rdms"
    RANKS = "ranks"


# What the folder of a layer's average-pooled features adds to the layer's name (EntryKey.pooled).
POOLED_SUFFIX = ".pooled"


@dataclass(frozen=True)
class EntryKey:
    """Addresses one (probe set, model, layer) entry; all three parts are validated ids.

    ``pooled`` addresses the layer's average-pooled features instead (what label-based scores read of a
    layer whose activations are not stored whole), stored beside it under ``{layer}.pooled``.

    Example:
        >>> EntryKey("p0", "depth", "block4").path(EntryKind.RDMS)
        'rdms/p0/depth/block4'
        >>> EntryKey("p0", "depth", "block4").pooled_features().path(EntryKind.ACTIVATIONS)
        'activations/p0/depth/block4.pooled'
    """

    probe_id: str
    model_id: str
    layer: str
    pooled: bool = False

    def __post_init__(self) -> None:
        validate_id(self.probe_id, "probe set id")
        validate_id(self.model_id, "model id")
        validate_id(self.layer, "layer")
        if self.pooled:  # the folder's name must be a valid id too
            validate_id(self.stored_layer, "layer")

    @property
    def stored_layer(self) -> str:
        """The layer's name as the store writes it: in the entry's path and its ``layer`` attribute.

        Example:
            >>> EntryKey("p0", "depth", "block4", pooled=True).stored_layer
            'block4.pooled'
        """
        return self.layer + POOLED_SUFFIX if self.pooled else self.layer

    def pooled_features(self) -> EntryKey:
        """The key of this layer's average-pooled features."""
        return dataclasses.replace(self, pooled=True)

    def path(self, kind: EntryKind) -> str:
        """The entry's path inside the store group for ``kind``."""
        return f"{EntryKind(kind).value}/{self.probe_id}/{self.model_id}/{self.stored_layer}"


def canonical_json(document: Any) -> str:
    """JSON with sorted keys and no spaces: equal documents give equal text.

    Example:
        >>> canonical_json({"b": 1, "a": [1, 2]})
        '{"a":[1,2],"b":1}'
    """
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def sha256_of_json(document: Any) -> str:
    """The sha256 (hex) of a document's canonical JSON.

    Example:
        >>> sha256_of_json({"a": 1}) == sha256_of_json({"a": 1})
        True
    """
    return hashlib.sha256(canonical_json(document).encode("ascii")).hexdigest()
