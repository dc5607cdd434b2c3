"""Tables and figures from stored results, written to the store (Parquet) and a folder (CSV, PNG)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pandas, matplotlib and the clustering are imported where a table or figure is made
    import pandas as pd

    from rsa_ray import TaskClusters
    from storage import SimilarityMatrix, Store


@dataclass(frozen=True)
class LayerTaxonomy:
    """One layer's taxonomy and the files written for it."""

    layer: str
    similarity: SimilarityMatrix
    clusters: TaskClusters
    task_types: tuple[str, ...]
    table_csv: Path
    heatmap: Path
    dendrogram: Path
    support: object = None  # rsa_ray.branch_support.BranchSupport when bootstrapped


def similarity_long_form(similarity: SimilarityMatrix, task_types: Sequence[str]) -> pd.DataFrame:
    """One row per ordered model pair: model_a, model_b, their task types, similarity, version.

    Example:
        >>> similarity_long_form(stored_similarity, ["2d", "3d"]).columns.tolist()  # doctest: +SKIP
        ['probe_id', 'layer', 'version', 'method', 'model_a', 'task_type_a', 'model_b', 'task_type_b', 'similarity']
    """
    import pandas as pd

    ids = list(similarity.model_ids)
    n_models = len(ids)
    rows, cols = np.meshgrid(np.arange(n_models), np.arange(n_models), indexing="ij")
    return pd.DataFrame(
        {
            "probe_id": similarity.probe_id,
            "layer": similarity.layer,
            "version": similarity.version,
            "method": similarity.method,
            "model_a": [ids[i] for i in rows.ravel()],
            "task_type_a": [task_types[i] for i in rows.ravel()],
            "model_b": [ids[j] for j in cols.ravel()],
            "task_type_b": [task_types[j] for j in cols.ravel()],
            "similarity": similarity.matrix.ravel(),
        }
    )


def table_name(kind: str, layer: str) -> str:
    """A store table name for one layer's table, e.g. ``similarity.encoder.output``."""
    return f"{kind}.{layer}"


def write_table(store: Store, out: Path, name: str, frame: pd.DataFrame, csv_name: str | None = None) -> Path:
    """Writes a table to the store (Parquet, as ``name``) and to ``out`` as CSV; returns the CSV's path.

    A table the store already holds with the same rows is not written again (a rerun over an unchanged
    store writes nothing in it).

    Args:
        store: The store.
        out: The output folder.
        name: The store table's name, also the CSV's name unless ``csv_name`` is given.
        frame: The table.
        csv_name: The CSV's name without ``.csv`` (default ``name``).

    Example:
        >>> write_table(store, Path("out"), "ranking.depth-small.encoder.output", table)  # doctest: +SKIP
        PosixPath('out/ranking.depth-small.encoder.output.csv')
    """
    if not _stored_unchanged(store, name, frame):
        store.write_table(name, frame)
    return write_csv(out, csv_name or name, frame)


def _stored_unchanged(store: Store, name: str, frame: pd.DataFrame) -> bool:
    """Whether the store's table ``name`` holds exactly ``frame``'s columns and values (NaN equal to NaN)."""
    import pandas as pd

    if name not in store.table_names():
        return False
    try:
        pd.testing.assert_frame_equal(store.read_table(name), frame.reset_index(drop=True), check_dtype=False,
                                      check_index_type=False, check_exact=True)
    except (AssertionError, ValueError, TypeError):
        return False
    return True


def write_csv(out: Path, name: str, frame: pd.DataFrame) -> Path:
    """Writes a table to ``out`` as ``<name>.csv`` alone (nothing in the store); returns the CSV's path.

    Example:
        >>> write_csv(Path("out"), "similarity.encoder.output", table)  # doctest: +SKIP
        PosixPath('out/similarity.encoder.output.csv')
    """
    path = out / f"{name}.csv"
    frame.to_csv(path, index=False)
    return path


