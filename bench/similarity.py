"""Benchmark: RDMs and all-pairs Spearman, ours against the floor and the usual tools.

Not a test: prints a table. For each N (models) with M probe images and D
features per image, it times in the same run:

* RDM stage, per model: ours (``compute_rdm``, float64), the numpy Gram floor
  (``x @ x.T`` alone, in float32 and in float64), the authors' form
  (``1 - np.corrcoef`` on centred features) and rsatoolbox ``calc_rdm``
  (a sample of models, extrapolated);
* similarity stage on float32 RDMs (as stored): ours (``similarity_matrix``),
  the numpy floor (one argsort-based rank without tie handling, then one
  float32 GEMM), rsatoolbox ``compare(method="spearman")``, ``scipy.stats.spearmanr``
  per pair and the authors' double loop over square RDMs (both on a sample of
  pairs, extrapolated to all N(N−1)/2);
* the incremental case: one new model against N stored float32 rank vectors,
  against a full recompute.

Every ratio is "that / ours" (> 1: ours is faster), except the "ours / floor"
lines of the targets. Run: ``python bench/similarity.py [--sizes 20 100 500]``.
"""

from __future__ import annotations

import argparse
import itertools
import time
from dataclasses import dataclass

import numpy as np
from timing import best_of
from scipy import stats
from scipy.spatial.distance import squareform

from rsa_ray import compute_rdm, similarity_matrix, similarity_of_vectors, standardized_ranks


@dataclass(frozen=True)
class Timing:
    stage: str
    method: str
    seconds: float
    extrapolated: bool = False


def model_features(seed: int, n_images: int, n_features: int, shared: np.ndarray) -> np.ndarray:
    """Features of one synthetic model: a shared signal plus model-specific noise, float32."""
    generator = np.random.default_rng(seed)
    weight = generator.uniform(0.2, 2.0)
    noise = generator.standard_normal((n_images, n_features), dtype=np.float32)
    return (shared * weight + noise).astype(np.float32)


