"""SimCLR's recipe, one lever at a time: what brings the `simclr` row of the full budget up.

Run from the repository root:

    python benchmarks/simclr_levers.py [--data ../shared/data/cifar10] [--seeds 0]
        [--recipes t0.5 t0.2]

The full budget's protocol (50,000 unlabelled images, 5,000 labelled, 5,000 test, 15 epochs of
every labelled phase) through the experiments' own code (`course.experiments.runner.Runner`, the
solutions' labs); each recipe changes only SimCLR's pretraining (`Options` and the budget's
SimCLR batch), and is read by its fine-tuned and linear-probe rows. Each seed also trains the
`supervised` row. Prints JSON lines as it goes, then a markdown table and the command that
reproduces it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
import tempfile
from datetime import date
from pathlib import Path

from lab3_ablation import _accuracies, table

RECIPES = {
    # (Options fields, SimCLR batch): the paper's CIFAR-10 temperature is 0.5 at batch 1,024;
    # lower temperatures weigh the hardest negatives more, which small batches may need.
    "t0.5": (dict(temperature=0.5), 256),
    "t0.2": (dict(temperature=0.2), 256),
    "t0.1": (dict(temperature=0.1), 256),
    # Twice the steps an epoch, each with half the negatives, at about an epoch's cost.
    "t0.5-b128": (dict(temperature=0.5), 128),
}


def measure(data: str, seeds: list[int], recipes: list[str]) -> list[dict]:
    from course.data import load_cifar10, workshop_split
    from course.experiments import BUDGETS, Options
    from course.experiments.labs import load_labs
    from course.experiments.rows import ROWS
    from course.experiments.runner import Runner

    full = BUDGETS["full"]
    split = workshop_split(load_cifar10(data), full.labelled_per_class, full.test_per_class)
    labs = load_labs("solutions", ["lab1", "lab2", "lab4"])
    results = []

    def record(**entry):
        results.append(entry)
        print(json.dumps(entry), flush=True)

    with tempfile.TemporaryDirectory() as out:
        for seed in seeds:
            base = Runner(split, full, labs, Options(seed=seed), Path(out), lambda m: None)
            base.run(ROWS["supervised"])
            record(seed=seed, recipe="-", row="supervised", **_accuracies(base.rows["supervised"]))
            for recipe in recipes:
                fields, batch = RECIPES[recipe]
                budget = dataclasses.replace(full, simclr_batch_size=batch)
                runner = Runner(
                    split, budget, labs, Options(seed=seed, **fields), Path(out), lambda m: None
                )
                pretrained = runner.pretrain("simclr")
                record(
                    seed=seed,
                    recipe=recipe,
                    row="simclr pretext",
                    accuracy=round(pretrained.record["loss"][-1], 3),
                    seconds=round(pretrained.seconds, 1),
                )
                for name in ("simclr", "simclr-linear"):
                    runner.run(ROWS[name])
                    record(seed=seed, recipe=recipe, row=name, **_accuracies(runner.rows[name]))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/cifar10")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--recipes", nargs="+", choices=RECIPES, default=["t0.5", "t0.2"])
    args = parser.parse_args()
    results = measure(args.data, args.seeds, args.recipes)
    print(f"\n{date.today()} (the 'simclr pretext' rows give the last epoch's NT-Xent loss)\n")
    print(table(results))
    print("\nreproduce with: " + shlex.join(["python", *sys.argv]))


if __name__ == "__main__":
    main()
