"""The one list of the course's labs and exercises.

The release, the grader, the experiments, `course hint` and the README's table read it: a lab or
an exercise exists when it is here. Each exercise has its points (the autograder's checks of it
add up to them; the grader refuses to run otherwise) and the exercises it builds on, so that a
report can say which failure to fix first.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Exercise:
    lab: str  # "lab2"
    name: str  # "rotate"
    points: int
    teaches: str  # what writing it teaches, in a few words
    uses: tuple[str, ...] = ()  # exercises of the same lab that the reference builds it on

    @property
    def key(self) -> str:
        return f"{self.lab}.{self.name}"


@dataclass(frozen=True)
class Lab:
    key: str  # "lab2"
    module: str  # "lab2_rotation": the file students hand in is `module`.py
    title: str
    exercises: tuple[Exercise, ...]

    @property
    def file(self) -> str:
        return f"{self.module}.py"

    @property
    def points(self) -> int:
        return sum(exercise.points for exercise in self.exercises)

    def exercise(self, name: str) -> Exercise:
        for exercise in self.exercises:
            if exercise.name == name:
                return exercise
        raise RegistryError(
            f"{self.key} has no exercise {name!r}; its exercises are "
            f"{', '.join(e.name for e in self.exercises)}"
        )


class RegistryError(KeyError):
    """A lab or an exercise that the course does not have."""

    def __str__(self) -> str:
        return self.args[0]


def _lab(key: str, module: str, title: str, *exercises: tuple) -> Lab:
    return Lab(key, module, title, tuple(Exercise(key, *fields) for fields in exercises))


LABS: dict[str, Lab] = {
    lab.key: lab
    for lab in (
        _lab(
            "lab1",
            "lab1_supervised",
            "A supervised baseline",
            ("standardize", 4, "scaling and per-channel normalisation of uint8 and float images"),
            (
                "make_pipeline",
                7,
                "tf.data input pipelines: shuffling, per-image augmentation, batching",
                ("standardize",),
            ),
            ("build_backbone", 5, "the workshop's CNN as a Keras functional model"),
            ("build_classifier", 4, "reusing a model's layers and weights under a new head"),
        ),
        _lab(
            "lab2",
            "lab2_rotation",
            "Rotation prediction (RotNet)",
            ("rotate", 6, "rotating image batches by quarter turns, one k per image"),
            (
                "rotation_batch",
                4,
                "a pretext task's labels made from the data itself",
                ("rotate",),
            ),
            ("random_rotation", 5, "stateless, seeded randomness", ("rotate",)),
            (
                "make_rotation_dataset",
                6,
                "a pretraining pipeline that sees every rotation once per epoch",
                ("rotate",),
            ),
            ("build_rotation_model", 4, "a pretext head on a shared backbone"),
            ("transfer", 9, "fine-tuning against linear probing, and frozen BatchNormalization"),
        ),
        _lab(
            "lab3",
            "lab3_context",
            "Spatial context and jigsaw puzzles",
            ("extract_patches", 8, "a grid of patches, with gaps and jitter, in one gather"),
            (
                "relative_position_pairs",
                6,
                "the context task's labels: where a neighbour patch sits",
                ("extract_patches",),
            ),
            ("permutation_set", 6, "a farthest-point set of permutations (Hamming distance)"),
            (
                "jigsaw_batch",
                7,
                "shuffling patches by a permutation per image",
                ("extract_patches",),
            ),
            ("build_context_model", 5, "a siamese network: one encoder, two patches, one head"),
            ("build_jigsaw_model", 5, "one encoder on nine tiles, their features in order"),
        ),
        _lab(
            "lab4",
            "lab4_simclr",
            "Contrastive learning (SimCLR)",
            ("random_resized_crop", 9, "the crop that SimCLR's views depend on most"),
            ("color_jitter", 6, "colour distortions, each drawn per image"),
            ("random_grayscale", 6, "an augmentation applied with a probability"),
            (
                "augment",
                7,
                "composing the SimCLR recipe for CIFAR-10",
                ("random_resized_crop", "color_jitter", "random_grayscale"),
            ),
            ("build_projection_head", 4, "the projection head that the loss is computed on"),
            ("nt_xent_loss", 10, "the NT-Xent contrastive loss, numerically stable"),
            (
                "contrastive_step",
                7,
                "a custom training step with tf.GradientTape",
                ("augment", "nt_xent_loss"),
            ),
        ),
    )
}
"""Every lab the course has, by key, in order."""


def lab(name: str) -> Lab:
    """The lab named `name`: its key ("lab2") or its module ("lab2_rotation")."""
    for candidate in LABS.values():
        if name in (candidate.key, candidate.module):
            return candidate
    raise RegistryError(f"unknown lab {name!r}; the labs are {', '.join(LABS)}")


def exercise(name: str) -> Exercise:
    """The exercise named like "lab2.rotate"."""
    lab_name, _, function = name.partition(".")
    if not function:
        raise RegistryError(
            f"name an exercise as LAB.FUNCTION, such as lab2.rotate (got {name!r})"
        )
    return lab(lab_name).exercise(function)


def exercises() -> list[Exercise]:
    return [exercise for lab in LABS.values() for exercise in lab.exercises]


def fix_first(lab_key: str, failed: set[str]) -> dict[str, list[str]]:
    """For each failed exercise of `lab_key` that every other failure builds on, the failed
    exercises that build on it: {"rotate": ["rotation_batch", ...]}. Fix those first."""
    chosen = LABS[lab_key]
    order: dict[str, list[str]] = {}
    for exercise in chosen.exercises:
        if exercise.name not in failed:
            continue
        for used in exercise.uses:
            if used in failed and not set(chosen.exercise(used).uses) & failed:
                order.setdefault(used, []).append(exercise.name)
    return order


def readme_table() -> str:
    """The README's table of labs, files and exercises."""
    lines = ["| lab | file | you write |", "|---|---|---|"]
    for entry in LABS.values():
        names = ", ".join(f"`{exercise.name}`" for exercise in entry.exercises)
        lines.append(f"| {entry.key.removeprefix('lab')} | `labs/{entry.file}` | {names} |")
    return "\n".join(lines)