def write_layer_taxonomy(store: Store, probe_id: str, layer: str, out: Path, bootstrap: int = 0,
                         seed: int = 0, record: bool = True) -> LayerTaxonomy:
    """Clusters the latest similarity of ``layer`` and writes its table, heatmap and dendrogram.

    With ``record`` the long-form table is also written to the store (``similarity.<layer>``); without
    it (``report``, which computes and records nothing) only to ``out``.

    With ``bootstrap`` samples of the probe images, each branch of the dendrogram gets its support
    (the share of bootstrap dendrograms holding the same clade; ``rsa_ray.branch_support``), written
    at its node and as the table ``branch_support.<layer>``.
    """
    from jobs.report import plot_dendrogram, plot_similarity_heatmap
    from jobs.report.support_plots import plot_dendrogram_with_support
    from rsa_ray import cluster_tasks

    similarity = store.read_similarity(probe_id, layer)
    ids = list(similarity.model_ids)
    task_types = tuple(entry.task_type or "other" for entry in store.models(ids))
    labels = [f"{model_id}" for model_id in ids]
    clusters = cluster_tasks(similarity.matrix, labels)
    long_form = similarity_long_form(similarity, task_types)
    name = table_name("similarity", layer)
    table_csv = write_table(store, out, name, long_form) if record else write_csv(out, name, long_form)
    heatmap = plot_similarity_heatmap(
        similarity.matrix, labels, task_types, clusters.leaf_order, out / f"heatmap.{layer}.png",
        title=f"RSA similarity, layer {layer} ({similarity.method}, version {similarity.version})",
    )
    support = None
    if bootstrap and len(ids) >= 3:
        support = layer_branch_support(store, similarity, bootstrap, seed)
        write_table(store, out, table_name("branch_support", layer), support_table(support, similarity))
        dendrogram = plot_dendrogram_with_support(clusters.linkage, labels, task_types, support.support,
                                                  support.n_samples, out / f"dendrogram.{layer}.png")
    elif (stored := stored_support(store, similarity)) is not None:  # the report computes nothing: it reads it
        dendrogram = plot_dendrogram_with_support(clusters.linkage, labels, task_types, stored["support"].tolist(),
                                                  int(stored["n_samples"].iloc[0]), out / f"dendrogram.{layer}.png")
    else:
        dendrogram = plot_dendrogram(clusters.linkage, labels, task_types, out / f"dendrogram.{layer}.png")
    return LayerTaxonomy(layer, similarity, clusters, task_types, table_csv, heatmap, dendrogram, support)


def layer_branch_support(store: Store, similarity: SimilarityMatrix, bootstrap: int, seed: int):
    """Branch support of the similarity's dendrogram from ``bootstrap`` resamples of its probe images.

    Example:
        >>> layer_branch_support(store, store.read_similarity(probe_id, "encoder.output"), 100, 0).support  # doctest: +SKIP
    """
    from rsa_ray.bootstrap import image_samples
    from rsa_ray.branch_support import bootstrap_similarity, branch_support
    from storage import EntryKey

    ids = list(similarity.model_ids)
    rdms = np.stack([store.read_rdm(EntryKey(similarity.probe_id, model_id, similarity.layer)) for model_id in ids])
    samples = image_samples(store.probe_set(similarity.probe_id).n_images, bootstrap, seed)
    return branch_support(similarity.matrix, bootstrap_similarity(rdms, samples, names=ids), ids)


def stored_support(store: Store, similarity: SimilarityMatrix) -> pd.DataFrame | None:
    """The stored branch-support table of this similarity version, or None (none stored, or of another version)."""
    name = table_name("branch_support", similarity.layer)
    if name not in store.table_names():
        return None
    table = store.read_table(name)
    if len(table) != len(similarity.model_ids) - 1 or int(table["similarity_version"].iloc[0]) != similarity.version:
        return None
    return table.sort_values("node")


def support_table(support, similarity: SimilarityMatrix) -> pd.DataFrame:
    """One row per internal node of the dendrogram: merge height, bootstrap support and its clade."""
    import pandas as pd

    return pd.DataFrame({
        "layer": similarity.layer, "similarity_version": similarity.version,
        "node": np.arange(len(support.support)), "height": support.linkage[:, 2], "support": support.support,
        "n_samples": support.n_samples, "clade": [", ".join(clade) for clade in support.clades],
    })


def write_layer_comparison(taxonomies: Sequence[LayerTaxonomy], out: Path) -> Path | None:
    """The per-layer matrices side by side in the first layer's dendrogram order, over the models all layers share."""
    from jobs.report import plot_layer_matrices

    if len(taxonomies) < 2:
        return None
    shared = [m for m in taxonomies[0].similarity.model_ids if all(m in t.similarity.model_ids for t in taxonomies)]
    matrices = {}
    for taxonomy in taxonomies:
        position = [taxonomy.similarity.model_ids.index(m) for m in shared]
        matrices[taxonomy.layer] = taxonomy.similarity.matrix[np.ix_(position, position)]
    first = taxonomies[0]
    leaf_order = [shared.index(first.similarity.model_ids[i]) for i in first.clusters.leaf_order if first.similarity.model_ids[i] in shared]
    types = [first.task_types[first.similarity.model_ids.index(m)] for m in shared]
    return plot_layer_matrices(matrices, shared, types, leaf_order, out / "layers.png")
