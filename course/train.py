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


class ContrastivePretraining(keras.Model):
    """SimCLR pretraining as `fit`, as keras.io's SimCLR and SimSiam examples do: each training
    step is lab 4's `contrastive_step` on one batch of float images `[B, H, W, C]` in [0, 1]
    (no labels).

    encoder: images -> features (the backbone to transfer, behind lab 1's `standardize`); head:
    features -> embeddings (lab 4's projection head); contrastive_step: lab 4's function, which
    draws two views, computes the NT-Xent loss and applies the gradients with this model's
    optimizer. Each step gets its own seed, `[seed, step]`, so every batch draws new views. Logs
    the epoch's mean loss ("loss") and the step's own ("step_loss").
    """

    def __init__(self, encoder, head, contrastive_step, temperature=0.5, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.head = encoder, head
        self.contrastive_step = contrastive_step
        self.temperature = float(temperature)
        self.base_seed = int(seed)
        self.loss_tracker = keras.metrics.Mean(name="loss")

    def compile(self, optimizer, **kwargs) -> None:
        # Not XLA (Keras' "auto" turns it on on a GPU): the student's augmentations may use ops
        # that XLA has no kernel for, such as tf.image.crop_and_resize.
        super().compile(optimizer=optimizer, jit_compile=False, **kwargs)

    @property
    def metrics(self) -> list:
        return [self.loss_tracker]

    def call(self, images, training=False):
        return self.head(self.encoder(images, training=training), training=training)

    def train_step(self, images):
        steps = tf.cast(self.optimizer.iterations, tf.int64)
        seed = tf.stack([tf.constant(self.base_seed, tf.int64), steps])
        loss = self.contrastive_step(
            self.encoder, self.head, self.optimizer, images, seed, self.temperature
        )
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result(), "step_loss": loss}


class StepLosses(keras.callbacks.Callback):
    """The "step_loss" of every training step, in order (for a loss curve per step)."""

    def __init__(self) -> None:
        super().__init__()
        self.losses: list[float] = []

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        self.losses.append(round(float(logs["step_loss"]), 4))


def image_batches(images, batch_size: int, seed: int = 0) -> tf.data.Dataset:
    """Unlabelled uint8 images `[N, H, W, C]` as shuffled batches of float images in [0, 1]
    (reshuffled each epoch, the last partial batch dropped: contrastive pairs need full batches),
    the input of `ContrastivePretraining.fit`."""
    pixels = tf.convert_to_tensor(images)
    return (
        tf.data.Dataset.range(len(images))
        .shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size, drop_remainder=True)
        .map(
            lambda i: tf.image.convert_image_dtype(tf.gather(pixels, i), tf.float32),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        .prefetch(tf.data.AUTOTUNE)
    )
