"""Stored RDMs and similarity versions as rsatoolbox ``RDMs``, its HDF5 files, and back to arrays.

rsatoolbox (the ``rsatoolbox`` extra) is imported inside the functions that need it, so
``import storage`` never loads it. Its condensed order is ``scipy.spatial.distance.squareform``'s,
the order the store keeps (``rsa_ray.rdm``), so values pass through unchanged: a stored float32
RDM becomes float64 exactly, and reading the file back gives the same numbers, image ids and
model ids, in the same order.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from storage.errors import EntryNotFoundError
from storage.names import EntryKey, EntryKind

if TYPE_CHECKING:
    from rsatoolbox.rdm import RDMs

    from storage.store import Store

__all__ = ["RsatoolboxArrays", "rdms_to_rsatoolbox", "read_rsatoolbox_file", "rsatoolbox_to_arrays",
           "similarity_to_rsatoolbox", "write_rsatoolbox_file"]

PATTERN_IDS = ("image_id", "model_id")  # the pattern descriptors these exports name their patterns by


class RsatoolboxArrays(NamedTuple):
    """What an rsatoolbox ``RDMs`` holds, as plain values.

    Attributes:
        condensed: [n_rdm, P] float64 dissimilarities, P = n (n - 1) / 2 in ``squareform`` order.
        pattern_ids: The n pattern ids (image ids, or model ids for a similarity), in row order.
        rdm_descriptors: Each RDM descriptor's n_rdm values, as Python scalars.
    """

    condensed: np.ndarray
    pattern_ids: tuple[str, ...]
    rdm_descriptors: dict[str, tuple[Any, ...]]


def _rdms_class():
    try:
        from rsatoolbox.rdm import RDMs
    except ImportError:
        raise ModuleNotFoundError("rsatoolbox is not installed; install it with pip install 'rsa-ray[rsatoolbox]'",
                                  name="rsatoolbox") from None
    return RDMs


def _how_to_compute(layer: str) -> str:
    return f"compute it with `rsa-ray similarity --layer {layer}`"


def _complete_models(store: Store, probe_id: str, layer: str,
                     model_ids: Sequence[str] | None) -> dict[str, dict[str, Any]]:
    """The models to export, each with its complete RDM entry's attributes."""
    if model_ids is not None and not model_ids:
        raise ValueError("no model ids given; pass None for every model with a complete RDM")
    candidates = list(store.model_ids()) if model_ids is None else list(dict.fromkeys(model_ids))
    keys = [EntryKey(probe_id, model_id, layer) for model_id in candidates]
    stored = store.stored_attributes(keys, EntryKind.RDMS)
    if model_ids is not None:
        for key in keys:
            if stored[key] is None:
                raise EntryNotFoundError(f"model {key.model_id!r} has no complete RDM for layer {layer!r} of probe "
                                         f"set {probe_id!r}; {_how_to_compute(layer)}")
    complete = {key.model_id: stored[key] for key in keys if stored[key] is not None}
    if not complete:
        raise EntryNotFoundError(f"no registered model has a complete RDM for layer {layer!r} of probe set "
                                 f"{probe_id!r}; compute them with `rsa-ray similarity --layer {layer}`")
    return complete


def _one_distance(attributes: dict[str, dict[str, Any]], layer: str) -> tuple[str, bool]:
    """The distance and centring every RDM was computed with (an ``RDMs`` has one measure)."""
    kinds = {(str(attrs.get("distance", "correlation")), bool(attrs.get("center_features", True))): model_id
             for model_id, attrs in attributes.items()}
    if len(kinds) > 1:
        found = ", ".join(f"{model_id!r}: {distance} (centred: {centred})"
                          for (distance, centred), model_id in kinds.items())
        raise ValueError(f"the RDMs of layer {layer!r} were computed with different distances ({found}); "
                         "export the models of one distance at a time")
    return next(iter(kinds))


def _tasks(store: Store, model_ids: Sequence[str]) -> tuple[list[str], list[str]]:
    """Each model's task and task type where it is registered (empty text otherwise)."""
    registered = set(store.model_ids())
    documents = store.model_documents([model_id for model_id in model_ids if model_id in registered])
    tasks = [str(documents.get(model_id, {}).get("task") or "") for model_id in model_ids]
    task_types = [str(documents.get(model_id, {}).get("task_type") or "") for model_id in model_ids]
    return tasks, task_types


