"""Opens a store URL as an fsspec filesystem plus a Zarr store, and does raw file IO.

Everything here is rebuilt from ``(url, storage_options)`` in each process, so a
:class:`storage.Store` pickles as those two values only. Listing caches are off by
default: several processes write the same bucket, and a cached listing would hide
their work (fsspec's per-process instance cache stays on: it only saves clients).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import fsspec
import fsspec.asyn
from fsspec.implementations.local import LocalFileSystem

from storage.errors import CorruptEntryError, StoreUnavailableError
from storage.redaction import has_credentials, redact_text, redact_url

if TYPE_CHECKING:
    from zarr.abc.store import Store as ZarrStore

# Exceptions from these packages mean "the backend failed", not "the data is bad".
_IO_ERROR_MODULES = ("botocore", "aiobotocore", "aiohttp", "urllib3", "s3fs", "requests")


def normalize_url(url: str | os.PathLike) -> str:
    """A canonical form of a store URL: local paths become absolute ``file://`` URLs.

    Raises:
        ValueError: If the URL carries credentials (``user:secret@host``, a signed or token
            query); pass those in ``storage_options`` or the environment instead. The message
            shows the URL redacted.

    Example:
        >>> normalize_url("s3://bucket/prefix/")
        's3://bucket/prefix'
    """
    text = os.fspath(url)
    if has_credentials(text):
        raise ValueError(
            f"store URL {redact_url(text)!r} must not hold credentials; pass them in storage_options or the "
            "standard AWS environment variables / config files"
        )
    parts = urlsplit(text)
    if len(parts.scheme) <= 1:  # no scheme, or a Windows drive letter
        return "file://" + os.path.abspath(os.path.expanduser(text))
    if parts.scheme == "file":
        return "file://" + os.path.abspath(text[len("file://"):])
    return text.rstrip("/")


def local_folder(url: str) -> str | None:
    """The folder a normalized ``file://`` store URL names, or None for any other URL.

    Example:
        >>> local_folder("file:///data/rsa-store/"), local_folder("s3://bucket/store")
        ('/data/rsa-store', None)
    """
    if urlsplit(url).scheme != "file":
        return None
    return url[len("file://"):].rstrip("/") or "/"


def _s3_defaults(storage_options: Mapping[str, Any]) -> dict[str, Any]:
    # max_concurrency=1: s3fs otherwise sends a HEAD (and, for a missing key, a LIST) before every
    # GET to decide on a split download, tripling the requests for our small chunks and markers.
    options: dict[str, Any] = {"use_listings_cache": False, "max_concurrency": 1}
    options.update(storage_options)
    return options


@dataclass(frozen=True, eq=False)
class Backend:
    """Live handles for one store URL in this process (never pickled).

    Attributes:
        url: The normalized store URL (holds no credentials).
        fs: A synchronous fsspec filesystem.
        root: The store's root path inside ``fs`` (no protocol).
        zarr_options: The fsspec options of the Zarr store (None: a local folder). The Zarr store
            itself, :attr:`zarr_store`, is made on first use, so reading documents never imports Zarr.
        written_groups: Group documents this process has written (they never change).
    """

    url: str
    fs: fsspec.AbstractFileSystem
    root: str
    zarr_options: Mapping[str, Any] | None = field(default=None, repr=False)
    written_groups: set[str] = field(default_factory=set)

    @classmethod
    def open(cls, url: str, storage_options: Mapping[str, Any]) -> "Backend":
        protocol = urlsplit(url).scheme
        root = local_folder(url)
        if root is not None:
            os.makedirs(root, exist_ok=True)
            return cls(url, LocalFileSystem(auto_mkdir=True), root)
        options = _s3_defaults(storage_options) if protocol in ("s3", "s3a") else dict(storage_options)
        fs, root = fsspec.url_to_fs(url, **options)
        return cls(url, fs, root.rstrip("/"), options)

    @functools.cached_property
    def zarr_store(self) -> ZarrStore:
        """The Zarr store rooted at the same place, made on first use (reading documents never imports Zarr)."""
        from zarr.storage import FsspecStore, LocalStore

        if self.zarr_options is None:
            return LocalStore(self.root)
        return FsspecStore.from_url(self.url, storage_options=dict(self.zarr_options))

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, LocalFileSystem)

    def full_path(self, relative: str) -> str:
        """The fs path of a path relative to the store root."""
        return f"{self.root}/{relative}" if relative else self.root

    def put_bytes(self, relative: str, payload: bytes) -> None:
        """Writes one object atomically: a reader sees the old content or all of the new."""
        path = self.full_path(relative)
        if not self.is_local:
            self.fs.pipe_file(path, payload)  # an object PUT is atomic
            return
        os.makedirs(os.path.dirname(path), exist_ok=True)
        temporary = f"{path}.{uuid.uuid4().hex}.partial"
        try:
            with open(temporary, "wb") as handle:
                handle.write(payload)
            os.replace(temporary, path)
        except BaseException:  # a full disk: no partial file is left behind
            with contextlib.suppress(OSError):
                os.remove(temporary)
            raise

    def put_many(self, payloads: Mapping[str, bytes]) -> None:
        """Writes several small objects (concurrently where the backend allows)."""
        if self.is_local or len(payloads) < 2:
            for relative, payload in payloads.items():
                self.put_bytes(relative, payload)
            return
        self.fs.pipe({self.full_path(relative): payload for relative, payload in payloads.items()})

    def _each(self, method: str, paths: list[str]) -> list[Any]:
        """Calls one fsspec file method per path (concurrently on async filesystems); errors are returned."""
        if getattr(self.fs, "async_impl", False):
            async def gather() -> list[Any]:
                calls = [getattr(self.fs, f"_{method}")(path) for path in paths]
                return await asyncio.gather(*calls, return_exceptions=True)

            return fsspec.asyn.sync(self.fs.loop, gather)
        results: list[Any] = []
        for path in paths:
            try:
                results.append(getattr(self.fs, method)(path))
            except Exception as error:  # returned like the async branch, judged by the caller
                # Without its traceback: kept in ``results``, it would hold this frame and its callers' (their
                # locals: a batch of activations) in a cycle until the garbage collector runs.
                results.append(error.with_traceback(None))
        return results

    def get_many(self, relatives: Iterable[str]) -> dict[str, bytes | None]:
        """Reads several objects (one GET each); a missing one maps to None, any other failure raises."""
        relatives = list(relatives)
        contents = self._each("cat_file", [self.full_path(relative) for relative in relatives])
        found: dict[str, bytes | None] = {}
        for relative, content in zip(relatives, contents):
            if isinstance(content, FileNotFoundError):
                found[relative] = None
            elif isinstance(content, BaseException):
                raise content
            else:
                found[relative] = content
        return found

    def get_documents(self, relatives: Iterable[str], hint: str = "") -> dict[str, dict[str, Any] | None]:
        """Reads several JSON documents (``zarr.json`` files); a missing one maps to None.

        ``hint`` (how to repair it) ends the message of a damaged one.

        Raises:
            CorruptEntryError: Naming the first document that is empty or not a JSON object
                (a damaged document is not a missing one).

        Example:
            >>> backend = Backend.open("memory://get-documents-example", {})
            >>> backend.put_bytes("models/m1/zarr.json", b"")
            >>> backend.get_documents(["models/m1/zarr.json"])
            Traceback (most recent call last):
            ...
            storage.errors.CorruptEntryError: models/m1/zarr.json in store memory://get-documents-example is damaged: it is empty
        """
        documents: dict[str, dict[str, Any] | None] = {}
        for relative, payload in self.get_many(relatives).items():
            problem = None if payload is None else document_damage(relative, self.url, payload)
            if problem is not None:
                raise CorruptEntryError(problem + hint, relative)
            documents[relative] = None if payload is None else json.loads(payload)
        return documents

    def remove(self, relatives: Iterable[str]) -> None:
        """Deletes objects (one DELETE each); ones already gone are fine."""
        for outcome in self._each("rm_file", [self.full_path(relative) for relative in relatives]):
            if isinstance(outcome, BaseException) and not isinstance(outcome, FileNotFoundError):
                raise outcome

    def remove_tree(self, relative: str) -> None:
        """Deletes a folder and everything under it, if it exists."""
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(self.full_path(relative), recursive=True)

    def list_names(self, relative: str) -> list[str]:
        """Names directly under a folder (empty if it does not exist)."""
        path = self.full_path(relative)
        try:
            entries = self.fs.ls(path, detail=False, refresh=True) if not self.is_local else os.listdir(path)
        except FileNotFoundError:
            return []
        return sorted({entry.rstrip("/").rsplit("/", 1)[-1] for entry in entries})


def document_damage(name: str, url: str, payload: bytes) -> str | None:
    """Why a stored JSON document's bytes are not a JSON object, naming the file; None when they are one.

    Example:
        >>> document_damage("models/m1/zarr.json", "file:///s", b"")
        'models/m1/zarr.json in store file:///s is damaged: it is empty'
        >>> document_damage("zarr.json", "file:///s", b'{"a": 1}') is None
        True
    """
    if not payload.strip():
        return f"{name} in store {url} is damaged: it is empty"
    try:
        document = json.loads(payload)
    except ValueError as error:
        return f"{name} in store {url} is damaged: it is not valid JSON ({error})"
    if not isinstance(document, dict):
        return f"{name} in store {url} is damaged: it holds a JSON {type(document).__name__}, not an object"
    return None


def is_io_failure(error: BaseException) -> bool:
    """Whether ``error`` (or what caused it) is a backend failure rather than bad data."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (OSError, TimeoutError)) and not isinstance(current, FileNotFoundError):
            return True
        if type(current).__module__.split(".")[0] in _IO_ERROR_MODULES:
            return True
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return False


