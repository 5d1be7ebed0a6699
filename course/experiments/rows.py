"""The rows of the table and the experiments that train them, each row declared once.

A row is one way of getting a CIFAR-10 classifier with the workshop's backbone:

| method            | what it trains                                                           |
|-------------------|--------------------------------------------------------------------------|
| `random`          | nothing: uniform guessing, 100 / 10 classes = 10%                        |
| `random-linear`   | a linear probe on an untrained frozen backbone: what a `-linear` row     |
|                   | owes to its pretraining is its distance above this one                   |
| `supervised`      | lab 1's classifier on the 5,000 labelled images                          |
| `supervised-all`  | the same on all 50,000 training images with their labels                 |
| `rotation`        | lab 2: rotation pretraining on the 50,000 images, then fine-tune all     |
| `context`         | lab 3: relative patch positions on the 50,000 images, then fine-tune all |
| `jigsaw`          | lab 3: jigsaw puzzles on the 50,000 images, then fine-tune all           |
| `simclr`          | lab 4: SimCLR pretraining on the 50,000 images, then fine-tune all       |
| `*-linear`        | the same pretraining, then a linear probe on the frozen backbone         |

Every pretrained row is evaluated by lab 2's `transfer` (a student who reaches lab 3 or 4 has
written labs 1 and 2), so that every pretext task is measured by the same code.
"""

from __future__ import annotations

import dataclasses

from course.experiments.options import ExperimentError


@dataclasses.dataclass(frozen=True)
class Row:
    """name: the `method` of results.json. labs: whose functions it trains with. pretext: the
    pretraining it transfers (a key of `course.experiments.pretexts.PRETEXTS`), None for a
    baseline. frozen: a linear probe on the frozen backbone rather than fine-tuning it.
    all_labels: trains on the 50,000 labelled training images, not the 5,000. seed: the offset of
    its seed (a row gets the same seeds in every experiment that has it, so `course experiment
    rotation` repeats `supervised`'s baselines)."""

    name: str
    description: str
    labs: tuple[str, ...]
    seed: int
    pretext: str | None = None
    frozen: bool = False
    all_labels: bool = False

    @property
    def trains(self) -> bool:
        return bool(self.labs)


def _pretrained(pretext: str, title: str, labs: tuple[str, ...], seed: int) -> tuple[Row, Row]:
    """The fine-tuned row and the linear-probe row of one pretext."""
    return (
        Row(pretext, f"{title} + fine-tuning", labs, seed, pretext),
        Row(
            f"{pretext}-linear",
            f"{title} + linear probe (frozen backbone)",
            labs,
            seed + 1,
            pretext,
            frozen=True,
        ),
    )


ROWS: dict[str, Row] = {
    row.name: row
    for row in (
        Row("random", "random guess", (), 0),
        Row(
            "random-linear",
            "linear probe on an untrained frozen backbone",
            ("lab1", "lab2"),
            3,
            frozen=True,
        ),
        Row("supervised", "supervised", ("lab1",), 1),
        Row("supervised-all", "supervised, all labels", ("lab1",), 2, all_labels=True),
        *_pretrained("rotation", "rotation pretraining", ("lab1", "lab2"), 4),
        *_pretrained("simclr", "SimCLR pretraining", ("lab1", "lab2", "lab4"), 7),
        *_pretrained("context", "context prediction", ("lab1", "lab2", "lab3"), 10),
        *_pretrained("jigsaw", "jigsaw puzzles", ("lab1", "lab2", "lab3"), 13),
    )
}
"""Every row, by its `method` name."""

EXPERIMENTS: dict[str, tuple[str, ...]] = {
    "supervised": ("random", "supervised", "supervised-all"),
    "rotation": (
        "random",
        "random-linear",
        "supervised",
        "rotation",
        "rotation-linear",
        "supervised-all",
    ),
    "context": (
        "random",
        "random-linear",
        "supervised",
        "context",
        "context-linear",
        "supervised-all",
    ),
    "jigsaw": (
        "random",
        "random-linear",
        "supervised",
        "jigsaw",
        "jigsaw-linear",
        "supervised-all",
    ),
    "simclr": ("random", "random-linear", "supervised", "rotation", "simclr", "simclr-linear"),
    "all": (
        "random",
        "random-linear",
        "supervised",
        "supervised-all",
        "rotation",
        "rotation-linear",
        "context",
        "context-linear",
        "jigsaw",
        "jigsaw-linear",
        "simclr",
        "simclr-linear",
    ),
}
"""The rows of each experiment of the command line, in table order."""

WORKSHOP = {"random": 10.00, "supervised": 52.48, "rotation": 59.39, "supervised-all": 68.50}
"""The workshop's published accuracies (%) on its 5,000 test images (course spec)."""


def rows_of(experiment: str) -> tuple[Row, ...]:
    if experiment not in EXPERIMENTS:
        raise ExperimentError(
            f"unknown experiment {experiment!r}; choose one of {', '.join(EXPERIMENTS)}"
        )
    return tuple(ROWS[name] for name in EXPERIMENTS[experiment])


def pretexts_of(experiment: str) -> tuple[str, ...]:
    """The pretexts that the rows of `experiment` pretrain with, in table order."""
    return tuple(dict.fromkeys(r.pretext for r in rows_of(experiment) if r.pretext))
