"""The full budget's table over several seeds: mean and spread of every row of `all`.

Run from the repository root:

    python benchmarks/full_budget_seeds.py [--data ../shared/data/cifar10] [--seeds 0 1 2]
        [--out runs/all-full] [--also FOLDER ...] [-- extra course experiment options]

Runs `course experiment all --budget full --seed S --out OUT-S` for each seed whose
OUT-S/results.json is not there yet (an interrupted series goes on where it stopped), then reads
every seed's results.json and prints one markdown table: each row's best-epoch and last-epoch
accuracy, mean and range over the seeds, its distance to `supervised` (the row's mean minus
supervised's) and each seed's wall time, then the command that reproduces it. `--also` names
the folders of other `course experiment` runs of the same budget whose rows replace the same
seed's rows of `all` (a row gets the same seeds in every experiment that has it: rerunning one
experiment after a change of its recipe updates its rows alone).
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np


def run_seeds(data: str, seeds: list[int], out: str, extra: list[str]) -> list[dict]:
    results = []
    for seed in seeds:
        folder = Path(f"{out}-{seed}")
        if not (folder / "results.json").is_file():
            command = [sys.executable, "-m", "course", "experiment", "all", "--data", data]
            command += ["--budget", "full", "--seed", str(seed), "--out", str(folder), *extra]
            print("$ " + shlex.join(command), flush=True)
            subprocess.run(command, check=True)
        results.append(json.loads((folder / "results.json").read_text()))
    return results


def replace_rows(results: list[dict], others: list[dict]) -> list[dict]:
    """`results` with each row that a run of `others` of the same seed has taken from it."""
    merged = []
    for result in results:
        seed = result["options"]["seed"]
        rows = {row["method"]: row for row in result["rows"]}
        for other in others:
            if other["options"]["seed"] == seed:
                rows.update((r["method"], r) for r in other["rows"] if r["method"] in rows)
        merged.append({**result, "rows": list(rows.values())})
    return merged


def table(results: list[dict]) -> str:
    rows: dict[str, list[dict]] = {}
    for result in results:
        for row in result["rows"]:
            rows.setdefault(row["method"], []).append(row)
    supervised = np.mean([r["accuracy"] for r in rows["supervised"]])
    lines = [
        "| method | accuracy % (best epoch), mean | range | final %, mean | range"
        " | against supervised |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for method, entries in rows.items():
        best = np.array([e["accuracy"] for e in entries])
        final = np.array([e["final_accuracy"] for e in entries])
        lines.append(
            f"| {method} | {best.mean():.2f} | {best.min():.2f}-{best.max():.2f}"
            f" | {final.mean():.2f} | {final.min():.2f}-{final.max():.2f}"
            f" | {best.mean() - supervised:+.2f} |"
        )
    walls = ", ".join(f"{r['options']['seed']}: {r['wall_seconds'] / 60:.1f} min" for r in results)
    lines += ["", f"Seeds and wall times: {walls}; machine: {results[0]['machine']}."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/cifar10")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", default="runs/all-full")
    parser.add_argument("--also", nargs="*", default=[], help="folders of other runs' results")
    parser.add_argument("extra", nargs="*", help="more `course experiment` options, after --")
    args = parser.parse_args()
    results = run_seeds(args.data, args.seeds, args.out, args.extra)
    others = [json.loads((Path(f) / "results.json").read_text()) for f in args.also]
    results = replace_rows(results, others)
    print(f"\n{date.today()}, `course experiment all --budget full`, {len(results)} seeds\n")
    print(table(results))
    print("\nreproduce with: " + shlex.join(["python", *sys.argv]))


if __name__ == "__main__":
    main()
