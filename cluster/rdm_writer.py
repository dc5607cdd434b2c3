"""Storing a model's RDM and its rank vector: one writer and one locking rule for every path that computes them.

The RDM stage (:mod:`cluster.tasks`), the encoder actors that compute RDMs on their device
(:mod:`cluster.device_extract`) and the wide-layer path (:mod:`cluster.wide_layers`, through
:mod:`cluster.encoder`) all store a (model, layer) RDM and its rank vector here, so all write the same
entries under the same rule:

* the pair is written under the claim on the RDM entry's path (:func:`rdm_claim`), the RDM stage's claim;
* before each of the two writes, every lock the writer holds is checked (a run whose claim was taken
  over writes nothing more);
* the rank vector is written last, as float32, from the float64 RDM: its completion marks the pair done;
* both carry their expected identity and the key's provenance, and one ``rdm`` work record follows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

import numpy as np

from storage import EntryKey, EntryKind, Lock, Store
from storage.identity import EntryIdentity

# The two entries written here; identities are given for both.
RDM_KINDS = (EntryKind.RDMS, EntryKind.RANKS)


def rdm_claim(store: Store, key: EntryKey) -> AbstractContextManager[Lock]:
    """The claim under which ``key``'s RDM and rank vector are written (waits while another run holds it).

    Example:
        >>> with rdm_claim(store, EntryKey(probe_id, "m1", "out")) as held:  # doctest: +SKIP
        ...     held.check()
    """
    return store.claim(key.path(EntryKind.RDMS))


def rdm_is_current(store: Store, key: EntryKey, identities: Mapping[EntryKind, EntryIdentity]) -> bool:
    """Whether ``key``'s stored RDM and rank vector are both complete and carry the ``identities`` given.

    Example:
        >>> rdm_is_current(store, EntryKey(probe_id, "m1", "out"), identities)  # doctest: +SKIP
        True
    """
    for kind in RDM_KINDS:
        attributes = store.stored_attributes([key], kind)[key]
        if attributes is None or not identities[kind].matches(attributes):
            return False
    return True


def write_rdm_and_ranks(store: Store, key: EntryKey, condensed_rdm: np.ndarray, rank_vector: np.ndarray,
                        distance: str, center_features: bool, identities: Mapping[EntryKind, EntryIdentity],
                        locks: Sequence[Lock], **work: Any) -> None:
    """Writes ``key``'s RDM, then its rank vector (float32), checking every held lock before each write.

    Args:
        store: The store.
        key: The (probe set, model, layer).
        condensed_rdm: The float64 condensed RDM (stored as float32).
        rank_vector: Its standardised rank vector, computed from the float64 RDM.
        distance: The RDM's distance.
        center_features: Whether the features were centred first.
        identities: The expected identity of the ``rdms`` and ``ranks`` entries.
        locks: Every lock the caller holds; the claim of :func:`rdm_claim` among them.
        **work: Extra fields of the ``rdm`` work record.

    Raises:
        storage.LockLostError: A held lock was taken over; what was not yet written stays unwritten.

    Example:
        >>> with rdm_claim(store, key) as held:  # doctest: +SKIP
        ...     write_rdm_and_ranks(store, key, rdm, ranks, "correlation", True, identities, [held])
    """
    provenance = store.provenance(key)
    _check(locks)
    store.write_rdm(key, condensed_rdm, distance, center_features, provenance=provenance,
                    identity=identities[EntryKind.RDMS])
    _check(locks)
    store.write_rank_vector(key, np.asarray(rank_vector).astype(np.float32), provenance=provenance,
                            identity=identities[EntryKind.RANKS])
    store.record_work("rdm", key, **work)


def store_rdm_and_ranks(store: Store, key: EntryKey, condensed_rdm: np.ndarray, rank_vector: np.ndarray,
                        distance: str, center_features: bool, identities: Mapping[EntryKind, EntryIdentity],
                        held: Sequence[Lock] = (), **work: Any) -> bool:
    """Takes :func:`rdm_claim` and writes the pair unless a concurrent run stored it meanwhile.

    For the paths that compute the RDM before claiming it (the encoder actors). ``held`` are the
    locks the caller already holds (checked with the claim before each write).

    Returns:
        True when this call wrote the pair; False when the stored pair was already current.

    Example:
        >>> store_rdm_and_ranks(store, key, rdm, ranks, "correlation", True, identities)  # doctest: +SKIP
        True
    """
    with rdm_claim(store, key) as claim:
        if rdm_is_current(store, key, identities):
            return False
        write_rdm_and_ranks(store, key, condensed_rdm, rank_vector, distance, center_features, identities,
                            [*held, claim], **work)
    return True


def _check(locks: Sequence[Lock]) -> None:
    for lock in locks:
        lock.check()
