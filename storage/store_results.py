"""Results: similarity versions of each (probe set, layer) and result tables.

A part of :class:`storage.Store` (it inherits this class); call it through the store."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from storage import similarity, tables
from storage.provenance import Provenance
from storage.similarity import SimilarityMatrix

if TYPE_CHECKING:
    import pandas as pd


class Results:
    """Results of a :class:`storage.Store` (``self._backend`` is the store's backend)."""

    def write_similarity(self, probe_id: str, layer: str, model_ids: Sequence[str], matrix: np.ndarray,
                         method: str, inputs: Sequence[str] | None = None,
                         identities: Mapping[str, str] | None = None, fence: Callable[[], None] | None = None) -> int:
        """Writes a new similarity version for (probe set, layer); returns its number. History is kept.

        ``fence`` (e.g. ``Lock.check`` of the lock the run holds) is called right before the
        version is marked complete: if it raises, no complete version is written.

        Example:
            >>> from storage import Store
            >>> store = Store.open("memory://similarity-example")
            >>> probe_id = store.add_probe_set(np.zeros((3, 2, 2, 3), np.uint8), ["a", "b", "c"], "zeros")
            >>> store.write_similarity(probe_id, "out", ["m1", "m2"], np.eye(2), "spearman")
            1
            >>> store.read_similarity(probe_id, "out").model_ids
            ('m1', 'm2')
        """
        provenance = Provenance(probe_hash=self.probe_set(probe_id).content_hash)
        return similarity.write(self._backend, probe_id, layer, model_ids, matrix, method, inputs, provenance,
                                identities, fence)

    def read_similarity(self, probe_id: str, layer: str, version: int | None = None) -> SimilarityMatrix:
        """The latest complete similarity version, or the one asked for."""
        return similarity.read(self._backend, probe_id, layer, version)

    def similarity_versions(self, probe_id: str, layer: str) -> tuple[int, ...]:
        """The complete similarity versions of (probe set, layer), oldest first."""
        return similarity.versions(self._backend, probe_id, layer)

    def write_table(self, name: str, frame: pd.DataFrame) -> None:
        """Replaces result table ``name`` (Parquet beside the group).

        Example:
            >>> from storage import Store
            >>> import pandas as pd
            >>> store = Store.open("memory://tables-example")
            >>> store.write_table("rankings", pd.DataFrame({"model_id": ["m2", "m1"], "similarity": [0.9, 0.4]}))
            >>> store.read_table("rankings")["model_id"].tolist()
            ['m2', 'm1']
        """
        tables.write(self._backend, name, frame)

    def append_table(self, name: str, frame: pd.DataFrame) -> None:
        """Appends rows to table ``name``; safe from many writers at once."""
        tables.append(self._backend, name, frame)

    def read_table(self, name: str) -> pd.DataFrame:
        """The whole table ``name``."""
        return tables.read(self._backend, name)

    def table_names(self) -> tuple[str, ...]:
        """Names of the stored tables."""
        return tables.names(self._backend)
