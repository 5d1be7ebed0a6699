"""Lab 3: learning from the layout of an image.

Lab 2 hid one fact about an image, which way is up. This lab hides another: where its parts are.
Cut an image into a 3 x 3 grid of patches and the patches alone do not say where each one was;
to tell, a network must know what the parts of objects look like and how they fit together (a
wheel goes below a car door, an ear above an eye). Two pretext tasks ask exactly that:

- **Context prediction** (Doersch, Gupta and Efros, ICCV 2015, "Unsupervised Visual
  Representation Learning by Context Prediction"): given the centre patch and one of its eight
  neighbours, say which neighbour it is (8 classes).
- **Jigsaw puzzles** (Noroozi and Favaro, ECCV 2016, "Unsupervised Learning of Visual
  Representations by Solving Jigsaw Puzzles"): given all nine patches shuffled by one of a fixed
  set of permutations, say which permutation it was.

Both papers leave a *gap* between the patches and *jitter* each patch inside its cell: patches
that touched, or sat on an exact grid, could be placed by matching the lines and textures that
run across their borders, a shortcut that teaches nothing about objects.

A CIFAR-10 image is 32 x 32: its grid cells are 10 x 10 (the last two rows and columns of pixels
are unused) and each patch is 8 x 8, which leaves a gap of at least 2 pixels between two centred
patches. Your functions take any image side, and the experiment uses that: it upscales each image
x3 (cells of 32 pixels, near the scale the backbone was made for), cuts 20-pixel patches with your
`extract_patches` at a random offset in each cell, and hands them to your task functions. One
*patch encoder*, lab 1's backbone built for 20 x 20 inputs, turns every patch into a feature
vector; its convolutions are the same size at any input size, so after the pretext training they
carry over to the 32 x 32 backbone, which lab 2's `transfer` then fine-tunes or probes on the
5,000 labelled images.

You will write:

- `extract_patches`: the grid of patches, centred or jittered;
- `relative_position_pairs`: the context task's (centre, neighbour, label) triples;
- `permutation_set` and `jigsaw_batch`: the jigsaw task's permutations and shuffled puzzles;
- `build_context_model` and `build_jigsaw_model`: one shared patch encoder under each task's head.

Images are `[B, S, S, C]` (any dtype: patches keep it), labels are int32, and randomness comes from
an explicit `seed` (a Python int or a shape-[2] integer tensor, see `course.seeds`) drawn with
`tf.random.stateless_*`, one draw per image, never in a Python loop over images.

`course check lab3` grades your functions. `course experiment context --impl labs` (and `jigsaw`)
pretrains the patch encoder on your task, transfers it and compares it with the other rows.
"""
import itertools
import math

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from course.seeds import as_seed

GRID = 3
"""The grid of both tasks: 3 x 3 cells, the centre cell is 4 in row-major order."""

NEIGHBOURS = (0, 1, 2, 3, 5, 6, 7, 8)
"""The cell of each context label 0..7 (row-major, the centre 4 skipped): 0 top-left, 1 top, 2
top-right, 3 left, 4 right, 5 bottom-left, 6 bottom, 7 bottom-right."""


# Exercise 3.1 (8 points): a grid of patches, with gaps and jitter, in one gather.
def extract_patches(images, grid=3, patch_size=8, seed=None):
    """Cuts every image into a `grid x grid` grid of square patches, one per cell.

    An image of side S has cells of side `S // grid`, starting at its top-left corner (leftover
    pixels at the right and bottom are unused). Each patch lies inside its cell; the margin
    around it is the gap between neighbouring patches.

    Args:
        images: `[B, S, S, C]`, any dtype.
        grid: cells per side.
        patch_size: the side p of a patch, at most `S // grid`.
        seed: None centres every patch in its cell (offset `(cell - p) // 2`); a seed places each
            patch of each image at its own random offset inside its cell (jitter).

    Returns:
        `[B, grid * grid, p, p, C]`, same dtype: the patches, cells in row-major order.
    """
    raise NotImplementedError("lab3.extract_patches: not written yet; "
                              "`course hint lab3.extract_patches` helps")


