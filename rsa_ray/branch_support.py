"""Branch support for the task taxonomy: how often bootstrap dendrograms contain each clade.

The probe images are resampled (:func:`rsa_ray.resampling.image_subsamples`, each image at most
once, or :func:`rsa_ray.bootstrap.image_samples`, with replacement); in each sample the
similarity between every two models is the exact Spearman r_s of their resampled RDMs, the
statistic of :func:`rsa_ray.bootstrap.bootstrap_rsa_scores` (values repeated by pair
multiplicity, self-pairs dropped, re-ranked per sample). Each sample's similarity matrix is
clustered exactly as :func:`rsa_ray.taxonomy.cluster_tasks` clusters the full one (the same
linkage method on 1 − similarity), and an internal node of the full dendrogram is supported by
the share of samples whose dendrogram has a node over exactly the same set of leaves (a clade).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rsa_ray.errors import model_label
from rsa_ray.ranks import as_rows, check_finite, default_workers, for_each_row
from rsa_ray.rdm import n_images_from_length
from rsa_ray.resampled_ranks import (
    Workspace,
    block_size,
    checked_samples,
    doubled_centred_ranks,
    sample_block,
    sorted_vector,
    undefined_in_sample,
)
from rsa_ray.taxonomy import cluster_tasks


def _model_chunks(n_models: int, workers: int | None) -> list[range]:
    parts = max(1, min(n_models, default_workers() if workers is None else workers))
    bounds = np.linspace(0, n_models, parts + 1).round().astype(int)
    return [range(int(start), int(stop)) for start, stop in zip(bounds[:-1], bounds[1:])]


def bootstrap_similarity(
    vectors: np.ndarray | Sequence[np.ndarray],
    samples: np.ndarray,
    names: Sequence[str] | None = None,
    workers: int | None = None,
) -> np.ndarray:
    """The Spearman similarity matrix of the models in every bootstrap sample of the probe images.

    Entry [s, a, b] is the exact r_s of models a and b on the images of sample s (the statistic of
    :func:`rsa_ray.bootstrap.bootstrap_rsa_scores`). Per sample: every model's expanded average
    ranks, then one matrix product.

    Memory: M·L float64 ranks, the M sort orders (M·L indices), and a block of the samples' pair
    weights (see :func:`rsa_ray.bootstrap.bootstrap_rsa_scores`).

    Args:
        vectors: [M, L] condensed RDMs or their rank vectors, M >= 1.
        samples: [S, N_s] image indices per sample (:func:`rsa_ray.bootstrap.image_samples`).
        names: Model names for error messages (default ``#index``).
        workers: Threads over models (default: the usable cores, at most 8).

    Returns:
        float64 [S, M, M]: symmetric, ones on the diagonal.

    Raises:
        ValueError: Bad shapes or sample indices.
        DegenerateInputError: A vector holds NaN/Inf or is constant, or is constant over the images
            of one sample (naming the model and the sample).

    Example:
        >>> from rsa_ray.bootstrap import image_samples
        >>> rdms = np.random.default_rng(0).random((3, 45))     # 3 models, 10 images
        >>> similarity = bootstrap_similarity(rdms, image_samples(10, 5, seed=0))
        >>> similarity.shape, bool(np.allclose(similarity, similarity.transpose(0, 2, 1)))
        ((5, 3, 3), True)
    """
    rows = as_rows(vectors, "bootstrap_similarity")
    if names is not None and len(names) != rows.shape[0]:
        raise ValueError(f"got {len(names)} names for {rows.shape[0]} models")
    n_images = n_images_from_length(rows.shape[1])
    samples = checked_samples(samples, n_images)
    check_finite(rows, names, "the RDM")
    sorted_vectors = [sorted_vector(rows[index], model_label(names, index)) for index in range(rows.shape[0])]
    chunks = _model_chunks(rows.shape[0], workers)
    ranks = np.empty(rows.shape, dtype=np.float64)
    variances = np.empty(rows.shape[0])
    result = np.empty((samples.shape[0], rows.shape[0], rows.shape[0]))
    samples_per_block = block_size(rows.shape[1])
    for first in range(0, samples.shape[0], samples_per_block):
        block = sample_block(samples[first:first + samples_per_block], n_images)
        for row in range(block.table.shape[0]):

            def rank_chunk(chunk_index: int) -> None:
                work = Workspace(rows.shape[1])
                for index in chunks[chunk_index]:
                    variances[index] = doubled_centred_ranks(sorted_vectors[index], block, row, work, ranks[index])

            for_each_row(rank_chunk, len(chunks), workers)
            if (variances < 0.25).any():  # a non-constant expanded vector has a variance sum of at least 1/2
                raise undefined_in_sample(model_label(names, int(np.flatnonzero(variances < 0.25)[0])), first + row)
            # Σ w (2 r_a)(2 r_b) as one symmetric product of the ranks scaled by sqrt(w).
            ranks *= np.sqrt(block.weights[row].astype(np.float64))
            cross = ranks @ ranks.T
            similarity = (cross + cross.T) / (8.0 * np.sqrt(np.outer(variances, variances)))
            np.fill_diagonal(similarity, 1.0)
            result[first + row] = np.clip(similarity, -1.0, 1.0)
    return result


@dataclass(frozen=True)
class BranchSupport:
    """The support of every internal node of the full-sample dendrogram.

    Attributes:
        names: The model names, in input order.
        method: The linkage method.
        linkage: The full-sample scipy linkage matrix (N−1, 4), as :func:`rsa_ray.cluster_tasks` builds it;
            row k merges into node N + k.
        leaf_names: The model names in dendrogram order (for plotting).
        clades: Per linkage row, the names of the leaves below that node, in input order.
        support: Per linkage row, the share of samples whose dendrogram has exactly that clade.
        n_samples: How many bootstrap dendrograms were compared.
    """

    names: tuple[str, ...]
    method: str
    linkage: np.ndarray
    leaf_names: tuple[str, ...]
    clades: tuple[tuple[str, ...], ...]
    support: tuple[float, ...]
    n_samples: int

    def describe(self) -> str:
        """One line per internal node, lowest merge first: support, merge height and clade.

        Example:
            >>> s = np.array([[1, .9, .1], [.9, 1, .2], [.1, .2, 1]])
            >>> print(branch_support(s, s[None], ["a", "b", "c"]).describe())
            support  height  clade
               1.00   0.100  a, b
               1.00   0.850  a, b, c
        """
        lines = ["support  height  clade"]
        for row, (clade, support) in enumerate(zip(self.clades, self.support)):
            lines.append(f"{support:>7.2f}  {self.linkage[row, 2]:>6.3f}  {', '.join(clade)}")
        return "\n".join(lines)


def _clades(linkage: np.ndarray, n_leaves: int) -> list[int]:
    """The leaves below each linkage row's node, as bit sets (bit i: leaf i)."""
    members = [1 << leaf for leaf in range(n_leaves)]
    for left, right in linkage[:, :2].astype(np.intp):
        members.append(members[left] | members[right])
    return members[n_leaves:]


def branch_support(
    point_similarity: np.ndarray,
    sample_similarities: np.ndarray,
    names: Sequence[str],
    method: str = "average",
) -> BranchSupport:
    """The share of bootstrap dendrograms that contain each clade of the full-sample dendrogram.

    Every dendrogram is built by :func:`rsa_ray.cluster_tasks` with the same ``method`` (so on the
    same distance, 1 − similarity). Ties between merge heights are broken as scipy breaks them.

    Args:
        point_similarity: (N, N) the full-sample similarity of the N models.
        sample_similarities: (S, N, N) one similarity matrix per bootstrap sample
            (:func:`bootstrap_similarity`).
        names: The N model names, unique.
        method: The linkage method (``"average"``, as :func:`rsa_ray.cluster_tasks` defaults to).

    Returns:
        A :class:`BranchSupport`, one support per linkage row of the full-sample dendrogram.

    Raises:
        ValueError: Bad shapes, names or method, or a matrix that is not symmetric and finite.

    Example:
        >>> s = np.array([[1, .9, .1], [.9, 1, .2], [.1, .2, 1]])
        >>> swapped = np.array([[1, .1, .9], [.1, 1, .2], [.9, .2, 1]])
        >>> result = branch_support(s, np.stack([s, s, swapped]), ["a", "b", "c"])
        >>> [(clade, round(support, 3)) for clade, support in zip(result.clades, result.support)]
        [(('a', 'b'), 0.667), (('a', 'b', 'c'), 1.0)]
    """
    names = tuple(str(name) for name in names)
    sample_similarities = np.asarray(sample_similarities, dtype=np.float64)
    if sample_similarities.ndim != 3 or sample_similarities.shape[1:] != (len(names), len(names)):
        raise ValueError(f"sample_similarities must be (S, {len(names)}, {len(names)}), "
                         f"got shape {sample_similarities.shape}")
    if sample_similarities.shape[0] == 0:
        raise ValueError("sample_similarities holds no samples")
    point = cluster_tasks(point_similarity, names, method=method)
    point_clades = _clades(point.linkage, len(names))
    found = dict.fromkeys(point_clades, 0)
    for sample in sample_similarities:
        for clade in set(_clades(cluster_tasks(sample, names, method=method).linkage, len(names))):
            if clade in found:
                found[clade] += 1
    clades = tuple(tuple(name for leaf, name in enumerate(names) if clade >> leaf & 1) for clade in point_clades)
    support = tuple(found[clade] / sample_similarities.shape[0] for clade in point_clades)
    return BranchSupport(names, method, point.linkage, point.leaf_names, clades, support, sample_similarities.shape[0])
