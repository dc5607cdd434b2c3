"""Benchmark: the bootstrap of one target's RSA ranking against computing that ranking once.

Not a test: prints a table. With M probe images (L = M(M−1)/2 pairs) and N candidates whose
float32 RDMs are stored, it times in the same run:

* the baseline, one ranking as the pipeline computes it: rank-transform the N candidate RDMs and
  the target's, and correlate (``similarity_to``);
* ours, ``bootstrap_rsa_scores`` over S bootstrap samples of the images: the exact Spearman of
  the resampled RDMs, re-ranked in every sample;
* for comparison, the shortcut that keeps the full-sample ranks and weights each pair by its
  multiplicity (a weighted Pearson, three matrix products for all samples at once), and how far
  its scores are from the exact ones.

It also checks a few of our scores against ``scipy.stats.spearmanr`` on the explicitly repeated
vectors. Every ratio is "that / one ranking". The cores may be shared with other work: the
baseline is measured in the same run, so the ratios, not the seconds, are the result.
Run: ``python bench/bootstrap.py [--smoke]``.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from scipy import stats
from timing import best_of

from rsa_ray import compute_rdm, similarity_to, standardized_ranks
from rsa_ray.bootstrap import bootstrap_rsa_scores, image_samples, pair_weights


def model_rdms(n_models: int, n_images: int, n_features: int, seed: int = 0) -> np.ndarray:
    """float32 RDMs (as stored) of synthetic models: a shared signal with model-specific weight plus noise."""
    generator = np.random.default_rng(seed)
    shared = generator.standard_normal((n_images, n_features), dtype=np.float32)
    rdms = np.empty((n_models, n_images * (n_images - 1) // 2), dtype=np.float32)
    for model in range(n_models):
        noise = generator.standard_normal((n_images, n_features), dtype=np.float32)
        rdms[model] = compute_rdm(shared * generator.uniform(0.2, 2.0) + noise)
    return rdms


def weighted_pearson_of_full_ranks(candidates: np.ndarray, target: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """The shortcut: full-sample standardised ranks, Pearson weighted by pair multiplicity, per sample."""
    ranks = standardized_ranks(candidates)
    target_ranks = standardized_ranks(target)[0]
    weights = pair_weights(samples, samples.shape[1]).astype(np.float64)
    weights /= weights.sum(axis=1, keepdims=True)
    candidate_means = weights @ ranks.T
    target_means = weights @ target_ranks
    cross = (weights * target_ranks) @ ranks.T - candidate_means * target_means[:, None]
    candidate_squares = weights @ (ranks * ranks).T - candidate_means**2
    target_squares = weights @ (target_ranks * target_ranks) - target_means**2
    return cross / np.sqrt(candidate_squares * target_squares[:, None])


def scipy_check(candidates: np.ndarray, target: np.ndarray, samples: np.ndarray, scores: np.ndarray,
                checks: int) -> float:
    """Largest |ours − scipy spearmanr on the repeated vectors| over a few (sample, candidate) entries."""
    generator = np.random.default_rng(1)
    worst = 0.0
    for _ in range(checks):
        sample, candidate = int(generator.integers(samples.shape[0])), int(generator.integers(candidates.shape[0]))
        weights = pair_weights(samples[sample], samples.shape[1])
        expected = stats.spearmanr(np.repeat(candidates[candidate], weights), np.repeat(target, weights)).statistic
        worst = max(worst, abs(scores[sample, candidate] - expected))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--candidates", type=int, default=500)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--features", type=int, default=512)
    parser.add_argument("--checks", type=int, default=3, help="entries compared with scipy on repeated vectors")
    parser.add_argument("--smoke", action="store_true", help="a small size that runs in seconds")
    args = parser.parse_args()
    if args.smoke:
        args.images, args.candidates, args.samples, args.features = 60, 40, 20, 64
    from threadpoolctl import threadpool_info

    blas = ", ".join(f"{i['internal_api']} {i['num_threads']} threads" for i in threadpool_info())
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"M = {args.images} images (L = {args.images * (args.images - 1) // 2} pairs), "
          f"N = {args.candidates} candidates, S = {args.samples} samples\n"
          f"{os.cpu_count()} cores (shared: load average {load}); BLAS: {blas}")

    rdms = model_rdms(args.candidates + 1, args.images, args.features)
    target, candidates = rdms[0], rdms[1:]
    samples = image_samples(args.images, args.samples, seed=0)

    one_ranking = best_of(lambda: similarity_to(target, candidates), 3)
    start = time.perf_counter()
    scores = bootstrap_rsa_scores(candidates, target, samples)
    ours = time.perf_counter() - start
    start = time.perf_counter()
    shortcut_scores = weighted_pearson_of_full_ranks(candidates, target, samples)
    shortcut = time.perf_counter() - start

    rows = [
        ("one ranking (rank-transform + correlate), baseline", one_ranking),
        (f"ours: exact re-ranked bootstrap, {args.samples} samples", ours),
        (f"shortcut: full-sample ranks, weighted Pearson, {args.samples} samples", shortcut),
    ]
    print(f"\n  {'method':<66} {'seconds':>9} {'÷ one ranking':>14}")
    for method, seconds in rows:
        print(f"  {method:<66} {seconds:>9.3f} {seconds / one_ranking:>14.2f}")
    gap = np.abs(shortcut_scores - scores)
    print(f"\nshortcut − exact: max |Δr_s| = {gap.max():.2e}, mean |Δr_s| = {gap.mean():.2e}; "
          f"samples whose top candidate differs: {int((shortcut_scores.argmax(1) != scores.argmax(1)).sum())} "
          f"of {args.samples}")
    print(f"ours vs scipy spearmanr on repeated vectors ({args.checks} entries): max |Δ| = "
          f"{scipy_check(candidates, target, samples, scores, args.checks):.1e}")
    print("\nTargets")
    print(f"  bootstrap of {args.samples} samples / one ranking = {ours / one_ranking:.2f} (target ≤ 10)")


if __name__ == "__main__":
    main()