# Exercise 3.2 (6 points): the context task's labels: where a neighbour patch sits. Builds on
# `extract_patches`.
def relative_position_pairs(images, seed, patch_size=8):
    """The context task: each image's centre patch, one of its eight neighbours, and which one.

    Args:
        images: `[B, S, S, C]`, any dtype.
        seed: chooses each image's neighbour, uniformly among the eight.
        patch_size: the side p of the centred patches of a 3 x 3 grid.

    Returns:
        `(center, neighbor, label)`: `[B, p, p, C]` centre patches, `[B, p, p, C]` neighbours
        (same dtype as the images) and int32 labels `[B]` in 0..7, the neighbour's cell in
        row-major order with the centre skipped (`NEIGHBOURS`).
    """
    raise NotImplementedError("lab3.relative_position_pairs: not written yet; "
                              "`course hint lab3.relative_position_pairs` helps")


# Exercise 3.3 (6 points): a farthest-point set of permutations (Hamming distance).
def permutation_set(num_permutations, num_patches=9, seed=0):
    """A set of permutations far apart from each other, for the jigsaw task.

    Farthest-point selection: start from one permutation, then repeatedly add the permutation
    whose smallest Hamming distance (the number of positions where two permutations differ) to
    those already chosen is largest. The more the permutations differ, the less a network can
    confuse two puzzles that are almost solved the same way.

    Args:
        num_permutations: how many permutations, N, at most `num_patches!`.
        num_patches: the length of a permutation (9 for a 3 x 3 puzzle).
        seed: picks the first permutation and breaks ties between equally far candidates.

    Returns:
        An int NumPy array `[N, num_patches]` of distinct permutations of `range(num_patches)`.
    """
    raise NotImplementedError("lab3.permutation_set: not written yet; "
                              "`course hint lab3.permutation_set` helps")


# Exercise 3.4 (7 points): shuffling patches by a permutation per image. Builds on
# `extract_patches`.
def jigsaw_batch(images, permutations, seed, patch_size=8):
    """The jigsaw task: every image's nine centred patches, shuffled by a random permutation.

    Args:
        images: `[B, S, S, C]`, any dtype.
        permutations: int `[N, 9]`, e.g. from `permutation_set`.
        seed: chooses each image's permutation, uniformly among the N.
        patch_size: the side p of the centred patches of a 3 x 3 grid.

    Returns:
        `(tiles, label)`: `[B, 9, p, p, C]` tiles (same dtype as the images) with
        `tiles[i, j] == patches[i, permutations[label[i], j]]`, and the int32 labels `[B]`.
    """
    raise NotImplementedError("lab3.jigsaw_batch: not written yet; "
                              "`course hint lab3.jigsaw_batch` helps")


# Exercise 3.5 (5 points): a siamese network: one encoder, two patches, one head.
def build_context_model(patch_encoder):
    """The context task's network: the centre and the neighbour through one encoder, 8 logits.

    Doersch et al. encode both patches with the same weights (a "late fusion" siamese network),
    so that the features say what a patch shows, not where it came from, and only the head,
    which sees both features side by side, learns how parts are arranged.

    Args:
        patch_encoder: a functional model from one patch `(p, p, C)` to a feature vector; its
            weights are shared by both patches, so training this model trains the encoder.

    Returns:
        A functional `keras.Model` from `[center, neighbor]` (two `[B, p, p, C]` batches) to
        float32 `[B, 8]` logits.
    """
    raise NotImplementedError("lab3.build_context_model: not written yet; "
                              "`course hint lab3.build_context_model` helps")


# Exercise 3.6 (5 points): one encoder on nine tiles, their features in order.
def build_jigsaw_model(patch_encoder, num_permutations):
    """The jigsaw task's network: nine tiles through one encoder, one logit per permutation.

    Noroozi and Favaro's "context-free network": every tile is encoded alone by the shared
    encoder, so no layer below the head sees two tiles at once, and the head reads the nine
    feature vectors in their positions' order to name the permutation.

    Args:
        patch_encoder: a functional model from one patch `(p, p, C)` to a feature vector,
            shared by the nine tiles.
        num_permutations: N, the number of classes.

    Returns:
        A functional `keras.Model` from `[B, 9, p, p, C]` tiles to float32 `[B, N]` logits.
    """
    raise NotImplementedError("lab3.build_jigsaw_model: not written yet; "
                              "`course hint lab3.build_jigsaw_model` helps")
