"""Benchmark: the transferability estimators on Ray tasks, against plain single-process numpy versions.

Not a test: prints a table. It writes N synthetic candidates (seeded; each a
class signal of its own strength plus noise, [M, D] float32) and a target model to
a temporary store, then for each estimator times in the same run:

* ours: ``cluster.estimator_tasks.score_candidates`` for that score alone, one
  Ray task per batch of candidates on the local CPUs (each task reads its
  candidates from the store);
* the baseline: a straightforward numpy version of the same formula in one
  process (default BLAS threads), run on a sample of candidates and extrapolated
  to N: RSA with ``1 - np.corrcoef`` and ``scipy.stats.spearmanr``; LogME with an
  explicit D x D inverse per (alpha, beta) step (the paper's stopping rule); the
  H-scores with explicit D x D covariances and ``np.linalg.pinv``; k-NN with one
  distance vector and a full sort per query; the linear probe with L-BFGS on the
  raw features; SFDA with explicit scatter matrices and the D x D generalised
  eigenproblem (``scipy.linalg.eigh``).

Every ratio is "baseline / ours" (> 1: ours is faster). A last line times all
scores in one pass of the tasks (each candidate read once). The target has class
labels, so every estimator applies.

Run: ``python bench/estimators.py [--candidates 100 --images 1000 --features 2048]``
(about 20 minutes on 2 CPUs, most of it the baselines), or ``--smoke`` for a tiny size.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import linalg, optimize, stats

SEED = 2048


def candidate_features(index: int, classes: np.ndarray, n_features: int, n_candidates: int) -> np.ndarray:
    """Candidate ``index``: class centres scaled by a strength rising with the index, plus noise; float32."""
    generator = np.random.default_rng([SEED, index])
    strength = 0.02 + 0.23 * index / max(n_candidates - 1, 1)
    centres = generator.normal(size=(int(classes.max()) + 1, n_features))
    noise = generator.standard_normal((classes.size, n_features))
    return (strength * centres[classes] + noise).astype(np.float32)


def target_features(classes: np.ndarray, width: int = 128) -> np.ndarray:
    generator = np.random.default_rng([SEED, 10**6])
    centres = generator.normal(size=(int(classes.max()) + 1, width))
    return (centres[classes] + generator.standard_normal((classes.size, width))).astype(np.float32)


def registry_entries(model_ids):
    from storage import parse_manifest

    return parse_manifest([
        {"model_id": model_id, "source": "safetensors", "task": "synthetic", "task_type": "2d",
         "architecture": {"target": "rsa_ray.models.encoder_decoder:build_encoder_decoder",
                          "kwargs": {"out_channels": 1}},
         "weights": {"path": f"/synthetic/{model_id}.safetensors", "sha256": f"{index:064x}"},
         "layers": ["out"]}
        for index, model_id in enumerate(model_ids)
    ])


def write_store(folder: Path, classes: np.ndarray, n_candidates: int, n_features: int):
    from storage import EntryKey, Store

    store = Store.open(str(folder / "store"))
    images = np.random.default_rng(SEED).integers(0, 255, size=(classes.size, 4, 4, 3), dtype=np.uint8)
    probe_id = store.add_probe_set(images, [f"img{i}" for i in range(classes.size)], "synthetic")
    model_ids = [f"cand{i:04d}" for i in range(n_candidates)]
    store.register_models(registry_entries(model_ids + ["target"]))
    for index, model_id in enumerate(model_ids):
        store.write_activations(EntryKey(probe_id, model_id, "out"),
                                candidate_features(index, classes, n_features, n_candidates))
    store.write_activations(EntryKey(probe_id, "target", "out"), target_features(classes))
    return store, probe_id, model_ids


# --- straightforward single-process versions of the same formulas ----------------------------------------


def baseline_rsa(features, reference_triangle):
    centred = features - features.mean(axis=0)
    rdm = 1.0 - np.corrcoef(centred)
    return stats.spearmanr(rdm[np.triu_indices(len(rdm), 1)], reference_triangle).statistic


def baseline_logme(features, classes):
    n_images, n_features = features.shape
    gram = features.T @ features
    eigenvalues = np.linalg.eigvalsh(gram)
    evidences = []
    for value in np.unique(classes):
        column = (classes == value).astype(np.float64)
        alpha, beta = 1.0, 1.0
        for _ in range(11):  # the paper's loop: at most 11 steps, stop when alpha/beta moves < 1e-3
            inverse = np.linalg.inv(alpha * np.eye(n_features) + beta * gram)
            mean = beta * inverse @ features.T @ column
            gamma = np.sum(beta * eigenvalues / (alpha + beta * eigenvalues))
            ratio = alpha / beta
            alpha = gamma / (mean @ mean)
            beta = (n_images - gamma) / np.sum((features @ mean - column) ** 2)
            if abs(alpha / beta - ratio) / ratio < 1e-3:
                break
        precision = alpha * np.eye(n_features) + beta * gram
        mean = beta * np.linalg.solve(precision, features.T @ column)
        evidence = (n_features / 2 * np.log(alpha) + n_images / 2 * np.log(beta) - n_images / 2 * np.log(2 * np.pi)
                    - beta / 2 * np.sum((features @ mean - column) ** 2) - alpha / 2 * mean @ mean
                    - 0.5 * np.linalg.slogdet(precision)[1])
        evidences.append(evidence / n_images)
    return float(np.mean(evidences))


def _class_mean_rows(features, classes):
    rows = np.empty_like(features)
    for value in np.unique(classes):
        rows[classes == value] = features[classes == value].mean(axis=0)
    return rows


def baseline_hscore(features, classes):
    covariance = np.cov(features, rowvar=False)
    between = np.cov(_class_mean_rows(features, classes), rowvar=False)
    return float(np.trace(np.linalg.pinv(covariance) @ between))


def baseline_shrinkage_hscore(features, classes):
    n_images, n_features = features.shape
    centred = features - features.mean(axis=0)
    biased = centred.T @ centred / n_images
    mu = np.trace(biased) / n_features
    squared = centred**2
    beta = (np.sum(squared.T @ squared) / n_images - np.sum(biased**2)) / (n_features * n_images)
    delta = (np.sum(biased**2) - 2 * mu * np.trace(biased) + n_features * mu**2) / n_features
    shrinkage = min(beta, delta) / delta
    shrunk = (1 - shrinkage) * biased + shrinkage * mu * np.eye(n_features)
    between = np.cov(_class_mean_rows(centred, classes), rowvar=False)
    return float(np.trace(np.linalg.pinv(shrunk) @ ((1 - shrinkage) * between)))


def baseline_knn(features, classes, k=5):
    points = (features - features.mean(axis=0)) / features.std(axis=0)
    correct = 0
    for query in range(len(points)):
        distances = np.sqrt(np.sum((points - points[query]) ** 2, axis=1))
        distances[query] = np.inf
        nearest = np.argsort(distances, kind="stable")[:k]
        votes = np.bincount(classes[nearest], minlength=classes.max() + 1)
        tied = votes[classes[nearest]] == votes.max()
        correct += int(classes[nearest][np.argmax(tied)] == classes[query])
    return correct / len(points)


def baseline_linear_probe(features, classes, folds=5, l2=1e-2):
    from rsa_ray.linear_probe import group_folds  # the same folds, so the values can be compared

    fold = group_folds(np.arange(len(classes)), folds, 0)
    n_classes = classes.max() + 1
    correct = 0
    for index in range(folds):
        train, test = fold != index, fold == index
        mean, scale = features[train].mean(axis=0), features[train].std(axis=0)
        x, x_test, onehot = (features[train] - mean) / scale, (features[test] - mean) / scale, np.eye(n_classes)[classes[train]]
        n_features = x.shape[1]

        def loss_and_gradient(parameters):
            weights, intercepts = parameters[:-n_classes].reshape(n_features, n_classes), parameters[-n_classes:]
            logits = x @ weights + intercepts
            logits -= logits.max(axis=1, keepdims=True)
            probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
            loss = -np.mean(np.sum(onehot * np.log(probabilities), axis=1)) + l2 / 2 * np.sum(weights**2)
            residual = (probabilities - onehot) / len(x)
            return loss, np.concatenate([(x.T @ residual + l2 * weights).ravel(), residual.sum(axis=0)])

        result = optimize.minimize(loss_and_gradient, np.zeros(n_features * n_classes + n_classes), jac=True,
                                   method="L-BFGS-B", options={"maxiter": 1000, "gtol": 1e-6,
                                                               "ftol": 64 * np.finfo(np.float64).eps})
        weights, intercepts = result.x[:-n_classes].reshape(n_features, n_classes), result.x[-n_classes:]
        correct += int(np.sum(np.argmax(x_test @ weights + intercepts, axis=1) == classes[test]))
    return correct / len(classes)


def _sfda_fit(features, classes, shrinkage=None):
    n_images, n_features = features.shape
    present = np.unique(classes)
    priors = np.array([np.mean(classes == c) for c in present])
    means = np.array([features[classes == c].mean(axis=0) for c in present])
    within = sum(priors[i] * np.cov(features[classes == c], rowvar=False, bias=True) for i, c in enumerate(present))
    if shrinkage is None:
        shrinkage = max(np.exp(-5 * linalg.eigh(within, eigvals_only=True)[-1]), 1e-10)
    total = np.cov(features, rowvar=False, bias=True)
    total = (1 - shrinkage) * total + shrinkage * np.trace(total) / n_features * np.eye(n_features)
    within = (1 - shrinkage) * within + shrinkage * np.trace(within) / n_features * np.eye(n_features)
    eigenvalues, vectors = linalg.eigh(total - within, within)
    vectors = vectors[:, np.argsort(eigenvalues)[::-1]]
    coefficients = means @ vectors @ vectors.T
    scores = features @ coefficients.T - 0.5 * np.diag(means @ coefficients.T) + np.log(priors)
    return scores, shrinkage, means


def baseline_sfda(features, classes):
    def softmax(scores):
        exp = np.exp(scores - scores.max(axis=1, keepdims=True))
        return exp / exp.sum(axis=1, keepdims=True)

    rows = np.arange(len(classes))
    scores, shrinkage, means = _sfda_fit(features, classes)
    confidence = softmax(softmax(scores))[rows, classes][:, None]
    others = (means.sum(axis=0) - means) / (len(means) - 1)
    mixed = confidence * features + (1 - confidence) * others[classes]
    scores, _, _ = _sfda_fit(mixed, classes, shrinkage)
    shifted = scores - scores.max(axis=1, keepdims=True)
    return float(np.mean(shifted[rows, classes] - np.log(np.exp(shifted).sum(axis=1))))


def time_baselines(classes, n_features, n_candidates, sample):
    """Seconds of each baseline over ``sample`` candidates, and its values for them."""
    target = target_features(classes).astype(np.float64)
    start = time.perf_counter()
    centred_target = target - target.mean(axis=0)
    target_rdm = 1.0 - np.corrcoef(centred_target)
    target_triangle = target_rdm[np.triu_indices(len(target_rdm), 1)]
    target_seconds = time.perf_counter() - start
    label_triangle = (classes[:, None] != classes[None, :]).astype(np.float64)[np.triu_indices(len(classes), 1)]
    functions = {
        "rsa": lambda x: baseline_rsa(x, target_triangle),
        "rsa-labels": lambda x: baseline_rsa(x, label_triangle),
        "logme": lambda x: baseline_logme(x, classes),
        "hscore": lambda x: baseline_hscore(x, classes),
        "hscore-shrinkage": lambda x: baseline_shrinkage_hscore(x, classes),
        "knn": lambda x: baseline_knn(x, classes),
        "linear-probe": lambda x: baseline_linear_probe(x, classes),
        "sfda": lambda x: baseline_sfda(x, classes),
    }
    seconds, values = {}, {}
    for name, function in functions.items():
        seconds[name] = target_seconds if name == "rsa" else 0.0
        values[name] = []
        for index in sample:
            features = candidate_features(index, classes, n_features, n_candidates).astype(np.float64)
            start = time.perf_counter()
            values[name].append(function(features))
            seconds[name] += time.perf_counter() - start
        print(f"  baseline {name}: {seconds[name]:.1f} s for {len(sample)} candidates", flush=True)
    return seconds, values


def time_ours(store, probe_id, model_ids, labels, names):
    from cluster.estimator_tasks import rows_frame, score_candidates

    start = time.perf_counter()
    table = rows_frame(score_candidates(store, probe_id, "out", model_ids, labels, names, target_model="target"))
    seconds = time.perf_counter() - start
    failed = table[table["error"].notna()]
    if len(failed):
        raise RuntimeError(f"{len(failed)} scores failed; first: {failed['error'].iloc[0]}")
    return seconds, {(row.candidate, row.score): row.value for row in table.itertuples(index=False)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=100)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--features", type=int, default=2048)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--baseline-sample", type=int, default=2, help="candidates the baselines are timed on")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray")
    parser.add_argument("--smoke", action="store_true", help="a tiny size: 6 candidates x 60 images x 32 features")
    args = parser.parse_args()
    if args.smoke:
        args.candidates, args.images, args.features, args.classes = 6, 60, 32, 3
    logging.basicConfig(level=logging.WARNING)
    from threadpoolctl import threadpool_info

    from cluster.connect import connect
    from rsa_ray.estimators import ESTIMATORS
    from rsa_ray.target_labels import TargetLabels

    resources = connect(num_cpus=args.cpus)
    blas = ", ".join(f"{i['internal_api']} {i['num_threads']} threads" for i in threadpool_info())
    print(f"N = {args.candidates} candidates, M = {args.images} images, D = {args.features} features, "
          f"{args.classes} classes; local Ray {resources.cpus} CPUs (1 BLAS thread each); baseline BLAS: {blas}")
    classes = np.arange(args.images) % args.classes
    labels = TargetLabels.from_array(classes)
    sample = np.linspace(0, args.candidates - 1, min(args.baseline_sample, args.candidates)).round().astype(int)
    with tempfile.TemporaryDirectory(prefix="rsa-bench-estimators-") as folder:
        start = time.perf_counter()
        store, probe_id, model_ids = write_store(Path(folder), classes, args.candidates, args.features)
        print(f"  store written in {time.perf_counter() - start:.1f} s", flush=True)
        time_ours(store, probe_id, model_ids[:2], labels, ["knn"])  # start the workers
        ours, our_values = {}, {}
        for name in ESTIMATORS:
            ours[name], values = time_ours(store, probe_id, model_ids, labels, [name])
            our_values.update(values)
            print(f"  ours {name}: {ours[name]:.1f} s", flush=True)
        one_pass, _ = time_ours(store, probe_id, model_ids, labels, list(ESTIMATORS))
    baseline, baseline_values = time_baselines(classes, args.features, args.candidates, sample)
    scale = args.candidates / len(sample)
    print(f"\n  {'estimator':<18} {'ours s':>9} {'baseline s':>11} {'baseline / ours':>16} {'max |ours - baseline|':>22}")
    for name in ESTIMATORS:
        difference = max(abs(our_values[(model_ids[i], name)] - value) for i, value in zip(sample, baseline_values[name]))
        extrapolated = baseline[name] * scale
        print(f"  {name:<18} {ours[name]:>9.2f} {extrapolated:>11.2f} {extrapolated / ours[name]:>16.1f} {difference:>22.2e}")
    total_baseline = sum(baseline.values()) * scale
    print(f"  {'all, one pass':<18} {one_pass:>9.2f} {total_baseline:>11.2f} {total_baseline / one_pass:>16.1f}")
    print(f"\nbaseline seconds are extrapolated from {len(sample)} of {args.candidates} candidates; "
          "ours include reading each candidate from the store. LogME's difference: the baseline stops "
          "after the paper's 11 fixed-point steps, ours runs to convergence")


if __name__ == "__main__":
    main()
