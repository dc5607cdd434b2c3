"""Fetching model weights into a local, sha256-verified cache, within the store's weights policy.

As docs/design.md ("Layers") has it: ``storage`` fetches the bytes and checks their sha256; ``rsa_ray.models``
then builds the module from the local file. Before any byte is read, the source must be
allowed (:class:`~storage.weights_policy.WeightsPolicy`: local files, the store's own bucket,
prefixes the operator added) and the size within the limit (by ``stat``, or the size the server
announces; the bytes are counted while they stream in, too). A local file is checked where it is;
anything else is downloaded into a private temporary folder inside the cache, verified, and only
then moved to ``cache_dir/<sha256>/<basename>`` (an atomic rename: concurrent fetchers never see
half a file); a refused download leaves nothing behind. A cached copy is checked again each time
it is reused. No message shows a digest computed from a file: only that it does not match.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import posixpath
import re
import shutil
import stat
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import fsspec

from rsa_ray.errors import WeightsIntegrityError
from rsa_ray.model_entry.specs import is_byte_count
from storage.backend import is_io_failure
from storage.errors import StoreUnavailableError
from storage.redaction import redact_text, redact_url
from storage.weights_policy import WeightsPolicy, WeightsRefusedError

__all__ = ["WeightsPolicy", "WeightsRefusedError", "default_cache_dir", "fetch_weights", "is_local",
           "provisional_weights"]
_CHUNK = 1 << 20
_SHA256 = re.compile(r"[0-9a-f]{64}")
_MISSING_STATUS = (404, 410)
_log = logging.getLogger(__name__)


class _CacheWriteError(OSError):
    """Writing the local copy failed (a full disk): the local machine's failure, not the network's."""


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


def _integrity_error(uri: str, expected: str) -> WeightsIntegrityError:
    return WeightsIntegrityError(f"weights {redact_url(uri)}: sha256 mismatch: expected {expected}, which the "
                                 "file's bytes do not match")


def _sha256_of(handle: BinaryIO, uri: str, policy: WeightsPolicy, declared: int | None,
               copy_to: BinaryIO | None = None) -> str:
    """The digest of what ``handle`` holds, refusing it as soon as more bytes come than allowed."""
    digest, total = hashlib.sha256(), 0
    limit = policy.max_size if declared is None else min(policy.max_size, declared)
    for chunk in iter(lambda: handle.read(_CHUNK), b""):
        total += len(chunk)
        if total > limit:
            policy.check_size(uri, total, declared)
        digest.update(chunk)
        if copy_to is not None:
            try:
                copy_to.write(chunk)
            except OSError as error:
                raise _CacheWriteError(f"writing the local copy of weights {redact_url(uri)} failed: "
                                       f"{type(error).__name__}: {error}") from None
    policy.check_size(uri, total, declared)
    return digest.hexdigest()


def _verified_local(uri: str, path: str, sha256: str, policy: WeightsPolicy, declared: int | None) -> str:
    shown = redact_url(uri)
    try:
        status = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"weights {shown} do not exist") from None
    except OSError as error:
        raise OSError(f"weights {shown} cannot be read: {type(error).__name__}") from None
    if not stat.S_ISREG(status.st_mode):
        raise WeightsRefusedError(f"weights {shown} are not a regular file")
    policy.check_size(uri, status.st_size, declared)  # before any byte is read
    with open(path, "rb") as handle:
        if _sha256_of(handle, uri, policy, declared) != sha256:
            raise _integrity_error(uri, sha256)
    return path


def _is_missing(error: FileNotFoundError) -> bool:
    """Whether a fetch's FileNotFoundError means no file (a 404, a missing key) rather than a network failure."""
    cause = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    current = cause
    while current is not None:
        if getattr(current, "status", None) in _MISSING_STATUS:
            return True
        current = current.__cause__ or current.__context__
    return cause is None or not is_io_failure(cause)


@contextlib.contextmanager
def _remote_errors(uri: str) -> Iterator[None]:
    shown = redact_url(uri)
    try:
        yield
    except FileNotFoundError as error:
        if _is_missing(error):
            raise FileNotFoundError(f"weights {shown} do not exist") from None
        cause = error.__cause__ or error.__context__
        raise StoreUnavailableError(f"fetching weights {shown} failed: network failure: {type(cause).__name__}: "
                                    f"{redact_text(cause)}") from None
    except (WeightsRefusedError, StoreUnavailableError, _CacheWriteError):
        raise
    except Exception as error:
        if not is_io_failure(error):
            raise
        raise StoreUnavailableError(f"fetching weights {shown} failed: network failure: {type(error).__name__}: "
                                    f"{redact_text(error)}") from None


def _remove_partial(folder: str) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    with contextlib.suppress(OSError):  # the <sha256> folder, when nothing else is in it
        os.rmdir(os.path.dirname(folder))


def _download(uri: str, sha256: str, destination: str, storage_options: Mapping[str, Any],
              policy: WeightsPolicy, declared: int | None) -> str:
    """Streams ``uri`` into a private folder beside ``destination``, hashing it; returns that copy if it matches."""
    partial = os.path.join(os.path.dirname(destination), f".partial-{uuid.uuid4().hex}")
    temporary = os.path.join(partial, os.path.basename(destination))
    try:
        os.makedirs(partial)
        with _remote_errors(uri):
            with fsspec.open(uri, "rb", **dict(storage_options)) as source:
                policy.check_size(uri, getattr(source, "size", None), declared)  # the announced size, before reading
                with open(temporary, "wb") as target:
                    actual = _sha256_of(source, uri, policy, declared, target)
        if actual != sha256:
            raise _integrity_error(uri, sha256)
    except BaseException:
        _remove_partial(partial)
        raise
    return temporary


