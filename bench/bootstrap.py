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

``--intervals`` runs the other section instead: every estimator on a zoo of candidates with
1,280-wide features (wider than the images), summarised two ways, before and after: draws with
replacement and percentile intervals (``image_samples`` + ``summarise``), and half-subsamples
without replacement (``image_subsamples`` + ``subsample_summary``). It prints, per estimator and
way, the share of candidates whose interval holds its own point value, the mean interval width and
the last-ranked candidate's P(best).

``--coverage NAME,...`` measures, per estimator, on 40 simulated zoos whose true order is known
(4 candidates, features ``w_k * class mean + noise`` on 80 images, the zoo of
tests/unit/core/test_resampling.py; the true value is the score's mean over 300 fresh draws), how
often the 95 % intervals hold the true value and the top set the true best, both ways.
Run: ``python bench/bootstrap.py [--smoke] [--intervals | --coverage NAME,...]``.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from scipy import stats
from timing import best_of

from rsa_ray import compute_rdm, similarity_to, standardized_ranks
from rsa_ray.bootstrap import bootstrap_rsa_scores, bootstrap_scores, image_samples, pair_weights, summarise
from rsa_ray.estimators import ESTIMATORS, score_features
from rsa_ray.resampling import image_subsamples, subsample_summary
from rsa_ray.target_labels import TargetLabels


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


def wide_zoo(n_images: int, n_features: int, n_candidates: int, n_classes: int = 5, seed: int = 0):
    """ReLU features of a latent with a class signal of decreasing strength, and a target model's features."""
    generator = np.random.default_rng(seed)
    classes = np.arange(n_images) % n_classes
    generator.shuffle(classes)
    mixing = generator.normal(size=(40, n_features))
    features = []
    for strength in np.linspace(1.5, 0.2, n_candidates):
        latent = generator.normal(size=(n_images, 40))
        latent[:, :n_classes] += strength * np.eye(n_classes)[classes]
        features.append(np.maximum(latent @ mixing + 0.5 * generator.normal(size=(n_images, n_features)), 0.0))
    target = 2.0 * np.eye(n_classes)[classes] + generator.normal(size=(n_images, n_classes))
    return features, TargetLabels.from_array(classes), target


def interval_rates(images: int, features_wide: int, candidates: int, samples: int) -> None:
    """Before / after: how often each estimator's interval holds its own point value."""
    features, labels, target = wide_zoo(images, features_wide, candidates)
    names = [f"c{index}" for index in range(candidates)]
    print(f"{images} images, {features_wide} features, {candidates} candidates, {samples} samples per way")
    print(f"  {'score':<17} {'way':<20} {'holds point':>11} {'mean width':>11} {'last P(best)':>12} {'seconds':>8}")
    for name in ESTIMATORS:
        def score(rows: np.ndarray, index: int) -> float:
            return score_features(name, features[index][rows], labels.subset(rows), target_features=target[rows],
                                  model=names[index], image_ids=rows)

        point = np.array([score(np.arange(images), index) for index in range(candidates)])
        ways = [("with replacement", image_samples(images, samples, seed=0), summarise, {}),
                ("half-subsamples", image_subsamples(images, samples, seed=0), subsample_summary,
                 {"n_images": images, "subsample_size": images // 2})]
        for way, drawn, summary_of, extra in ways:
            start = time.perf_counter()
            sampled = bootstrap_scores(lambda rows: [score(rows, index) for index in range(candidates)], images, drawn)
            summaries = summary_of(sampled, point, names, **extra)
            holds = np.mean([s.low <= s.score <= s.high for s in summaries])
            width = np.mean([s.high - s.low for s in summaries])
            print(f"  {name:<17} {way:<20} {holds:>11.2f} {width:>11.3g} {summaries[-1].p_best:>12.2f} "
                  f"{time.perf_counter() - start:>8.1f}", flush=True)


ZOO_WEIGHTS = np.array([1.0, 0.85, 0.7, 0.4])
ZOO_MEANS = np.random.default_rng(1234).normal(size=(3, 10))


def simulated_zoo(generator: np.random.Generator, n_images: int = 80):
    """Candidates ``w_k * mean[class] + noise`` (half the noise shared) on one target's images."""
    classes = generator.integers(0, 3, n_images)
    shared = generator.normal(size=(n_images, 10))
    features = [w * ZOO_MEANS[classes] + np.sqrt(0.5) * (shared + generator.normal(size=(n_images, 10)))
                for w in ZOO_WEIGHTS]
    return features, TargetLabels.from_array(classes)


def coverage(name: str, n_zoos: int = 40, n_samples: int = 50, truth_draws: int = 300) -> None:
    """Coverage of intervals and top set against the nominal 0.95, with replacement and half-subsamples."""
    truth_generator = np.random.default_rng(99)
    truth = np.mean([[score_features(name, f, labels) for f in features]
                     for features, labels in (simulated_zoo(truth_generator) for _ in range(truth_draws))], axis=0)
    names = [f"w={w}" for w in ZOO_WEIGHTS]
    counts = {way: [0, 0, [], []] for way in ("with replacement", "half-subsamples")}
    for zoo in range(n_zoos):
        features, labels = simulated_zoo(np.random.default_rng(zoo))
        point = np.array([score_features(name, f, labels) for f in features])
        for way, drawn in (("with replacement", image_samples(80, n_samples, seed=zoo)),
                           ("half-subsamples", image_subsamples(80, n_samples, seed=zoo))):
            sampled = bootstrap_scores(lambda rows: [score_features(name, f[rows], labels.subset(rows), image_ids=rows)
                                                     for f in features], 80, drawn)
            summaries = (summarise(sampled, point, names) if way == "with replacement"
                         else subsample_summary(sampled, point, names, 80, 40))
            by_name = {s.name: s for s in summaries}
            counts[way][0] += sum(by_name[n].low <= t <= by_name[n].high for n, t in zip(names, truth))
            counts[way][1] += by_name[names[0]].indistinguishable_from_top
            counts[way][2].append(sum(s.indistinguishable_from_top for s in summaries))
            counts[way][3].append(summaries[-1].p_best)
    for way, (holds, best, sizes, last) in counts.items():
        print(f"  {name:<17} {way:<17} {holds / (n_zoos * len(names)):>15.3f} {best / n_zoos:>13.3f} "
              f"{np.mean(sizes):>9.2f} {max(last):>12.3f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--candidates", type=int, default=500)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--features", type=int, default=512)
    parser.add_argument("--checks", type=int, default=3, help="entries compared with scipy on repeated vectors")
    parser.add_argument("--smoke", action="store_true", help="a small size that runs in seconds")
    parser.add_argument("--intervals", action="store_true",
                        help="instead: every estimator's intervals before / after, on 1,280-wide features")
    parser.add_argument("--coverage", default=None, help="instead: coverage on simulated zoos of these estimators")
    args = parser.parse_args()
    if args.coverage:
        print(f"  {'score':<17} {'way':<17} {'interval holds':>15} {'best in top':>13} {'top size':>9} "
              f"{'last P(best)':>12}   (nominal 0.95)")
        for name in args.coverage.split(","):
            coverage(name.strip(), *((8, 20, 50) if args.smoke else ()))
        return
    if args.intervals:
        interval_rates(*((60, 256, 4, 10) if args.smoke else (200, 1280, 6, 30)))
        return
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
