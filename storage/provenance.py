"""Provenance recorded on every entry: what produced it, from what, with which libraries, when."""

from __future__ import annotations

import datetime
import functools
import importlib.metadata
import platform
from dataclasses import dataclass, field
from typing import Any

_LIBRARIES = ("rsa-ray", "numpy", "scipy", "zarr", "fsspec", "s3fs", "torch")


def utc_now() -> str:
    """The current UTC time as ISO 8601 text, to the microsecond.

    Example:
        >>> utc_now().endswith("+00:00")
        True
    """
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


@functools.lru_cache(maxsize=1)
def _installed_versions() -> tuple[tuple[str, str], ...]:
    # importlib.metadata scans every installed distribution (~60 ms); versions do not change in a process.
    versions = [("python", platform.python_version())]
    for name in _LIBRARIES:
        try:
            versions.append((name, importlib.metadata.version(name)))
        except importlib.metadata.PackageNotFoundError:
            continue
    return tuple(versions)


def library_versions() -> dict[str, str]:
    """Versions of Python and the installed libraries that shape stored results (no imports done).

    Looked up once per process (cached); each call returns a new dict.

    Example:
        >>> "python" in library_versions()
        True
    """
    return dict(_installed_versions())


@dataclass(frozen=True)
class Provenance:
    """Where an entry came from. Stored as the entry's ``provenance`` attribute; never holds credentials.

    Attributes:
        probe_hash: Content hash of the probe set the entry was computed on (None for none).
        weights_sha256: sha256 of the model's weights (None where no model is involved).
        preprocessing: The model's preprocessing, as stored in the registry.
        library_versions: Library versions of the process that wrote the entry.
        created: UTC time the entry was created.

    Example:
        >>> Provenance(probe_hash="ab12").to_attrs()["probe_hash"]
        'ab12'
    """

    probe_hash: str | None = None
    weights_sha256: str | None = None
    preprocessing: dict[str, Any] | None = field(default=None, hash=False)
    library_versions: dict[str, str] = field(default_factory=library_versions, hash=False)
    created: str = field(default_factory=utc_now)

    def to_attrs(self) -> dict[str, Any]:
        """The JSON-ready attribute value."""
        return {
            "probe_hash": self.probe_hash,
            "weights_sha256": self.weights_sha256,
            "preprocessing": dict(self.preprocessing) if self.preprocessing is not None else None,
            "library_versions": dict(self.library_versions),
            "created": self.created,
        }

    @classmethod
    def from_attrs(cls, attrs: dict[str, Any]) -> "Provenance":
        """Inverse of :meth:`to_attrs`."""
        return cls(
            probe_hash=attrs.get("probe_hash"),
            weights_sha256=attrs.get("weights_sha256"),
            preprocessing=attrs.get("preprocessing"),
            library_versions=dict(attrs.get("library_versions") or {}),
            created=attrs.get("created", ""),
        )