def _commit(temporary: str, destination: str) -> None:
    os.replace(temporary, destination)
    _remove_partial(os.path.dirname(temporary))


def _prepare(uri: str, sha256: str, cache_dir: str | os.PathLike, storage_options: Mapping[str, Any] | None,
             policy: WeightsPolicy | None, size: int | None) -> tuple[str, Callable[[], None] | None]:
    """The verified copy, and what makes it permanent (None when it already is)."""
    policy = policy or WeightsPolicy()
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise ValueError(f"weights {redact_url(uri)}: the expected sha256 must be 64 lowercase hex digits, got {sha256!r}")
    if size is not None and not is_byte_count(size):
        raise ValueError(f"weights {redact_url(uri)}: the declared size must be a whole number of bytes > 0, got {size!r}")
    policy.check_size(uri, size)  # a declared size over the limit: refused before any stat or fetch
    policy.check_source(uri)  # before any network access
    if is_local(uri):
        return _verified_local(uri, uri[len("file://"):] if uri.startswith("file://") else uri, sha256, policy, size), None
    name = posixpath.basename(urlsplit(uri).path.rstrip("/"))
    destination = os.path.join(os.fspath(cache_dir), sha256, name if name not in ("", ".", "..") else "weights")
    if os.path.isfile(destination):
        with contextlib.suppress(ValueError):
            return _verified_local(destination, destination, sha256, policy, size), None
        _log.warning("cached weights %s do not match their sha256 or size; fetching %s again", destination,
                     redact_url(uri))
    temporary = _download(uri, sha256, destination, storage_options or {}, policy, size)
    return temporary, lambda: _commit(temporary, destination)


def fetch_weights(uri: str, sha256: str, cache_dir: str | os.PathLike,
                  storage_options: Mapping[str, Any] | None = None, policy: WeightsPolicy | None = None,
                  size: int | None = None) -> str:
    """A verified local copy of a weights file; returns its path.

    Args:
        uri: A local path, ``file://`` URL or any fsspec URL the policy allows (``s3://``, ``https://``...).
        sha256: The expected digest, 64 lowercase hex digits.
        cache_dir: Where downloads go, as ``cache_dir/<sha256>/<basename>``.
        storage_options: fsspec options for ``uri`` (endpoint, credentials).
        policy: Allowed sources and the size limit; default local files only, 4 GiB (a store passes its
            own: :meth:`storage.settings.StoreSettings.weights_policy`).
        size: The declared size in bytes, when known: any other size is refused before hashing.

    Returns:
        The local path: ``uri`` itself for a local file, else the cached copy.

    Raises:
        ValueError: If ``sha256`` is not 64 lowercase hex digits.
        WeightsRefusedError: For a source the policy does not allow (before any network access) or a
            file over the size limit (before it is read).
        rsa_ray.models.WeightsIntegrityError: If the bytes do not match, naming the URI and the expected digest.
        FileNotFoundError: If there is nothing at ``uri``.
        StoreUnavailableError: If the remote storage cannot be reached (a network failure, naming the URL).

    Example:
        >>> import hashlib, tempfile
        >>> folder = tempfile.mkdtemp()
        >>> with fsspec.open("memory://zoo/w.bin", "wb") as handle:
        ...     _ = handle.write(b"weights")
        >>> policy = WeightsPolicy(("memory://zoo/",))
        >>> path = fetch_weights("memory://zoo/w.bin", hashlib.sha256(b"weights").hexdigest(), folder, policy=policy)
        >>> open(path, "rb").read(), os.path.basename(path)
        (b'weights', 'w.bin')
    """
    path, commit = _prepare(uri, sha256, cache_dir, storage_options, policy, size)
    if commit is None:
        return path
    commit()
    return os.path.join(os.path.dirname(os.path.dirname(path)), os.path.basename(path))


@contextlib.contextmanager
def provisional_weights(uri: str, sha256: str, cache_dir: str | os.PathLike,
                        storage_options: Mapping[str, Any] | None = None, policy: WeightsPolicy | None = None,
                        size: int | None = None) -> Iterator[str]:
    """A verified local copy for the duration of the block, kept in the cache only if the block succeeds.

    What a model that is being checked uses: if it is refused (the block raises), a copy this call
    downloaded is deleted, so nothing of a refused model stays in the cache. Arguments and errors are
    those of :func:`fetch_weights`.

    Example:
        >>> import hashlib, tempfile
        >>> folder = tempfile.mkdtemp()
        >>> with fsspec.open("memory://zoo/refused.bin", "wb") as handle:
        ...     _ = handle.write(b"weights")
        >>> digest, policy = hashlib.sha256(b"weights").hexdigest(), WeightsPolicy(("memory://zoo/",))
        >>> try:
        ...     with provisional_weights("memory://zoo/refused.bin", digest, folder, policy=policy) as path:
        ...         raise ValueError("the model does not build")
        ... except ValueError:
        ...     pass
        >>> os.listdir(folder)
        []
    """
    path, commit = _prepare(uri, sha256, cache_dir, storage_options, policy, size)
    if commit is None:
        yield path
        return
    try:
        yield path
    except BaseException:
        _remove_partial(os.path.dirname(path))
        raise
    commit()
