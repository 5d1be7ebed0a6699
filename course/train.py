"""Training and evaluation helpers shared by the experiments.

The workshop's protocol: Adam with learning rate 1e-3, cross-entropy on logits, a fixed number of
epochs, the test accuracy measured after every epoch, and the best epoch reported (we report the
last epoch's too, since picking the best epoch on the test split flatters every method).
"""

from __future__ import annotations

import dataclasses
import statistics
import time

import keras
import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """What one training run gives.

    best_accuracy, final_accuracy: test accuracy in percent of the best and of the last epoch.
    history: "loss", "accuracy", "val_loss", "val_accuracy", one float per epoch (accuracies as
        fractions, as Keras reports them; "val_" is the test split).
    seconds: wall-clock time of training and evaluation.
    seconds_per_epoch: the median wall time of one epoch's training, evaluation excluded.
    """

    best_accuracy: float
    final_accuracy: float
    history: dict[str, list[float]]
    seconds: float
    seconds_per_epoch: float

    @property
    def best_epoch(self) -> int:
        """The epoch (counted from 1) with the best test accuracy; the first one on ties."""
        accuracy = self.history["val_accuracy"]
        return accuracy.index(max(accuracy)) + 1


class EpochTimer(keras.callbacks.Callback):
    """The wall time of each epoch's training, up to its evaluation on the validation data."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []
        self._start: float | None = None

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self._start = time.perf_counter()

    def on_test_begin(self, logs=None) -> None:
        self._stop()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        self._stop()

    def _stop(self) -> None:
        if self._start is not None:  # evaluation outside fit has no epoch to stop
            self.seconds.append(time.perf_counter() - self._start)
            self._start = None

    @property
    def median(self) -> float:
        return float(statistics.median(self.seconds)) if self.seconds else 0.0


# Training steps per call of the compiled step: the same updates, fewer trips between Python
# and the graph (a 50,000-image epoch: 4.1 s against 5.4 s, docs/benchmarks.md).
STEPS_PER_EXECUTION = 16


def compile_classifier(model: keras.Model, learning_rate: float = 1e-3) -> keras.Model:
    """Compiles a model that outputs logits for integer labels; returns the model.

    Adam(learning_rate), SparseCategoricalCrossentropy(from_logits=True), accuracy.
    """
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        # Keras' loop of several steps per call fails under several replicas (tf.distribute).
        steps_per_execution=(
            STEPS_PER_EXECUTION if tf.distribute.get_strategy().num_replicas_in_sync == 1 else 1
        ),
    )
    return model


def fit_and_evaluate(
    model: keras.Model,
    train_ds: tf.data.Dataset,
    test_ds: tf.data.Dataset,
    epochs: int,
    verbose: str | int = "auto",
) -> TrainResult:
    """Trains a compiled classifier for `epochs`, evaluating on `test_ds` after each epoch.

    train_ds, test_ds: batches of (images, integer labels), e.g. from lab 1's `make_pipeline`.
    verbose: Keras' progress output ("auto", 0, 1 or 2).
    """
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    start, timer = time.perf_counter(), EpochTimer()
    # shuffle=False: a tf.data pipeline shuffles itself (Keras would only warn that it can't).
    history = model.fit(
        train_ds,
        validation_data=test_ds,
        epochs=epochs,
        shuffle=False,
        verbose=verbose,
        callbacks=[timer],
    )
    seconds = time.perf_counter() - start
    keys = ("loss", "accuracy", "val_loss", "val_accuracy")
    missing = [k for k in keys if k not in history.history]
    if missing:
        raise ValueError(
            f"training did not report {', '.join(missing)}: compile the model with "
            "compile_classifier and give a non-empty test_ds"
        )
    curves = {k: [float(v) for v in history.history[k]] for k in keys}
    accuracy = curves["val_accuracy"]
    return TrainResult(
        best_accuracy=100 * max(accuracy),
        final_accuracy=100 * accuracy[-1],
        history=curves,
        seconds=seconds,
        seconds_per_epoch=timer.median,
    )
