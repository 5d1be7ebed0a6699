"""`course experiment`: the workshop's table, trained with an implementation of the labs.

An experiment trains and evaluates a few *rows*, each one way of getting a CIFAR-10 classifier
with the workshop's backbone:

| method            | what it trains                                                           |
|-------------------|--------------------------------------------------------------------------|
| `random`          | nothing: uniform guessing, 100 / 10 classes = 10%                        |
| `supervised`      | lab 1's classifier on the 5,000 labelled images                          |
| `supervised-all`  | the same on all 50,000 training images with their labels                 |
| `rotation`        | lab 2: rotation pretraining on the 50,000 images, then fine-tune all     |
| `rotation-linear` | the same pretraining, then a linear probe on the frozen backbone         |
| `simclr`          | lab 4: SimCLR pretraining on the 50,000 images, then fine-tune all       |
| `simclr-linear`   | the same pretraining, then a linear probe on the frozen backbone         |

Every row uses the `--impl`'s own lab functions (the student's code with `--impl labs`): lab 1's
`make_pipeline`, `build_backbone` and `build_classifier`; lab 2's `build_rotation_model`,
`rotation_batch` (or `make_rotation_dataset`) and `transfer`; lab 4's `build_projection_head` and
`contrastive_step` (which calls `augment` and `nt_xent_loss`). The SimCLR rows reuse lab 2's
`transfer` for fine-tuning and the probe, so that every pretext task is evaluated by the same code
(a student who reaches lab 4 has written labs 1 and 2). Training itself is the course's
(`course.train`): Adam, cross-entropy, the test accuracy after every epoch, and both the best
epoch's accuracy (as the workshop reports it) and the last epoch's.

Budgets (`BUDGETS`) fix the sizes and epochs: `full` is the workshop's protocol, `quick` a
few-minute version with every row and file, for CI. `Options` choose the pretraining recipe; the
default rotation recipe puts all four rotations of an image, flipped left-right at random, in
the same batch (Gidaris et al.), with the workshop's constant Adam 1e-3; docs/results.md compares
it with a cosine schedule, an MLP rotation head and no flips.

Seeds are fixed per phase (`keras.utils.set_random_seed`), so a row repeats itself, also across
experiments: `supervised` is the same number in `course experiment supervised` and `rotation`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import functools
import json
import math
import os
import platform
import shlex
import sys
import time
import traceback
import weakref
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from course import registry
from course.data import (
    CIFAR10,
    CLASS_NAMES,
    load_cifar10,
    workshop_split,
)
from course.files import atomic_write
from course.impl import ImplementationError, load_lab

EXPERIMENTS = ("supervised", "rotation", "context", "jigsaw", "simclr", "all")
"""Every experiment name of the command line (spec); `context` and `jigsaw` need lab 3."""

ROWS = {
    "supervised": ("random", "supervised", "supervised-all"),
    "rotation": ("random", "supervised", "rotation", "rotation-linear", "supervised-all"),
    "simclr": ("random", "supervised", "rotation", "simclr", "simclr-linear"),
    "all": (
        "random",
        "supervised",
        "supervised-all",
        "rotation",
        "rotation-linear",
        "simclr",
        "simclr-linear",
    ),
}
"""The rows of each experiment, in table order."""

DESCRIPTIONS = {
    "random": "random guess",
    "supervised": "supervised",
    "supervised-all": "supervised, all labels",
    "rotation": "rotation pretraining + fine-tuning",
    "rotation-linear": "rotation pretraining + linear probe (frozen backbone)",
    "simclr": "SimCLR pretraining + fine-tuning",
    "simclr-linear": "SimCLR pretraining + linear probe (frozen backbone)",
}

# Which labs each row needs (their exercises, from course.registry, are checked before training).
_ROW_LABS = {
    "random": (),
    "supervised": ("lab1",),
    "supervised-all": ("lab1",),
    "rotation": ("lab1", "lab2"),
    "rotation-linear": ("lab1", "lab2"),
    "simclr": ("lab1", "lab2", "lab4"),
    "simclr-linear": ("lab1", "lab2", "lab4"),
}

# Seed offsets per training phase: a row gets the same seeds in every experiment that has it, so
# `course experiment rotation` repeats `course experiment supervised`'s supervised rows.
_SEEDS = {
    "supervised": 1,
    "supervised-all": 2,
    "rotation-pretraining": 3,
    "rotation": 4,
    "rotation-linear": 5,
    "simclr-pretraining": 6,
    "simclr": 7,
    "simclr-linear": 8,
}


WORKSHOP = {"random": 10.00, "supervised": 52.48, "rotation": 59.39, "supervised-all": 68.50}
"""The workshop's published accuracies (%) on its 5,000 test images (course spec)."""


class ExperimentError(ValueError):
    """An experiment that cannot run as asked (unknown name, a lab that the course lacks...)."""


@dataclasses.dataclass(frozen=True)
class Budget:
    """Sizes and epochs of an experiment; every number a budget fixes is here.

    labelled_per_class, test_per_class: the workshop split's labelled and test images per class.
    unlabelled: training images for pretraining and for `supervised-all` (None: all 50,000).
    epochs: epochs of every labelled phase (supervised, fine-tuning, linear probe).
    rotation_epochs, simclr_epochs: pretraining epochs.
    batch_size, learning_rate: the workshop's Adam 1e-3 and batches of 128 in every phase but
        SimCLR's, which uses `simclr_batch_size` (its negatives come from the batch).
    """

    name: str
    labelled_per_class: int = 500
    test_per_class: int = 500
    unlabelled: int | None = None
    epochs: int = 15
    rotation_epochs: int = 15
    simclr_epochs: int = 15
    batch_size: int = 128
    simclr_batch_size: int = 256
    learning_rate: float = 1e-3