def rdms_to_rsatoolbox(store: Store, probe_id: str, layer: str, model_ids: Sequence[str] | None = None) -> RDMs:
    """The stored RDMs of one layer as an rsatoolbox ``RDMs``, one RDM per model.

    Args:
        store: The store to read.
        probe_id: The probe set the RDMs were computed on; its image ids become the
            ``image_id`` pattern descriptor, in row order.
        layer: The layer role the RDMs are keyed by.
        model_ids: The models, in this order; default every registered model with a complete
            RDM for the layer (sorted by id).

    Returns:
        ``RDMs`` whose dissimilarities are the stored condensed RDMs as float64,
        ``dissimilarity_measure`` their distance, rdm descriptors ``model_id``, ``layer``,
        ``task``, ``task_type`` (empty for an unregistered model) and ``identity`` (the digest
        of what the RDM was computed from), and descriptors ``probe_id``, ``layer``,
        ``distance`` and ``center_features``.

    Raises:
        EntryNotFoundError: The probe set is not stored, a model has no complete RDM for the
            layer (naming it and the command that computes it), or none has.
        ValueError: No model ids, or RDMs of different distances.

    Example:
        >>> rdms = rdms_to_rsatoolbox(store, probe_id, "encoder.output", ["depth", "edges"])  # doctest: +SKIP
        >>> rdms.rdm_descriptors["model_id"], rdms.pattern_descriptors["image_id"][:2]  # doctest: +SKIP
        (['depth', 'edges'], ['img0', 'img1'])
    """
    image_ids = store.probe_set(probe_id).image_ids
    attributes = _complete_models(store, probe_id, layer, model_ids)
    distance, center_features = _one_distance(attributes, layer)
    chosen = list(attributes)
    condensed = np.stack([store.read_rdm(EntryKey(probe_id, model_id, layer)).astype(np.float64)
                          for model_id in chosen])
    tasks, task_types = _tasks(store, chosen)
    return _rdms_class()(
        condensed, dissimilarity_measure=distance,
        descriptors={"probe_id": probe_id, "layer": layer, "distance": distance, "center_features": center_features},
        rdm_descriptors={"model_id": chosen, "layer": [layer] * len(chosen), "task": tasks, "task_type": task_types,
                         "identity": [str(attributes[model_id].get("identity") or "") for model_id in chosen]},
        pattern_descriptors={"image_id": list(image_ids)},
    )


def similarity_to_rsatoolbox(store: Store, probe_id: str, layer: str, version: int | None = None) -> RDMs:
    """A stored similarity version as one rsatoolbox RDM between models: dissimilarity 1 − r.

    Args:
        store: The store to read.
        probe_id: The probe set the similarity was computed on.
        layer: The layer role it compares the models at.
        version: The similarity version; default the latest complete one.

    Returns:
        ``RDMs`` holding one RDM whose patterns are the version's models (pattern descriptors
        ``model_id``, ``task``, ``task_type``), ``dissimilarity_measure`` ``"1 - {method}"``, and
        descriptors ``probe_id``, ``layer``, ``similarity_version``, ``similarity_method`` and
        ``created``.

    Raises:
        EntryNotFoundError: The probe set is not stored, the layer has no similarity yet, or
            not the version asked for.
        ValueError: The version compares fewer than two models.

    Example:
        >>> rdms = similarity_to_rsatoolbox(store, probe_id, "encoder.output")  # doctest: +SKIP
        >>> rdms.dissimilarity_measure, rdms.descriptors["similarity_version"]  # doctest: +SKIP
        ('1 - spearman', 3)
    """
    from rsa_ray.rdm import condense

    store.probe_set(probe_id)
    versions = store.similarity_versions(probe_id, layer)
    if not versions:
        raise EntryNotFoundError(f"no similarity for layer {layer!r} of probe set {probe_id!r} yet; "
                                 f"{_how_to_compute(layer)}")
    if version is not None and version not in versions:
        raise EntryNotFoundError(f"no similarity version {version} for layer {layer!r} of probe set {probe_id!r}; "
                                 f"complete versions: {', '.join(map(str, versions))}")
    similarity = store.read_similarity(probe_id, layer, version)
    model_ids = list(similarity.model_ids)
    if len(model_ids) < 2:
        raise ValueError(f"similarity version {similarity.version} of layer {layer!r} compares only {model_ids}: "
                         "an RDM needs two models")
    tasks, task_types = _tasks(store, model_ids)
    return _rdms_class()(
        condense(1.0 - similarity.matrix), dissimilarity_measure=f"1 - {similarity.method}",
        descriptors={"probe_id": probe_id, "layer": layer, "similarity_version": similarity.version,
                     "similarity_method": similarity.method, "created": similarity.created},
        rdm_descriptors={"layer": [layer], "similarity_version": [similarity.version]},
        pattern_descriptors={"model_id": model_ids, "task": tasks, "task_type": task_types},
    )


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def rsatoolbox_to_arrays(rdms: RDMs, pattern_descriptor: str | None = None) -> RsatoolboxArrays:
    """The dissimilarities, pattern ids and rdm descriptors of an rsatoolbox ``RDMs``.

    Args:
        rdms: Any rsatoolbox ``RDMs`` (one built here, or read from a file).
        pattern_descriptor: The pattern descriptor holding the ids; default ``image_id``, else
            ``model_id``.

    Returns:
        :class:`RsatoolboxArrays` (``condensed``, ``pattern_ids``, ``rdm_descriptors``); it
        unpacks as a tuple.

    Raises:
        ValueError: The pattern descriptor is not there.

    Example:
        >>> from rsatoolbox.rdm import RDMs
        >>> rdms = RDMs(np.array([[0.5, 1.0, 1.5]]), pattern_descriptors={"image_id": ["a", "b", "c"]},
        ...             rdm_descriptors={"model_id": ["m1"]})
        >>> condensed, image_ids, descriptors = rsatoolbox_to_arrays(rdms)
        >>> condensed.tolist(), image_ids, descriptors["model_id"]
        ([[0.5, 1.0, 1.5]], ('a', 'b', 'c'), ('m1',))
    """
    patterns = rdms.pattern_descriptors
    name = pattern_descriptor or next((name for name in PATTERN_IDS if name in patterns), None)
    if name not in patterns:
        wanted = repr(pattern_descriptor) if pattern_descriptor else " or ".join(map(repr, PATTERN_IDS))
        raise ValueError(f"the RDMs have no {wanted} pattern descriptor; theirs: {', '.join(map(repr, patterns))}")
    return RsatoolboxArrays(
        condensed=np.array(rdms.dissimilarities, dtype=np.float64),
        pattern_ids=tuple(str(value) for value in patterns[name]),
        rdm_descriptors={key: tuple(_plain(value) for value in values) for key, values in rdms.rdm_descriptors.items()},
    )


