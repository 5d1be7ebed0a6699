"""Lab 4's pretext: SimCLR, telling two views of an image apart from every other view.

Trained with `fit` like every other phase: `course.train.ContrastivePretraining` is a
`keras.Model` whose `train_step` is the student's own `contrastive_step` (lab 4), as the lab's
notebook shows.
"""

from __future__ import annotations

import math
import time

import numpy as np

from course.experiments.labs import in_pipeline
from course.experiments.pretexts.base import Pretext, Pretrained, check_trained, keras_verbose


def preflight(labs, options) -> None:
    import keras
    import tensorflow as tf

    lab4 = labs["lab4"]
    floats = tf.random.stateless_uniform((4, 32, 32, 3), [0, 0])
    lab4.augment(floats, 0)
    backbone = labs["lab1"].build_backbone()
    head = lab4.build_projection_head(int(backbone.output_shape[-1]))
    lab4.contrastive_step(backbone, head, keras.optimizers.SGD(0.0), floats, 0)


def standardized_encoder(standardize, backbone):
    """The backbone behind lab 1's own `standardize`: contrastive_step feeds augmented float
    images in [0, 1], the backbone expects them standardized (a student's bug there shows
    here too)."""
    import keras

    class Standardize(keras.layers.Layer):
        def call(self, images):
            return standardize(images)

    inputs = keras.Input(backbone.input_shape[1:])
    standardized = Standardize(name="lab1_standardize")(inputs)
    return keras.Model(inputs, backbone(standardized), name="simclr_encoder")


def pretrain(runner) -> Pretrained:
    import keras

    from course.train import ContrastivePretraining, EpochTimer, StepLosses, image_batches

    lab4 = runner.labs["lab4"]
    seed = runner.seed(PRETEXT.seed)
    backbone = runner.new_backbone()
    before = backbone.get_weights()
    encoder = standardized_encoder(runner.labs["lab1"].raw("standardize"), backbone)
    runner.configure(encoder)
    head = lab4.build_projection_head(int(backbone.output_shape[-1]))
    runner.configure(head)
    epochs = runner.options.simclr_epochs or runner.budget.simclr_epochs
    images = runner.split.unlabelled_images
    batch = min(runner.budget.simclr_batch_size, len(images))
    steps = len(images) // batch
    dataset = image_batches(images, batch, seed)
    temperature = float(runner.options.temperature)
    model = ContrastivePretraining(encoder, head, lab4.raw("contrastive_step"), temperature, seed)
    model.compile(optimizer=keras.optimizers.Adam(runner.schedule(steps * epochs)))
    steps_seen, timer = StepLosses(), EpochTimer()
    start = time.perf_counter()
    with in_pipeline((lab4, "contrastive_step"), (runner.labs["lab1"], "standardize")):
        history = model.fit(
            dataset, epochs=epochs, verbose=keras_verbose(), callbacks=[timer, steps_seen]
        )
    epoch_losses, step_losses = history.history["loss"], steps_seen.losses
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
        "seconds_per_epoch": round(timer.median, 2),
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