BUDGETS = {
    # The workshop's protocol: 50,000 / 5,000 / 5,000 images, 15 epochs per phase. SimCLR is not
    # a workshop row: 30 epochs (about 20-30 s each on 2 cores with the workshop's backbone).
    "full": Budget("full", simclr_epochs=30),
    # A few minutes on a 2-core CPU, for CI: every row and every file, smaller and shorter.
    "quick": Budget(
        "quick",
        labelled_per_class=100,
        test_per_class=100,
        unlabelled=5000,
        epochs=5,
        rotation_epochs=4,
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
    simclr_epochs=1,
    batch_size=16,
    simclr_batch_size=16,
)
"""A seconds-long budget for the project's unit tests (not on the command line)."""


@dataclasses.dataclass(frozen=True)
class Options:
    """How the pretraining runs (recorded in results.json; the defaults are the course's recipe).

    rotation_batches: "groups" (default) puts all four rotations of an image in the same batch,
        as Gidaris et al. do (lab 2's `rotation_batch` on batch_size / 4 images); "shuffled" uses
        lab 2's `make_rotation_dataset`, where the 4N (image, k) pairs are shuffled
        independently.
    schedule: the pretraining learning rate: "constant" (default) keeps the workshop's Adam 1e-3;
        "cosine" decays it to 0 over the pretraining (RotNet and SimCLR both decay theirs; on
        this backbone it did not help the rotation row: docs/results.md). Labelled phases keep
        the workshop's constant 1e-3 in every row, so the rows stay comparable.
    widths: None uses lab 1's `build_backbone` (the workshop's 6,256 parameters); a tuple such as
        (32, 64, 128) uses `course.models.build_wide_backbone(widths)` (VGG blocks) for every row
        instead.
    rotation_head: "linear" (default) uses lab 2's `build_rotation_model` (one Dense layer on the
        backbone); "mlp" attaches the rotation classifier behind a hidden layer
        (Dense(256) -> ReLU -> Dense(4)), so that the last backbone block need not become
        rotation-specific (RotNet's lesson on where the head attaches).
    rotation_flips: (default True) flips each image left-right with probability 1/2 before
        rotating it, in "groups" batches (the standard CIFAR-10 augmentation, as in lab 1's
        pipeline; a left-right
        flip does not change which way is up, so the rotation label stays right).
    init: "keras" (default) keeps Keras' defaults (Glorot-uniform kernels, zero biases,
        BatchNormalization momentum 0.99), which reproduce the workshop's table best;
        "pytorch" gives every freshly built Conv2D and Dense layer PyTorch's default
        initialisation and every BatchNormalization PyTorch's momentum (0.1, Keras' 0.9), the
        defaults of the workshop's framework: every row rises, the baselines most
        (docs/results.md).
    bn_momentum: overrides the BatchNormalization momentum of every phase of every row.
    simclr_epochs: overrides the budget's SimCLR pretraining epochs.
    temperature: NT-Xent's temperature (0.5, the paper's CIFAR-10 value).
    seed: the base of every seed.
    strategy: "default" (one device), "mirrored" (`tf.distribute.MirroredStrategy` over every
        GPU of the machine, or its logical CPUs where it has no GPU) or "multiworker"
        (`MultiWorkerMirroredStrategy`, the machines of the TF_CONFIG environment variable).
        Every batch size stays the global one, split across the replicas, so each update sees as
        many examples as on one device and the learning rate stays the workshop's 1e-3
        (docs/benchmarks.md, "More than one device").
    """

    rotation_batches: str = "groups"
    schedule: str = "constant"
    widths: tuple[int, ...] | None = None
    rotation_head: str = "linear"
    rotation_flips: bool = True
    init: str = "keras"
    bn_momentum: float | None = None
    simclr_epochs: int | None = None
    temperature: float = 0.5
    seed: int = 0
    strategy: str = "default"


STRATEGIES = ("default", "mirrored", "multiworker")


def distribution_strategy(name: str):
    """The `tf.distribute.Strategy` that `Options.strategy` names."""
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ExperimentError(f"strategy must be one of {', '.join(STRATEGIES)}, got {name!r}")


def experiment_command(
    name: str, data: str, budget: str, impl: str, out: str, options: Options = Options()
) -> str:
    """The `course experiment` command line that reproduces a run."""
    words = [
        "course",
        "experiment",
        name,
        "--data",
        str(data),
        "--budget",
        budget,
        "--impl",
        str(impl),
        "--out",
        str(out),
    ]
    default = Options()
    # The pretraining recipe is always spelled out, so that the command still reproduces the run
    # if a default changes.
    rows = set(ROWS.get(name, ()))
    if rows & {"rotation", "rotation-linear"}:
        words += [
            "--rotation-batches",
            options.rotation_batches,
            "--rotation-head",
            options.rotation_head,
            "--rotation-flips" if options.rotation_flips else "--no-rotation-flips",
        ]
    if rows & {"rotation", "rotation-linear", "simclr", "simclr-linear"}:
        words += ["--schedule", options.schedule]
    if options.widths is not None:
        words += ["--widths", ",".join(str(w) for w in options.widths)]
    words += ["--init", options.init]
    if options.bn_momentum is not None:
        words += ["--bn-momentum", str(options.bn_momentum)]
    if options.simclr_epochs is not None:
        words += ["--simclr-epochs", str(options.simclr_epochs)]
    if options.temperature != default.temperature:
        words += ["--temperature", str(options.temperature)]
    if options.seed != default.seed:
        words += ["--seed", str(options.seed)]
    if options.strategy != default.strategy:
        words += ["--strategy", options.strategy]
    return shlex.join(words)


# --- the implementation's labs ------------------------------------------------------------------


class Lab:
    """A lab module whose functions raise `ImplementationError` naming the function to write.

    A missing function, or one that raises `NotImplementedError` (a stub), becomes a one-line
    `ImplementationError` that says which function of which file to implement.
    """

    def __init__(self, impl: str, lab: str):
        self.lab = lab
        self.module: ModuleType = load_lab(impl, lab)
        self.path = Path(self.module.__file__)

    def __getattr__(self, name: str) -> Callable:
        if name.startswith("_"):
            raise AttributeError(name)
        registry.LABS[self.lab].exercise(name)  # the course's own typo, not the student's
        function = getattr(self.module, name, None)
        if not callable(function):
            raise ImplementationError(
                f"{self.path} has no function {name}(); write it (see the course spec, "
                f"{self.lab}), then run `course check {self.lab}`"
            )

        @functools.wraps(function)
        def call(*args, **kwargs):
            with self.calling(name):
                return function(*args, **kwargs)

        return call

    def raw(self, name: str) -> Callable:
        """The lab's own function, unwrapped, for tf.function and tf.data to trace.

        (AutoGraph caches converted functions by their code, so the wrappers that `__getattr__`
        makes, all with the same code, must not be traced; wrap the traced call in `calling`.)
        """
        getattr(self, name)  # ImplementationError when missing
        return getattr(self.module, name)

    @contextlib.contextmanager
    def calling(self, name: str):
        """Turns a NotImplementedError raised inside into an ImplementationError naming the
        stub."""
        try:
            yield
        except NotImplementedError as error:
            stub = self._stub_name(error) or name
            raise ImplementationError(
                f"{self.path.name}: {stub}() is not implemented yet (it raises "
                f"NotImplementedError); implement it in {self.path}, then run "
                f"`course check {self.lab}`"
            ) from None

    def _stub_name(self, error: BaseException) -> str | None:
        """The innermost function of this lab in the error's traceback: the stub itself."""
        found = None
        for frame, _ in traceback.walk_tb(error.__traceback__):
            converted = frame.f_code.co_name.startswith("tf__")  # autograph's copy of a function
            name = frame.f_code.co_name.removeprefix("tf__")
            function = getattr(self.module, name, None)
            code = getattr(function, "__code__", None)
            if code is not None and (frame.f_code is code or converted):
                found = name
        return found


def _load_labs(impl: str, rows: Sequence[str]) -> dict[str, Lab]:
    needed = sorted({lab for row in rows for lab in _ROW_LABS[row]})
    labs = {lab: Lab(impl, lab) for lab in needed}
    for lab in needed:
        for exercise in registry.LABS[lab].exercises:
            getattr(labs[lab], exercise.name)  # raises ImplementationError when missing
    return labs


def _preflight(labs: Mapping[str, Lab], rows: Sequence[str], options: Options) -> None:
    """Calls every lab function the rows need on a few tiny images, before any long training.

    A stub or missing function fails here in a second, not after minutes of training.
    """
    import keras
    import tensorflow as tf

    images = np.zeros((4, 32, 32, 3), np.uint8)
    labels = np.arange(4, dtype=np.int64)
    if "lab1" in labs:
        lab1 = labs["lab1"]
        lab1.standardize(images)
        next(iter(lab1.make_pipeline(images, labels, batch_size=2, training=True, seed=0)))
        backbone = lab1.build_backbone()
        lab1.build_classifier(backbone, len(CLASS_NAMES))
    if "lab2" in labs:
        lab2 = labs["lab2"]
        lab2.rotation_batch(images)
        if options.rotation_batches == "shuffled":
            next(iter(lab2.make_rotation_dataset(images, batch_size=4, seed=0)))
        lab2.build_rotation_model(labs["lab1"].build_backbone())
        lab2.transfer(labs["lab1"].build_backbone(), len(CLASS_NAMES), freeze_backbone=True)
    if "lab4" in labs:
        lab4 = labs["lab4"]
        floats = tf.random.stateless_uniform((4, 32, 32, 3), [0, 0])
        lab4.augment(floats, 0)
        backbone = labs["lab1"].build_backbone()
        head = lab4.build_projection_head(int(backbone.output_shape[-1]))
        lab4.contrastive_step(backbone, head, keras.optimizers.SGD(0.0), floats, 0)


# --- training ----------------------------------------------------------------------------------


def _set_seed(options: Options, phase: str) -> int:
    import keras

    seed = 1000 * options.seed + _SEEDS[phase]
    keras.utils.set_random_seed(seed)
    return seed


def _keras_verbose() -> int:
    return (
        1 if sys.stdout.isatty() else 2
    )  # a progress bar on a terminal, a line per epoch in logs


@dataclasses.dataclass
class _Pretrained:
    weights: list
    seconds: float
    history: dict[str, list[float]]
    epochs: int


class _Runner:
    """Trains the rows of one experiment; shared phases (rows, pretraining) run once."""

    def __init__(
        self,
        split,
        budget: Budget,
        labs: Mapping[str, Lab],
        options: Options,
        out: Path,
        log: Callable[[str], None],
    ):
        self.split, self.budget, self.labs, self.options, self.out = (
            split,
            budget,
            labs,
            options,
            out,
        )
        self.log = log
        self.rows: dict[str, dict] = {}
        self.histories: dict[str, dict] = {}  # labelled phases, for the training curves
        self.predictions: dict[
            str, np.ndarray
        ] = {}  # their test predictions, for a confusion matrix
        self.pretraining: dict[str, dict] = {}  # pretext phases, for results.json
        self.figures: list[str] = []
        self._pretrained: dict[str, _Pretrained] = {}
        self._test_ds = None
        self._configured = weakref.WeakSet()  # layers already initialised by `configure`

    # helpers

    @property
    def num_classes(self) -> int:
        return len(CLASS_NAMES)

    def new_backbone(self):
        if self.options.widths is None:
            backbone = self.labs["lab1"].build_backbone()
        else:
            from course.models import build_wide_backbone

            backbone = build_wide_backbone(widths=self.options.widths)
        self.configure(backbone)
        return backbone

    def configure(self, model) -> None:
        """Applies `Options.init` and `Options.bn_momentum` to `model`. Each Conv2D or Dense layer
        is initialised once, when first seen, so that a pretrained backbone keeps its weights."""
        import keras

        from course.models import pytorch_init

        pytorch = self.options.init == "pytorch"
        momentum = self.options.bn_momentum or (0.9 if pytorch else None)
        for layer in model._flatten_layers(include_self=True, recursive=True):
            if isinstance(layer, keras.layers.BatchNormalization) and momentum is not None:
                layer.momentum = float(momentum)
            elif (
                isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))
                and layer not in self._configured
            ):
                self._configured.add(layer)
                if pytorch:
                    pytorch_init(layer)

    def test_ds(self):
        if self._test_ds is None:
            self._test_ds = self.labs["lab1"].make_pipeline(
                self.split.test_images,
                self.split.test_labels,
                batch_size=self.budget.batch_size,
                training=False,
            )
        return self._test_ds

    def pretrain_schedule(self, steps: int):
        import keras

        if self.options.schedule == "cosine":
            return keras.optimizers.schedules.CosineDecay(
                self.budget.learning_rate, decay_steps=max(1, steps)
            )
        return self.budget.learning_rate

    def figure(self, path: Path) -> None:
        self.figures.append(path.name)

    def add_row(
        self,
        method: str,
        result,
        pretraining_images: int,
        labelled_images: int,
        seconds: float,
        epochs: int,
    ) -> None:
        row = {
            "method": method,
            "pretraining_images": int(pretraining_images),
            "labelled_images": int(labelled_images),
            "test_images": int(len(self.split.test_labels)),
            "accuracy": round(float(result.best_accuracy), 2),
            "final_accuracy": round(float(result.final_accuracy), 2),
            "seconds": round(float(seconds), 1),
            "seconds_per_epoch": round(float(result.seconds_per_epoch), 2),
            "epochs": int(epochs),
            "best_epoch": int(result.best_epoch),
        }
        self.rows[method] = row
        self.histories[method] = result.history
        self.log(
            f"row {method}: accuracy {row['accuracy']:.2f}% (best epoch {row['best_epoch']} "
            f"of {epochs}), final_accuracy {row['final_accuracy']:.2f}%, "
            f"{row['seconds']:.0f} s"
        )

    def fit(self, model, images, labels, phase: str):
        """Trains `model` on the labelled images; keeps its test predictions for the confusion
        matrix of the best row."""
        from course.train import compile_classifier, fit_and_evaluate

        seed = _set_seed(self.options, phase)
        self.configure(model)
        train_ds = self.labs["lab1"].make_pipeline(
            images, labels, batch_size=self.budget.batch_size, training=True, seed=seed
        )
        compile_classifier(model, self.budget.learning_rate)
        result = fit_and_evaluate(
            model, train_ds, self.test_ds(), self.budget.epochs, verbose=_keras_verbose()
        )
        logits = model.predict(self.test_ds().map(lambda x, y: x), verbose=0)
        self.predictions[phase] = np.argmax(logits, axis=-1)
        return result

    # rows

    def run(self, method: str) -> None:
        if method in self.rows:
            return
        self.log(f"--- {method}: {DESCRIPTIONS[method]}")
        getattr(self, "row_" + method.replace("-", "_"))()

    def row_random(self) -> None:
        chance = 100.0 / self.num_classes
        self.rows["random"] = {
            "method": "random",
            "pretraining_images": 0,
            "labelled_images": 0,
            "test_images": int(len(self.split.test_labels)),
            "accuracy": round(chance, 2),
            "final_accuracy": round(chance, 2),
            "seconds": 0.0,
            "seconds_per_epoch": 0.0,
            "epochs": 0,
            "best_epoch": 0,
        }
        self.log(
            f"row random: accuracy {chance:.2f}% (uniform guessing over "
            f"{self.num_classes} classes)"
        )

    def _supervised(self, method: str, images, labels) -> None:
        _set_seed(self.options, method)
        backbone = self.new_backbone()
        model = self.labs["lab1"].build_classifier(backbone, self.num_classes)
        result = self.fit(model, images, labels, method)
        self.add_row(method, result, 0, len(labels), result.seconds, self.budget.epochs)
        if method == "supervised":
            self.neighbours(
                backbone,
                "neighbours_supervised.png",
                f"supervised backbone ({len(labels):,} labels)",
            )

    def row_supervised(self) -> None:
        self._supervised("supervised", self.split.labelled_images, self.split.labelled_labels)

    def row_supervised_all(self) -> None:
        self._supervised("supervised-all", self.split.all_images, self.split.all_labels)

    def _transfer_row(self, method: str, pretext: str, freeze: bool) -> None:
        pretrained = self.pretrain(pretext)
        _set_seed(self.options, method)
        backbone = self.new_backbone()
        backbone.set_weights(pretrained.weights)
        model = self.labs["lab2"].transfer(backbone, self.num_classes, freeze_backbone=freeze)
        result = self.fit(model, self.split.labelled_images, self.split.labelled_labels, method)
        self.add_row(
            method,
            result,
            len(self.split.unlabelled_images),
            len(self.split.labelled_labels),
            pretrained.seconds + result.seconds,
            self.budget.epochs,
        )

    def row_rotation(self) -> None:
        self._transfer_row("rotation", "rotation", freeze=False)

    def row_rotation_linear(self) -> None:
        self._transfer_row("rotation-linear", "rotation", freeze=True)

    def row_simclr(self) -> None:
        self._transfer_row("simclr", "simclr", freeze=False)

    def row_simclr_linear(self) -> None:
        self._transfer_row("simclr-linear", "simclr", freeze=True)

    # pretraining

    def pretrain(self, pretext: str) -> _Pretrained:
        if pretext not in self._pretrained:
            self.log(
                f"--- {pretext} pretraining on {len(self.split.unlabelled_images)} "
                "unlabelled images"
            )
            self._pretrained[pretext] = getattr(self, "pretrain_" + pretext)()
            done = self._pretrained[pretext]
            self.pretraining[pretext]["seconds"] = round(done.seconds, 1)
            self.log(f"{pretext} pretraining: {done.epochs} epochs in {done.seconds:.0f} s")
        return self._pretrained[pretext]

    def rotation_dataset(self, seed: int):
        import tensorflow as tf

        lab1, lab2 = self.labs["lab1"], self.labs["lab2"]
        images = self.split.unlabelled_images
        if self.options.rotation_batches == "shuffled":
            return lab2.make_rotation_dataset(images, batch_size=self.budget.batch_size, seed=seed)
        # "groups": batch_size / 4 images per batch, each in its four rotations (Gidaris et al.).
        # Indices go through the shuffle, images are gathered a batch at a time.
        images = tf.convert_to_tensor(images)
        group = max(1, self.budget.batch_size // 4)
        rotation_batch, standardize = lab2.raw("rotation_batch"), lab1.raw("standardize")

        flips = self.options.rotation_flips

        def load(indices, flip_seed):
            x = tf.gather(images, indices)
            if flips:  # each image flips with its own coin, a new draw per batch and epoch
                x = tf.image.stateless_random_flip_left_right(x, flip_seed)
            x, k = rotation_batch(x)
            return standardize(x), tf.cast(k, tf.int32)

        dataset = tf.data.Dataset.range(len(self.split.unlabelled_images))
        dataset = dataset.shuffle(
            len(self.split.unlabelled_images), seed=seed, reshuffle_each_iteration=True
        )
        flip_seeds = tf.data.Dataset.random(seed=seed + 1, rerandomize_each_iteration=True).batch(
            2
        )
        dataset = tf.data.Dataset.zip(dataset.batch(group), flip_seeds)
        with lab2.calling("rotation_batch"), lab1.calling("standardize"):
            dataset = dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE)
        return dataset.prefetch(tf.data.AUTOTUNE)

    def pretrain_rotation(self) -> _Pretrained:
        from course.train import EpochTimer, compile_classifier

        seed = _set_seed(self.options, "rotation-pretraining")
        backbone = self.new_backbone()
        before = [w.copy() for w in backbone.get_weights()]
        if self.options.rotation_head == "mlp":
            import keras

            inputs = keras.Input(backbone.input_shape[1:])
            hidden = keras.layers.Dense(256, activation="relu", name="rotation_hidden")(
                backbone(inputs)
            )
            outputs = keras.layers.Dense(4, name="rotation_logits")(hidden)
            model = keras.Model(inputs, outputs, name="rotation_model_mlp")
        else:
            model = self.labs["lab2"].build_rotation_model(backbone)
        self.configure(model)
        dataset = self.rotation_dataset(seed)
        epochs = self.budget.rotation_epochs
        examples = 4 * len(self.split.unlabelled_images)
        if self.options.rotation_batches == "groups":
            steps = math.ceil(
                len(self.split.unlabelled_images) / max(1, self.budget.batch_size // 4)
            )
        else:
            steps = math.ceil(examples / self.budget.batch_size)
        compile_classifier(model, self.pretrain_schedule(steps * epochs))
        start, timer = time.perf_counter(), EpochTimer()
        history = model.fit(
            dataset, epochs=epochs, shuffle=False, verbose=_keras_verbose(), callbacks=[timer]
        )
        seconds = time.perf_counter() - start
        after = backbone.get_weights()
        if all(np.array_equal(a, b) for a, b in zip(before, after, strict=False)):
            raise ImplementationError(
                f"{self.labs['lab2'].path.name}: pretraining the model of build_rotation_model() "
                "left the backbone's weights unchanged; build it by calling the backbone it "
                "receives (backbone(inputs)), so that pretraining trains it"
            )
        curves = {k: [float(v) for v in history.history.get(k, [])] for k in ("loss", "accuracy")}
        self.pretraining["rotation"] = {
            "epochs": epochs,
            "examples_per_epoch": examples,
            "seconds_per_epoch": round(timer.median, 2),
            "batches": self.options.rotation_batches,
            "schedule": self.options.schedule,
            "head": self.options.rotation_head,
            "flips": self.options.rotation_flips,
            "loss": curves["loss"],
            "accuracy": curves["accuracy"],
        }
        path = self.out / "rotation_pretraining.png"
        from course import plots

        plots.loss_curve(
            curves["loss"],
            path,
            title=f"rotation pretraining: {epochs} epochs of {examples:,} rotated images",
            ylabel="rotation cross-entropy",
            extra={"rotation accuracy": curves["accuracy"]},
            chance=math.log(4),
            extra_chance=0.25,
        )
        self.figure(path)
        self.rotation_figure()
        self.neighbours(
            backbone,
            "neighbours_rotation.png",
            f"rotation-pretrained backbone ({examples // 4:,} images, no labels)",
        )
        return _Pretrained([w.copy() for w in after], seconds, curves, epochs)

    def pretrain_simclr(self) -> _Pretrained:
        import keras
        import tensorflow as tf

        lab4 = self.labs["lab4"]
        seed = _set_seed(self.options, "simclr-pretraining")
        backbone = self.new_backbone()
        before = [w.copy() for w in backbone.get_weights()]
        # contrastive_step feeds augmented float images in [0, 1]; the backbone expects images
        # standardized like lab 1's pipeline does, so the encoder first applies lab 1's own
        # standardize (a student's bug there shows here too).
        standardize = self.labs["lab1"].raw("standardize")

        class Standardize(keras.layers.Layer):
            def call(self, images):
                return standardize(images)

        inputs = keras.Input(self.split.unlabelled_images.shape[1:])
        standardized = Standardize(name="lab1_standardize")(inputs)
        encoder = keras.Model(inputs, backbone(standardized), name="simclr_encoder")
        self.configure(encoder)
        head = lab4.build_projection_head(int(backbone.output_shape[-1]))
        self.configure(head)
        epochs = self.options.simclr_epochs or self.budget.simclr_epochs
        images = self.split.unlabelled_images
        batch = min(self.budget.simclr_batch_size, len(images))
        steps = len(images) // batch
        optimizer = keras.optimizers.Adam(self.pretrain_schedule(steps * epochs))
        step = lab4.raw("contrastive_step")
        pixels = tf.convert_to_tensor(images)
        dataset = (
            tf.data.Dataset.range(len(images))
            .shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
            .batch(batch, drop_remainder=True)
            .map(
                lambda i: tf.image.convert_image_dtype(tf.gather(pixels, i), tf.float32),
                num_parallel_calls=tf.data.AUTOTUNE,
            )
            .prefetch(tf.data.AUTOTUNE)
        )
        temperature = float(self.options.temperature)
        # One step per replica on its share of the batch (with the default strategy: the step),
        # in one graph; the optimizer's variables exist before, mirrored like the model's.
        strategy = tf.distribute.get_strategy()
        batches = strategy.experimental_distribute_dataset(dataset)
        optimizer.build(encoder.trainable_variables + head.trainable_variables)

        @tf.function
        def distributed_step(x, step_seed):
            losses = strategy.run(step, args=(encoder, head, optimizer, x, step_seed, temperature))
            return strategy.reduce(tf.distribute.ReduceOp.MEAN, losses, axis=None)

        epoch_losses, step_losses, epoch_seconds = [], [], []
        start = time.perf_counter()
        for epoch in range(epochs):
            epoch_start = time.perf_counter()
            progress = keras.utils.Progbar(steps, verbose=1 if sys.stdout.isatty() else 0)
            losses = []
            for i, x in enumerate(batches):
                global_step = epoch * steps + i
                with lab4.calling("contrastive_step"):
                    loss = float(
                        distributed_step(x, tf.constant([seed, global_step], tf.int64))
                    )
                losses.append(loss)
                progress.update(i + 1, [("loss", loss)])
            epoch_seconds.append(time.perf_counter() - epoch_start)
            epoch_losses.append(float(np.mean(losses)))
            step_losses += losses
            self.log(
                f"simclr epoch {epoch + 1}/{epochs}: loss {epoch_losses[-1]:.4f}, "
                f"{time.perf_counter() - start:.0f} s"
            )
        seconds = time.perf_counter() - start
        after = backbone.get_weights()
        if all(np.array_equal(a, b) for a, b in zip(before, after, strict=False)):
            raise ImplementationError(
                f"{lab4.path.name}: contrastive_step() left the encoder's weights unchanged; "
                "apply the gradients to encoder.trainable_variables too"
            )
        self.pretraining["simclr"] = {
            "epochs": epochs,
            "batch_size": batch,
            "steps_per_epoch": steps,
            "examples_per_epoch": steps * batch,
            "seconds_per_epoch": round(float(np.median(epoch_seconds)), 2),
            "temperature": temperature,
            "schedule": self.options.schedule,
            "loss": epoch_losses,
            "step_loss": [round(v, 4) for v in step_losses],
        }
        from course import plots

        path = self.out / "simclr_loss.png"
        plots.loss_curve(
            step_losses,
            path,
            xlabel="step",
            ylabel="NT-Xent loss",
            title=f"SimCLR pretraining: {epochs} epochs of {steps} steps, batch {batch}",
            # Embeddings that tell nothing apart: each anchor's partner is one of 2B - 1 alike.
            chance=math.log(2 * batch - 1),
        )
        self.figure(path)
        self.views_figure()
        self.neighbours(
            backbone,
            "neighbours_simclr.png",
            f"SimCLR-pretrained backbone ({steps * batch:,} images an epoch, no labels)",
        )
        return _Pretrained([w.copy() for w in after], seconds, {"loss": epoch_losses}, epochs)

    # figures

    def examples(self, count: int):
        """One test image of each of the first `count` classes."""
        labels = self.split.test_labels
        index = [
            int(np.flatnonzero(labels == c)[0])
            for c in range(self.num_classes)
            if np.any(labels == c)
        ][:count]
        return self.split.test_images[index], [CLASS_NAMES[int(labels[i])] for i in index]

    def rotation_figure(self) -> None:
        """Three test images as the implementation's `rotate` turns them: a wrong one shows."""
        from course import plots

        images, names = self.examples(3)
        rotate = self.labs["lab2"].rotate
        rotated = np.stack([np.asarray(rotate(images, k)) for k in range(4)], axis=1)
        path = self.out / "rotation_examples.png"
        plots.rotation_examples(
            rotated, path, names, title=f"{self.labs['lab2'].path.name}: rotate(images, k)"
        )
        self.figure(path)

    def views_figure(self) -> None:
        import tensorflow as tf

        from course import plots

        images, names = self.examples(6)
        floats = tf.image.convert_image_dtype(images, tf.float32)
        lab4 = self.labs["lab4"]
        view1 = np.asarray(lab4.augment(floats, [self.options.seed, 1]))
        view2 = np.asarray(lab4.augment(floats, [self.options.seed, 2]))
        path = self.out / "simclr_views.png"
        plots.augmentation_grid(images, view1, view2, path, names)
        self.figure(path)

    def neighbours(self, backbone, name: str, title: str, queries: int = 6, k: int = 5) -> None:
        """For one test image of each of the first `queries` classes, the `k` labelled training
        images closest to it (cosine similarity) in `backbone`'s features."""
        from course import plots

        lab1 = self.labs["lab1"]
        images, labels = self.split.labelled_images, self.split.labelled_labels
        pool = lab1.make_pipeline(
            images, labels, batch_size=self.budget.batch_size, training=False
        )
        features = backbone.predict(pool.map(lambda x, y: x), verbose=0).reshape(len(images), -1)
        query_images, query_names = self.examples(queries)
        query_features = backbone.predict(np.asarray(lab1.standardize(query_images)), verbose=0)
        features = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
        query_features = query_features.reshape(len(query_images), -1)
        query_features /= np.maximum(np.linalg.norm(query_features, axis=1, keepdims=True), 1e-12)
        closest = np.argsort(-(query_features @ features.T), axis=1)[:, :k]
        path = self.out / name
        plots.nearest_neighbours(
            query_images,
            query_names,
            images[closest],
            [[CLASS_NAMES[int(labels[i])] for i in row] for row in closest],
            path,
            title=f"nearest labelled training images in the features of the {title}",
        )
        self.figure(path)


# --- results files -----------------------------------------------------------------------------


def machine_description() -> str:
    """'2-core CPU, 24 GiB, no GPU (Linux x86_64, Python 3.11, TensorFlow 2.21.0)'."""
    try:
        with open("/proc/meminfo") as f:
            kib = int(f.readline().split()[1])
        memory = f", {kib / 2**20:.0f} GiB"
    except (OSError, ValueError, IndexError):
        memory = ""
    try:
        import tensorflow as tf

        gpus = len(tf.config.list_physical_devices("GPU"))
        version = f", TensorFlow {tf.__version__}"
    except Exception:  # noqa: BLE001 - a description, never a reason to fail
        gpus, version = 0, ""
    gpu = f"{gpus} GPU" if gpus else "no GPU"
    return (
        f"{os.cpu_count()}-core CPU{memory}, {gpu} ({platform.system()} "
        f"{platform.machine()}, Python {platform.python_version()}{version})"
    )


def results_markdown(results: Mapping[str, Any]) -> str:
    """The table of results.md, with how it was made."""
    lines = [
        f"# course experiment {results['experiment']} ({results['budget']} budget)",
        "",
        (
            "| method | training | pretraining images | labelled images | test images "
            "| accuracy % (best epoch) | final_accuracy % (last epoch) | seconds |"
        ),
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in results["rows"]:
        dash = lambda n: str(n) if n else "-"  # noqa: E731
        lines.append(
            f"| {row['method']} | {DESCRIPTIONS.get(row['method'], row['method'])} "
            f"| {dash(row['pretraining_images'])} | {dash(row['labelled_images'])} "
            f"| {row['test_images']} | {row['accuracy']:.2f} | {row['final_accuracy']:.2f} "
            f"| {row['seconds']:.0f} |"
        )
    budget = results.get("budget_details", {})
    options = results.get("options", {})
    lines += [
        "",
        (
            "`accuracy` is the best epoch's test accuracy, as the workshop reports it; "
            "`final_accuracy` is the last epoch's (choosing the best epoch on the test split "
            "flatters every row). `random` is uniform guessing. `seconds` of a pretrained row "
            "include its pretraining, which the fine-tuned and the linear-probe rows share."
        ),
        "",
        f"- command: `{results['command']}`",
        f"- date: {results['date']}",
        f"- machine: {results['machine']}",
        f"- wall time: {results['wall_seconds'] / 60:.1f} min ({results['wall_seconds']:.0f} s)",
        f"- data: {results['data']}; implementation: {results['impl']}",
    ]
    if budget:
        methods = {row["method"] for row in results["rows"]}
        text = (
            f"- budget `{results['budget']}`: {budget['labelled_per_class']} labelled and "
            f"{budget['test_per_class']} test images per class, "
            f"{'all' if budget['unlabelled'] is None else budget['unlabelled']} training "
            f"images; Adam {budget['learning_rate']:g}, batch {budget['batch_size']}, "
            f"{budget['epochs']} epochs per labelled phase"
        )
        if methods & {"rotation", "rotation-linear"}:
            text += f", {budget['rotation_epochs']} rotation pretraining epochs"
        if methods & {"simclr", "simclr-linear"}:
            epochs = options.get("simclr_epochs") or budget["simclr_epochs"]
            text += f", {epochs} SimCLR pretraining epochs (batch {budget['simclr_batch_size']})"
        lines.append(text)
    if options:
        lines.append("- options: " + ", ".join(f"{k}={v}" for k, v in options.items()))
    for pretext, info in results.get("pretraining", {}).items():
        losses = info.get("loss", [])
        if losses:
            lines.append(
                f"- {pretext} pretraining: {info['epochs']} epochs, "
                f"{info.get('seconds', 0):.0f} s, loss {losses[0]:.4f} -> {losses[-1]:.4f}"
            )
    if results.get("figures"):
        lines += ["", "Figures: " + ", ".join(f"[{f}]({f})" for f in results["figures"])]
    return "\n".join(lines) + "\n"


def write_results(out: Path, results: Mapping[str, Any]) -> tuple[Path, Path]:
    """Writes DIR/results.json and DIR/results.md atomically; returns their paths."""
    out = Path(out)
    json_path, md_path = out / "results.json", out / "results.md"
    atomic_write(json_path, json.dumps(results, indent=2) + "\n")
    atomic_write(md_path, results_markdown(results))
    return json_path, md_path


# --- the experiment ----------------------------------------------------------------------------


def run_experiment(
    name: str,
    data: str | CIFAR10 = "tfds",
    budget: str | Budget = "quick",
    impl: str = "solutions",
    out: str | os.PathLike = "runs/experiment",
    options: Options = Options(),
    command: str | None = None,
    log: Callable[[str], None] = print,
) -> dict:
    """Trains and evaluates the rows of experiment `name`; writes and returns the results.

    data: a source for `load_cifar10` ("tfds" or a folder) or an already loaded `CIFAR10`.
    budget: "quick", "full" or a `Budget`.

    Raises:
        ExperimentError: an unknown experiment or budget, or one that needs lab 3.
        DataError: the data could not be loaded or split.
        ImplementationError: the implementation lacks a lab file or function, or a function
            is still a stub.
    """
    if name in ("context", "jigsaw"):
        raise ExperimentError(
            f"experiment {name!r} needs lab 3 (spatial context and jigsaw puzzles), which the "
            f"course does not have yet; the experiments are {', '.join(ROWS)}"
        )
    if name not in ROWS:
        raise ExperimentError(
            f"unknown experiment {name!r}; choose one of {', '.join(EXPERIMENTS)}"
        )
    if isinstance(budget, str):
        if budget not in BUDGETS:
            raise ExperimentError(f"unknown budget {budget!r}; choose one of {', '.join(BUDGETS)}")
        budget = BUDGETS[budget]
    if options.rotation_batches not in ("groups", "shuffled"):
        raise ExperimentError(
            f"rotation_batches must be 'groups' or 'shuffled', got {options.rotation_batches!r}"
        )
    if options.simclr_epochs is not None and options.simclr_epochs < 1:
        raise ExperimentError(f"simclr_epochs must be at least 1, got {options.simclr_epochs}")
    if options.rotation_head not in ("linear", "mlp"):
        raise ExperimentError(
            f"rotation_head must be 'linear' or 'mlp', got {options.rotation_head!r}"
        )
    if options.schedule not in ("cosine", "constant"):
        raise ExperimentError(f"schedule must be 'cosine' or 'constant', got {options.schedule!r}")
    if options.strategy not in STRATEGIES:
        raise ExperimentError(
            f"strategy must be one of {', '.join(STRATEGIES)}, got {options.strategy!r}"
        )
    out = Path(out)
    source = data.source if isinstance(data, CIFAR10) else str(data)
    if command is None:
        command = experiment_command(name, source, budget.name, impl, str(out), options)
    rows = ROWS[name]
    start = time.perf_counter()
    log(f"course experiment {name}: reproduce with\n  {command}")

    # The data first (a wrong path fails at once, before TensorFlow is even imported), then the
    # lab functions on tiny inputs (a stub fails in seconds, not after minutes of training).
    if not isinstance(data, CIFAR10):
        data = load_cifar10(data)
    split = workshop_split(
        data, budget.labelled_per_class, budget.test_per_class, budget.unlabelled
    )
    log(f"data: {split!r} from {data.source}")
    labs = _load_labs(impl, rows)
    _preflight(labs, rows, options)
    out.mkdir(parents=True, exist_ok=True)

    strategy = distribution_strategy(options.strategy)
    log(f"strategy: {options.strategy}, {strategy.num_replicas_in_sync} replica(s)")
    runner = _Runner(split, budget, labs, options, out, log)
    with strategy.scope():  # every model, optimizer and fit of the rows
        for method in rows:
            runner.run(method)

    from course import plots

    table = [runner.rows[m] for m in rows]
    path = out / "results.png"
    plots.results_bar_chart(
        table,
        path,
        workshop=WORKSHOP,
        title=f"course experiment {name} --budget {budget.name}: "
        f"{table[0]['test_images']:,} test images",
    )
    runner.figure(path)
    trained = [m for m in rows if m in runner.predictions]
    if trained:
        best = max(trained, key=lambda m: runner.rows[m]["accuracy"])
        path = out / "confusion.png"
        plots.confusion_matrix(
            runner.split.test_labels,
            runner.predictions[best],
            CLASS_NAMES,
            path,
            title=f"{best}, the best row: {runner.rows[best]['final_accuracy']:.1f}% after its "
            "last epoch",
        )
        runner.figure(path)
    curves = {m: runner.histories[m] for m in rows if m in runner.histories}
    if curves:
        path = out / "training_curves.png"
        plots.training_curves(
            curves, path, title="labelled phases: test accuracy and loss per epoch"
        )
        runner.figure(path)

    wall = time.perf_counter() - start
    results = {
        "experiment": name,
        "budget": budget.name,
        "data": source,
        "impl": impl,
        "rows": table,
        "command": command,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine_description(),
        "replicas": strategy.num_replicas_in_sync,
        "wall_seconds": round(wall, 1),
        "budget_details": dataclasses.asdict(budget),
        "options": {
            k: list(v) if isinstance(v, tuple) else v
            for k, v in dataclasses.asdict(options).items()
        },
        "pretraining": runner.pretraining,
        "figures": sorted(runner.figures),
    }
    json_path, md_path = write_results(out, results)
    log("")
    log(results_markdown(results))
    log(f"wrote {md_path}, {json_path} and {len(runner.figures)} figures in {out}")
    log(f"reproduce with: {command}")
    return results
