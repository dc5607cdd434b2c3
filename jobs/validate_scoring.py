"""Scoring ``rsa-ray validate``'s results as tables: per-candidate summaries, agreement per target,
the paper's Table 1 (with the seed-noise check and the transfer-affinity agreement), the consistency
of rankings (supplement S3) and the structure of the task space (type clustering, depth trend)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from rsa_ray import DegenerateInputError, table1_counts, transfer_agreement
from rsa_ray.consistency import consistency_of_target_swap, consistency_vs_probe_count, consistency_vs_variant
from rsa_ray.task_structure import depth_trend, noise_ratio, off_diagonal_column_agreement, type_clustering
from rsa_ray.training import CONTROL

KS = (1, 3, 5)


def candidate_summary(trials: pd.DataFrame, similarity: dict[str, float]) -> pd.DataFrame:
    """Per candidate: similarity, RSA rank, mean/std held-out metric over seeds (best learning rate), transfer rank.

    Example:
        >>> trials = pd.DataFrame({"target": "t", "candidate": ["a", "b", CONTROL], "seed": 0, "learning_rate": 1e-3,
        ...                        "metric": [0.9, 0.5, 0.4]})
        >>> candidate_summary(trials, {"a": 0.2, "b": 0.7})["candidate"].tolist()
        ['b', 'a']
    """
    best = best_learning_rates(trials).rename(columns={"mean": "metric_mean", "std": "metric_std", "count": "seeds"})
    best["similarity"] = best["candidate"].map(similarity)
    control = best[best["candidate"] == CONTROL]["metric_mean"]
    control_mean = float(control.iloc[0]) if len(control) else float("nan")
    summary = best[best["candidate"] != CONTROL].copy()
    summary["rsa_rank"] = summary["similarity"].rank(ascending=False, method="min").astype(int)
    summary["transfer_rank"] = summary["metric_mean"].rank(ascending=False, method="min").astype(int)
    summary["beats_control"] = summary["metric_mean"] > control_mean
    summary["control_metric"] = control_mean
    columns = ["target", "candidate", "similarity", "rsa_rank", "metric_mean", "metric_std", "seeds", "transfer_rank",
               "learning_rate", "beats_control", "control_metric"]
    return summary[columns].sort_values("rsa_rank", ignore_index=True)


def best_learning_rates(trials: pd.DataFrame) -> pd.DataFrame:
    """Per (target, candidate): the learning rate of the highest mean finite metric over seeds, with that
    mean, its std and the count of finite seeds (the rate :func:`candidate_summary` reports).

    Example:
        >>> trials = pd.DataFrame({"target": "t", "candidate": "a", "seed": [0, 1, 0, 1],
        ...                        "learning_rate": [1e-3, 1e-3, 1e-2, 1e-2], "metric": [0.5, 0.7, 0.2, float("nan")]})
        >>> best_learning_rates(trials)[["candidate", "learning_rate", "mean", "count"]].values.tolist()
        [['a', 0.001, 0.6, 2]]
    """
    finite = trials[np.isfinite(trials["metric"])]
    per_rate = finite.groupby(["target", "candidate", "learning_rate"])["metric"].agg(["mean", "std", "count"]).reset_index()
    return per_rate.sort_values("mean", ascending=False).groupby(["target", "candidate"]).head(1)


def noise_table(trials: pd.DataFrame) -> pd.DataFrame:
    """Per target: seed noise against the spread between candidates (``rsa_ray.task_structure.noise_ratio``).

    Each candidate (the random-init control excluded) counts at its best learning rate
    (:func:`best_learning_rates`), one metric per seed (NaN for a failed seed).

    Returns:
        Columns ``target``, ``seed_std`` (median over candidates of the std across seeds), ``spread``
        (std across candidates of their mean), ``noise_ratio`` (their ratio) and ``noise_ok`` (ratio <= 1/3).

    Example:
        >>> trials = pd.DataFrame({"target": "t", "candidate": ["a", "a", "b", "b", CONTROL, CONTROL],
        ...                        "seed": [0, 1] * 3, "learning_rate": 1e-3,
        ...                        "metric": [0.50, 0.52, 0.70, 0.72, 0.1, 0.9]})
        >>> row = noise_table(trials).iloc[0]
        >>> row["target"], round(float(row["noise_ratio"]), 4), bool(row["noise_ok"])
        ('t', 0.1, True)
    """
    candidates = trials[trials["candidate"] != CONTROL]
    best = best_learning_rates(candidates)[["target", "candidate", "learning_rate"]]
    chosen = candidates.merge(best, on=["target", "candidate", "learning_rate"])
    rows = []
    for target in pd.unique(trials["target"]):
        part = chosen[chosen["target"] == target]
        metric = part.pivot_table(index="candidate", columns="seed", values="metric", aggfunc="mean", dropna=False)
        result = noise_ratio(metric.to_numpy(dtype=np.float64) if len(part) else np.empty((0, 0)))
        rows.append({"target": target, "seed_std": result.seed_std, "spread": result.spread,
                     "noise_ratio": result.ratio, "noise_ok": result.passes})
    return pd.DataFrame(rows, columns=["target", "seed_std", "spread", "noise_ratio", "noise_ok"])


def affinity_matrix(candidates: pd.DataFrame, task_of: Mapping[str, str], tasks: Sequence[str]) -> pd.DataFrame:
    """The transfer-affinity matrix: targets × sources of the mean finetuning metric (higher is better).

    Args:
        candidates: :func:`candidate_summary` rows of every target (``target``, ``candidate``, ``metric_mean``).
        task_of: Candidate model id → its task (the source); candidates not in it are left out.
        tasks: The task order of both rows (targets) and columns (sources).

    Returns:
        A (targets × sources) frame, index ``target``, columns ``source``; NaN where nothing was
        finetuned (the diagonal, candidates left out by ``--candidates``).

    Example:
        >>> rows = pd.DataFrame({"target": ["x", "x", "y"], "candidate": ["y-small", "z-small", "x-small"],
        ...                      "metric_mean": [0.5, 0.7, 0.9]})
        >>> affinity_matrix(rows, {"x-small": "x", "y-small": "y", "z-small": "z"}, ["x", "y", "z"]).values.tolist()
        [[nan, 0.5, 0.7], [0.9, nan, nan], [nan, nan, nan]]
    """
    known = candidates[candidates["candidate"].isin(list(task_of))]
    frame = known.assign(source=known["candidate"].map(task_of))
    affinity = frame.pivot_table(index="target", columns="source", values="metric_mean", aggfunc="mean")
    affinity = affinity.reindex(index=list(tasks), columns=list(tasks)).astype(np.float64)
    affinity.index.name, affinity.columns.name = "target", "source"
    return affinity


def similarity_by_task(matrix: np.ndarray, model_ids: Sequence[str], task_of: Mapping[str, str],
                       tasks: Sequence[str]) -> pd.DataFrame:
    """A stored model-similarity matrix as a task × task frame in ``tasks`` order.

    Models not in ``task_of`` are left out; a task none of whose models is stored gets NaN.

    Example:
        >>> frame = similarity_by_task(np.array([[1, .2, .5], [.2, 1, .4], [.5, .4, 1]]), ["b-small", "a-small", "other"],
        ...                            {"a-small": "a", "b-small": "b"}, ["a", "b"])
        >>> float(frame.loc["a", "b"]), list(frame.index)
        (0.2, ['a', 'b'])
    """
    keep = [i for i, model_id in enumerate(model_ids) if model_id in task_of]
    by_task = [task_of[model_ids[i]] for i in keep]
    frame = pd.DataFrame(np.asarray(matrix, dtype=np.float64)[np.ix_(keep, keep)], index=by_task, columns=by_task)
    return frame.reindex(index=list(tasks), columns=list(tasks))


def affinity_agreement(affinity: pd.DataFrame, similarity: pd.DataFrame) -> dict[str, float]:
    """How well RSA similarity predicts each target's transfer affinities (the paper's §4.3 protocol).

    Per target (a column of the sources × targets matrix, the target's own entry left out), the
    Spearman and Pearson between its measured affinities and the RSA similarity of its sources
    (``rsa_ray.task_structure.off_diagonal_column_agreement``), averaged over the targets defined.
    Per column the metric's scale does not matter, so targets with different metrics compare.

    Args:
        affinity: :func:`affinity_matrix` (targets × sources, the same tasks in the same order).
        similarity: Task × task RSA similarity holding those tasks (:func:`similarity_by_task`).

    Returns:
        ``affinity_spearman``, ``affinity_pearson`` and ``affinity_targets`` (targets with a defined Spearman).

    Raises:
        ValueError: The affinity's rows and columns are not the same tasks in the same order.

    Example:
        >>> tasks = ["a", "b", "c", "d"]
        >>> sim = pd.DataFrame(np.array([[1, .9, .5, .1], [.9, 1, .4, .2], [.5, .4, 1, .3], [.1, .2, .3, 1]]),
        ...                    index=tasks, columns=tasks)
        >>> affinity = pd.DataFrame(sim.to_numpy() * 10, index=tasks, columns=tasks)
        >>> affinity_agreement(affinity, sim)
        {'affinity_spearman': 1.0, 'affinity_pearson': 1.0, 'affinity_targets': 4}
    """
    if list(affinity.index) != list(affinity.columns):
        raise ValueError(f"affinity rows {list(affinity.index)} and columns {list(affinity.columns)} must be the same tasks")
    tasks = list(affinity.index)
    sources_by_targets = affinity.T.to_numpy(dtype=np.float64)
    rsa = similarity.reindex(index=tasks, columns=tasks).to_numpy(dtype=np.float64)
    result = off_diagonal_column_agreement(sources_by_targets, rsa)
    return {"affinity_spearman": result.mean_spearman, "affinity_pearson": result.mean_pearson,
            "affinity_targets": int(np.isfinite(result.per_column_spearman).sum())}


def agreement_row(summary: pd.DataFrame, target: str) -> dict:
    """``transfer_agreement`` of one target's summary as a flat row (NaN where it is undefined).

    Example:
        >>> summary = pd.DataFrame({"candidate": ["a", "b", "c"], "similarity": [0.7, 0.2, 0.1],
        ...                         "metric_mean": [0.9, 0.4, 0.5]})
        >>> agreement_row(summary, "t")["rsa_top1"]
        'a'
    """
    ks = [k for k in KS if k <= len(summary)]
    row = {"target": target, "candidates": len(summary)}
    try:
        agreement = transfer_agreement(summary["similarity"].to_numpy(), summary["metric_mean"].to_numpy(), ks)
    except (ValueError, DegenerateInputError) as error:
        return {**row, "pearson": np.nan, "spearman": np.nan, "note": str(error)[:200]}
    best = summary["candidate"].iloc[agreement.best_by_similarity]
    row.update(pearson=agreement.pearson, spearman=agreement.spearman, kendall_tau=agreement.kendall_tau,
               weighted_kendall_tau=agreement.weighted_kendall_tau, regret=agreement.regret, rsa_top1=best,
               transfer_top1=summary.sort_values("metric_mean", ascending=False)["candidate"].iloc[0], note="")
    row.update({f"top{k}_hit": agreement.top_k_hit[k] for k in ks})
    return row


def table1_frame(per_target: pd.DataFrame, summaries: Sequence[pd.DataFrame], run_settings: Mapping[str, Any]) -> pd.DataFrame:
    """The paper's Table 1 as one row: top-k hit counts and mean correlations over the targets that could be scored.

    Args:
        per_target: One :func:`agreement_row` per target.
        summaries: Each target's :func:`candidate_summary`.
        run_settings: Columns that say how the run was made (steps, seeds, example counts).

    With a ``noise_ok`` column (:func:`noise_table`) the row also holds the counts over the targets
    that pass the noise check only (``top1_hits_low_noise``, ..., ``mean_spearman_low_noise``,
    ``targets_low_noise``), so targets whose ranking is within seed noise are marked, not hidden.

    Example:
        >>> per_target = pd.DataFrame([{"target": "t", "pearson": 0.5, "spearman": 0.4, "top1_hit": True}])
        >>> table1_frame(per_target, [pd.DataFrame({"beats_control": [True, False]})], {"steps": 3})["top1_hits"].item()
        1
        >>> noisy = per_target.assign(noise_ok=False)
        >>> table1_frame(noisy, [pd.DataFrame({"beats_control": [True]})], {})[["top1_hits_low_noise", "targets_low_noise"]].values.tolist()
        [[0, 0]]
    """
    scored = per_target[np.isfinite(per_target["pearson"])]
    ks = [k for k in KS if f"top{k}_hit" in scored]
    counts = _count_columns(scored, ks)
    row = {"targets_scored": counts.pop("targets"), "targets": len(per_target), **counts}
    if "noise_ok" in per_target:
        low_noise = _count_columns(scored[scored["noise_ok"].eq(True)], ks)
        row.update({f"{name}_low_noise": value for name, value in low_noise.items()})
    return pd.DataFrame([{**row, "beats_control_share": float(pd.concat(summaries)["beats_control"].mean()),
                          **run_settings}])


def _count_columns(scored: pd.DataFrame, ks: Sequence[int]) -> dict[str, Any]:
    counts = table1_counts([{k: bool(r[f"top{k}_hit"]) for k in ks} for _, r in scored.iterrows()],
                           scored["pearson"].tolist(), scored["spearman"].tolist())
    return {**{f"top{k}_hits": counts.top_k_hits.get(k, 0) for k in ks}, "mean_pearson": counts.mean_pearson,
            "mean_spearman": counts.mean_spearman, "targets": counts.n_targets}


def consistency_table(entries: Sequence, features: Mapping[str, np.ndarray], finals: Mapping[str, np.ndarray],
                      probe_counts: Sequence[int], n_images: int) -> pd.DataFrame:
    """Ranking agreement vs probe count, training stage and model size (large vs small), one row per setting.

    Args:
        entries: The zoo's entries (every variant), each with its training record.
        features: Model id → features on the ``n_images`` probe images.
        finals: Final small model id → its features (the reference).
        probe_counts: Smaller probe counts to compare with all ``n_images``.
        n_images: Probe images of the reference.

    Example:
        >>> consistency_table(zoo_entries, features, finals, [100, 200], 2000)  # doctest: +SKIP
    """
    rows = []
    for count, result in consistency_vs_probe_count(finals, probe_counts).items():
        rows.append({"analysis": "probe_images", "setting": f"{count} vs {n_images}", "x": count, "mean": result.mean, "min": float(result.per_row.min())})
    for fraction in (0.1, 0.25, 0.5):
        stage = {e.training.base_model_id: features[e.model_id] for e in entries
                 if e.training.variant == "small" and e.training.checkpoint_fraction == fraction}
        result = consistency_vs_variant(finals, stage)
        rows.append({"analysis": "training_stage", "setting": f"{fraction:g} vs final", "x": fraction, "mean": result.mean, "min": float(result.per_row.min())})
    large = {f"{e.task}-small": features[e.model_id] for e in entries
             if e.training.variant == "large" and e.training.checkpoint_fraction == 1.0 and f"{e.task}-small" in finals}
    if large:
        result = consistency_of_target_swap(finals, large)
        for target, value in zip(large, result.per_row):
            rows.append({"analysis": "model_size", "setting": f"{target.removesuffix('-small')}-large vs small", "x": np.nan, "mean": float(value), "min": float(value)})
    return pd.DataFrame(rows)


def consistency_entries(entries: Sequence) -> list:
    """The zoo entries :func:`consistency_table` reads: every small model (final and checkpoints) and the
    final large ones (a large model's checkpoints are not compared).

    Example:
        >>> from types import SimpleNamespace as N
        >>> entries = [N(model_id=i, training=N(variant=v, checkpoint_fraction=f))
        ...            for i, v, f in [("a", "small", 0.1), ("b", "large", 0.5), ("c", "large", 1.0), ("d", "wide", 1.0)]]
        >>> [e.model_id for e in consistency_entries(entries)]
        ['a', 'c']
    """
    return [e for e in entries if e.training is not None and (e.training.variant == "small" or (
        e.training.variant == "large" and e.training.checkpoint_fraction == 1.0))]


def task_structure_table(similarities: Mapping[str, np.ndarray], names: Sequence[str], task_types: Sequence[str],
                         layer: str, n_clusters: int = 4) -> pd.DataFrame:
    """The task space's structure as rows: type clustering at ``layer`` and the mean similarity per layer.

    Rows (columns ``analysis``, ``setting``, ``x``, ``value``):

    * ``type_clustering``: the adjusted Rand index of the ``min(n_clusters, N)``-cluster cut of the
      dendrogram at ``layer`` against the task types (``x`` = clusters asked for);
    * ``depth_trend``: per layer (``setting``; ``x`` = depth index, 0 earliest) the mean off-diagonal
      task similarity (the paper's Fig. 5: it falls with depth);
    * ``depth_trend_summary``: the Spearman of that mean against depth (negative: falling), and
      ``falls`` (1.0 when every layer's mean is below the previous one's, else 0.0).

    Args:
        similarities: Layer name (earliest first) → (N, N) similarity of the same N models.
        names: The N model ids.
        task_types: Their N task types.
        layer: The layer of the type clustering (the default layer).
        n_clusters: Clusters of the cut (the paper's four task types).

    Example:
        >>> s = np.array([[1, .9, .1, .2], [.9, 1, .2, .1], [.1, .2, 1, .8], [.2, .1, .8, 1]])
        >>> table = task_structure_table({"block": s, "output": s * 0.5}, list("abcd"), ["2d", "2d", "3d", "3d"],
        ...                              "output", n_clusters=2)
        >>> table[["analysis", "x", "value"]].round(3).values.tolist()[:3]
        [['type_clustering', 2.0, 1.0], ['depth_trend', 0.0, 0.383], ['depth_trend', 1.0, 0.192]]
    """
    rows = []
    if layer in similarities and len(names) >= 2:
        k = min(n_clusters, len(names))
        result = type_clustering(similarities[layer], names, task_types, n_clusters=k)
        rows.append({"analysis": "type_clustering", "setting": f"{result.n_clusters} clusters at {layer} vs task types",
                     "x": k, "value": result.ari})
    if len(similarities) >= 2:
        trend = depth_trend(similarities)
        rows += [{"analysis": "depth_trend", "setting": name, "x": depth, "value": mean}
                 for depth, (name, mean) in enumerate(zip(trend.layers, trend.mean_similarity))]
        rows += [{"analysis": "depth_trend_summary", "setting": "spearman vs depth", "x": np.nan, "value": trend.spearman},
                 {"analysis": "depth_trend_summary", "setting": "falls", "x": np.nan, "value": float(trend.falls)}]
    return pd.DataFrame(rows, columns=["analysis", "setting", "x", "value"]).astype({"x": np.float64})


def estimator_agreement(scores: pd.DataFrame, performance: Mapping[str, float], target: str, transfer: str,
                        score_names: Sequence[str]) -> pd.DataFrame:
    """How well each estimator's ranking predicts measured transfer: one :func:`agreement_row` per score.

    Args:
        scores: The target's score table (``jobs.score_table``: a ``candidate`` column and one per score).
        performance: Candidate → measured transfer (mean held-out metric; higher is better).
        target: The target's name.
        transfer: What ``performance`` measures (``finetune``, ``linear-probe``).
        score_names: The score columns to compare.

    Example:
        >>> scores = pd.DataFrame({"candidate": ["a", "b", "c"], "knn": [0.9, 0.5, 0.7]})
        >>> row = estimator_agreement(scores, {"a": 0.8, "b": 0.2, "c": 0.5}, "t", "finetune", ["knn"]).iloc[0]
        >>> row["score"], float(row["spearman"]), bool(row["top1_hit"])
        ('knn', 1.0, True)
    """
    rows = []
    for name in score_names:
        known = scores[scores[name].notna() & scores["candidate"].isin(list(performance))]
        summary = pd.DataFrame({"candidate": known["candidate"].to_numpy(), "similarity": known[name].to_numpy(),
                                "metric_mean": [performance[c] for c in known["candidate"]]})
        row = agreement_row(summary.sort_values("similarity", ascending=False, ignore_index=True), target)
        rows.append({"target": target, "transfer": transfer, "score": name, **{k: v for k, v in row.items() if k != "target"}})
    frame = pd.DataFrame(rows)
    return frame.rename(columns={"rsa_top1": "score_top1"})


def estimator_table1(per_estimator: pd.DataFrame, summaries: Sequence[pd.DataFrame],
                     run_settings: Mapping[str, Any]) -> pd.DataFrame:
    """The paper's Table 1 once per estimator: one row per score from its per-target agreement rows.

    Example:
        >>> rows = pd.DataFrame([{"target": "t", "transfer": "finetune", "score": "knn", "pearson": 0.5,
        ...                       "spearman": 0.4, "weighted_kendall_tau": 0.3, "top1_hit": True}])
        >>> estimator_table1(rows, [pd.DataFrame({"beats_control": [True]})], {})["top1_hits"].item()
        1
    """
    rows = []
    for (transfer, score), group in per_estimator.groupby(["transfer", "score"], sort=False):
        row = table1_frame(group, summaries, run_settings).to_dict("records")[0]
        scored = group[np.isfinite(group["pearson"])]
        tau = scored["weighted_kendall_tau"] if "weighted_kendall_tau" in scored else pd.Series(dtype=float)
        rows.append({"transfer": transfer, "score": score, **row,
                     "mean_weighted_kendall_tau": float(tau.mean()) if len(tau) else float("nan")})
    return pd.DataFrame(rows)