def time_rdm_stage(n_models: int, n_images: int, n_features: int, sample: int) -> tuple[list[Timing], np.ndarray]:
    import rsatoolbox

    shared = np.random.default_rng(0).standard_normal((n_images, n_features), dtype=np.float32)
    rdms = np.empty((n_models, n_images * (n_images - 1) // 2), dtype=np.float32)
    totals = {"ours": 0.0, "gram floor float32": 0.0, "gram floor float64": 0.0}
    sampled = {"authors 1-corrcoef": 0.0, "rsatoolbox calc_rdm": 0.0}
    for model in range(n_models):
        features = model_features(model + 1, n_images, n_features, shared)
        features64 = features.astype(np.float64)
        start = time.perf_counter()
        rdms[model] = compute_rdm(features)
        totals["ours"] += time.perf_counter() - start
        totals["gram floor float32"] += best_of(lambda: features @ features.T, 1)
        totals["gram floor float64"] += best_of(lambda: features64 @ features64.T, 1)
        if model < sample:
            centred = features64 - features64.mean(axis=0)
            sampled["authors 1-corrcoef"] += best_of(lambda: 1.0 - np.corrcoef(centred), 1)
            dataset = rsatoolbox.data.Dataset(centred)
            sampled["rsatoolbox calc_rdm"] += best_of(lambda: rsatoolbox.rdm.calc_rdm(dataset, method="correlation"), 1)
    timings = [Timing("rdm", name, seconds) for name, seconds in totals.items()]
    scale = n_models / min(sample, n_models)
    timings += [Timing("rdm", name, seconds * scale, extrapolated=scale > 1) for name, seconds in sampled.items()]
    return timings, rdms


def numpy_floor_spearman(rdms: np.ndarray) -> np.ndarray:
    """One argsort-based rank (ties not averaged) and one float32 GEMM: the least work possible."""
    order = np.argsort(rdms, axis=1)
    ranks = np.empty(rdms.shape, dtype=np.float32)
    np.put_along_axis(ranks, order, np.arange(rdms.shape[1], dtype=np.float32)[None, :], axis=1)
    ranks -= ranks.mean(axis=1, keepdims=True)
    ranks /= np.linalg.norm(ranks, axis=1, keepdims=True)
    return ranks @ ranks.T


def per_pair_seconds(rdms: np.ndarray, pairs: int, square: bool) -> float:
    """Mean seconds of one scipy spearmanr call (on square RDMs' triangles if ``square``)."""
    chosen = list(itertools.islice(itertools.combinations(range(rdms.shape[0]), 2), pairs))
    if square:
        squares = {i: squareform(rdms[i].astype(np.float64)) for pair in chosen for i in pair}
        upper = np.triu_indices(squares[chosen[0][0]].shape[0], 1)
        start = time.perf_counter()
        for i, j in chosen:  # the authors' loop: take both triangles, then correlate
            stats.spearmanr(squares[i][upper], squares[j][upper])
    else:
        start = time.perf_counter()
        for i, j in chosen:
            stats.spearmanr(rdms[i], rdms[j])
    return (time.perf_counter() - start) / len(chosen)


def time_similarity_stage(rdms: np.ndarray, pair_sample: int, rsatoolbox_max: int) -> list[Timing]:
    import rsatoolbox

    n_models = rdms.shape[0]
    n_pairs = n_models * (n_models - 1) // 2
    ours_result = similarity_matrix(rdms)
    floor_result = numpy_floor_spearman(rdms)
    if np.abs(ours_result - floor_result).max() > 1e-3:  # no ties in random RDMs: the two must agree
        raise RuntimeError("the floor and ours disagree: the benchmark is not comparing like with like")
    timings = [
        Timing("similarity", "ours", best_of(lambda: similarity_matrix(rdms), 2)),
        Timing("similarity", "numpy floor (argsort + GEMM)", best_of(lambda: numpy_floor_spearman(rdms), 2)),
        Timing("similarity", "scipy spearmanr per pair", per_pair_seconds(rdms, pair_sample, False) * n_pairs, True),
        Timing("similarity", "authors double loop", per_pair_seconds(rdms, pair_sample, True) * n_pairs, True),
    ]
    if n_models <= rsatoolbox_max:
        wrapped = rsatoolbox.rdm.RDMs(rdms.astype(np.float64))
        seconds = best_of(lambda: rsatoolbox.rdm.compare(wrapped, wrapped, method="spearman"), 1)
        timings.append(Timing("similarity", "rsatoolbox compare spearman", seconds))
    return timings


def time_incremental(rdms: np.ndarray, full_seconds: float) -> list[Timing]:
    stored_vectors = standardized_ranks(rdms[:-1]).astype(np.float32)
    new_rdm = rdms[-1]

    def add_one() -> np.ndarray:
        return similarity_of_vectors(standardized_ranks(new_rdm).astype(np.float32), stored_vectors)

    return [
        Timing("add one model", "ours (rank it + one row vs stored float32 vectors)", best_of(add_one, 5)),
        Timing("add one model", "full recompute (ours)", full_seconds),
    ]


def print_table(n_models: int, timings: list[Timing]) -> None:
    by_stage: dict[str, list[Timing]] = {}
    for timing in timings:
        by_stage.setdefault(timing.stage, []).append(timing)
    for stage, rows in by_stage.items():
        ours = next(t.seconds for t in rows if t.method.startswith("ours"))
        print(f"\nN = {n_models}  stage: {stage}")
        print(f"  {'method':<52} {'seconds':>10} {'÷ ours':>8}")
        for row in rows:
            mark = " (extrapolated)" if row.extrapolated else ""
            print(f"  {row.method + mark:<52} {row.seconds:>10.3f} {row.seconds / ours:>8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 100, 500])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--features", type=int, default=2048)
    parser.add_argument("--pair-sample", type=int, default=20, help="pairs timed for the per-pair methods")
    parser.add_argument("--rdm-sample", type=int, default=10, help="models timed for the slow RDM methods")
    parser.add_argument("--rsatoolbox-max", type=int, default=500, help="largest N to run rsatoolbox compare on")
    args = parser.parse_args()
    from threadpoolctl import threadpool_info

    blas = ", ".join(f"{i['internal_api']} {i['num_threads']} threads" for i in threadpool_info())
    print(f"M = {args.images} images, D = {args.features} features; BLAS: {blas}")
    targets = []
    for n_models in args.sizes:
        rdm_timings, rdms = time_rdm_stage(n_models, args.images, args.features, args.rdm_sample)
        similarity_timings = time_similarity_stage(rdms, args.pair_sample, args.rsatoolbox_max)
        timings = rdm_timings + similarity_timings
        seconds = {(t.stage, t.method): t.seconds for t in timings}
        ours_similarity = seconds[("similarity", "ours")]
        if n_models == max(args.sizes):
            timings += time_incremental(rdms, ours_similarity)
        print_table(n_models, timings)
        seconds = {(t.stage, t.method): t.seconds for t in timings}
        targets.append(f"N={n_models}: RDM ours / Gram floor float64 = {seconds[('rdm', 'ours')] / seconds[('rdm', 'gram floor float64')]:.2f}"
                       f" (target ≤ 1.5); ours / Gram floor float32 = {seconds[('rdm', 'ours')] / seconds[('rdm', 'gram floor float32')]:.2f}")
        targets.append(f"N={n_models}: Spearman ours / numpy floor = {ours_similarity / seconds[('similarity', 'numpy floor (argsort + GEMM)')]:.2f} (target ≤ 1.2)")
        if ("similarity", "rsatoolbox compare spearman") in seconds:
            targets.append(f"N={n_models}: rsatoolbox compare / ours = {seconds[('similarity', 'rsatoolbox compare spearman')] / ours_similarity:.1f}x (target ≥ 3 at N=100)")
        if ("add one model", "full recompute (ours)") in seconds:
            one = seconds[("add one model", "ours (rank it + one row vs stored float32 vectors)")]
            targets.append(f"N={n_models}: add one model / full recompute = 1/{ours_similarity / one:.0f} (target ≤ 1/200)")
    print("\nTargets")
    for line in targets:
        print("  " + line)


if __name__ == "__main__":
    main()
