"""The Gradescope bundle in Gradescope's default container, emulated on this machine: 768 MB of
memory for the whole process tree and half a CPU (cgroup v1 `memory` and `cpu` controllers, as
root), within Gradescope's default 10 minutes.

Run from the repository root, as root:

    python benchmarks/gradescope_container.py [--labs lab1 lab2 lab4] [--cpus 0.5]

Builds the bundle (`course release gradescope`), unpacks it into a temporary folder standing for
/autograder, runs its `setup.sh` (a fresh virtual environment; bubblewrap must be installed), then
`run_autograder` in the cgroups on a submission holding the solutions of `--labs`. Prints, as JSON
and as a line of text: the wall time, the tree's peak memory, whether anything was killed for
memory, and the score.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import date
from pathlib import Path

import cgroups

from course import ROOT, registry

MEMORY = 768 * 10**6  # Gradescope's "768 MB"
PERIOD_US = 100_000
TIME_LIMIT = 600


def main() -> int:
    options = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    options.add_argument("--labs", nargs="+", default=["lab1", "lab2", "lab4"])
    options.add_argument("--cpus", type=float, default=0.5)
    args = options.parse_args()
    if not cgroups.available("memory", "cpu"):
        print("needs writable cgroup v1 memory and cpu controllers (run as root)", file=sys.stderr)
        return 2
    root = Path(tempfile.mkdtemp(prefix="autograder-"))
    try:
        bundle = root / "autograder.zip"
        subprocess.run(
            [sys.executable, "-m", "course", "release", "gradescope", str(bundle)],
            cwd=ROOT,
            check=True,
        )
        with zipfile.ZipFile(bundle) as archive:
            archive.extractall(root / "source")
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env.update(AUTOGRADER_ROOT=str(root), COURSE_NO_APT="1")
        subprocess.run(["bash", "setup.sh"], cwd=root / "source", env=env, check=True)
        submission = root / "submission"
        submission.mkdir()
        for lab in args.labs:
            shutil.copy(ROOT / "solutions" / registry.lab(lab).file, submission)
        figures = run_in_container(root, env, args.cpus)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    figures.update(
        labs=args.labs,
        date=date.today().isoformat(),
        machine=f"{platform.machine()}, {os.cpu_count()} cores",
        command="python benchmarks/gradescope_container.py " + shlex.join(
            ["--labs", *args.labs, "--cpus", str(args.cpus)]
        ),
    )
    print(json.dumps(figures, indent=1))
    print(
        f"run_autograder in {figures['seconds']:.1f} s with {args.cpus:g} CPU, peak"
        f" {figures['peak_mib']:.0f} MiB of {MEMORY / 2**20:.0f} MiB, killed for memory:"
        f" {figures['oom_kills']}, score {figures['score']:g}/{figures['max_score']:g}"
    )
    return 0


def run_in_container(root: Path, env: dict, cpus: float) -> dict:
    with cgroups.groups(f"course-gradescope-{os.getpid()}", "memory", "cpu") as made:
        memory, cpu = made["memory"], made["cpu"]
        (memory / "memory.limit_in_bytes").write_text(str(MEMORY))
        (cpu / "cpu.cfs_period_us").write_text(str(PERIOD_US))
        (cpu / "cpu.cfs_quota_us").write_text(str(int(cpus * PERIOD_US)))
        start = time.monotonic()
        script = shlex.quote(str(root / "source" / "run_autograder"))
        subprocess.run(
            ["sh", "-c", f"{cgroups.enter(made)}exec bash {script}"],
            cwd=root / "source",
            env=env,
            timeout=TIME_LIMIT,
            check=True,
        )
        seconds = time.monotonic() - start
        peak = int((memory / "memory.max_usage_in_bytes").read_text())
        control = (memory / "memory.oom_control").read_text().split()
        kills = int(control[control.index("oom_kill") + 1]) if "oom_kill" in control else 0
    results = json.loads((root / "results" / "results.json").read_text())
    return {
        "seconds": round(seconds, 1),
        "cpus": cpus,
        "peak_mib": round(peak / 2**20, 1),
        "limit_mib": round(MEMORY / 2**20, 1),
        "oom_kills": kills,
        "score": results["score"],
        "max_score": results["max_score"],
    }


if __name__ == "__main__":
    sys.exit(main())
