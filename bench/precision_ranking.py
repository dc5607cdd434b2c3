"""Benchmark: how far does each forward-pass precision move the rankings from fp32's?

Not a test: prints a table, figures measured in this run. On one zoo (the shipped demo zoo, through
its manifest: the paper's small encoder-decoders trained on the mini-Taskonomy tasks, their
checkpoints and large variants) and M mini-Taskonomy probe scenes, each model's default layer is
read at every precision (fp32, tf32, bf16, fp16: ``rsa_ray.models.inference.forward_precision``),
its RDM computed in float64 (``rsa_ray.compute_rdms``) and the Spearman similarity matrix of the
zoo formed. Against fp32 on the same device it prints, per precision:

* the Spearman correlation between each target's ranking of the other models and fp32's ranking
  (min, median and mean over targets; the requirement for a default is min ≥ 0.9998), and how
  many targets' top candidate changed;
* the Spearman correlation of the all-pairs similarity matrices' upper triangles, and the largest
  change of one similarity.

It runs on the CPU, and on CUDA as well where a GPU is present (there also CUDA fp32 against CPU
fp32). On the CPU bf16 and fp16 autocast are real; tf32 exists only on CUDA, so on the CPU it is
fp32 and the table says it was not exercised.

Run: ``python bench/precision_ranking.py [--images 500] [--models 72] [--batch-size 100]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.stats import spearmanr

PRECISIONS = ("fp32", "tf32", "bf16", "fp16")
REQUIRED = 0.9998


def zoo_features(entries, zoo_dir, images, precisions, device: str, batch_size: int) -> dict[str, list[np.ndarray]]:
    """precision → each model's default-layer features [M, D] (float32), every model built once."""
    from rsa_ray.models import InferenceOptions, build_model, extract_layer_features

    features: dict[str, list[np.ndarray]] = {precision: [] for precision in precisions}
    for entry in entries:
        model = build_model(entry, base_dir=zoo_dir).to(device)
        spec = entry.layer("default")
        for precision in precisions:
            options = InferenceOptions(device=device, dtype=precision, batch_size=batch_size)
            rows = extract_layer_features(model, images, [spec], entry.preprocessing, options)[spec.role]
            features[precision].append(rows)
    return features


def similarity_of(features: list[np.ndarray]) -> np.ndarray:
    from rsa_ray import compute_rdms, similarity_matrix

    return similarity_matrix(compute_rdms(features))


def compare(similarity: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """How far ``similarity`` moves each target's ranking and the upper triangle from ``reference``."""
    n_models = reference.shape[0]
    per_target, top_changed = [], 0
    for target in range(n_models):
        others = np.arange(n_models) != target
        per_target.append(spearmanr(similarity[target, others], reference[target, others]).statistic)
        top_changed += int(np.argmax(similarity[target, others]) != np.argmax(reference[target, others]))
    upper = np.triu_indices(n_models, 1)
    return {"min": float(np.min(per_target)), "median": float(np.median(per_target)),
            "mean": float(np.mean(per_target)), "top_changed": top_changed,
            "triangle": float(spearmanr(similarity[upper], reference[upper]).statistic),
            "max_change": float(np.abs(similarity - reference)[upper].max())}


def print_rows(device: str, similarities: dict[str, np.ndarray], reference: np.ndarray, label: str = "fp32") -> None:
    for precision, similarity in similarities.items():
        exercised = "no: fp32 on the CPU" if precision == "tf32" and device == "cpu" else "yes"
        row = compare(similarity, reference)
        verdict = "meets" if row["min"] >= REQUIRED else "misses"
        print(f"{device:>6} {precision:>9} {exercised:>20} {row['min']:>10.6f} {row['median']:>10.6f} "
              f"{row['mean']:>10.6f} {row['top_changed']:>11d} {row['triangle']:>10.6f} {row['max_change']:>11.2e} "
              f"{verdict + ' ' + str(REQUIRED):>13}  (vs {label})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=500, help="mini-Taskonomy probe scenes")
    parser.add_argument("--models", type=int, default=None, help="the first N models of the manifest (default all)")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default torch's)")
    args = parser.parse_args()
    import torch

    from jobs.probes import load_probe_images
    from rsa_ray.models import read_shipped_zoo, shipped_zoo_dir

    if args.threads:
        torch.set_num_threads(args.threads)
    entries = list(read_shipped_zoo().models)[: args.models]
    images = load_probe_images("mini-taskonomy", args.images, seed=0, size=None).images
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    names = ", ".join(torch.cuda.get_device_name() if d == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
                      for d in devices)
    print(f"shipped zoo: {len(entries)} models at each one's default layer; M = {len(images)} mini-Taskonomy scenes; "
          f"torch {torch.__version__}; devices: {names}")
    print(f"{'device':>6} {'precision':>9} {'exercised':>20} {'min r_s':>10} {'median r_s':>10} {'mean r_s':>10} "
          f"{'top-1 moved':>11} {'triangle':>10} {'max |Δsim|':>11} {'requirement':>13}")
    cpu_fp32 = None
    for device in devices:
        start = time.perf_counter()
        features = zoo_features(entries, shipped_zoo_dir(), images, PRECISIONS, device, args.batch_size)
        similarities = {precision: similarity_of(rows) for precision, rows in features.items()}
        reference = similarities.pop("fp32")
        print_rows(device, similarities, reference)
        if device == "cpu":
            cpu_fp32 = reference
        else:
            print_rows(device, {"fp32": reference}, cpu_fp32, label="CPU fp32")
        print(f"{device:>6} ({time.perf_counter() - start:.0f} s: forward passes at {len(PRECISIONS)} precisions, "
              f"RDMs and similarity)")
    if devices == ["cpu"]:
        print("no GPU here: tf32, and bf16/fp16 on CUDA, were not measured")
    print(f"r_s: Spearman between a target's ranking of the other models at that precision and at fp32 "
          f"(over the {len(entries)} targets); triangle: Spearman of the all-pairs similarities' upper triangles")


if __name__ == "__main__":
    main()
