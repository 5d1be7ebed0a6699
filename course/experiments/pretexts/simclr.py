"""Lab 4's pretext: SimCLR, telling two views of an image apart from every other view.

A custom loop rather than `fit`: each step is the student's own `contrastive_step` (lab 4), run
as one `tf.function` per replica under the distribution strategy.
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np

from course.experiments.pretexts.base import Pretext, Pretrained, check_trained


def preflight(labs, options) -> None:
    import keras
    import tensorflow as tf

    lab4 = labs["lab4"]
    floats = tf.random.stateless_uniform((4, 32, 32, 3), [0, 0])
    lab4.augment(floats, 0)
    backbone = labs["lab1"].build_backbone()
    head = lab4.build_projection_head(int(backbone.output_shape[-1]))
    lab4.contrastive_step(backbone, head, keras.optimizers.SGD(0.0), floats, 0)


def standardized_encoder(runner, backbone):
    """The backbone behind lab 1's own `standardize`: contrastive_step feeds augmented float
    images in [0, 1], the backbone expects them standardized (a student's bug there shows
    here too)."""
    import keras

    standardize = runner.labs["lab1"].raw("standardize")

    class Standardize(keras.layers.Layer):
        def call(self, images):
            return standardize(images)

    inputs = keras.Input(runner.split.unlabelled_images.shape[1:])
    standardized = Standardize(name="lab1_standardize")(inputs)
    return keras.Model(inputs, backbone(standardized), name="simclr_encoder")


def pretrain(runner) -> Pretrained:
    import keras
    import tensorflow as tf

    lab4 = runner.labs["lab4"]
    seed = runner.seed(PRETEXT.seed)
    backbone = runner.new_backbone()
    before = backbone.get_weights()
    encoder = standardized_encoder(runner, backbone)
    runner.configure(encoder)
    head = lab4.build_projection_head(int(backbone.output_shape[-1]))
    runner.configure(head)
    epochs = runner.options.simclr_epochs or runner.budget.simclr_epochs
    images = runner.split.unlabelled_images
    batch = min(runner.budget.simclr_batch_size, len(images))
    steps = len(images) // batch
    optimizer = keras.optimizers.Adam(runner.schedule(steps * epochs))
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
    temperature = float(runner.options.temperature)
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
                loss = float(distributed_step(x, tf.constant([seed, global_step], tf.int64)))
            losses.append(loss)
            progress.update(i + 1, [("loss", loss)])
        epoch_seconds.append(time.perf_counter() - epoch_start)
        epoch_losses.append(float(np.mean(losses)))
        step_losses += losses
        runner.log(
            f"simclr epoch {epoch + 1}/{epochs}: loss {epoch_losses[-1]:.4f}, "
            f"{time.perf_counter() - start:.0f} s"
        )
    seconds = time.perf_counter() - start
    after = backbone.get_weights()
    check_trained(
        before,
        after,
        f"{lab4.path.name}: contrastive_step() left the encoder's weights unchanged; apply the"
        " gradients to encoder.trainable_variables too",
    )
    from course import plots

    plots.loss_curve(
        step_losses,
        runner.figure("simclr_loss.png"),
        xlabel="step",
        ylabel="NT-Xent loss",
        title=f"SimCLR pretraining: {epochs} epochs of {steps} steps, batch {batch}",
        # Embeddings that tell nothing apart: each anchor's partner is one of 2B - 1 alike.
        chance=math.log(2 * batch - 1),
    )
    views_figure(runner)
    runner.neighbours(
        backbone,
        "neighbours_simclr.png",
        f"SimCLR-pretrained backbone ({steps * batch:,} images an epoch, no labels)",
    )
    record = {
        "epochs": epochs,
        "batch_size": batch,
        "steps_per_epoch": steps,
        "examples_per_epoch": steps * batch,
        "seconds_per_epoch": round(float(np.median(epoch_seconds)), 2),
        "temperature": temperature,
        "schedule": runner.options.schedule,
        "loss": epoch_losses,
        "step_loss": [round(v, 4) for v in step_losses],
    }
    return Pretrained(after, seconds, record)


def views_figure(runner) -> None:
    """Six test images and two views of each, made by the implementation's `augment`."""
    import tensorflow as tf

    from course import plots

    images, names = runner.examples(6)
    floats = tf.image.convert_image_dtype(images, tf.float32)
    augment = runner.labs["lab4"].augment
    view1 = np.asarray(augment(floats, [runner.options.seed, 1]))
    view2 = np.asarray(augment(floats, [runner.options.seed, 2]))
    plots.augmentation_grid(images, view1, view2, runner.figure("simclr_views.png"), names)


PRETEXT = Pretext("simclr", "SimCLR pretraining", 6, preflight, pretrain)
