"""Benchmark: the linear probe fitted in the features' own coordinates against the direct fit.

Not a test: prints a table. On wide ReLU features (N images x D = 1,280, like pooled CNN
features: a low-rank signal plus noise, correlated columns) it times, in the same run:

* the baseline, the probe as it was: every fold's softmax regression fitted by L-BFGS on all D
  standardised columns (``rsa_ray.linear_probe.fit_softmax``);
* ours, ``linear_probe_score``: the same folds and the same optimum, fitted on the r <= N
  columns of U S with a diagonal preconditioner (``fit_softmax_rotated``).

It prints both scores (they should agree up to a prediction flipped by a near-tie) and the
speed ratio baseline / ours, in wall seconds and in this process's CPU seconds (less disturbed
when other work shares the cores, with one BLAS thread). The baseline is measured in the same
run, so the ratios, not the seconds, are the result. On a loaded machine a threaded
BLAS loses much of its time to waiting threads on these small products: ``--blas-threads 1``
(through threadpoolctl) measures both without that.
Run: ``python bench/linear_probe.py [--smoke] [--blas-threads N]``.
"""

from __future__ import annotations

import argparse
import contextlib
import time

import numpy as np

from rsa_ray.linear_probe import _standardiser, fit_softmax, group_folds, linear_probe_score
from rsa_ray.target_labels import TargetLabels


def relu_features(n_images: int, n_features: int, n_classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative, correlated features: ReLU of a 40-dimensional latent (class signal in it) plus noise."""
    generator = np.random.default_rng(seed)
    classes = generator.integers(0, n_classes, n_images)
    latent = generator.normal(size=(n_images, 40))
    latent[:, :n_classes] += np.eye(n_classes)[classes]
    mixed = latent @ generator.normal(size=(40, n_features)) + 0.5 * generator.normal(size=(n_images, n_features))
    return np.maximum(mixed, 0.0), classes


def direct_probe(features: np.ndarray, classes: np.ndarray, folds: int = 5, l2: float = 1e-2) -> float:
    """The probe as it was: each fold fitted on every standardised column."""
    fold = group_folds(np.arange(classes.size), folds, 0)
    correct = 0
    for index in range(folds):
        train, test = fold != index, fold == index
        mean, scale = _standardiser(features[train])
        weights, intercepts, _ = fit_softmax((features[train] - mean) / scale, classes[train], classes.max() + 1, l2)
        correct += int(np.sum(np.argmax((features[test] - mean) / scale @ weights + intercepts, axis=1) == classes[test]))
    return correct / classes.size


def best_times(function, repeats: int) -> tuple[float, float]:
    """The fastest wall and CPU seconds of ``repeats`` calls."""
    wall, cpu = float("inf"), float("inf")
    for _ in range(repeats):
        wall_start, cpu_start = time.perf_counter(), time.process_time()
        function()
        wall, cpu = min(wall, time.perf_counter() - wall_start), min(cpu, time.process_time() - cpu_start)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="one small case, one repeat")
    parser.add_argument("--blas-threads", type=int, default=None, help="limit BLAS threads (threadpoolctl)")
    args = parser.parse_args()
    with _blas_limit(args.blas_threads):
        run(args.smoke)


def _blas_limit(threads: int | None):
    if threads is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=threads, user_api="blas")


def run(smoke: bool) -> None:
    cases = [(120, 256, 3)] if smoke else [(300, 1280, 2), (300, 1280, 5), (300, 1280, 10), (600, 1280, 5)]
    repeats = 1 if smoke else 2
    print(f"{'N':>5} {'D':>5} {'C':>3} {'direct s':>9} {'ours s':>8} {'ratio':>6} {'CPU ratio':>9} "
          f"{'direct':>7} {'ours':>6}")
    for n_images, n_features, n_classes in cases:
        features, classes = relu_features(n_images, n_features, n_classes, seed=n_classes)
        labels = TargetLabels.from_array(classes)
        direct_value, ours_value = direct_probe(features, classes), linear_probe_score(features, labels)
        direct_wall, direct_cpu = best_times(lambda: direct_probe(features, classes), repeats)
        ours_wall, ours_cpu = best_times(lambda: linear_probe_score(features, labels), repeats)
        print(f"{n_images:>5} {n_features:>5} {n_classes:>3} {direct_wall:>9.2f} {ours_wall:>8.3f} "
              f"{direct_wall / ours_wall:>6.1f} {direct_cpu / ours_cpu:>9.1f} {direct_value:>7.3f} {ours_value:>6.3f}",
              flush=True)


if __name__ == "__main__":
    main()
