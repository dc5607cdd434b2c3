"""Benchmark: does a float32 Gram change the ranks of an RDM, and what does float64 cost?

Not a test: prints a table. For M probe images and each feature size D, on random
and structured features, it computes every RDM twice: with :func:`rsa_ray.compute_rdm`
(float64, the values the rank vectors are computed from) and from a float32 Gram of
the same features (rows centred and scaled in float64 first, the best-conditioned
float32 form). It prints, in the same run:

* the fraction of RDMs where float32 changes any average rank of the condensed
  triangle, the mean fraction of entries whose rank moves, and the largest move;
* the time of ``compute_rdm`` against the float32 Gram floor (``x @ x.T`` in
  float32 alone) and the float64 Gram, as ratios.

Run: ``python bench/rdm_precision.py [--images 500] [--features 128 512 2048 4096] [--threads 1]``.
"""

from __future__ import annotations

import argparse

import numpy as np
from timing import best_of

from rsa_ray import compute_rdm, condense, rank_transform


def random_features(generator: np.random.Generator, n_images: int, n_features: int) -> np.ndarray:
    return generator.standard_normal((n_images, n_features), dtype=np.float32)


def shared_signal_features(generator: np.random.Generator, n_images: int, n_features: int) -> np.ndarray:
    """A signal common to all images plus image-specific noise (as bench/similarity.py)."""
    shared = generator.standard_normal((n_images, n_features), dtype=np.float32)
    return (shared * generator.uniform(0.2, 2.0) + generator.standard_normal((n_images, n_features), dtype=np.float32)).astype(np.float32)


def low_rank_relu_features(generator: np.random.Generator, n_images: int, n_features: int) -> np.ndarray:
    """Rank-16 structure through a ReLU, in float16 steps, with 5% duplicated images (exact ties)."""
    latent = generator.standard_normal((n_images, 16)) @ generator.standard_normal((16, n_features))
    features = np.maximum(latent + 0.3 * generator.standard_normal((n_images, n_features)), 0.0).astype(np.float16)
    copies = generator.choice(n_images, size=n_images // 20, replace=False)
    features[copies[1:]] = features[copies[0]]
    return features.astype(np.float32)


FEATURE_KINDS = {"random": random_features, "shared signal": shared_signal_features, "low-rank ReLU": low_rank_relu_features}


def float32_gram_rdm(features: np.ndarray) -> np.ndarray:
    """Correlation RDM from a float32 Gram of rows centred and scaled in float64."""
    values = features.astype(np.float64)
    values -= values.mean(axis=0)
    values -= values.mean(axis=1, keepdims=True)
    values /= np.linalg.norm(values, axis=1, keepdims=True)
    unit = values.astype(np.float32)
    return 1.0 - condense(unit @ unit.T).astype(np.float64)


def rank_changes(features: np.ndarray) -> tuple[bool, float, float]:
    """(any rank changed, fraction of entries whose rank changed, largest change) of float32 against float64."""
    ranks64 = rank_transform(compute_rdm(features), workers=1)
    ranks32 = rank_transform(float32_gram_rdm(features), workers=1)
    moved = ranks64 != ranks32
    return bool(moved.any()), float(moved.mean()), float(np.abs(ranks64 - ranks32).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--features", type=int, nargs="+", default=[128, 512, 2048, 4096])
    parser.add_argument("--seeds", type=int, default=4, help="RDMs per feature kind and size")
    parser.add_argument("--repeats", type=int, default=7, help="timings: best of this many")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (1 keeps timings stable on shared cores)")
    args = parser.parse_args()
    from threadpoolctl import threadpool_info, threadpool_limits

    with threadpool_limits(args.threads):
        blas = ", ".join(f"{i['internal_api']} {i['num_threads']} threads" for i in threadpool_info())
        print(f"M = {args.images} images; BLAS: {blas}")
        print(f"\n  {'features':<14} {'D':>5} {'RDMs w/ a rank moved':>21} {'entries moved':>14} {'max move':>9}"
              f" {'ours/f32 Gram':>14} {'f64 Gram/f32 Gram':>18}")
        changed_total = cases = 0
        for n_features in args.features:
            for kind, make in FEATURE_KINDS.items():
                moved_any, moved_fraction, largest = [], [], []
                for seed in range(args.seeds):
                    features = make(np.random.default_rng(seed), args.images, n_features)
                    changed, fraction, move = rank_changes(features)
                    moved_any.append(changed)
                    moved_fraction.append(fraction)
                    largest.append(move)
                changed_total += sum(moved_any)
                cases += len(moved_any)
                features64 = features.astype(np.float64)
                floor32 = best_of(lambda: features @ features.T, args.repeats)
                floor64 = best_of(lambda: features64 @ features64.T, args.repeats)
                ours = best_of(lambda: compute_rdm(features), args.repeats)
                print(f"  {kind:<14} {n_features:>5} {np.mean(moved_any):>21.0%} {np.mean(moved_fraction):>14.2%}"
                      f" {max(largest):>9.1f} {ours / floor32:>14.2f} {floor64 / floor32:>18.2f}")
        print(f"\nfloat32 Gram changes a rank in {changed_total} of {cases} RDMs ({changed_total / cases:.0%}).")


if __name__ == "__main__":
    main()
