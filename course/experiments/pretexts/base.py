"""What a pretext task is to the runner, and the training loop that three of them share.

A pretext is one module of this package holding a `Pretext`: its preflight (the lab functions it
calls, on tiny inputs, before any long training) and its pretraining. The pretraining receives
the runner (`course.experiments.runner.Runner`) and uses only this of it:

- `split`, `budget`, `options`, `labs` (the `--impl`'s labs), `log(text)`;
- `new_backbone(input_shape=(32, 32, 3))`: a fresh backbone (lab 1's `build_backbone`, or the
  `--widths` variant), configured for `--init`; `configure(model)` configures any other model;
- `seed(offset)`: seeds Keras for a phase and returns the seed;
- `schedule(steps)`: the pretraining learning rate (`--schedule`);
- `figure(name)`: the path of a figure to write into the output folder;
- `examples(count)`: one test image of each of `count` classes, and their class names;
- `neighbours(backbone, name, title)`: the nearest-neighbour figure of a backbone's features.
- `recalibrate_batch_norm(backbone)`: its BatchNormalization statistics re-estimated on whole
  32 x 32 images.

It returns `Pretrained`: the weights of a 32 x 32 backbone (what `transfer` receives), and what
results.json records of it.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from course.impl import ImplementationError


@dataclasses.dataclass
class Pretrained:
    weights: list[np.ndarray]  # of the 32 x 32 backbone, in `get_weights()` order
    seconds: float
    record: dict[str, Any]  # results.json["pretraining"][name]: epochs, curves, recipe


@dataclasses.dataclass(frozen=True)
class Pretext:
    name: str  # "rotation": the rows' `pretext`, the budget's `<name>_epochs`
    title: str  # "rotation pretraining", for the log
    seed: int  # the seed offset of its pretraining
    preflight: Callable[[Mapping[str, Any], Any], None]  # (labs, options)
    pretrain: Callable[[Any], Pretrained]  # (runner)


def keras_verbose() -> int:
    """A progress bar on a terminal, a line per epoch in logs."""
    return 1 if sys.stdout.isatty() else 2


def check_trained(before: list, after: list, message: str) -> None:
    """Raises ImplementationError(message) when a pretraining left the backbone as it was."""
    if all(np.array_equal(a, b) for a, b in zip(before, after, strict=True)):
        raise ImplementationError(message)


def fit_classifier(
    runner, name: str, model, dataset, epochs: int, steps: int, classes: int, what: str
):
    """Trains a pretext classifier (integer labels, `classes` of them) with `fit` for `epochs`
    epochs of `steps` batches, and draws its curve with chance lines (cross-entropy ln classes,
    accuracy 1 / classes). Returns (seconds, record): the epochs, the median epoch time and the
    loss and accuracy per epoch."""
    from course import plots
    from course.train import EpochTimer, compile_classifier

    compile_classifier(model, runner.schedule(steps * epochs))
    start, timer = time.perf_counter(), EpochTimer()
    history = model.fit(
        dataset, epochs=epochs, shuffle=False, verbose=keras_verbose(), callbacks=[timer]
    )
    seconds = time.perf_counter() - start
    curves = {k: [float(v) for v in history.history.get(k, [])] for k in ("loss", "accuracy")}
    plots.loss_curve(
        curves["loss"],
        runner.figure(f"{name}_pretraining.png"),
        title=f"{name} pretraining: {epochs} epochs of {what}",
        ylabel=f"{name} cross-entropy",
        extra={f"{name} accuracy": curves["accuracy"]},
        chance=math.log(classes),
        extra_chance=1.0 / classes,
    )
    record = {
        "epochs": epochs,
        "seconds_per_epoch": round(timer.median, 2),
        "schedule": runner.options.schedule,
        "loss": curves["loss"],
        "accuracy": curves["accuracy"],
    }
    return seconds, record
