"""What an experiment may be asked: its budget (sizes and epochs) and its options (the recipe).

This module is the one source of the command line's choices and defaults: `course experiment`
adds a flag for every field of `Options` (`add_arguments`), and `experiment_command` spells a
run's options back as flags. `Options` checks its values when it is made.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
from collections.abc import Callable
from typing import Any


class ExperimentError(ValueError):
    """An experiment that cannot run as asked (unknown name, budget or option value)."""


@dataclasses.dataclass(frozen=True)
class Budget:
    """Sizes and epochs of an experiment; every number a budget fixes is here.

    labelled_per_class, test_per_class: the workshop split's labelled and test images per class.
    unlabelled: training images for pretraining and for `supervised-all` (None: all 50,000).
    epochs: epochs of every labelled phase (supervised, fine-tuning, linear probe).
    rotation_epochs, context_epochs, jigsaw_epochs, simclr_epochs: pretraining epochs.
    batch_size, learning_rate: the workshop's Adam 1e-3 and batches of 128 in every phase but
        SimCLR's, which uses `simclr_batch_size` (its negatives come from the batch).
    """

    name: str
    labelled_per_class: int = 500
    test_per_class: int = 500
    unlabelled: int | None = None
    epochs: int = 15
    rotation_epochs: int = 15
    context_epochs: int = 15
    jigsaw_epochs: int = 15
    simclr_epochs: int = 15
    batch_size: int = 128
    simclr_batch_size: int = 256
    learning_rate: float = 1e-3


BUDGETS = {
    # The workshop's protocol: 50,000 / 5,000 / 5,000 images, 15 epochs per phase. SimCLR and
    # jigsaw puzzles are not workshop rows. SimCLR: 30 epochs (about 20-30 s each on 2 cores with
    # the workshop's backbone). Jigsaw: 5 epochs, each about 50 s (nine tiles an image); 15 gave
    # the same fine-tuned accuracy at three times the cost (docs/results.md).
    "full": Budget("full", jigsaw_epochs=5, simclr_epochs=30),
    # A few minutes on a 2-core CPU, for CI: every row and every file, smaller and shorter.
    "quick": Budget(
        "quick",
        labelled_per_class=100,
        test_per_class=100,
        unlabelled=5000,
        epochs=5,
        rotation_epochs=4,
        context_epochs=4,
        jigsaw_epochs=4,
        simclr_epochs=3,
    ),
}
"""The budgets of the command line."""

TEST_BUDGET = Budget(
    "test",
    labelled_per_class=4,
    test_per_class=4,
    unlabelled=40,
    epochs=1,
    rotation_epochs=1,
    context_epochs=1,
    jigsaw_epochs=1,
    simclr_epochs=1,
    batch_size=16,
    simclr_batch_size=16,
)
"""A seconds-long budget for the project's unit tests (not on the command line)."""


def budget(name: str | Budget) -> Budget:
    if isinstance(name, Budget):
        return name
    if name not in BUDGETS:
        raise ExperimentError(f"unknown budget {name!r}; choose one of {', '.join(BUDGETS)}")
    return BUDGETS[name]


STRATEGIES = ("default", "mirrored", "multiworker")


ALWAYS = ("*",)
"""The `recipe` of an option that every run spells out."""


def _widths(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(w) for w in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers such as 32,64,128, got {text!r}"
        ) from None
    if not widths or min(widths) < 1:
        raise argparse.ArgumentTypeError(f"widths must be positive integers, got {text!r}")
    return widths


def _option(
    default: Any,
    help: str,
    choices: tuple = (),
    recipe: tuple[str, ...] = (),
    parse: Callable[[str], Any] = str,
) -> Any:
    """A field of `Options`: its default, its flag's help, its allowed values, the pretexts whose
    recipe it is (`ALWAYS`: every run's) and how its flag's text is read. The reproducing command
    always spells a run's recipe, so that it still reproduces the run if a default changes."""
    return dataclasses.field(
        default=default,
        metadata={"help": help, "choices": choices, "recipe": recipe, "parse": parse},
    )


