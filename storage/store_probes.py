"""Probe sets and target records: the labelled and shared image sets a store holds.

A part of :class:`storage.Store` (it inherits this class); call it through the store."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from storage import probes, targets
from storage.probes import ProbeSetInfo
from storage.targets import TargetRecord
from rsa_ray.target_labels import TargetLabels

if TYPE_CHECKING:
    from storage.backend import Backend


class ProbeSets:
    """Probe sets and target records of a :class:`storage.Store` (``self._backend`` is the store's backend)."""

    def add_probe_set(self, images: np.ndarray, ids: Sequence[str], source: str,
                      rows_per_chunk: int | None = None, labels: TargetLabels | None = None) -> str:
        """Stores uint8 images [M, H, W, 3] with one id each; returns the content-hash probe set id.

        Adding the same images and ids again writes nothing and returns the same id. With
        ``labels`` (one per image) it is a target's labelled probe set, which the label-based
        transferability scores read (:meth:`read_probe_labels`).

        Example:
            >>> from storage import Store
            >>> store = Store.open("memory://probes-example")
            >>> probe_id = store.add_probe_set(np.zeros((3, 4, 4, 3), np.uint8), ["a", "b", "c"], "zeros")
            >>> store.probe_set(probe_id).n_images
            3
        """
        return probes.add(self._backend, images, ids, source, rows_per_chunk, labels)

    def probe_set(self, probe_id: str) -> ProbeSetInfo:
        """The description of a stored probe set (ids, size, source, hash).

        A probe set's id is the hash of its content, so a complete one never changes:
        its description is read once per process.
        """
        if probe_id not in self._probe_sets:
            self._probe_sets[probe_id] = probes.info(self._backend, probe_id)
        return self._probe_sets[probe_id]

    @functools.cached_property
    def _probe_sets(self) -> dict[str, ProbeSetInfo]:
        return {}

    def read_probe_images(self, probe_id: str, rows: Sequence[int] | slice | None = None) -> np.ndarray:
        """All images of a probe set, or the given rows, checksum-verified."""
        return probes.read(self._backend, probe_id, rows)

    def read_probe_labels(self, probe_id: str) -> TargetLabels:
        """The labels of a target's labelled probe set.

        Example:
            >>> from storage import Store
            >>> store = Store.open("memory://labels-example")
            >>> labels = TargetLabels.from_array(np.array([0, 1, 1]))
            >>> probe_id = store.add_probe_set(np.zeros((3, 4, 4, 3), np.uint8), ["a", "b", "c"], "t", labels=labels)
            >>> store.read_probe_labels(probe_id).values.tolist()
            [0, 1, 1]
        """
        return probes.read_labels(self._backend, probe_id)

    def shared_probe_set_ids(self) -> tuple[str, ...]:
        """Ids of the complete probe sets that are not a target's labelled images (what taxonomies compare on)."""
        return tuple(p for p in self.probe_set_ids() if self.probe_set(p).label_kind is None)


    def record_target(self, record: TargetRecord) -> None:
        """Stores (or replaces) a target task's record: its labelled probe set and its model.

        Example:
            >>> from storage import Store
            >>> store = Store.open("memory://target-example")
            >>> store.record_target(TargetRecord("digits", "p" * 32, "sklearn-digits", "classes"))
            >>> store.target("digits").data, store.target("other")
            ('sklearn-digits', None)
        """
        targets.write(self._backend, record)

    def target(self, name: str) -> TargetRecord | None:
        """The recorded target called ``name``, or None."""
        return targets.read(self._backend, name)

    def target_names(self) -> tuple[str, ...]:
        """Names of the recorded targets."""
        return targets.names(self._backend)

    def probe_set_ids(self) -> tuple[str, ...]:
        """Ids of the complete probe sets."""
        return probes.list_ids(self._backend)
