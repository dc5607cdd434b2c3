"""Random-init twins of the candidates, for ``rank --twin-adjust``: built, registered and reused.

A candidate's twin is its own architecture with random weights from a fixed seed
(:func:`rsa_ray.models.derived_zoo.random_twin_entry`), registered under ``MODEL_ID.twin-SEED``.
Twins are hidden: they are never candidates themselves (:func:`is_twin`). A twin registered by an
earlier rank is reused as it is, and its activations, once extracted on a target's images, are
reused by every later rank of that target (extraction is incremental).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from storage import Store

TWIN_MARK = ".twin-"


def twin_id(model_id: str, seed: int) -> str:
    """The registered id of ``model_id``'s random-init twin from ``seed``.

    Example:
        >>> twin_id("mobilenet_v2-imagenet", 0)
        'mobilenet_v2-imagenet.twin-0'
    """
    return f"{model_id}{TWIN_MARK}{int(seed)}"


def is_twin(model_id: str) -> bool:
    """Whether ``model_id`` names a random-init twin (hidden from the candidates).

    Example:
        >>> is_twin("mobilenet_v2-imagenet.twin-0"), is_twin("mobilenet_v2-imagenet")
        (True, False)
    """
    head, mark, seed = model_id.rpartition(TWIN_MARK)
    return bool(head and mark and seed.isdigit())


def ensure_twins(store: Store, candidates: Sequence[str], seed: int = 0) -> tuple[dict[str, str], dict[str, str]]:
    """Each candidate's twin, registered now where it is not yet registered.

    Returns:
        ``{candidate: twin id}`` for every candidate that can have a twin, and ``{candidate: why}``
        for those that cannot (a source that needs a weights file or is a TorchScript archive).

    Example:
        >>> ensure_twins(store, ["mobilenet_v2-imagenet"])  # doctest: +SKIP
        ({'mobilenet_v2-imagenet': 'mobilenet_v2-imagenet.twin-0'}, {})
    """
    from rsa_ray.models.derived_zoo import random_twin_entry

    twin_of, refused, entries = {}, {}, []
    registered = set(store.model_ids())
    for entry in store.models(list(candidates)):
        twin = twin_id(entry.model_id, seed)
        try:
            twin_entry = random_twin_entry(entry, twin, seed)
        except ValueError as error:
            refused[entry.model_id] = str(error)
            continue
        twin_of[entry.model_id] = twin
        if twin not in registered:
            entries.append(twin_entry)
    if entries:
        store.register_models(entries)
    return twin_of, refused
