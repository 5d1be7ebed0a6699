"""What the sandbox costs: `course grade solutions --lab LAB` with and without isolation,
interleaved.

Run from the repository root:

    python benchmarks/sandbox_overhead.py [--lab lab1 ...] [--rounds 3]

Each round grades every lab once with `--isolation none` and once with `--isolation namespaces`,
alternating which goes first, so that both see the same machine. Prints each lab's wall times
(min, median, max) and the difference of the medians: the sandbox's cost per lab.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import subprocess
import sys
import time

from course import ROOT


def grade(lab: str, isolation: str) -> float:
    start = time.perf_counter()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "course",
            "grade",
            "solutions",
            "--lab",
            lab,
            "-q",
            "--isolation",
            isolation,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    if result.returncode != 0 or "solutions: " not in result.stdout:
        raise SystemExit(f"grading failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--lab", action="append", default=None, help="labs to grade (default: lab1, lab2, lab4)"
    )
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    labs = args.lab or ["lab1", "lab2", "lab4"]
    print(
        "command: python benchmarks/sandbox_overhead.py "
        + " ".join(f"--lab {shlex.quote(lab)}" for lab in labs)
        + f" --rounds {args.rounds}"
    )
    times = {(lab, level): [] for lab in labs for level in ("none", "namespaces")}
    for round_ in range(args.rounds):
        for lab in labs:
            order = ("none", "namespaces") if round_ % 2 == 0 else ("namespaces", "none")
            for level in order:
                times[lab, level].append(grade(lab, level))
    print("| lab | --isolation none (s) | --isolation namespaces (s) | sandbox's cost (s) |")
    print("|---|---:|---:|---:|")
    for lab in labs:
        cells = []
        for level in ("none", "namespaces"):
            values = times[lab, level]
            cells.append(
                f"{min(values):.2f} / {statistics.median(values):.2f} / {max(values):.2f}"
            )
        cost = statistics.median(times[lab, "namespaces"]) - statistics.median(times[lab, "none"])
        print(f"| {lab} | {cells[0]} | {cells[1]} | {cost:+.2f} |")


if __name__ == "__main__":
    main()
