"""Lab 3's recipe, one lever at a time: which choices make context prediction and jigsaw puzzles
teach features that beat the supervised baseline.

Run from the repository root:

    python benchmarks/lab3_ablation.py [--data ../shared/data/cifar10] [--seeds 0 1]
        [--pretraining-epochs 5] [--recipes old jitter-8 jitter-x3]

A medium budget, the same for every lever: the workshop's split (50,000 unlabelled images, 5,000
labelled, 5,000 test), `--pretraining-epochs` epochs of each pretext, then 15 epochs of every
labelled phase, through the experiments' own code (`course.experiments.runner.Runner`, the
solutions' labs). Each recipe is one set of `Options`; its pretraining is evaluated twice, with
the BatchNormalization statistics as the patch encoder left them and re-estimated on 32 x 32
images (`--patch-bn-recalibrate`), so that lever costs no second pretraining. Each seed also trains
the `supervised` and `random-linear` rows the others are read against.

Prints JSON lines as it goes, then a markdown table (mean and spread over the seeds) and the
command that reproduces it.
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

RECIPES = {
    "old": dict(patch_scale=1, patch_size=8, patch_jitter=False),
    "jitter-8": dict(patch_scale=1, patch_size=8, patch_jitter=True),
    "centred-x3": dict(patch_scale=3, patch_size=20, patch_jitter=False),
    "jitter-x3": dict(patch_scale=3, patch_size=20, patch_jitter=True),
}
"""Each recipe's options: the images' scale, the patches' side in the scaled image, jitter."""

TITLES = {
    "old": "8-pixel patches of the 32 x 32 images, centred (the course until 2026-12-07)",
    "jitter-8": "8-pixel patches, jittered in their 10-pixel cells",
    "centred-x3": "images upscaled x3, 20-pixel patches centred in 32-pixel cells",
    "jitter-x3": "images upscaled x3, 20-pixel patches jittered in 32-pixel cells",
}


def measure(data: str, seeds: list[int], epochs: int, recipes: list[str], pretexts: list[str]):
    from course.data import load_cifar10, workshop_split
    from course.experiments import BUDGETS, Options
    from course.experiments.labs import load_labs
    from course.experiments.rows import ROWS
    from course.experiments.runner import Runner

    budget = dataclasses.replace(
        BUDGETS["full"], name="medium", context_epochs=epochs, jigsaw_epochs=epochs
    )
    cifar = load_cifar10(data)
    split = workshop_split(cifar, budget.labelled_per_class, budget.test_per_class)
    labs = load_labs("solutions", ["lab1", "lab2", "lab3"])
    results = []

    def record(**entry):
        results.append(entry)
        print(json.dumps(entry), flush=True)

    with tempfile.TemporaryDirectory() as out:
        for seed in seeds:
            base = Runner(split, budget, labs, Options(seed=seed), Path(out), lambda m: None)
            for name in ("supervised", "random-linear"):
                base.run(ROWS[name])
                record(seed=seed, recipe="-", row=name, **_accuracies(base.rows[name]))
            for recipe in recipes:
                options = Options(seed=seed, patch_bn_recalibrate=False, **RECIPES[recipe])
                for pretext in pretexts:
                    runner = Runner(split, budget, labs, options, Path(out), lambda m: None)
                    pretrained = runner.pretrain(pretext)
                    record(
                        seed=seed,
                        recipe=recipe,
                        row=f"{pretext} pretext",
                        accuracy=round(100 * pretrained.record["accuracy"][-1], 2),
                        seconds=round(pretrained.seconds, 1),
                    )
                    for recalibrated in (False, True):
                        if recalibrated:
                            backbone = runner.new_backbone()
                            backbone.set_weights(pretrained.weights)
                            runner.recalibrate_batch_norm(backbone)
                            runner._pretrained[pretext] = dataclasses.replace(
                                pretrained, weights=backbone.get_weights()
                            )
                        for name in (pretext, f"{pretext}-linear"):
                            runner.run(ROWS[name])
                            record(
                                seed=seed,
                                recipe=recipe + ("+bn" if recalibrated else ""),
                                row=name,
                                **_accuracies(runner.rows[name]),
                            )
    return results


def _accuracies(row: dict) -> dict:
    return {"accuracy": row["accuracy"], "final_accuracy": row["final_accuracy"]}


def table(results: list[dict]) -> str:
    import numpy as np

    groups: dict[tuple[str, str], list[dict]] = {}
    for entry in results:
        groups.setdefault((entry["recipe"], entry["row"]), []).append(entry)
    lines = [
        "| recipe | row | seeds | accuracy % (best epoch), mean | spread | final %, mean |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for (recipe, row), entries in groups.items():
        best = np.array([e["accuracy"] for e in entries])
        final = [e.get("final_accuracy", e["accuracy"]) for e in entries]
        spread = f"{best.min():.2f}-{best.max():.2f}" if len(best) > 1 else ""
        lines.append(
            f"| {recipe} | {row} | {len(best)} | {best.mean():.2f} | {spread} |"
            f" {np.mean(final):.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/cifar10")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--pretraining-epochs", type=int, default=5)
    parser.add_argument("--recipes", nargs="+", choices=RECIPES, default=list(RECIPES))
    parser.add_argument(
        "--pretexts", nargs="+", choices=("context", "jigsaw"), default=["context", "jigsaw"]
    )
    args = parser.parse_args()
    results = measure(args.data, args.seeds, args.pretraining_epochs, args.recipes, args.pretexts)
    print(f"\n{date.today()}: {', '.join(f'{r}: {TITLES[r]}' for r in args.recipes)}\n")
    print(table(results))
    print("\nreproduce with: " + shlex.join(["python", *sys.argv]))


if __name__ == "__main__":
    main()
