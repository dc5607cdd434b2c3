"""Benchmark: how long ``rsa-ray`` takes to answer, and how much memory, when it only parses or lists.

For ``rsa-ray --help``, every subcommand's ``--help`` and usage error (``NAME --bogus``) and
``rsa-ray models list`` on a small store (the shipped zoo's manifest, registered once), it runs
each command several times in a fresh interpreter and prints the median wall time and the peak
RSS of that process (``os.wait4``'s resource usage of the child), next to ``python -c pass``
measured in the same run (the interpreter's own start, the floor no command can go under), with
the ratio to it and whether the command answered within the 0.5 s target. With ``--base`` it
also runs an earlier tree and prints the ratios to it; both trees list the same store, and the
script checks their listings agree.

Run: ``python bench/cli_startup.py`` (``--repeats 5`` by default), or to compare with an earlier
commit: ``git archive <commit> | tar -x -C /tmp/cli-base`` then ``python bench/cli_startup.py --base /tmp/cli-base``.
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
TARGET_SECONDS = 0.5  # what a usage error or --help may take (issue: usage errors answer in under 0.5 s)


def commands() -> dict[str, list[str]]:
    """Each measured command's label and arguments (``{store}`` stands for the small store)."""
    sys.path.insert(0, str(ROOT))
    from jobs.subcommands import SUBCOMMANDS

    table = {"rsa-ray --help": ["--help"]}
    for ref in SUBCOMMANDS:
        table[f"{ref.name} --help"] = [ref.name, "--help"]
        table[f"{ref.name} --bogus"] = [ref.name, "--bogus"]
    table["models list"] = ["models", "list", "--store", "{store}"]
    return table


def run_once(tree: Path, argv: list[str]) -> tuple[float, float, str]:
    """Runs ``python -m jobs.cli ARGV`` (``python -c pass`` for ``["-c", "pass"]``) from ``tree``; returns (seconds, peak RSS in MiB, stdout).

    Example:
        >>> run_once(ROOT, ["--version"])[2].startswith("rsa-ray")  # doctest: +SKIP
        True
    """
    env = {**os.environ, "PYTHONPATH": str(tree)}
    command = [sys.executable, "-c", "pass"] if argv == ["-c", "pass"] else [sys.executable, "-m", "jobs.cli", *argv]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=tree, env=env,
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


def measure_all(base: Path | None, repeats: int) -> tuple[tuple[float, float, str], list[tuple]]:
    """``python -c pass`` and every command (on this tree, and on ``base`` when given), in one run."""
    floor = measure(ROOT, ["-c", "pass"], repeats)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        store = small_store(Path(folder), base or ROOT)
        for label, template in commands().items():
            argv = [part.format(store=store) for part in template]
            before = measure(base.resolve(), argv, repeats) if base else None
            current = measure(ROOT, argv, repeats)
            if before and template[:2] == ["models", "list"] and before[2] != current[2]:
                raise SystemExit("the two trees list the store differently:\n" + before[2] + "\n---\n" + current[2])
            rows.append((label, before, current))
    return floor, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, help="checkout of an earlier tree to compare with")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    floor, rows = measure_all(args.base, args.repeats)
    print(f"python -c pass: {floor[0]:.3f} s, {floor[1]:.0f} MiB (the floor, measured in this run)")
    header = f"{'command':<26} {'now s':>7} {'x pass':>7} {'<0.5s':>6} {'now MiB':>8}"
    print(header + (f" {'before s':>9} {'faster':>7} {'before MiB':>11}" if args.base else ""))
    for label, before, current in rows:
        line = (f"{label:<26} {current[0]:>7.3f} {current[0] / floor[0]:>6.1f}x "
                f"{'yes' if current[0] < TARGET_SECONDS else 'NO':>6} {current[1]:>8.0f}")
        if before:
            line += f" {before[0]:>9.3f} {before[0] / current[0]:>6.2f}x {before[1]:>11.0f}"
        print(line)
    slow = [label for label, _, current in rows if current[0] >= TARGET_SECONDS and label != "models list"]
    print(f"(median of {args.repeats} runs each after a warm-up; peak RSS of the command's process; "
          f"models list on {len(rows[-1][2][2].splitlines())} registered models; "
          f"{len(slow)} usage/help commands at or over {TARGET_SECONDS} s{': ' + ', '.join(slow) if slow else ''})")


if __name__ == "__main__":
    main()
