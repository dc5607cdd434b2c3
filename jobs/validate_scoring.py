"""Scoring ``rsa-ray validate``'s results as tables: per-candidate summaries, agreement per target,
the paper's Table 1, and the consistency of rankings (supplement S3)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from rsa_ray import DegenerateInputError, table1_counts, transfer_agreement
from rsa_ray.consistency import consistency_of_target_swap, consistency_vs_probe_count, consistency_vs_variant
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
    finite = trials[np.isfinite(trials["metric"])]
    per_rate = finite.groupby(["target", "candidate", "learning_rate"])["metric"].agg(["mean", "std", "count"]).reset_index()
    best = per_rate.sort_values("mean", ascending=False).groupby(["target", "candidate"]).head(1)
    best = best.rename(columns={"mean": "metric_mean", "std": "metric_std", "count": "seeds"})
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

    Example:
        >>> per_target = pd.DataFrame([{"target": "t", "pearson": 0.5, "spearman": 0.4, "top1_hit": True}])
        >>> table1_frame(per_target, [pd.DataFrame({"beats_control": [True, False]})], {"steps": 3})["top1_hits"].item()
        1
    """
    scored = per_target[np.isfinite(per_target["pearson"])]
    ks = [k for k in KS if f"top{k}_hit" in scored]
    counts = table1_counts([{k: bool(r[f"top{k}_hit"]) for k in ks} for _, r in scored.iterrows()],
                           scored["pearson"].tolist(), scored["spearman"].tolist())
    return pd.DataFrame([{"targets_scored": counts.n_targets, "targets": len(per_target),
                          **{f"top{k}_hits": v for k, v in counts.top_k_hits.items()},
                          "mean_pearson": counts.mean_pearson, "mean_spearman": counts.mean_spearman,
                          "beats_control_share": float(pd.concat(summaries)["beats_control"].mean()),
                          **run_settings}])


def consistency_table(entries: Sequence, features: Mapping[str, np.ndarray], finals: Mapping[str, np.ndarray],
                      probe_counts: Sequence[int], n_images: int) -> pd.DataFrame:
    """Ranking agreement vs probe count, training stage and model size, one row per setting.

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
    wide = {f"{e.task}-small": features[e.model_id] for e in entries if e.training.variant == "wide"}
    if wide:
        result = consistency_of_target_swap(finals, wide)
        for target, value in zip(wide, result.per_row):
            rows.append({"analysis": "model_size", "setting": f"{target.replace('-small', '-wide')} vs small", "x": np.nan, "mean": float(value), "min": float(value)})
    return pd.DataFrame(rows)


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
