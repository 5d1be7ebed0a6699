"""Lab 2's pretext: which of four rotations turned the image (Gidaris et al., ICLR 2018).

The default recipe puts all four rotations of an image, flipped left-right at random, in the
same batch (lab 2's `rotation_batch` on batch_size / 4 images, as Gidaris et al. do), with the
workshop's constant Adam 1e-3; `--rotation-batches shuffled` uses lab 2's `make_rotation_dataset`
instead, and `--rotation-head mlp` the course's MLP head variant. docs/results.md compares them.
"""

from __future__ import annotations

import math

import numpy as np

from course.experiments.labs import in_pipeline
from course.experiments.pretexts.base import Pretext, Pretrained, check_trained, fit_classifier


def preflight(labs, options) -> None:
    images = np.zeros((4, 32, 32, 3), np.uint8)
    lab2 = labs["lab2"]
    lab2.rotation_batch(images)
    if options.rotation_batches == "shuffled":
        next(iter(lab2.make_rotation_dataset(images, batch_size=4, seed=0)))
    lab2.build_rotation_model(labs["lab1"].build_backbone())


def grouped_batches(runner, seed: int):
    """batch_size / 4 images a batch, each in its four rotations (lab 2's `rotation_batch`),
    standardized by lab 1's `standardize`. Indices go through the shuffle, images are gathered a
    batch at a time."""
    import tensorflow as tf

    lab1, lab2 = runner.labs["lab1"], runner.labs["lab2"]
    images = tf.convert_to_tensor(runner.split.unlabelled_images)
    rotation_batch, standardize = lab2.raw("rotation_batch"), lab1.raw("standardize")
    flips = runner.options.rotation_flips

    def load(indices, flip_seed):
        x = tf.gather(images, indices)
        if flips:  # each image flips with its own coin, a new draw per batch and epoch
            x = tf.image.stateless_random_flip_left_right(x, flip_seed)
        x, k = rotation_batch(x)
        return standardize(x), tf.cast(k, tf.int32)

    count = len(runner.split.unlabelled_images)
    dataset = tf.data.Dataset.range(count).shuffle(count, seed=seed, reshuffle_each_iteration=True)
    flip_seeds = tf.data.Dataset.random(seed=seed + 1, rerandomize_each_iteration=True).batch(2)
    dataset = tf.data.Dataset.zip(dataset.batch(max(1, runner.budget.batch_size // 4)), flip_seeds)
    with in_pipeline((lab2, "rotation_batch"), (lab1, "standardize")):
        dataset = dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def mlp_head_model(backbone):
    """The course's head variant (`--rotation-head mlp`): Dense(256) -> ReLU -> Dense(4) on the
    backbone, so that its last block need not become rotation-specific (RotNet's lesson on where
    the head attaches)."""
    import keras

    inputs = keras.Input(backbone.input_shape[1:])
    hidden = keras.layers.Dense(256, activation="relu", name="rotation_hidden")(backbone(inputs))
    outputs = keras.layers.Dense(4, name="rotation_logits")(hidden)
    return keras.Model(inputs, outputs, name="rotation_model_mlp")


def pretrain(runner) -> Pretrained:
    lab2, options = runner.labs["lab2"], runner.options
    seed = runner.seed(PRETEXT.seed)
    backbone = runner.new_backbone()
    before = backbone.get_weights()
    if options.rotation_head == "mlp":
        model = mlp_head_model(backbone)
    else:
        model = lab2.build_rotation_model(backbone)
    runner.configure(model)
    images = len(runner.split.unlabelled_images)
    if options.rotation_batches == "shuffled":
        batches = lab2.make_rotation_dataset(
            runner.split.unlabelled_images, batch_size=runner.budget.batch_size, seed=seed
        )
        steps = math.ceil(4 * images / runner.budget.batch_size)
    else:
        batches = grouped_batches(runner, seed)
        steps = math.ceil(images / max(1, runner.budget.batch_size // 4))
    seconds, record = fit_classifier(
        runner,
        "rotation",
        model,
        batches,
        runner.budget.rotation_epochs,
        steps,
        4,
        f"{4 * images:,} rotated images",
    )
    after = backbone.get_weights()
    check_trained(
        before,
        after,
        f"{lab2.path.name}: pretraining the model of build_rotation_model() left the backbone's"
        " weights unchanged; build it by calling the backbone it receives (backbone(inputs)),"
        " so that pretraining trains it",
    )
    record.update(
        examples_per_epoch=4 * images,
        batches=options.rotation_batches,
        head=options.rotation_head,
        flips=options.rotation_flips,
    )
    rotation_figure(runner)
    runner.neighbours(
        backbone,
        "neighbours_rotation.png",
        f"rotation-pretrained backbone ({images:,} images, no labels)",
    )
    return Pretrained(after, seconds, record)


def rotation_figure(runner) -> None:
    """Three test images as the implementation's `rotate` turns them: a wrong one shows."""
    from course import plots

    images, names = runner.examples(3)
    rotate = runner.labs["lab2"].rotate
    rotated = np.stack([np.asarray(rotate(images, k)) for k in range(4)], axis=1)
    plots.rotation_examples(
        rotated,
        runner.figure("rotation_examples.png"),
        names,
        title=f"{runner.labs['lab2'].path.name}: rotate(images, k)",
    )


PRETEXT = Pretext("rotation", "rotation pretraining", 3, preflight, pretrain)
