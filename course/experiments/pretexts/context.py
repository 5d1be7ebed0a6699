"""Lab 3's first pretext: which of its eight neighbours a patch is, seen beside the centre patch
(Doersch, Gupta and Efros, ICCV 2015), on lab 3's `relative_position_pairs` and
`build_context_model`."""

from __future__ import annotations

import numpy as np

from course.experiments.pretexts import patches
from course.experiments.pretexts.base import Pretext, Pretrained


def task(labs, options):
    """The context task on `patch_batches`' mosaics, with the lab's own function."""
    import tensorflow as tf

    pairs, size = labs["lab3"].raw("relative_position_pairs"), options.patch_size

    def make(mosaics, seed):
        center, neighbor, label = pairs(mosaics, seed, size)
        # Keras' models need each input's shape, which a tf.py_function's output lacks.
        shape = [None, size, size, 3]
        return tf.ensure_shape(center, shape), tf.ensure_shape(neighbor, shape), label

    return make


def preflight(labs, options) -> None:
    lab3 = labs["lab3"]
    (center, neighbor), _ = patches.preflight_batches(
        labs, options, task(labs, options), "relative_position_pairs"
    )
    lab3.build_context_model(patches.preflight_encoder(labs, options))([center, neighbor])


def pretrain(runner) -> Pretrained:
    lab3 = runner.labs["lab3"]
    seed = runner.seed(PRETEXT.seed)
    dataset = patches.unlabelled_batches(
        runner, seed, task(runner.labs, runner.options), "relative_position_pairs"
    )
    encoder = patches.patch_encoder(runner)
    model = lab3.build_context_model(encoder)
    pretrained = patches.pretrain_encoder(
        runner, "context", encoder, model, dataset, runner.budget.context_epochs, 8
    )
    context_figure(runner)
    return pretrained


def context_figure(runner) -> None:
    """Four test images with the implementation's grid of centred and jittered patches, and its
    centre and neighbour pair, titled with the position the label names."""
    from course import plots

    lab3 = runner.labs["lab3"]
    images, names = runner.examples(4)
    grids = [
        np.asarray(lab3.extract_patches(images)),
        np.asarray(lab3.extract_patches(images, seed=1)),
    ]
    pairs = [
        np.asarray(part) for part in lab3.relative_position_pairs(images, runner.options.seed)
    ]
    plots.context_examples(
        images,
        *grids,
        pairs,
        runner.figure("context_examples.png"),
        names,
        title=f"{lab3.path.name}: extract_patches and relative_position_pairs",
    )


PRETEXT = Pretext("context", "context prediction", 9, preflight, pretrain)
