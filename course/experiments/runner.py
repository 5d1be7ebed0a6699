"""Trains and evaluates the rows of an experiment.

Training itself is the course's (`course.train`): Adam, cross-entropy, the test accuracy after
every epoch, and both the best epoch's accuracy (as the workshop reports it) and the last
epoch's. Every model and pipeline comes from the `--impl`'s labs: lab 1's `make_pipeline`,
`build_backbone` and `build_classifier` for every row, each pretext's own functions for its
pretraining (`course.experiments.pretexts`), lab 2's `transfer` for every pretrained row.

Seeds are fixed per phase (`keras.utils.set_random_seed`), so a row repeats itself, also across
experiments: `supervised` is the same number in `course experiment supervised` and `rotation`.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import time
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from course.data import CIFAR10, CLASS_NAMES, load_cifar10, workshop_split
from course.experiments import report
from course.experiments.labs import Lab, load_labs, preflight
from course.experiments.options import Budget, Options, experiment_command
from course.experiments.options import budget as budget_named
from course.experiments.pretexts import PRETEXTS, Pretrained
from course.experiments.pretexts.base import keras_verbose
from course.experiments.rows import Row, pretexts_of, rows_of


def distribution_strategy(name: str):
    """The `tf.distribute.Strategy` that `Options.strategy` names."""
    import tensorflow as tf

    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def backbone_variant(options: Options, lab1: Lab) -> Callable:
    """The factory of every row's backbone: lab 1's `build_backbone`, or the course's wide
    variant (`--widths`, course.models.build_wide_backbone), for any input shape."""
    if options.widths is None:
        return lambda input_shape: lab1.build_backbone(input_shape=input_shape)
    from course.models import build_wide_backbone

    return lambda input_shape: build_wide_backbone(options.widths, input_shape)


class Runner:
    """Trains the rows of one experiment; a pretraining shared by two rows runs once. What a
    pretext may use of it is listed in `course.experiments.pretexts.base`."""

    def __init__(
        self,
        split,
        budget: Budget,
        labs: Mapping[str, Lab],
        options: Options,
        out: Path,
        log: Callable[[str], None],
    ):
        self.split, self.budget, self.labs, self.options = split, budget, labs, options
        self.out, self.log = out, log
        self.rows: dict[str, dict] = {}
        self.histories: dict[str, dict] = {}  # labelled phases, for the training curves
        self.predictions: dict[
            str, np.ndarray
        ] = {}  # their test predictions, for a confusion matrix
        self.pretraining: dict[str, dict] = {}  # pretext phases, for results.json
        self.figures: list[str] = []
        self._pretrained: dict[str, Pretrained] = {}
        self._test_ds = None
        self._configured = weakref.WeakSet()  # layers already initialised by `configure`
        self._backbone = backbone_variant(options, labs["lab1"]) if "lab1" in labs else None

    # what the rows and the pretexts build on

    def seed(self, offset: int) -> int:
        import keras

        seed = 1000 * self.options.seed + offset
        keras.utils.set_random_seed(seed)
        return seed

    def new_backbone(self, input_shape: tuple[int, int, int] = (32, 32, 3)):
        backbone = self._backbone(input_shape)
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

    def recalibrate_batch_norm(self, backbone, batches: int = 50) -> None:
        """Re-estimates `backbone`'s BatchNormalization statistics on whole 32 x 32 images.

        A frozen backbone normalises with its moving means and variances: a patch encoder's were
        learnt on patches, an untrained backbone's are Keras' initial 0 and 1. Running it in
        training mode on unlabelled images, without any gradient step, replaces them (momentum
        0.9 for `batches` batches: the old statistics keep a weight of 0.9 ** 50 < 1%).
        """
        import keras

        norms = [
            layer
            for layer in backbone._flatten_layers(include_self=False, recursive=True)
            if isinstance(layer, keras.layers.BatchNormalization)
        ]
        momenta = [layer.momentum for layer in norms]
        for layer in norms:
            layer.momentum = 0.9
        images = self.split.unlabelled_images
        standardize = self.labs["lab1"].standardize
        rng = np.random.default_rng(self.options.seed)
        for _ in range(batches):
            batch = images[rng.choice(len(images), self.budget.batch_size)]
            backbone(standardize(batch), training=True)
        for layer, momentum in zip(norms, momenta, strict=True):
            layer.momentum = momentum

    def schedule(self, steps: int):
        import keras

        if self.options.schedule == "cosine":
            return keras.optimizers.schedules.CosineDecay(
                self.budget.learning_rate, decay_steps=max(1, steps)
            )
        return self.budget.learning_rate

    def figure(self, name: str) -> Path:
        self.figures.append(name)
        return self.out / name

    def examples(self, count: int):
        """One test image of each of the first `count` classes, and their class names."""
        labels = self.split.test_labels
        index = [
            int(np.flatnonzero(labels == c)[0])
            for c in range(len(CLASS_NAMES))
            if np.any(labels == c)
        ][:count]
        return self.split.test_images[index], [CLASS_NAMES[int(labels[i])] for i in index]

    def test_ds(self):
        if self._test_ds is None:
            self._test_ds = self.labs["lab1"].make_pipeline(
                self.split.test_images,
                self.split.test_labels,
                batch_size=self.budget.batch_size,
                training=False,
            )
        return self._test_ds

    # the rows

    def run(self, row: Row) -> None:
        self.log(f"--- {row.name}: {row.description}")
        if not row.trains:
            self.rows[row.name] = self._chance_row()
            return
        self.seed(row.seed)
        pretrained = None
        if row.pretext is None and not row.frozen:
            backbone = self.new_backbone()
            model = self.labs["lab1"].build_classifier(backbone, len(CLASS_NAMES))
        else:
            if row.pretext is not None:
                pretrained = self.pretrain(row.pretext)
                self.seed(row.seed)
            backbone = self.new_backbone()
            if pretrained is not None:
                backbone.set_weights(pretrained.weights)
            else:
                # The control: random features, normalised by their statistics on the images,
                # as lab 3's probes are (an untrained backbone's are 0 and 1).
                self.recalibrate_batch_norm(backbone)
            model = self.labs["lab2"].transfer(
                backbone, len(CLASS_NAMES), freeze_backbone=row.frozen
            )
        if row.all_labels:
            images, labels = self.split.all_images, self.split.all_labels
        else:
            images, labels = self.split.labelled_images, self.split.labelled_labels
        result = self.fit(model, images, labels, row)
        self.add_row(row, result, len(labels), pretrained)
        if row.name == "supervised":
            self.neighbours(
                backbone,
                "neighbours_supervised.png",
                f"supervised backbone ({len(labels):,} labels)",
            )

    def _chance_row(self) -> dict:
        chance = 100.0 / len(CLASS_NAMES)
        self.log(
            f"row random: accuracy {chance:.2f}% (uniform guessing over {len(CLASS_NAMES)}"
            " classes)"
        )
        return {
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

    def pretrain(self, name: str) -> Pretrained:
        if name not in self._pretrained:
            pretext = PRETEXTS[name]
            images = len(self.split.unlabelled_images)
            self.log(f"--- {pretext.title} on {images} unlabelled images")
            done = self._pretrained[name] = pretext.pretrain(self)
            self.pretraining[name] = {**done.record, "seconds": round(done.seconds, 1)}
            self.log(f"{pretext.title}: {done.record['epochs']} epochs in {done.seconds:.0f} s")
        return self._pretrained[name]

    def fit(self, model, images, labels, row: Row):
        """Trains `model` on labelled images; keeps its test predictions for the confusion
        matrix of the best row."""
        from course.train import compile_classifier, fit_and_evaluate

        seed = self.seed(row.seed)
        self.configure(model)
        train_ds = self.labs["lab1"].make_pipeline(
            images, labels, batch_size=self.budget.batch_size, training=True, seed=seed
        )
        compile_classifier(model, self.budget.learning_rate)
        result = fit_and_evaluate(
            model, train_ds, self.test_ds(), self.budget.epochs, verbose=keras_verbose()
        )
        logits = model.predict(self.test_ds().map(lambda x, y: x), verbose=0)
        self.predictions[row.name] = np.argmax(logits, axis=-1)
        return result

    def add_row(self, row: Row, result, labelled: int, pretrained: Pretrained | None) -> None:
        pretraining = len(self.split.unlabelled_images) if pretrained else 0
        seconds = result.seconds + (pretrained.seconds if pretrained else 0.0)
        self.rows[row.name] = entry = {
            "method": row.name,
            "pretraining_images": int(pretraining),
            "labelled_images": int(labelled),
            "test_images": int(len(self.split.test_labels)),
            "accuracy": round(float(result.best_accuracy), 2),
            "final_accuracy": round(float(result.final_accuracy), 2),
            "seconds": round(float(seconds), 1),
            "seconds_per_epoch": round(float(result.seconds_per_epoch), 2),
            "epochs": int(self.budget.epochs),
            "best_epoch": int(result.best_epoch),
        }
        self.histories[row.name] = result.history
        self.log(
            f"row {row.name}: accuracy {entry['accuracy']:.2f}% (best epoch {entry['best_epoch']} "
            f"of {entry['epochs']}), final_accuracy {entry['final_accuracy']:.2f}%, "
            f"{entry['seconds']:.0f} s"
        )

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
        plots.nearest_neighbours(
            query_images,
            query_names,
            images[closest],
            [[CLASS_NAMES[int(labels[i])] for i in row] for row in closest],
            self.figure(name),
            title=f"nearest labelled training images in the features of the {title}",
        )


def run_experiment(
    name: str,
    data: str | CIFAR10 = "tfds",
    budget: str | Budget = "quick",
    impl: str = "solutions",
    out: str | os.PathLike = "runs/experiment",
    options: Options | None = None,
    command: str | None = None,
    log: Callable[[str], None] = print,
) -> dict:
    """Trains and evaluates the rows of experiment `name`; writes and returns the results.

    data: a source for `load_cifar10` ("tfds" or a folder) or an already loaded `CIFAR10`.
    budget: "quick", "full" or a `Budget`.
    options: the recipe (None: the course's defaults, `Options()`).

    Raises:
        ExperimentError: an unknown experiment or budget.
        DataError: the data could not be loaded or split.
        ImplementationError: the implementation lacks a lab file or function, or a function
            is still a stub.
    """
    rows = rows_of(name)
    budget = budget_named(budget)
    options = options or Options()
    pretexts = pretexts_of(name)
    out = Path(out)
    source = data.source if isinstance(data, CIFAR10) else str(data)
    if command is None:
        command = experiment_command(name, source, budget.name, impl, str(out), options)
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
    labs = load_labs(impl, [lab for row in rows for lab in row.labs])
    if labs:
        preflight(labs)
    for pretext in pretexts:
        PRETEXTS[pretext].preflight(labs, options)
    out.mkdir(parents=True, exist_ok=True)

    strategy = distribution_strategy(options.strategy)
    log(f"strategy: {options.strategy}, {strategy.num_replicas_in_sync} replica(s)")
    runner = Runner(split, budget, labs, options, out, log)
    with strategy.scope():  # every model, optimizer and fit of the rows
        for row in rows:
            runner.run(row)
    report.table_figures(runner, name)

    results = {
        "experiment": name,
        "budget": budget.name,
        "data": source,
        "impl": impl,
        "rows": list(runner.rows.values()),
        "command": command,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": report.machine_description(),
        "replicas": strategy.num_replicas_in_sync,
        "wall_seconds": round(time.perf_counter() - start, 1),
        "budget_details": dataclasses.asdict(budget),
        "options": options.as_dict(),
        "pretraining": runner.pretraining,
        "figures": sorted(runner.figures),
    }
    json_path, md_path = report.write_results(out, results)
    log("")
    log(report.results_markdown(results))
    log(f"wrote {md_path}, {json_path} and {len(runner.figures)} figures in {out}")
    log(f"reproduce with: {command}")
    return results
