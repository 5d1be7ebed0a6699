"""Lab 3's second pretext: which permutation shuffled an image's nine patches (Noroozi and
Favaro, ECCV 2016), on lab 3's `permutation_set`, `jigsaw_batch` and `build_jigsaw_model`."""

from __future__ import annotations

import numpy as np

from course.experiments.pretexts import patches
from course.experiments.pretexts.base import Pretext, Pretrained


def task(labs, options, permutations: np.ndarray):
    """The jigsaw task on `patch_batches`' mosaics, with the lab's own function."""
    import tensorflow as tf

    puzzles, size = labs["lab3"].raw("jigsaw_batch"), options.patch_size

    def make(mosaics, seed):
        tiles, label = puzzles(mosaics, permutations, seed, size)
        # Keras' models need each input's shape, which a tf.py_function's output lacks.
        return tf.ensure_shape(tiles, [None, 9, size, size, 3]), label

    return make


def preflight(labs, options) -> None:
    lab3 = labs["lab3"]
    permutations = np.asarray(lab3.permutation_set(4))
    tiles, _ = patches.preflight_batches(
        labs, options, task(labs, options, permutations), "jigsaw_batch"
    )
    model = lab3.build_jigsaw_model(patches.preflight_encoder(labs, options), len(permutations))
    model(tiles)


def pretrain(runner) -> Pretrained:
    lab3 = runner.labs["lab3"]
    seed = runner.seed(PRETEXT.seed)
    permutations = np.asarray(
        lab3.permutation_set(runner.options.jigsaw_permutations, seed=runner.options.seed)
    )
    dataset = patches.unlabelled_batches(
        runner, seed, task(runner.labs, runner.options, permutations), "jigsaw_batch"
    )
    encoder = patches.patch_encoder(runner)
    model = lab3.build_jigsaw_model(encoder, len(permutations))
    pretrained = patches.pretrain_encoder(
        runner, "jigsaw", encoder, model, dataset, runner.budget.jigsaw_epochs, len(permutations)
    )
    pretrained.record["permutations"] = len(permutations)
    jigsaw_figure(runner, permutations)
    return pretrained


def jigsaw_figure(runner, permutations: np.ndarray) -> None:
    """Four puzzles made by the implementation's `jigsaw_batch`, each beside its tiles put back
    by the permutation its label names."""
    from course import plots

    lab3 = runner.labs["lab3"]
    images, names = runner.examples(4)
    tiles, label = (
        np.asarray(v) for v in lab3.jigsaw_batch(images, permutations, runner.options.seed)
    )
    plots.jigsaw_examples(
        tiles,
        label,
        permutations,
        runner.figure("jigsaw_examples.png"),
        names,
        title=f"{lab3.path.name}: jigsaw_batch with {len(permutations)} permutations",
    )


PRETEXT = Pretext("jigsaw", "jigsaw puzzles", 12, preflight, pretrain)