@dataclasses.dataclass(frozen=True)
class Options:
    """How the pretraining runs (recorded in results.json; the defaults are the course's recipe).

    Each field's help says what it does; docs/results.md measures the alternatives.
    """

    rotation_batches: str = _option(
        "groups",
        "groups (default): all four rotations of an image in one batch, as RotNet does (lab 2's"
        " rotation_batch); shuffled: lab 2's make_rotation_dataset",
        ("groups", "shuffled"),
        ("rotation",),
    )
    schedule: str = _option(
        "constant",
        "pretraining learning rate: constant 1e-3 (default, the workshop's) or cosine decay from"
        " 1e-3; labelled phases always use 1e-3, so the rows stay comparable",
        ("cosine", "constant"),
        ("rotation", "context", "jigsaw", "simclr"),
    )
    widths: tuple[int, ...] | None = _option(
        None,
        "backbone widths such as 32,64,128 for every row: course.models.build_wide_backbone"
        " (default: lab 1's build_backbone, 8,16,32)",
        parse=_widths,
    )
    rotation_head: str = _option(
        "linear",
        "linear (default): lab 2's build_rotation_model; mlp: the rotation classifier behind a"
        " hidden layer, Dense(256) -> ReLU -> Dense(4), so that the last backbone block need not"
        " become rotation-specific",
        ("linear", "mlp"),
        ("rotation",),
    )
    rotation_flips: bool = _option(
        True,
        "flip images left-right at random before rotating them in rotation pretraining, the"
        " standard CIFAR-10 augmentation; a flip does not change which way is up (default: on)",
        recipe=("rotation",),
    )
    jigsaw_permutations: int = _option(
        100,
        "how many permutations lab 3's permutation_set chooses for the jigsaw task (default 100;"
        " Noroozi and Favaro use 1,000 on ImageNet's larger images)",
        recipe=("jigsaw",),
        parse=int,
    )
    patch_scale: int = _option(
        3,
        "lab 3: upscale every image by this factor (bilinear) before cutting its 3 x 3 grid, so"
        " that patches are near the backbone's native 32 x 32 scale (default 3: 96-pixel images,"
        " 32-pixel cells; 1: the images as they are, 10-pixel cells)",
        recipe=("context", "jigsaw"),
        parse=int,
    )
    patch_size: int = _option(
        20,
        "lab 3: the side of a patch in the upscaled image, from 8 to its cell (default 20 in"
        " 32-pixel cells: a gap of 12 pixels, 4 of the original image; with --patch-scale 1"
        " pass --patch-size 8)",
        recipe=("context", "jigsaw"),
        parse=int,
    )
    patch_jitter: bool = _option(
        True,
        "lab 3: cut each patch at a random offset inside its cell (lab 3's extract_patches with a"
        " seed), as Doersch et al. and Noroozi and Favaro do, so that lines running across the"
        " gap cannot place it (default: on; without it both tasks are solved by that shortcut)",
        recipe=("context", "jigsaw"),
    )
    patch_bn_recalibrate: bool = _option(
        True,
        "lab 3: re-estimate the pretrained backbone's BatchNormalization statistics on whole"
        " 32 x 32 images before it is transferred (the patch encoder learnt them on patches;"
        " default: on)",
        recipe=("context", "jigsaw"),
    )
    init: str = _option(
        "keras",
        "keras (default): Keras' initialisation and BatchNormalization momentum; pytorch:"
        " PyTorch's, the workshop's framework (every row rises, the baselines most)",
        ("keras", "pytorch"),
        ALWAYS,
    )
    bn_momentum: float | None = _option(
        None,
        "BatchNormalization momentum in every phase (default: Keras' 0.99; 0.9 is PyTorch's"
        " default, the workshop's)",
        parse=float,
    )
    simclr_epochs: int | None = _option(
        None, "SimCLR pretraining epochs (default: the budget's)", parse=int
    )
    temperature: float = _option(
        0.5, "NT-Xent temperature (default 0.5, the paper's CIFAR-10)", parse=float
    )
    seed: int = _option(0, "base seed of every phase (default 0)", parse=int)
    strategy: str = _option(
        "default",
        "default: one device; mirrored: every GPU of this machine (its CPUs where it has none);"
        " multiworker: the machines of TF_CONFIG. Batches stay global, split across the replicas,"
        " so each update sees as many examples and the learning rate stays 1e-3"
        " (docs/benchmarks.md)",
        STRATEGIES,
    )

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value, choices = getattr(self, field.name), field.metadata["choices"]
            if choices and value not in choices:
                raise ExperimentError(
                    f"{field.name} must be one of {', '.join(choices)}, got {value!r}"
                )
        for name in ("simclr_epochs", "jigsaw_permutations"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ExperimentError(f"{name} must be at least 1, got {value}")
        if self.patch_scale < 1:
            raise ExperimentError(f"patch_scale must be at least 1, got {self.patch_scale}")
        cell = 32 * self.patch_scale // 3
        if not 8 <= self.patch_size <= cell:
            raise ExperimentError(
                f"patch_size must be between 8 (the backbone's three pools) and {cell} (a cell of"
                f" a 3 x 3 grid at patch_scale {self.patch_scale}), got {self.patch_size}"
            )
        if self.widths is not None and (not self.widths or min(self.widths) < 1):
            raise ExperimentError(f"widths must be positive integers, got {self.widths}")

    def as_dict(self) -> dict[str, Any]:
        """The options as results.json records them."""
        return {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()
        }


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """A flag for every field of `Options`, with its choices, default and help."""
    for field in dataclasses.fields(Options):
        meta, flag = field.metadata, _flag(field.name)
        if isinstance(field.default, bool):
            parser.add_argument(
                flag,
                action=argparse.BooleanOptionalAction,
                default=field.default,
                help=meta["help"],
            )
            continue
        parser.add_argument(
            flag,
            type=meta["parse"],
            choices=meta["choices"] or None,
            default=field.default,
            help=meta["help"],
        )


def from_arguments(args: argparse.Namespace) -> Options:
    return Options(
        **{field.name: getattr(args, field.name) for field in dataclasses.fields(Options)}
    )


def experiment_command(
    name: str,
    data: str,
    budget: str,
    impl: str,
    out: str,
    options: Options = Options(),
) -> str:
    """The `course experiment` command line that reproduces a run: the recipe of each pretext
    its rows pretrain with is always spelled out, every other option only where it is not the
    default."""
    from course.experiments.rows import pretexts_of  # the rows' module imports this one

    recipe = {*pretexts_of(name), *ALWAYS}
    words = ["course", "experiment", name, "--data", str(data), "--budget", budget]
    words += ["--impl", str(impl), "--out", str(out)]
    for field in dataclasses.fields(Options):
        value = getattr(options, field.name)
        if value == field.default and not recipe & set(field.metadata["recipe"]):
            continue
        if isinstance(value, bool):
            words.append(_flag(field.name) if value else "--no-" + _flag(field.name)[2:])
        elif value is not None:
            text = ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
            words += [_flag(field.name), text]
    return shlex.join(words)
