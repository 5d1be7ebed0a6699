"""What lab 3's two pretexts share: the images as the tasks see them, a patch encoder whose
weights fit the 32 x 32 backbone, and shuffled batches of patches made by the implementation's
own functions.

The patch encoder is the backbone itself, built for `p x p` inputs (lab 1's
`build_backbone(input_shape=...)`, or the `--widths` variant): convolutions and
BatchNormalization have the same weights at any image size, so after the pretext the encoder's
weights are exactly those of a 32 x 32 backbone, which `transfer` then receives.

Two choices of the recipe (`Options.patch_scale`, `patch_size`, `patch_jitter`; measured in
docs/results.md) make the tasks teach what the 32 x 32 backbone needs. On 8 x 8 patches of the
32 x 32 images the backbone's three pools leave 1 x 1 maps and its statistics are learnt at a scale
it never sees again, so the images are upscaled first and the patches are near 32 pixels. And
with every patch centred in its cell both tasks are learnt by following lines across the gap
(jigsaw: 98% of 100 permutations after 5 epochs; frozen features no better than random ones),
so each patch is cut at a random offset in its cell, as both papers do.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from course.experiments.labs import in_pipeline
from course.experiments.pretexts.base import Pretrained, check_trained, fit_classifier
from course.impl import ImplementationError

GRID = 3
"""Both tasks cut a 3 x 3 grid (course spec)."""


def patch_shape(options) -> tuple[int, int, int]:
    return (options.patch_size, options.patch_size, 3)


def patch_encoder(runner):
    return runner.new_backbone(input_shape=patch_shape(runner.options))


def jittered_mosaic(
    extract_patches: Callable, images, seed, scale: int, patch_size: int, jitter: bool = True
):
    """The images as lab 3's tasks see them: float `[B, 3p, 3p, C]` mosaics of p-pixel patches.

    Each uint8 image `[B, S, S, C]` is upscaled `scale` times (bilinear, floats in [0, 1]), cut by
    the lab's own `extract_patches` into its 3 x 3 grid of `patch_size` patches (at a random
    offset in each cell when `jitter`, from `seed`), and the nine patches are laid edge to edge.
    The lab's centred-patch functions (`relative_position_pairs`, `jigsaw_batch`) cut a mosaic
    with `patch_size=p` into exactly these patches: its cells are p pixels, so a centred patch
    fills its cell. That way the contract's exercises stay as they are and every patch the
    encoder sees still comes from the student's code.
    """
    import tensorflow as tf

    side, p = images.shape[1] * scale, patch_size
    images = tf.image.convert_image_dtype(images, tf.float32)
    if scale > 1:
        images = tf.clip_by_value(tf.image.resize(images, [side, side]), 0.0, 1.0)
    patches = extract_patches(images, GRID, p, seed if jitter else None)
    channels = images.shape[-1]
    rows = tf.reshape(patches, [-1, GRID, GRID, p, p, channels])
    return tf.reshape(tf.transpose(rows, [0, 1, 3, 2, 4, 5]), [-1, GRID * p, GRID * p, channels])


def patch_dataset(
    images,
    make: Callable,
    extract_patches: Callable,
    standardize: Callable,
    batch_size: int = 128,
    seed: int = 0,
    scale: int = 3,
    patch_size: int = 20,
    jitter: bool = True,
):
    """Shuffled batches of unlabelled uint8 images `[N, S, S, C]` turned into a patch task, for
    `fit`: `make(mosaics float [b, 3p, 3p, C], seed [2]) -> (*patches, label)` (lab 3's
    `relative_position_pairs` or `jigsaw_batch` with `patch_size=p`, on `jittered_mosaic`'s
    mosaics). Gives `(patches, label)`, every patch batch standardized by lab 1's
    `standardize`; each batch draws its own jitter and task from its own seeds."""
    import tensorflow as tf

    pixels = tf.convert_to_tensor(images)

    def load(indices, batch_seed):
        jitter_seed, task_seed = tf.unstack(tf.random.experimental.stateless_split(batch_seed))
        mosaics = jittered_mosaic(
            extract_patches, tf.gather(pixels, indices), jitter_seed, scale, patch_size, jitter
        )
        *patches, label = make(mosaics, task_seed)
        inputs = tuple(standardized(p, standardize) for p in patches)
        return (inputs if len(inputs) > 1 else inputs[0]), tf.cast(label, tf.int32)

    count = len(pixels)
    indices = tf.data.Dataset.range(count).shuffle(count, seed=seed, reshuffle_each_iteration=True)
    seeds = tf.data.Dataset.random(seed=seed + 1, rerandomize_each_iteration=True)
    seeds = seeds.batch(2, drop_remainder=True)  # a shape-[2] seed for each batch
    dataset = tf.data.Dataset.zip(indices.batch(batch_size), seeds)
    return dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def check_transferable(encoder, backbone, lab1) -> None:
    """Raises ImplementationError when the patch encoder's weights cannot load into the 32 x 32
    backbone (a layer whose weights depend on the image size, such as a Dense layer)."""
    shapes = [tuple(w.shape) for w in encoder.weights]
    if shapes != [tuple(w.shape) for w in backbone.weights]:
        raise ImplementationError(
            f"{lab1.path.name}: build_backbone(input_shape={tuple(encoder.input_shape[1:])}) has"
            " weights of other shapes than build_backbone() at 32 x 32, so lab 3's patch encoder"
            " cannot become the backbone; keep to layers whose weights do not depend on the image"
            " size (Conv2D, BatchNormalization) before the final Flatten"
        )


def preflight_encoder(labs, options):
    """Lab 1's backbone built for patches, checked to fit the 32 x 32 backbone."""
    lab1 = labs["lab1"]
    encoder = lab1.build_backbone(input_shape=patch_shape(options))
    check_transferable(encoder, lab1.build_backbone(), lab1)
    return encoder


