"""Fetching model weights from any fsspec URL into a local, sha256-verified cache.

As docs/design.md ("Layers") has it: ``storage`` fetches the bytes and checks their sha256; ``rsa_ray.models``
then builds the module from the local file. A local file is checked where it is;
anything else is downloaded once into ``cache_dir/<sha256>/<basename>`` (a temporary
file, then an atomic rename, so concurrent fetchers never see half a file) and
checked again each time it is reused.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import posixpath
import re
import uuid
from collections.abc import Mapping
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import fsspec

from storage.backend import file_errors
from storage.redaction import redact_url

__all__ = ["default_cache_dir", "fetch_weights", "is_local"]
_CHUNK = 1 << 20
_SHA256 = re.compile(r"[0-9a-f]{64}")
_log = logging.getLogger(__name__)


def default_cache_dir() -> str:
    """``$RSA_RAY_CACHE`` if set, else ``~/.cache/rsa_ray/weights``.

    Example:
        >>> default_cache_dir().endswith("weights") or "RSA_RAY_CACHE" in os.environ
        True
    """
    return os.environ.get("RSA_RAY_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "rsa_ray", "weights")


def is_local(uri: str) -> bool:
    """Whether ``uri`` is a local path or a ``file://`` URL.

    Example:
        >>> is_local("/zoo/w.safetensors"), is_local("file:///zoo/w.safetensors"), is_local("s3://b/w")
        (True, True, False)
    """
    return "://" not in uri or uri.startswith("file://")


def _integrity_error(uri: str, expected: str, actual: str) -> ValueError:
    from rsa_ray.models.weights import WeightsIntegrityError  # imported only to raise: it loads torch

    return WeightsIntegrityError(f"weights {redact_url(uri)}: sha256 mismatch: expected {expected}, got {actual}")


def _sha256_of(handle: BinaryIO, copy_to: BinaryIO | None = None) -> str:
    digest = hashlib.sha256()
    for chunk in iter(lambda: handle.read(_CHUNK), b""):
        digest.update(chunk)
        if copy_to is not None:
            copy_to.write(chunk)
    return digest.hexdigest()


def _file_sha256(path: str) -> str:
    with open(path, "rb") as handle:
        return _sha256_of(handle)


def _download(uri: str, sha256: str, destination: str, storage_options: Mapping[str, Any]) -> None:
    """Streams ``uri`` into a temporary file beside ``destination``, hashing it; renames only if it matches."""
    os.makedirs(os.path.dirname(destination), exist_ok=True)
    temporary = f"{destination}.{uuid.uuid4().hex}.partial"
    shown = redact_url(uri)
    try:
        with file_errors(f"weights {shown} do not exist", f"fetching weights {shown}"):
            with fsspec.open(uri, "rb", **dict(storage_options)) as source, open(temporary, "wb") as target:
                actual = _sha256_of(source, target)
            if actual != sha256:
                raise _integrity_error(uri, sha256, actual)
            os.replace(temporary, destination)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)


def fetch_weights(uri: str, sha256: str, cache_dir: str | os.PathLike,
                  storage_options: Mapping[str, Any] | None = None) -> str:
    """A verified local copy of a weights file; returns its path.

    Args:
        uri: A local path, ``file://`` URL or any fsspec URL (``s3://``, ``gs://``, ``https://``...).
        sha256: The expected digest, 64 lowercase hex digits.
        cache_dir: Where downloads go, as ``cache_dir/<sha256>/<basename>``.
        storage_options: fsspec options for ``uri`` (endpoint, credentials).

    Returns:
        The local path: ``uri`` itself for a local file, else the cached copy.

    Raises:
        ValueError: If ``sha256`` is not 64 lowercase hex digits.
        rsa_ray.models.WeightsIntegrityError: If the bytes do not match, naming the URI and both digests.
        FileNotFoundError: If there is nothing at ``uri``.
        StoreUnavailableError: If the remote storage fails.

    Example:
        >>> import hashlib, tempfile
        >>> folder = tempfile.mkdtemp()
        >>> with fsspec.open("memory://zoo/w.bin", "wb") as handle:
        ...     _ = handle.write(b"weights")
        >>> path = fetch_weights("memory://zoo/w.bin", hashlib.sha256(b"weights").hexdigest(), folder)
        >>> open(path, "rb").read(), os.path.basename(path)
        (b'weights', 'w.bin')
    """
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise ValueError(f"weights {redact_url(uri)}: the expected sha256 must be 64 lowercase hex digits, got {sha256!r}")
    if is_local(uri):
        path = uri[len("file://"):] if uri.startswith("file://") else uri
        if not os.path.isfile(path):
            raise FileNotFoundError(f"weights {redact_url(uri)} do not exist")
        actual = _file_sha256(path)
        if actual != sha256:
            raise _integrity_error(uri, sha256, actual)
        return path
    name = posixpath.basename(urlsplit(uri).path.rstrip("/"))
    destination = os.path.join(os.fspath(cache_dir), sha256, name if name not in ("", ".", "..") else "weights")
    if os.path.isfile(destination):
        if _file_sha256(destination) == sha256:
            return destination
        _log.warning("cached weights %s do not match their sha256; fetching %s again", destination, redact_url(uri))
    _download(uri, sha256, destination, storage_options or {})
    return destination
