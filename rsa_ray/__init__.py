"""rsa_ray: Representational Similarity Analysis for task taxonomy and transfer ranking.

Two halves. The math modules at the top level are numpy/scipy only (never torch,
Ray, Zarr or fsspec): RDMs, rank transforms, similarity between models,
clustering, ranking and choosing candidates, the structure of the task space
(``rsa_ray.task_structure``: type clustering, depth trend, transfer-affinity
agreement, seed noise), the transferability estimators
(``rsa_ray.estimators``: rsa, rsa-labels, LogME, H-score, k-NN, linear probe,
SFDA), bootstrap confidence and branch support, the metrics that validate a
ranking against measured transfer, and the consistency of rankings. Their public names
are re-exported here. The torch half lives in subpackages that the math never
imports (an import-linter contract in pyproject.toml): ``rsa_ray.models``
(registry entries, builders, inference), ``rsa_ray.datasets`` (mini-Taskonomy,
real images, target splits) and ``rsa_ray.training`` (training, finetuning,
evaluation).

Example:
    >>> import numpy as np, rsa_ray
    >>> rng = np.random.default_rng(0)
    >>> features = rng.normal(size=(4, 50, 32))       # 4 models, 50 images, 32 features
    >>> rdms = rsa_ray.compute_rdms(features)          # (4, 1225) condensed RDMs
    >>> similarity = rsa_ray.similarity_matrix(rdms)   # (4, 4) Spearman r_s
    >>> len(rsa_ray.cluster_tasks(similarity, ["a", "b", "c", "d"]).leaf_order)
    4
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rsa_ray._lazy import lazy_attributes
from rsa_ray._version import __version__

# Public name → the module defining it. Imported on first use, so a process that needs only
# the RDM and rank kernels (a Ray worker) does not pay for scipy.stats and clustering.
_EXPORTS = {
    "ColumnAgreement": "rsa_ray.agreement",
    "TransferAgreement": "rsa_ray.agreement",
    "Table1Counts": "rsa_ray.agreement",
    "column_agreement": "rsa_ray.agreement",
    "table1_counts": "rsa_ray.agreement",
    "transfer_agreement": "rsa_ray.agreement",
    "cka_matrix": "rsa_ray.cka",
    "linear_cka": "rsa_ray.cka",
    "RankingConsistency": "rsa_ray.consistency",
    "consistency_of_target_swap": "rsa_ray.consistency",
    "consistency_vs_probe_count": "rsa_ray.consistency",
    "consistency_vs_variant": "rsa_ray.consistency",
    "ranking_consistency": "rsa_ray.consistency",
    "DegenerateInputError": "rsa_ray.errors",
    "kendall_tau_a": "rsa_ray.kendall",
    "rank_transform": "rsa_ray.ranks",
    "standardize": "rsa_ray.ranks",
    "standardized_ranks": "rsa_ray.ranks",
    "DISTANCES": "rsa_ray.rdm",
    "compute_rdm": "rsa_ray.rdm",
    "compute_rdms": "rsa_ray.rdm",
    "condense": "rsa_ray.rdm",
    "condensed_length": "rsa_ray.rdm",
    "n_images_from_length": "rsa_ray.rdm",
    "score_predictions": "rsa_ray.scoring",
    "METHODS": "rsa_ray.similarity",
    "similarity_matrix": "rsa_ray.similarity",
    "similarity_of_vectors": "rsa_ray.similarity",
    "similarity_to": "rsa_ray.similarity",
    "CandidateSelection": "rsa_ray.source_ranking",
    "RankChange": "rsa_ray.source_ranking",
    "RankedCandidate": "rsa_ray.source_ranking",
    "rank_candidates": "rsa_ray.source_ranking",
    "ranking_changes": "rsa_ray.source_ranking",
    "select_candidates": "rsa_ray.source_ranking",
    "TaskClusters": "rsa_ray.taxonomy",
    "cluster_tasks": "rsa_ray.taxonomy",
    "similarity_to_distance": "rsa_ray.taxonomy",
    "MAX_NOISE_RATIO": "rsa_ray.task_structure",
    "DepthTrend": "rsa_ray.task_structure",
    "NoiseRatio": "rsa_ray.task_structure",
    "OffDiagonalAgreement": "rsa_ray.task_structure",
    "TypeClustering": "rsa_ray.task_structure",
    "adjusted_rand_index": "rsa_ray.task_structure",
    "depth_trend": "rsa_ray.task_structure",
    "noise_ratio": "rsa_ray.task_structure",
    "off_diagonal_column_agreement": "rsa_ray.task_structure",
    "type_clustering": "rsa_ray.task_structure",
    "BootstrapSummary": "rsa_ray.bootstrap",
    "bootstrap_rsa_scores": "rsa_ray.bootstrap",
    "bootstrap_scores": "rsa_ray.bootstrap",
    "image_samples": "rsa_ray.bootstrap",
    "pair_weights": "rsa_ray.bootstrap",
    "BranchSupport": "rsa_ray.branch_support",
    "bootstrap_similarity": "rsa_ray.branch_support",
    "ESTIMATORS": "rsa_ray.estimators",
    "Estimator": "rsa_ray.estimators",
    "score_features": "rsa_ray.estimators",
    "shrinkage_hscore": "rsa_ray.hscore",
    "rsa_labels_score": "rsa_ray.label_rdm",
    "held_out_score": "rsa_ray.linear_probe",
    "linear_probe_score": "rsa_ray.linear_probe",
    "logme_score": "rsa_ray.logme",
    "sfda_score": "rsa_ray.sfda",
    "TargetLabels": "rsa_ray.target_labels",
    "Tile": "rsa_ray.tiles",
    "plan_tiles": "rsa_ray.tiles",
    "tiled_product": "rsa_ray.tiles",
}

if TYPE_CHECKING:
    from rsa_ray.agreement import (
        ColumnAgreement,
        Table1Counts,
        TransferAgreement,
        column_agreement,
        table1_counts,
        transfer_agreement,
    )
    from rsa_ray.cka import cka_matrix, linear_cka
    from rsa_ray.consistency import (
        RankingConsistency,
        consistency_of_target_swap,
        consistency_vs_probe_count,
        consistency_vs_variant,
        ranking_consistency,
    )
    from rsa_ray.errors import DegenerateInputError
    from rsa_ray.kendall import kendall_tau_a
    from rsa_ray.ranks import rank_transform, standardize, standardized_ranks
    from rsa_ray.rdm import DISTANCES, compute_rdm, compute_rdms, condense, condensed_length, n_images_from_length
    from rsa_ray.scoring import score_predictions
    from rsa_ray.similarity import METHODS, similarity_matrix, similarity_of_vectors, similarity_to
    from rsa_ray.source_ranking import (
        CandidateSelection,
        RankChange,
        RankedCandidate,
        rank_candidates,
        ranking_changes,
        select_candidates,
    )
    from rsa_ray.task_structure import (
        MAX_NOISE_RATIO,
        DepthTrend,
        NoiseRatio,
        OffDiagonalAgreement,
        TypeClustering,
        adjusted_rand_index,
        depth_trend,
        noise_ratio,
        off_diagonal_column_agreement,
        type_clustering,
    )
    from rsa_ray.taxonomy import TaskClusters, cluster_tasks, similarity_to_distance
    from rsa_ray.tiles import Tile, plan_tiles, tiled_product
    from rsa_ray.bootstrap import BootstrapSummary, bootstrap_rsa_scores, bootstrap_scores, image_samples, pair_weights
    from rsa_ray.branch_support import BranchSupport, bootstrap_similarity
    from rsa_ray.estimators import ESTIMATORS, Estimator, score_features
    from rsa_ray.hscore import shrinkage_hscore
    from rsa_ray.label_rdm import rsa_labels_score
    from rsa_ray.linear_probe import held_out_score, linear_probe_score
    from rsa_ray.logme import logme_score
    from rsa_ray.sfda import sfda_score
    from rsa_ray.target_labels import TargetLabels


__all__ = ["__version__", *_EXPORTS]


__getattr__, __dir__ = lazy_attributes("rsa_ray", _EXPORTS, globals())
