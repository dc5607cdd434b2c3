"""Probe sets: the shared images every model is run on, stored uint8 [M, H, W, 3] under ``probes/``.

A probe set's id is a content hash of its images and image ids, so adding the
same set twice gives the same id and writes nothing the second time.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from storage import entries, entry_documents, reading
from storage.backend import Backend
from storage.errors import EntryNotFoundError, EntryShapeError, IncompleteEntryError
from storage.names import canonical_json, validate_id
from rsa_ray.names import is_printable_text
from rsa_ray.probe_bounds import check_probe_shape
from rsa_ray.target_labels import TargetLabels
from storage.provenance import Provenance

logger = logging.getLogger("rsa_ray")


@dataclass(frozen=True)
class ProbeSetInfo:
    """What a stored probe set holds (without its pixels).

    Attributes:
        probe_id: The set's id (the first 32 hex digits of ``content_hash``).
        n_images, height, width: Image count and size.
        image_ids: One id per image, in row order.
        source: Where the images came from (free text).
        content_hash: sha256 of the image ids, shape and pixels (and of the labels, when labelled).
        label_kind: ``classes`` or ``regression`` for a target's labelled probe set, else None.
    """

    probe_id: str
    n_images: int
    height: int
    width: int
    image_ids: tuple[str, ...]
    source: str
    content_hash: str
    label_kind: str | None = None


def _check_images(images: np.ndarray, image_ids: Sequence[str]) -> None:
    shape = getattr(images, "shape", None)
    if not isinstance(images, np.ndarray) or images.ndim != 4 or images.shape[-1] != 3 or images.shape[0] < 1:
        raise EntryShapeError(f"probe set images must be a numpy array of shape (M, H, W, 3), got {shape}")
    if images.dtype != np.uint8:
        raise EntryShapeError(f"probe set images must have dtype uint8 (shape (M, H, W, 3)), got {images.dtype}")
    check_probe_shape(*images.shape[:3], "probe set")  # at least 3 images, sizes bounded: before anything is written
    if isinstance(image_ids, str) or len(image_ids) != images.shape[0]:
        raise ValueError(f"probe set needs one image id per image ({images.shape[0]}), got {len(image_ids)}")
    if not all(isinstance(image_id, str) and image_id for image_id in image_ids):
        raise ValueError("probe set image ids must be non-empty strings")
    unprintable = next((image_id for image_id in image_ids if not is_printable_text(image_id)), None)
    if unprintable is not None:  # ids are shown in tables, exports and messages, one per line
        raise ValueError(f"probe set image id {ascii(unprintable)} must be printable text "
                         "(no control, format or bidirectional characters)")
    if len(set(image_ids)) != len(image_ids):
        raise ValueError("probe set image ids must be unique")


def content_hash(images: np.ndarray, image_ids: Sequence[str], labels: TargetLabels | None = None) -> str:
    """sha256 of what defines a probe set: its image ids, shape and pixels, and its labels if any.

    An unlabelled set's hash is that of its images alone, so adding labels gives another set.

    Example:
        >>> len(content_hash(np.zeros((1, 2, 2, 3), np.uint8), ["a"]))
        64
    """
    digest = hashlib.sha256(canonical_json({"image_ids": list(image_ids), "shape": list(images.shape)}).encode())
    digest.update(np.ascontiguousarray(images).view(np.uint8).reshape(-1))
    if labels is not None:
        values = np.ascontiguousarray(labels.values)
        digest.update(canonical_json({"label_kind": labels.kind, "label_shape": list(values.shape),
                                      "label_dtype": str(values.dtype)}).encode())
        digest.update(values.view(np.uint8).reshape(-1))
    return digest.hexdigest()


def _labels_path(probe_id: str) -> str:
    return f"probe-labels/{probe_id}"


def add(backend: Backend, images: np.ndarray, image_ids: Sequence[str], source: str,
        rows_per_chunk: int | None = None, labels: TargetLabels | None = None) -> str:
    """Stores a probe set (or finishes an interrupted store of it) and returns its id.

    A labelled set (a target's images with one label each) writes its labels first, then
    the images; the images' completion marker, written last, makes the set visible.

    Raises:
        ValueError: Labels whose count differs from the images'.
    """
    _check_images(images, image_ids)
    if labels is not None and labels.n_images != images.shape[0]:
        raise ValueError(f"probe set has {images.shape[0]} images but {labels.n_images} labels")
    full_hash = content_hash(images, image_ids, labels)
    probe_id = full_hash[:32]
    path = f"probes/{probe_id}"
    if entry_documents.read_marker(backend, path) is not None:
        return probe_id  # the id is the content: the same set is already stored
    attributes = {"kind": "probes", "source": str(source), "image_ids": list(image_ids),
                  "content_hash": full_hash, "provenance": Provenance(probe_hash=full_hash).to_attrs()}
    if labels is not None:
        attributes["label_kind"] = labels.kind
    created = [folder for folder in (path, _labels_path(probe_id)) if not entry_documents.stored_entry(backend, folder).exists]
    try:
        _write(backend, path, images, attributes, rows_per_chunk, labels)
    except BaseException:
        _remove_created(backend, created)  # a failed write (a full disk) leaves nothing behind
        raise
    return probe_id


def _write(backend: Backend, path: str, images: np.ndarray, attributes: dict, rows_per_chunk: int | None,
           labels: TargetLabels | None) -> None:
    """Writes the labels (if any), then the images, then the images' completion marker."""
    if labels is not None:
        entries.write_whole(backend, _labels_path(path.split("/", 1)[1]), labels.values,
                            {"kind": "probe-labels", "label_kind": labels.kind, "content_hash": attributes["content_hash"]})
    layout = entries.create(backend, path, images.shape, "uint8", attributes, rows_per_chunk)
    for start, stop in entries.contiguous_runs(layout.pending):
        entries.write_rows(backend, path, start, images[start:stop])
    entries.finalize(backend, path)


def _remove_created(backend: Backend, folders: Sequence[str]) -> None:
    """Removes the entries this call created (one an earlier, interrupted call left is kept for its resume)."""
    for folder in folders:
        try:
            backend.remove_tree(folder)
        except Exception as error:  # the write's own error is the one to report
            logger.warning("could not remove %s after a failed write: %s", folder, error)


def info(backend: Backend, probe_id: str) -> ProbeSetInfo:
    """The stored probe set's description.

    Raises:
        EntryNotFoundError: If no complete probe set has this id.
    """
    path = f"probes/{validate_id(probe_id, 'probe set id')}"
    marker = entry_documents.read_marker(backend, path)
    if marker is None:
        raise EntryNotFoundError(f"probe set {probe_id!r} is not (completely) stored in {backend.url}")
    attrs = entries.attributes(backend, path)
    _, height, width, _ = marker["shape"]
    return ProbeSetInfo(probe_id, marker["shape"][0], height, width, tuple(attrs["image_ids"]),
                        attrs["source"], attrs["content_hash"], attrs.get("label_kind"))


def read_labels(backend: Backend, probe_id: str) -> TargetLabels:
    """The labels of a target's labelled probe set, verified against their checksums.

    Raises:
        EntryNotFoundError: The probe set is not stored, or holds no labels.
    """
    described = info(backend, probe_id)
    if described.label_kind is None:
        raise EntryNotFoundError(f"probe set {probe_id!r} has no labels (it is a shared probe set, not a target's)")
    try:
        values = reading.read(backend, _labels_path(probe_id))
    except IncompleteEntryError:
        raise EntryNotFoundError(f"the labels of probe set {probe_id!r} are not (completely) stored in {backend.url}") from None
    return TargetLabels(values, described.label_kind)


def read(backend: Backend, probe_id: str, rows: Sequence[int] | slice | None = None) -> np.ndarray:
    """The probe images (all, or the given rows), verified against their checksums."""
    path = f"probes/{validate_id(probe_id, 'probe set id')}"
    try:
        return reading.read(backend, path, rows)
    except IncompleteEntryError:
        raise EntryNotFoundError(f"probe set {probe_id!r} is not (completely) stored in {backend.url}") from None


def list_ids(backend: Backend) -> tuple[str, ...]:
    """Ids of the complete probe sets."""
    names = backend.list_names("probes")
    candidates = [f"probes/{name}" for name in names if name != "zarr.json"]
    complete = entry_documents.complete_paths(backend, candidates) if candidates else set()
    return tuple(path.split("/", 1)[1] for path in candidates if path in complete)