def read_rsatoolbox_file(path: str | os.PathLike[str]) -> RDMs:
    """Reads an rsatoolbox HDF5 file of RDMs (``rsatoolbox.rdm.load_rdm``).

    Raises:
        FileNotFoundError: No file at ``path``.
        ValueError: The file is not an rsatoolbox HDF5 file of RDMs.

    Example:
        >>> rdms = read_rsatoolbox_file("depth-edges.hdf5")  # doctest: +SKIP
        >>> rsatoolbox_to_arrays(rdms).pattern_ids[:2]  # doctest: +SKIP
        ('img0', 'img1')
    """
    _rdms_class()
    from rsatoolbox.rdm import load_rdm

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no rsatoolbox file at {str(path)!r}")
    try:
        return load_rdm(str(path), file_type="hdf5")
    except (OSError, KeyError) as error:
        raise ValueError(f"{str(path)!r} is not an rsatoolbox HDF5 file of RDMs ({error})") from None


def _check_ascii(rdms: RDMs) -> None:
    """rsatoolbox writes descriptor lists as ASCII byte strings; anything else would fail half-way."""
    for group in ("pattern_descriptors", "rdm_descriptors"):
        for name, values in getattr(rdms, group).items():
            for value in values:
                if isinstance(value, str) and not value.isascii():
                    raise ValueError(f"{group[:-1].replace('_', ' ')} {name!r} holds {value!r}, which is not ASCII: "
                                     "rsatoolbox's HDF5 files hold ASCII text only")


def _exists(path: Path) -> FileExistsError:
    return FileExistsError(f"{str(path)!r} already exists; overwrite it explicitly to replace it")


def _move_into_place(temporary: Path, path: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(temporary, path)
        return
    try:
        os.link(temporary, path)  # fails if a file appeared meanwhile: never replaces one unasked
    except FileExistsError:
        raise _exists(path) from None
    except OSError:  # a file system without hard links
        if path.exists():
            raise _exists(path) from None
        os.replace(temporary, path)


def write_rsatoolbox_file(rdms: RDMs, path: str | os.PathLike[str], overwrite: bool = False) -> Path:
    """Writes ``rdms`` as rsatoolbox's HDF5 file, atomically: whole under ``path``, or not at all.

    The file is written under a temporary name in the same folder, flushed to disk, then
    renamed; a failed write leaves nothing under ``path`` (and an existing file as it was).

    Args:
        rdms: The RDMs (e.g. from :func:`rdms_to_rsatoolbox`).
        path: The file to write; its folder is created if missing.
        overwrite: Replace an existing file.

    Returns:
        The path written.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is False.
        ValueError: ``path`` is a folder, or a descriptor holds non-ASCII text.

    Example:
        >>> write_rsatoolbox_file(rdms_to_rsatoolbox(store, probe_id, "out"), "out.hdf5")  # doctest: +SKIP
        PosixPath('out.hdf5')
    """
    _rdms_class()
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{str(path)!r} is a folder, not a file")
    if path.exists() and not overwrite:
        raise _exists(path)
    _check_ascii(rdms)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        rdms.save(str(temporary), file_type="hdf5")
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        _move_into_place(temporary, path, overwrite)
    finally:
        temporary.unlink(missing_ok=True)
    return path
