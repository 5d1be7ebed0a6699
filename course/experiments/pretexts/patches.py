"""What lab 3's two pretexts share: a patch encoder whose weights fit the 32 x 32 backbone, and
shuffled batches of patches made by the implementation's own functions.

The patch encoder is the backbone itself, built for `PATCH_SIZE` x `PATCH_SIZE` inputs (lab 1's
`build_backbone(input_shape=...)`, or the `--widths` variant): convolutions and
BatchNormalization have the same weights at any image size, so after the pretext the encoder's
weights are exactly those of a 32 x 32 backbone, which `transfer` then receives. (On 8 x 8
patches the workshop's three pools leave 1 x 1 x 32 features.)
"""

from __future__ import annotations

import math
from collections.abc import Callable

from course.experiments.pretexts.base import Pretrained, check_trained, fit_classifier
from course.impl import ImplementationError

PATCH_SIZE = 8
"""The patches of a 3 x 3 grid of 32 x 32 images: 8 pixels in 10-pixel cells (course spec)."""


def patch_encoder(runner):
    return runner.new_backbone(input_shape=(PATCH_SIZE, PATCH_SIZE, 3))


def check_transferable(encoder, backbone, lab1) -> None:
    """Raises ImplementationError when the patch encoder's weights cannot load into the 32 x 32
    backbone (a layer whose weights depend on the image size, such as a Dense layer)."""
    shapes = [tuple(w.shape) for w in encoder.weights]
    if shapes != [tuple(w.shape) for w in backbone.weights]:
        raise ImplementationError(
            f"{lab1.path.name}: build_backbone(input_shape=({PATCH_SIZE}, {PATCH_SIZE}, 3)) has"
            " weights of other shapes than build_backbone() at 32 x 32, so lab 3's patch encoder"
            " cannot become the backbone; keep to layers whose weights do not depend on the image"
            " size (Conv2D, BatchNormalization) before the final Flatten"
        )


def preflight_encoder(labs):
    """Lab 1's backbone built for patches, checked to fit the 32 x 32 backbone."""
    lab1 = labs["lab1"]
    encoder = lab1.build_backbone(input_shape=(PATCH_SIZE, PATCH_SIZE, 3))
    check_transferable(encoder, lab1.build_backbone(), lab1)
    return encoder


def standardized(patches, standardize: Callable):
    """lab 1's `standardize` on patches `[..., p, p, C]` of any rank (it takes `[B, H, W, C]`)."""
    import tensorflow as tf

    shape = tf.shape(patches)
    flat = tf.reshape(patches, tf.concat([[-1], shape[-3:]], 0))
    return tf.reshape(standardize(flat), tf.concat([shape[:-3], tf.shape(flat)[1:]], 0))


def patch_batches(runner, seed: int, make: Callable, exercise: str):
    """Shuffled batches of the unlabelled images turned into a patch task by
    `make(images uint8 [b, 32, 32, 3], seed [2]) -> (*patches, label)`: `(patches, label)` with
    every patch batch standardized by lab 1's `standardize`, and each batch its own seed."""
    import tensorflow as tf

    lab1, lab3 = runner.labs["lab1"], runner.labs["lab3"]
    standardize = lab1.raw("standardize")
    pixels = tf.convert_to_tensor(runner.split.unlabelled_images)

    def load(indices, batch_seed):
        *patches, label = make(tf.gather(pixels, indices), batch_seed)
        inputs = tuple(standardized(p, standardize) for p in patches)
        return (inputs if len(inputs) > 1 else inputs[0]), tf.cast(label, tf.int32)

    count = len(pixels)
    indices = tf.data.Dataset.range(count).shuffle(count, seed=seed, reshuffle_each_iteration=True)
    seeds = tf.data.Dataset.random(seed=seed + 1, rerandomize_each_iteration=True)
    seeds = seeds.batch(2, drop_remainder=True)  # a shape-[2] seed for each batch
    dataset = tf.data.Dataset.zip(indices.batch(runner.budget.batch_size), seeds)
    with lab3.calling(exercise), lab1.calling("standardize"):
        dataset = dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def pretrain_encoder(
    runner, name: str, encoder, model, dataset, epochs: int, classes: int
) -> Pretrained:
    """Fits the pretext model and hands back its encoder's weights for the 32 x 32 backbone."""
    lab3 = runner.labs["lab3"]
    before = encoder.get_weights()
    runner.configure(model)
    images = len(runner.split.unlabelled_images)
    steps = math.ceil(images / runner.budget.batch_size)
    seconds, record = fit_classifier(
        runner, name, model, dataset, epochs, steps, classes, f"{images:,} images"
    )
    after = encoder.get_weights()
    check_trained(
        before,
        after,
        f"{lab3.path.name}: the {name} pretraining left the patch encoder's weights unchanged;"
        " build the model by calling the patch encoder it receives, so that training trains it",
    )
    backbone = runner.new_backbone()
    check_transferable(encoder, backbone, runner.labs["lab1"])
    backbone.set_weights(after)
    record["examples_per_epoch"] = images
    runner.neighbours(
        backbone,
        f"neighbours_{name}.png",
        f"{name}-pretrained backbone ({images:,} images, no labels)",
    )
    return Pretrained(after, seconds, record)
