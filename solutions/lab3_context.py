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
    # BEGIN SOLUTION
    # HINT 1: Cell (row r, column c) of the grid starts at pixel (r * cell, c * cell), with
    # HINT 1: cell = S // grid. The patch starts `offset` pixels further in each direction:
    # HINT 1: (cell - p) // 2 when centred, a random 0..cell - p per patch when jittered. Watch
    # HINT 1: out: cells in row-major order (all of row 0, then row 1...), each patch inside its
    # HINT 1: own cell.
    # HINT 2: images[:, y:y + p, x:x + p] cuts one patch of every image; tf.stack(..., axis=1)
    # HINT 2: joins the patches. For jitter, tf.random.stateless_uniform([B, grid * grid, 2],
    # HINT 2: as_seed(seed), maxval=cell - p + 1, dtype=tf.int32) draws every offset at once,
    # HINT 2: and tf.gather(..., batch_dims=...) reads pixels at per-image positions.
    # HINT 3: Compute the top-left corner of every patch, [B, grid * grid, 2]: the cells'
    # HINT 3: corners plus the offsets. The rows of a patch are corner_row + tf.range(p):
    # HINT 3: gather them from the images with axis=1, batch_dims=1 (reshape the [B, n, p] rows
    # HINT 3: to [B, n * p] first, then back), then the columns corner_col + tf.range(p) with
    # HINT 3: axis=3, batch_dims=2, which gives [B, n, p, p, C].
    images = tf.convert_to_tensor(images)
    batch, side = tf.shape(images)[0], images.shape[1]
    cell = side // grid
    if patch_size > cell:
        raise ValueError(
            f"patches of {patch_size} pixels do not fit in the {cell}-pixel cells of a {grid} x"
            f" {grid} grid on {side}-pixel images"
        )
    num = grid * grid
    starts = tf.constant(
        [[r * cell, c * cell] for r in range(grid) for c in range(grid)], tf.int32
    )  # [n, 2]: each cell's top-left pixel, row-major
    if seed is None:
        offsets = tf.fill([batch, num, 2], (cell - patch_size) // 2)
    else:
        offsets = tf.random.stateless_uniform(
            tf.stack([batch, num, 2]), as_seed(seed), maxval=cell - patch_size + 1, dtype=tf.int32
        )
    corners = starts + offsets  # [B, n, 2]
    steps = tf.range(patch_size)
    rows = corners[..., 0:1] + steps  # [B, n, p]
    columns = corners[..., 1:2] + steps  # [B, n, p]
    # Two gathers read every patch of the batch at once, whatever its offset: first its rows...
    strips = tf.gather(images, tf.reshape(rows, [batch, num * patch_size]), axis=1, batch_dims=1)
    strips = tf.reshape(strips, tf.concat([[batch, num, patch_size], tf.shape(images)[2:]], 0))
    # ...then, within each patch's rows, its columns.
    return tf.gather(strips, columns, axis=3, batch_dims=2)
    # END SOLUTION


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
    # BEGIN SOLUTION
    # HINT 1: Cut the 3 x 3 grid of centred patches; the centre patch is cell 4. Draw one label
    # HINT 1: 0..7 per image; label l names cell l for l < 4 and cell l + 1 from 4 on (the centre
    # HINT 1: is skipped). Watch out: every image gets its own label, and the labels are int32.
    # HINT 2: extract_patches(images, 3, patch_size) gives [B, 9, p, p, C];
    # HINT 2: tf.random.stateless_uniform([B], as_seed(seed), maxval=8, dtype=tf.int32) draws the
    # HINT 2: labels; tf.gather(patches, cells, batch_dims=1) picks one patch per image.
    # HINT 3: patches = extract_patches(images, 3, patch_size). Draw the labels, turn them into
    # HINT 3: cells with tf.gather(NEIGHBOURS, label), gather each image's neighbour with
    # HINT 3: batch_dims=1, and return patches[:, 4], the neighbours and the labels.
    patches = extract_patches(images, GRID, patch_size)
    label = tf.random.stateless_uniform(
        tf.shape(patches)[:1], as_seed(seed), maxval=len(NEIGHBOURS), dtype=tf.int32
    )
    neighbor = tf.gather(patches, tf.gather(NEIGHBOURS, label), batch_dims=1)
    return patches[:, GRID * GRID // 2], neighbor, label
    # END SOLUTION


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
    # BEGIN SOLUTION
    # HINT 1: Keep, for every candidate permutation, its distance to the closest one chosen so
    # HINT 1: far. Each round, choose a candidate with the largest such distance, then lower the
    # HINT 1: others' distances to that new one where it is closer. Watch out: the first
    # HINT 1: permutation and the ties come from the seed, and no permutation is chosen twice.
    # HINT 2: itertools.permutations(range(num_patches)) lists all 9! = 362,880 candidates;
    # HINT 2: (candidates != chosen).sum(axis=1) is every Hamming distance at once;
    # HINT 2: np.random.default_rng(seed) draws; np.flatnonzero(d == d.max()) lists the ties.
    # HINT 3: candidates = np.array(list(itertools.permutations(range(num_patches)))). Choose a
    # HINT 3: first index with the generator; distance = Hamming distances to it. Repeat N - 1
    # HINT 3: times: pick one of the indices where distance is largest (rng.choice), append it,
    # HINT 3: distance = np.minimum(distance, distances to it). Return candidates[chosen].
    if not 1 <= num_permutations <= math.factorial(num_patches):
        raise ValueError(
            f"num_permutations must be between 1 and {num_patches}! ="
            f" {math.factorial(num_patches)}, got {num_permutations}"
        )
    rng = np.random.default_rng(seed)
    # All num_patches! candidates, read straight into one small array (9! rows of 9 bytes: 3 MB;
    # a list of 362,880 tuples would take fifteen times more).
    candidates = np.fromiter(
        itertools.chain.from_iterable(itertools.permutations(range(num_patches))),
        dtype=np.int8,
        count=math.factorial(num_patches) * num_patches,
    ).reshape(-1, num_patches)
    chosen = [int(rng.integers(len(candidates)))]
    # The distance of every candidate to its closest chosen permutation, lowered as the set
    # grows: one pass over the candidates per permutation chosen.
    distance = (candidates != candidates[chosen[0]]).sum(axis=1)
    for _ in range(num_permutations - 1):
        farthest = np.flatnonzero(distance == distance.max())
        chosen.append(int(rng.choice(farthest)))
        distance = np.minimum(distance, (candidates != candidates[chosen[-1]]).sum(axis=1))
    return candidates[chosen].astype(np.int64)
    # END SOLUTION


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
    # BEGIN SOLUTION
    # HINT 1: Draw one permutation index per image; tile j of image i is the patch that its
    # HINT 1: permutation names at position j. Watch out: the label is the permutation's index
    # HINT 1: in `permutations`, not the permutation itself, and tiles[i, j] is
    # HINT 1: patches[i, permutation[j]] (not the inverse, which puts patch j at permutation[j]).
    # HINT 2: extract_patches(images, 3, patch_size); tf.random.stateless_uniform with
    # HINT 2: maxval=N and dtype=tf.int32 draws the labels; tf.gather(permutations, label) gives
    # HINT 2: each image's order; tf.gather(patches, order, batch_dims=1) shuffles all at once.
    # HINT 3: patches = extract_patches(images, 3, patch_size). Convert permutations to an int32
    # HINT 3: tensor, draw label [B] with maxval len(permutations), order = tf.gather(
    # HINT 3: permutations, label) [B, 9], tiles = tf.gather(patches, order, batch_dims=1);
    # HINT 3: return tiles and label.
    patches = extract_patches(images, GRID, patch_size)
    permutations = tf.cast(tf.convert_to_tensor(permutations), tf.int32)
    label = tf.random.stateless_uniform(
        tf.shape(patches)[:1], as_seed(seed), maxval=tf.shape(permutations)[0], dtype=tf.int32
    )
    order = tf.gather(permutations, label)  # [B, 9]: which patch goes to each position
    return tf.gather(patches, order, batch_dims=1), label
    # END SOLUTION


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
    # BEGIN SOLUTION
    # HINT 1: Two inputs of the patch shape, the same encoder called on each, the two feature
    # HINT 1: vectors side by side (centre first), then a classifier head with 8 logits and no
    # HINT 1: softmax. Watch out: one encoder, called twice, not two copies: the features must
    # HINT 1: come from the weights that are transferred afterwards.
    # HINT 2: keras.Input(patch_encoder.input_shape[1:]) makes each input; patch_encoder(x)
    # HINT 2: reuses its weights; layers.Concatenate() joins features in order; layers.Dense
    # HINT 2: builds the head; keras.Model([center, neighbor], logits) wraps it.
    # HINT 3: Make the two inputs, encode each with patch_encoder, concatenate [centre features,
    # HINT 3: neighbour features], put a Dense(256, activation="relu") and a Dense(8) on top, and
    # HINT 3: return keras.Model([center, neighbor], logits).
    shape = patch_encoder.input_shape[1:]
    center, neighbor = keras.Input(shape, name="center"), keras.Input(shape, name="neighbor")
    features = layers.Concatenate()([patch_encoder(center), patch_encoder(neighbor)])
    # A hidden layer lets the head compare the two patches' features, which a single linear
    # layer on their concatenation could only add up.
    hidden = layers.Dense(256, activation="relu")(features)
    logits = layers.Dense(len(NEIGHBOURS))(hidden)
    return keras.Model([center, neighbor], logits, name="context_model")
    # END SOLUTION


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
    # BEGIN SOLUTION
    # HINT 1: One input holding nine tiles, the same encoder on every tile, the nine feature
    # HINT 1: vectors concatenated in tile order, then a head with num_permutations logits and no
    # HINT 1: softmax. Watch out: the order of the features matters (that is the whole task), so
    # HINT 1: concatenate, do not sum or average them.
    # HINT 2: keras.Input((9, *patch_encoder.input_shape[1:])) is the input;
    # HINT 2: layers.TimeDistributed(patch_encoder) applies the encoder to each of the 9 tiles
    # HINT 2: with the same weights, [B, 9, features]; layers.Flatten() concatenates them.
    # HINT 3: Make the input, apply layers.TimeDistributed(patch_encoder), flatten the result to
    # HINT 3: [B, 9 * features], put a Dense(512, activation="relu") and a
    # HINT 3: Dense(num_permutations) on top, and return keras.Model(tiles, logits).
    tiles = keras.Input((GRID * GRID, *patch_encoder.input_shape[1:]), name="tiles")
    features = layers.TimeDistributed(patch_encoder)(tiles)  # [B, 9, F], one encoder
    hidden = layers.Dense(512, activation="relu")(layers.Flatten()(features))
    logits = layers.Dense(num_permutations)(hidden)
    return keras.Model(tiles, logits, name="jigsaw_model")
    # END SOLUTION
