"""Benchmark: how long ``rsa-ray`` takes to answer, and how much memory, when it only parses or lists.

For ``rsa-ray --help``, ``rsa-ray models --help``, a usage error (``rsa-ray models``, no action)
and ``rsa-ray models list`` on a small store (the shipped zoo's manifest, registered once), it runs
each command several times in a fresh interpreter and prints the median wall time and the peak
RSS of that process (``os.wait4``'s resource usage of the child), for this tree and for an earlier
one, with the ratios. Both trees list the same store; the script checks their listings agree.

Run: ``git worktree add /tmp/cli-base <commit>`` (or ``git archive <commit> | tar -x -C /tmp/cli-base``) then
``python bench/cli_startup.py --base /tmp/cli-base`` (``--repeats 5`` by default).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {
    "rsa-ray --help": ["--help"],
    "rsa-ray models --help": ["models", "--help"],
    "usage error (rsa-ray models)": ["models"],
    **{f"rsa-ray {name} --bogus": [name, "--bogus"]
       for name in ("taxonomy", "rank", "rerank", "report", "settings", "train-target", "train-zoo", "demo",
                    "validate")},
    "rsa-ray models list": ["models", "list", "--store", "{store}"],
}


def run_once(tree: Path, argv: list[str]) -> tuple[float, float, str]:
    """Runs ``python -m jobs.cli ARGV`` from ``tree``; returns (seconds, peak RSS in MiB, stdout).

    Example:
        >>> run_once(ROOT, ["--version"])[2].startswith("rsa-ray")  # doctest: +SKIP
        True
    """
    env = {**os.environ, "PYTHONPATH": str(tree)}
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "jobs.cli", *argv], cwd=tree, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    stdout = process.stdout.read()
    process.stdout.close()
    _, status, usage = os.wait4(process.pid, 0)  # the resource usage of this child alone
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so Popen must not wait again
    return seconds, usage.ru_maxrss / 1024, stdout


def measure(tree: Path, argv: list[str], repeats: int) -> tuple[float, float, str]:
    """The median wall time and peak RSS of ``repeats`` runs (after one warm-up run), and the output."""
    run_once(tree, argv)
    runs = [run_once(tree, argv) for _ in range(repeats)]
    return statistics.median(r[0] for r in runs), max(r[1] for r in runs), runs[-1][2]


def small_store(folder: Path, tree: Path) -> str:
    """A store holding the shipped zoo's models, registered by ``tree``'s ``models add``."""
    store = str(folder / "store")
    manifest = ROOT / "rsa_ray" / "zoo" / "manifest.yaml"
    subprocess.run([sys.executable, "-m", "jobs.cli", "models", "add", str(manifest), "--store", store],
                   cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)}, check=True, capture_output=True, timeout=600)
    return store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, type=Path, help="checkout of the earlier tree to compare with")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        store = small_store(Path(folder), args.base)
        rows = []
        for label, template in COMMANDS.items():
            argv = [part.format(store=store) for part in template]
            base = measure(args.base.resolve(), argv, args.repeats)
            current = measure(ROOT, argv, args.repeats)
            if template[:2] == ["models", "list"] and base[2] != current[2]:
                raise SystemExit("the two trees list the store differently:\n" + base[2] + "\n---\n" + current[2])
            rows.append((label, base, current))
    print(f"{'command':<30} {'before s':>9} {'now s':>7} {'faster':>7} {'before MiB':>11} {'now MiB':>8} {'smaller':>8}")
    for label, base, current in rows:
        print(f"{label:<30} {base[0]:>9.2f} {current[0]:>7.2f} {base[0] / current[0]:>6.1f}x "
              f"{base[1]:>11.0f} {current[1]:>8.0f} {base[1] / current[1]:>7.1f}x")
    print(f"(median of {args.repeats} runs each after a warm-up; peak RSS of the command's process; "
          f"models list on {len(rows and rows[-1][2][2].splitlines())} registered models)")


if __name__ == "__main__":
    main()
