"""Seconds per epoch of each training phase of `course experiment`, through the experiments' own
code path, and SimCLR's augmentation against Keras' augmentation layers.

Run from the repository root:

    python benchmarks/epoch_speed.py [--data ../shared/data/cifar10] [--epochs 3] [--parts ...]

- epochs: `course.experiments.run_experiment("all")` on the full budget's data (50,000 training
  images, the workshop's 5,000 / 5,000 split) with `--epochs` epochs in every phase. Each phase's
  `seconds_per_epoch` is the median over its epochs (so the first, which traces and warms up, is
  left out), training only. Reported per epoch and per 50,000 examples, beside the workshop's
  PyTorch pipeline measured on this machine (issue 12: a map-style Dataset, DataLoader batch 128)
  and the goal of at most half of it.
- augment: images per second of lab 4's `augment` (solutions) on batches of 256 CIFAR-10-sized
  images, as a `tf.function`, against Keras' `RandomFlip`, `RandomColorJitter`,
  `RandomGrayscale` and `RandomZoom` (a resized crop) in one `keras.Sequential`, on the same
  batches, interleaved, best of `--repeat`.

Prints JSON, a table and the command that reproduces it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
import tempfile
import time
from datetime import date

# The workshop's PyTorch pipeline on this machine, seconds per epoch (issue 12's table).
PYTORCH = {"supervised 5k": 1.14, "supervised 50k": 9.9, "rotation per 50k": 10.8}


def epochs_part(data: str, epochs: int) -> list[dict]:
    from course.experiments import BUDGETS, Options, run_experiment

    budget = dataclasses.replace(
        BUDGETS["full"], name="speed", epochs=epochs, rotation_epochs=epochs, simclr_epochs=epochs
    )
    with tempfile.TemporaryDirectory() as out:
        results = run_experiment(
            "all", data=data, budget=budget, out=out, options=Options(), log=lambda m: None
        )
    rows = {row["method"]: row for row in results["rows"]}
    rotation, simclr = results["pretraining"]["rotation"], results["pretraining"]["simclr"]
    # (phase, seconds per epoch, examples per epoch, examples the figure is given per)
    phases = [
        ("supervised 5k", rows["supervised"]["seconds_per_epoch"], 5000, 5000),
        ("supervised 50k", rows["supervised-all"]["seconds_per_epoch"], 50000, 50000),
        ("rotation per 50k", rotation["seconds_per_epoch"], rotation["examples_per_epoch"], 50000),
        ("simclr", simclr["seconds_per_epoch"], simclr["examples_per_epoch"], None),
    ]
    table = []
    for name, seconds, examples, per in phases:
        per_epoch = seconds * per / examples if per else seconds
        entry = {
            "phase": name,
            "seconds_per_epoch": round(per_epoch, 2),
            "examples_per_second": round(examples / seconds),
        }
        if name in PYTORCH:
            entry.update(
                pytorch_seconds=PYTORCH[name],
                ratio=round(per_epoch / PYTORCH[name], 2),
                goal_met=per_epoch <= 0.5 * PYTORCH[name],
            )
        table.append(entry)
    return table


def augment_part(repeat: int) -> dict:
    import keras
    import numpy as np
    import tensorflow as tf

    from course.impl import load_lab

    augment = load_lab("solutions", "lab4").augment
    batches = [
        tf.constant(np.random.default_rng(i).random((256, 32, 32, 3), dtype=np.float32))
        for i in range(8)
    ]
    layers = keras.Sequential(
        [
            keras.layers.RandomZoom((-0.7, 0.0), fill_mode="reflect"),
            keras.layers.RandomFlip("horizontal"),
            keras.layers.RandomColorJitter(
                value_range=(0, 1),
                brightness_factor=0.4,
                contrast_factor=0.4,
                saturation_factor=(0.1, 0.9),
                hue_factor=0.1,
            ),
            keras.layers.RandomGrayscale(0.2),
        ]
    )
    course = tf.function(lambda x, i: augment(x, tf.stack([i, i + 1])))
    keras_layers = tf.function(lambda x: layers(x, training=True))

    def rate(run) -> float:
        start = time.perf_counter()
        for i, x in enumerate(batches):
            run(x, i)
        return 256 * len(batches) / (time.perf_counter() - start)

    runs = {
        "course augment": lambda x, i: course(x, tf.constant(i, tf.int64)).numpy(),
        "keras layers": lambda x, i: keras_layers(x).numpy(),
    }
    best = {name: 0.0 for name in runs}
    for _ in range(repeat + 1):  # the first round traces both
        for name, run in runs.items():
            best[name] = max(best[name], rate(run))
    return {name: round(value) for name, value in best.items()}


def main() -> int:
    options = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    options.add_argument("--data", default="../shared/data/cifar10")
    options.add_argument("--epochs", type=int, default=3)
    options.add_argument("--repeat", type=int, default=3)
    options.add_argument("--parts", nargs="+", default=["epochs", "augment"])
    args = options.parse_args()
    from course.experiments import machine_description
    from course.quiet import start_tensorflow

    start_tensorflow()
    report = {
        "date": date.today().isoformat(),
        "machine": machine_description(),
        "command": "python benchmarks/epoch_speed.py "
        + shlex.join(
            ["--data", args.data, "--epochs", str(args.epochs), "--repeat", str(args.repeat)]
            + ["--parts", *args.parts]
        ),
    }
    if "epochs" in args.parts:
        report["epochs"] = epochs_part(args.data, args.epochs)
    if "augment" in args.parts:
        report["augment_images_per_second"] = augment_part(args.repeat)
    print(json.dumps(report, indent=1))
    for entry in report.get("epochs", []):
        against = (
            f"  PyTorch {entry['pytorch_seconds']:.2f} s, ratio {entry['ratio']:.2f}"
            f" (goal 0.5: {'met' if entry['goal_met'] else 'not met'})"
            if "ratio" in entry
            else ""
        )
        print(
            f"{entry['phase']:<18} {entry['seconds_per_epoch']:6.2f} s/epoch"
            f" {entry['examples_per_second']:7,} examples/s{against}"
        )
    for name, value in report.get("augment_images_per_second", {}).items():
        print(f"{name:<18} {value:7,} images/s")
    print(f"reproduce with: {report['command']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
