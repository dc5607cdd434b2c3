"""Random-init twins of the candidates, for ``rank --twin-adjust``: built, registered and reused.

A candidate's twin is its own architecture with random weights from a fixed seed
(:func:`rsa_ray.models.derived_zoo.random_twin_entry`), registered under ``MODEL_ID.twin-SEED``;
candidates whose twins would be the same network share one (:func:`twin_key`).
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


def twin_key(twin_entry) -> str:
    """What makes two twins the same network: the twin's stored form without its id and the candidate's naming.

    Two candidates of one architecture, layers, modules, reductions and preprocessing (a pretrained net and
    its finetuned or noisy copies) have one twin between them.

    Example:
        >>> from rsa_ray.model_entry.entry_reader import entry_from_dict
        >>> def twin(name):
        ...     return entry_from_dict({"model_id": name, "source": "torchvision", "task_type": "other",
        ...                             "architecture": {"target": "mobilenet_v2"}, "layers": ["features.18"], "seed": 0})
        >>> twin_key(twin("a.twin-0")) == twin_key(twin("b.twin-0"))
        True
    """
    import json

    from rsa_ray.model_entry.entry_reader import entry_to_dict

    document = entry_to_dict(twin_entry)
    for name in ("model_id", "task", "task_type", "training", "description"):
        document.pop(name, None)
    return json.dumps(document, sort_keys=True, default=str)


def ensure_twins(store: Store, candidates: Sequence[str], seed: int = 0) -> tuple[dict[str, str], dict[str, str]]:
    """Each candidate's twin, registered now where no equal twin is registered yet.

    Candidates whose twins would be the same network (:func:`twin_key`) share one: the one already
    registered, else the first candidate's (``MODEL_ID.twin-SEED`` of that candidate), so it is
    built and extracted once.

    Returns:
        ``{candidate: twin id}`` for every candidate that can have a twin, and ``{candidate: why}``
        for those that cannot (a source that needs a weights file or is a TorchScript archive).

    Example:
        >>> ensure_twins(store, ["mobilenet_v2-imagenet", "mobilenet_v2-noise-0.1"])  # doctest: +SKIP
        ({'mobilenet_v2-imagenet': 'mobilenet_v2-imagenet.twin-0', 'mobilenet_v2-noise-0.1': 'mobilenet_v2-imagenet.twin-0'}, {})
    """
    from rsa_ray.models.derived_zoo import random_twin_entry

    twin_of, refused, entries = {}, {}, []
    registered = store.model_ids()
    registered_twins = [m for m in registered if is_twin(m) and m.endswith(f"{TWIN_MARK}{int(seed)}")]
    by_key = {twin_key(entry): entry.model_id for entry in store.models(registered_twins)}
    for entry in store.models(list(candidates)):
        twin = twin_id(entry.model_id, seed)
        try:
            twin_entry = random_twin_entry(entry, twin, seed)
        except ValueError as error:
            refused[entry.model_id] = str(error)
            continue
        key = twin_key(twin_entry)
        if twin in registered:  # registered by an earlier rank: kept as it is
            by_key.setdefault(key, twin)
            twin_of[entry.model_id] = twin
            continue
        if key not in by_key:
            by_key[key] = twin
            entries.append(twin_entry)
        twin_of[entry.model_id] = by_key[key]
    if entries:
        store.register_models(entries)
    return twin_of, refused