def standardized(patches, standardize: Callable):
    """lab 1's `standardize` on patches `[..., p, p, C]` of any rank (it takes `[B, H, W, C]`)."""
    import tensorflow as tf

    shape = tf.shape(patches)
    flat = tf.reshape(patches, tf.concat([[-1], shape[-3:]], 0))
    return tf.reshape(standardize(flat), tf.concat([shape[:-3], tf.shape(flat)[1:]], 0))


def patch_batches(
    labs, options, images, batch_size: int, seed: int, make: Callable, exercise: str
):
    """`patch_dataset` of `images` with the implementation's functions and the options' recipe;
    an error of the lab's code while tracing names the function."""
    lab1, lab3 = labs["lab1"], labs["lab3"]
    with in_pipeline((lab3, exercise), (lab1, "standardize")):
        return patch_dataset(
            images,
            make,
            lab3.raw("extract_patches"),
            lab1.raw("standardize"),
            batch_size,
            seed,
            options.patch_scale,
            options.patch_size,
            options.patch_jitter,
        )


def unlabelled_batches(runner, seed: int, make: Callable, exercise: str):
    """`patch_batches` of the runner's unlabelled images, for the pretext's training."""
    return patch_batches(
        runner.labs,
        runner.options,
        runner.split.unlabelled_images,
        runner.budget.batch_size,
        seed,
        make,
        exercise,
    )


def preflight_batches(labs, options, make: Callable, exercise: str):
    """One batch of `patch_batches` on four blank images: a lab 3 function that cannot run in
    the experiment's tf.data pipeline fails here, before any training."""
    import numpy as np

    images = np.zeros((4, 32, 32, 3), np.uint8)
    dataset = patch_batches(labs, options, images, 4, 0, make, exercise)
    with in_pipeline((labs["lab3"], exercise), (labs["lab1"], "standardize")):
        return next(iter(dataset))


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
    if runner.options.patch_bn_recalibrate:
        runner.recalibrate_batch_norm(backbone)
        after = backbone.get_weights()
    record["examples_per_epoch"] = images
    runner.neighbours(
        backbone,
        f"neighbours_{name}.png",
        f"{name}-pretrained backbone ({images:,} images, no labels)",
    )
    return Pretrained(after, seconds, record)
