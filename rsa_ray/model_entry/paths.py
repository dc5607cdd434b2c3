"""Where an entry's files lie: the one resolver of weights and config paths against the manifest's folder.

A relative path is relative to the folder the manifest was read from and must stay inside it:
one that climbs out with ``../`` is refused from its text alone, before anything opens, hashes
or even looks at the file, and the refusal says nothing about the file. An absolute path or a
URL (``s3://``...) says where the file lies from anywhere and is kept as it is; which sources may
be fetched, and what a failed fetch may say, is the store's weights policy.
"""

from __future__ import annotations

import os
import posixpath

# The rule a path outside the manifest's folder breaks, as the end of "field 'weights.path' ...".
OUTSIDE_FOLDER = "must stay inside the manifest's folder (a relative path may not climb out of it with '../')"


class PathOutsideFolderError(ValueError):
    """A path climbs out of the manifest's folder; the message states only the rule, nothing of the path."""


def is_location_independent(path: str) -> bool:
    """Whether a path means the same file from anywhere: a URL or an absolute local path.

    Example:
        >>> is_location_independent("s3://zoo/w.safetensors"), is_location_independent("w.safetensors")
        (True, False)
    """
    return "://" in path or os.path.isabs(path)


def _local(url: str) -> str | None:
    """The local path a folder or file URL names (``file://`` or none), else None."""
    url = os.fspath(url)
    if url.startswith("file://"):
        return url[len("file://"):]
    return None if "://" in url else url


def manifest_folder(url: str) -> str:
    """The folder a manifest URL lives in (an absolute path for local manifests).

    Example:
        >>> manifest_folder("s3://bucket/zoo/manifest.yaml"), manifest_folder("file:///zoo/manifest.yaml")
        ('s3://bucket/zoo', '/zoo')
    """
    local = _local(url)
    if local is not None:
        return os.path.dirname(os.path.abspath(os.path.expanduser(local)))
    return os.fspath(url).rstrip("/").rsplit("/", 1)[0]


def _inside(path: str, folder: str, separator: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(separator) + separator)


def resolve_path(path: str, folder: str | None) -> str:
    """``path`` as it lies from the manifest's ``folder``; refused when a relative path climbs out of it.

    Args:
        path: A weights or config path as the entry gives it.
        folder: The manifest's folder (a local path or URL); None when the entry was read from no
            file (then the path is kept as it is).

    Raises:
        PathOutsideFolderError: A relative path climbs out of the folder.

    Example:
        >>> resolve_path("x.safetensors", "s3://b/zoo"), resolve_path("w/../x.pt", "file:///zoo/v1")
        ('s3://b/zoo/x.safetensors', '/zoo/v1/x.pt')
        >>> resolve_path("gs://other/x.pt", "/zoo"), resolve_path("/abs/x.pt", "/zoo"), resolve_path("../x.pt", None)
        ('gs://other/x.pt', '/abs/x.pt', '../x.pt')
        >>> resolve_path("../w/x.pt", "/zoo/v1")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        rsa_ray.model_entry.paths.PathOutsideFolderError: must stay inside the manifest's folder ...
    """
    if folder is None or is_location_independent(path):  # the same file from anywhere: the weights policy decides
        return path
    local_folder = _local(folder)
    if local_folder is not None:
        base = os.path.normpath(os.path.abspath(os.path.expanduser(local_folder)))
        resolved = os.path.normpath(os.path.join(base, path))
        inside = _inside(resolved, base, os.sep)
    else:
        scheme, _, remote = os.fspath(folder).rpartition("://")
        remote = posixpath.normpath(remote)
        joined = posixpath.normpath(posixpath.join(remote, path))
        resolved, inside = f"{scheme}://{joined}", _inside(joined, remote, "/")
    if not inside:
        raise PathOutsideFolderError(OUTSIDE_FOLDER)
    return resolved
