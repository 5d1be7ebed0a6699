"""How long grading takes, and where the seconds go: `course grade` of the solutions (every lab,
`--jobs 1`) and `course check LAB`, through the command line a TA and a student use, isolation
included.

Run from the repository root, as root (the tree's CPU time and peak memory are read from cgroup v1
`cpuacct` and `memory` groups: a killed sandbox's processes are never reaped by the grader, so
their CPU time is not in its children's usage):

    python benchmarks/grading_latency.py [--rounds 3] [--check-lab lab2]

Prints, as JSON and as a table, the median over `--rounds` of: wall seconds, CPU seconds of the
whole process tree, the tree's peak memory; for `course check`, of the committed stubs (`labs/`)
and of a finished lab (the solution copied into a students' `labs/`). And the parts: a pytest
start, a TensorFlow start, and each lab's seconds as the grade reports them (the first lab's
include the workers' TensorFlow start).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import cgroups

from course import ROOT, registry


def measure(command: list[str], cwd: Path) -> dict:
    """Wall seconds, CPU seconds and peak MiB of the whole process tree."""
    name = f"course-latency-{os.getpid()}-{time.monotonic_ns()}"
    with cgroups.groups(name, "memory", "cpuacct") as made:
        start = time.monotonic()
        subprocess.run(
            ["sh", "-c", f"{cgroups.enter(made)}exec {shlex.join(command)}"],
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=True,
        )
        seconds = time.monotonic() - start
        peak = int((made["memory"] / "memory.max_usage_in_bytes").read_text()) / 2**20
        cpu_seconds = int((made["cpuacct"] / "cpuacct.usage").read_text()) / 1e9
    return {"seconds": seconds, "cpu_seconds": cpu_seconds, "peak_mib": peak}


def median(runs: list[dict]) -> dict:
    return {key: round(statistics.median(r[key] for r in runs), 2) for key in runs[0]}


def lab_seconds(report: Path) -> dict[str, float]:
    """Each lab's seconds, from the text report of `course grade`."""
    seconds = {}
    for line in report.read_text().splitlines():
        parts = line.split()  # "  lab1  total   20/20   7.1 s"
        if len(parts) >= 5 and parts[1] == "total" and parts[-1] == "s":
            seconds[parts[0]] = float(parts[-2])
    return seconds


def main() -> int:
    options = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    options.add_argument("--rounds", type=int, default=3)
    options.add_argument("--check-lab", default="lab2")
    args = options.parse_args()
    if not cgroups.available("memory", "cpuacct"):
        print("needs writable cgroup v1 memory and cpuacct controllers (root)", file=sys.stderr)
        return 2
    course = [sys.executable, "-m", "course"]
    finished = Path(tempfile.mkdtemp(prefix="course-finished-"))
    try:
        (finished / "labs").mkdir()
        shutil.copy(ROOT / "solutions" / registry.lab(args.check_lab).file, finished / "labs")
        commands = {
            "course grade solutions --jobs 1": (
                course + ["grade", "solutions", "--jobs", "1"],
                ROOT,
            ),
            f"course check {args.check_lab} (stubs)": (course + ["check", args.check_lab], ROOT),
            f"course check {args.check_lab} (finished)": (
                course + ["check", args.check_lab],
                finished,
            ),
            "pytest start (collect one lab)": (
                [
                    sys.executable,
                    "-m",
                    "pytest",
                    "--collect-only",
                    "-q",
                    "-p",
                    "course.grading.plugin",
                    "-p",
                    "no:cacheprovider",
                    f"tests/autograder/test_{registry.lab(args.check_lab).module}.py",
                ],
                ROOT,
            ),
            "TensorFlow start": (
                [sys.executable, "-c", "from course.quiet import start_tensorflow as s; s()"],
                ROOT,
            ),
        }
        figures = {}
        for name, (command, cwd) in commands.items():
            runs = [measure(command, cwd) for _ in range(args.rounds)]
            figures[name] = median(runs)
        with tempfile.TemporaryDirectory() as tmp:
            report = Path(tmp) / "report.txt"
            with report.open("w") as out:
                subprocess.run(
                    course + ["grade", "solutions", "--jobs", "1"],
                    cwd=ROOT,
                    stdout=out,
                    stderr=subprocess.DEVNULL,
                    check=True,
                )
            figures["labs (seconds each, from the report)"] = lab_seconds(report)
    finally:
        shutil.rmtree(finished, ignore_errors=True)
    result = {
        "figures": figures,
        "rounds": args.rounds,
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "command": f"python benchmarks/grading_latency.py --rounds {args.rounds}"
        f" --check-lab {args.check_lab}",
    }
    print(json.dumps(result, indent=1))
    print("\n| command | wall s | CPU s | peak MiB |\n|---|---:|---:|---:|")
    for name, row in figures.items():
        if "seconds" in row:
            print(
                f"| {name} | {row['seconds']:.1f} | {row['cpu_seconds']:.1f} |"
                f" {row['peak_mib']:.0f} |"
            )
    print(f"\nlabs: {figures['labs (seconds each, from the report)']}")
    print(f"reproduce: {result['command']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
