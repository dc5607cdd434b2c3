"""Create-only writes, and whether a store's backend really honours them.

Locks, entry claims and similarity version numbers all rest on one primitive:
write an object only if it does not exist yet, atomically. On a local folder
that is a hard link (it fails if the target exists); on S3 a conditional PUT
(``If-None-Match: *``). Some S3-compatible servers accept the header and ignore
it, so a second "create" silently overwrites. :func:`probe_exclusive_writes`
finds out once per store URL and process, and says so in one warning.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid

from storage.backend import Backend, is_io_failure

logger = logging.getLogger("rsa_ray")
PROBE_FOLDER = "locks/.probe"  # lock names cannot start with "." (storage.names), so this is no lock
# Per store URL: whether a second create-only write of one key failed as it should. Probed once per process.
_HONOURED_BY_URL: dict[str, bool] = {}
_PROBING = threading.Lock()  # one probe (and one warning) per URL, even when threads open a store at once


def create_exclusive(backend: Backend, relative: str, payload: bytes) -> None:
    """Writes an object only if it does not exist yet (atomically), else raises ``FileExistsError``.

    Example:
        >>> create_exclusive(backend, "locks/example.json", b"{}")  # doctest: +SKIP
    """
    path = backend.full_path(relative)
    if backend.is_local:
        # Written whole to a temporary file, then hard-linked into place: the link fails if the target
        # exists, and a reader never sees the object without its content.
        os.makedirs(os.path.dirname(path), exist_ok=True)
        temporary = f"{path}.{uuid.uuid4().hex}.partial"
        with open(temporary, "wb") as handle:
            handle.write(payload)
        try:
            os.link(temporary, path)  # raises FileExistsError if the target exists
        finally:
            os.remove(temporary)
        return
    backend.fs.pipe_file(path, payload, mode="create")


def probe_exclusive_writes(backend: Backend) -> bool | None:
    """Whether the backend honours create-only writes; probed once per store URL and process.

    A local folder is trusted (hard links are atomic on POSIX filesystems). Elsewhere one
    probe object under ``locks/.probe/`` is created twice, then deleted: the second create
    must fail. A backend that lets it succeed is reported by one warning on the ``rsa_ray``
    logger, the first time its URL is probed.

    Returns:
        True or False; None if the probe could not write (e.g. read-only credentials),
        in which case nothing is cached and the next call probes again.

    Example:
        >>> from storage import Store
        >>> probe_exclusive_writes(Store.open("memory://exclusive-example")._backend)
        True
    """
    if backend.is_local:
        return True
    with _PROBING:
        if backend.url not in _HONOURED_BY_URL:
            return _probe(backend)
        return _HONOURED_BY_URL[backend.url]


def _probe(backend: Backend) -> bool | None:
    probe = f"{PROBE_FOLDER}/{uuid.uuid4().hex}.json"
    try:
        create_exclusive(backend, probe, b"{}")
        try:
            create_exclusive(backend, probe, b"{}")
            honoured = False
        except FileExistsError:
            honoured = True
        finally:
            backend.remove([probe])
    except Exception as error:
        if not is_io_failure(error):
            raise
        logger.debug("cannot probe create-only writes of %s: %s: %s", backend.url, type(error).__name__, error)
        return None
    _HONOURED_BY_URL[backend.url] = honoured
    if not honoured:
        logger.warning(
            "store %s does not honour create-only writes (If-None-Match: *): a second create of one object "
            "succeeded. Locks on it are refused, and concurrent writers of one entry are not kept apart.",
            backend.url,
        )
    return honoured