@contextlib.contextmanager
def backend_errors(url: str, label: str, action: str) -> Iterator[None]:
    """Turns backend failures inside the block into :class:`StoreUnavailableError` naming the entry."""
    try:
        yield
    except StoreUnavailableError:
        raise
    except Exception as error:
        if not is_io_failure(error):
            raise
        raise StoreUnavailableError(
            f"{action} {label!r} in store {url} failed: {type(error).__name__}: {redact_text(error)}. "
            "Nothing is marked complete by a failed write; rerun once the storage is reachable."
        ) from error


@contextlib.contextmanager
def file_errors(missing: str, failed: str) -> Iterator[None]:
    """Names the file in the errors of reading it inside the block.

    A missing file raises ``FileNotFoundError(missing)``; a backend failure raises
    :class:`StoreUnavailableError` starting with ``failed`` and giving the cause, redacted.
    Other errors (bad content) pass through unchanged.

    Args:
        missing: The message for a file that does not exist, e.g. ``"manifest s3://b/m.yaml does not exist"``.
        failed: What failed, e.g. ``"reading manifest s3://b/m.yaml"``.

    Example:
        >>> with file_errors("weights /absent.bin do not exist", "fetching weights /absent.bin"):
        ...     open("/absent.bin", "rb")
        Traceback (most recent call last):
        ...
        FileNotFoundError: weights /absent.bin do not exist
    """
    try:
        yield
    except FileNotFoundError:
        raise FileNotFoundError(missing) from None
    except Exception as error:
        if not is_io_failure(error):
            raise
        raise StoreUnavailableError(f"{failed} failed: {type(error).__name__}: {redact_text(error)}") from None
