"""Tables and figures from stored results, written to the store (Parquet) and a folder (CSV, PNG)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from jobs.report import plot_dendrogram, plot_layer_matrices, plot_similarity_heatmap
from rsa_ray import TaskClusters, cluster_tasks
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


def similarity_long_form(similarity: SimilarityMatrix, task_types: Sequence[str]) -> pd.DataFrame:
    """One row per ordered model pair: model_a, model_b, their task types, similarity, version.

    Example:
        >>> similarity_long_form(stored_similarity, ["2d", "3d"]).columns.tolist()  # doctest: +SKIP
        ['probe_id', 'layer', 'version', 'method', 'model_a', 'task_type_a', 'model_b', 'task_type_b', 'similarity']
    """
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
    store.write_table(name, frame)
    path = out / f"{csv_name or name}.csv"
    frame.to_csv(path, index=False)
    return path


def write_layer_taxonomy(store: Store, probe_id: str, layer: str, out: Path) -> LayerTaxonomy:
    """Clusters the latest similarity of ``layer`` and writes its table, heatmap and dendrogram."""
    similarity = store.read_similarity(probe_id, layer)
    ids = list(similarity.model_ids)
    task_types = tuple(entry.task_type or "other" for entry in store.models(ids))
    labels = [f"{model_id}" for model_id in ids]
    clusters = cluster_tasks(similarity.matrix, labels)
    long_form = similarity_long_form(similarity, task_types)
    table_csv = write_table(store, out, table_name("similarity", layer), long_form)
    heatmap = plot_similarity_heatmap(
        similarity.matrix, labels, task_types, clusters.leaf_order, out / f"heatmap.{layer}.png",
        title=f"RSA similarity, layer {layer} ({similarity.method}, version {similarity.version})",
    )
    dendrogram = plot_dendrogram(clusters.linkage, labels, task_types, out / f"dendrogram.{layer}.png")
    return LayerTaxonomy(layer, similarity, clusters, task_types, table_csv, heatmap, dendrogram)


def write_layer_comparison(taxonomies: Sequence[LayerTaxonomy], out: Path) -> Path | None:
    """The per-layer matrices side by side in the first layer's dendrogram order, over the models all layers share."""
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
