"""Does comparing each candidate with its random-init twin help? Measured on a stored real-zoo run.

Reads the numbers ``bench/real_zoo.py --json`` wrote (every candidate's score per target and the
probe ground truth per seed; the zoo holds a seeded random-init twin of every architecture) and
computes, for every score and target, the agreement with the ground truth of the raw score and
of the twin-adjusted score (score minus the twin's, :func:`rsa_ray.twin_adjusted.twin_adjusted`),
beside the static baselines. Nothing is extracted or scored again::

    python bench/real_zoo_twin.py docs/validation/real_zoo.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.real_zoo_truth import agreement_row  # noqa: E402
from rsa_ray.twin_adjusted import twin_adjusted  # noqa: E402

STATIC = ("static:params", "static:pretrained", "static:pretrained+params")


def twins_of(models: list[dict]) -> dict[str, str]:
    """Each model's random-init twin: the random-init model of its architecture."""
    random_init = {m["architecture"]: m["model_id"] for m in models if m["task"] == "random-init"}
    return {m["model_id"]: random_init[m["architecture"]] for m in models if m["architecture"] in random_init}


def target_rows(result: dict, twin_of: dict[str, str], kind: str, samples: int) -> dict[str, dict]:
    """Raw and twin-adjusted agreement of every score with one ground truth of one target."""
    truth_mean = result[kind]["mean"]
    candidates = [c for c in truth_mean if c in twin_of]
    truth = np.array([truth_mean[c] for c in candidates])
    rows = {}
    for name, raw_row in result[kind]["agreement"].items():
        if name in STATIC:
            rows[name] = {"raw": raw_row, "twin": None}
            continue
        values = np.array([np.nan if result["scores"][c].get(name) is None else result["scores"][c][name]
                           for c in candidates])
        if name == "consensus":
            values = -values  # the mean rank: lower is better
        if not np.isfinite(values).all():
            rows[name] = {"raw": raw_row, "twin": None}
            continue
        adjusted = twin_adjusted(values, twin_of, candidates).point
        rows[name] = {"raw": agreement_row(values, truth, samples), "twin": agreement_row(adjusted, truth, samples),
                      "uninformative": raw_row.get("uninformative")}
    return rows


def _cell(row: dict | None) -> str:
    if row is None or not np.isfinite(row["spearman"]):
        return "n/a"
    low, high = row["intervals"]["spearman"]
    return (f"{row['spearman']:+.2f} [{low:+.2f}, {high:+.2f}] {'Y' if row['top1'] else '-'} "
            f"{row['regret']:.3f}")


def report(numbers: dict, kind: str, samples: int) -> tuple[list[str], dict]:
    twin_of = twins_of(numbers["models"])
    targets = numbers["targets"]
    measured = {t: target_rows(r, twin_of, kind, samples) for t, r in targets.items()}
    header = " | ".join(f"{t} raw | {t} twin-adjusted" for t in targets)
    lines = [f"| score | {header} |", "|---|" + "---|---|" * len(targets)]
    for name in next(iter(measured.values())):
        cells = []
        for target in targets:
            row = measured[target][name]
            flag = " (uninformative)" if row.get("uninformative") else ""
            cells += [_cell(row["raw"]) + flag, "-" if name in STATIC else _cell(row["twin"])]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    noise = ", ".join(f"{t}: {'passes' if r[kind]['noise_ok'] else 'fails'}" for t, r in targets.items())
    lines.append(f"\nnoise check ({kind}): {noise}")
    return lines, measured


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("numbers", help="the --json of bench/real_zoo.py")
    parser.add_argument("--truth", default="accuracy", choices=("accuracy", "log_loss"))
    parser.add_argument("--interval-samples", type=int, default=1000)
    args = parser.parse_args(argv)
    numbers = json.loads(Path(args.numbers).read_text())
    lines, _ = report(numbers, args.truth, args.interval_samples)
    print(f"Spearman [95 % over candidates] top-1 regret, against probe {args.truth}")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
