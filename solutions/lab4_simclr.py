"""Lab 4: SimCLR, learning by telling two views of an image apart from all the others.

The pretext tasks of labs 2 and 3 invent a label (a rotation, a patch position, a permutation)
and train a classifier to predict it. Contrastive learning needs no invented label. Take a batch
of B images and make two random *views* of each (crop, flip, recolour): 2B views in all. For every
view the network must find its *partner*, the other view of the same image, among the other
2B - 1 views. To do that it has to keep what survives the augmentations (shapes, textures, object
parts) and ignore what they change (position, scale, colour), so the augmentations decide what
the representation learns.

SimCLR (Chen, Kornblith, Norouzi and Hinton, ICML 2020, "A Simple Framework for Contrastive
Learning of Visual Representations", https://arxiv.org/abs/2002.05709) does exactly this:

    image --augment--> view 1 --encoder f--> h1 --head g--> z1 --+
      |                                                          +--> NT-Xent loss
      +----augment--> view 2 --encoder f--> h2 --head g--> z2 --+

The encoder f is the course's backbone; the projection head g is a small MLP used only during
pretraining. Afterwards g is thrown away, and the encoder's features h go to the downstream task
(the linear probe or the fine-tuning of lab 2's `transfer`).

You will write:

- `random_resized_crop`, `color_jitter`, `random_grayscale` and `augment`, which chains them:
  SimCLR's augmentations, each for a whole batch at once, every image with its own random draws;
- `build_projection_head`: the MLP g;
- `nt_xent_loss`: SimCLR's contrastive loss;
- `contrastive_step`: one training step that ties them together.

As in every lab, images are float32 in [0, 1], channels-last `[B, H, W, C]`; functions accept
NumPy arrays or tensors and return tensors; randomness comes from an explicit `seed`, a shape-[2]
integer tensor or a Python int (see `course.seeds`): the same inputs and seed give the same output.
Draw with `tf.random.stateless_*` ops, one value per image, never in a Python loop over images.

`course check lab4` grades your functions. `course experiment simclr --impl labs` pretrains the
backbone with your `contrastive_step`, then fine-tunes and linear-probes it as lab 2 does.

The settings follow the paper (Appendix A for the augmentations, B.9 for CIFAR-10) and the CIFAR-10
command in google-research/simclr's README (batch 512, temperature 0.5, jitter strength 0.5):

| setting                  | here        | paper                                                  |
|--------------------------|-------------|--------------------------------------------------------|
| crop area (`scale`)      | 0.2 to 1    | 0.08 to 1; 8% of 32x32 is 9x9, CIFAR code uses 0.2     |
| crop aspect ratio        | 3/4 to 4/3  | 3/4 to 4/3                                             |
| left-right flip          | p = 0.5     | p = 0.5                                                |
| colour jitter strength s | 0.5         | 1.0 on ImageNet, 0.5 on CIFAR-10                       |
| colour jitter applied    | p = 0.8     | p = 0.8                                                |
| grayscale                | p = 0.2     | p = 0.2                                                |
| Gaussian blur            | none        | on ImageNet only, left out on CIFAR-10                 |
| temperature              | 0.5         | 0.5 on CIFAR-10, 0.1 on ImageNet                       |
| projection head          | Dense, ReLU, Dense to 128 | the same                                 |
"""
import math

import keras
import tensorflow as tf

from course.seeds import as_seed, split_seed

# The SimCLR recipe for CIFAR-10 that `augment` applies (see the table above).
FLIP_PROBABILITY = 0.5
JITTER_STRENGTH = 0.5
JITTER_PROBABILITY = 0.8
GRAYSCALE_PROBABILITY = 0.2

LUMA_WEIGHTS = (0.299, 0.587, 0.114)
"""ITU-R 601-2 luma: the grey level of an RGB pixel is 0.299 R + 0.587 G + 0.114 B."""

CROP_TRIES = 10
"""Boxes `random_resized_crop` draws per image before it falls back, as torchvision does."""

_EDGE = 1e-5
"""How far inside the image `_crop_boxes` ends a box that starts inside the image."""


def _float_images(images):
    """`images` as a float32 tensor (uint8 images are scaled from [0, 255] to [0, 1])."""
    images = tf.convert_to_tensor(images)
    if images.dtype == tf.uint8:
        return tf.cast(images, tf.float32) / 255.0
    return tf.cast(images, tf.float32)


def _per_image(values):
    """One value per image, `[B]`, reshaped to `[B, 1, 1, 1]` to broadcast over `[B, H, W, C]`."""
    return tf.reshape(values, [-1, 1, 1, 1])


def _where_per_image(condition, x, y):
    """Per image, `x` where `condition` `[B]` is true, else `y` (both `[B, H, W, C]`).

    The same as `tf.where(_per_image(condition), x, y)`, about four times faster on a CPU:
    TensorFlow's select is quicker when the condition broadcasts along one flattened axis.
    """
    shape = tf.shape(x)
    x_flat, y_flat = tf.reshape(x, [shape[0], -1]), tf.reshape(y, [shape[0], -1])
    return tf.reshape(tf.where(condition[:, None], x_flat, y_flat), shape)


def _crop_boxes(top, left, height, width):
    """Boxes `[B, 4]` `(y1, x1, y2, x2)` for `tf.image.crop_and_resize`, from fractions `[B]`.

    `crop_and_resize` measures boxes in fractions of the image (0 is the first pixel, 1 the last)
    and writes its `extrapolation_value` (black) wherever a sample point falls outside the image.
    For a box that starts inside the image and ends exactly at its edge, rounding puts the last
    sample point a hair past the last pixel in about 8% of cases, and the crop gets a black last
    row or column. Such boxes end `_EDGE` (3e-4 pixel on 32x32 images) inside the edge instead.
    A box that starts at 0 is computed exactly, so the whole image stays exactly the whole image.
    """
    bottom = tf.minimum(top + height, tf.where(top > 0, 1.0 - _EDGE, 1.0))
    right = tf.minimum(left + width, tf.where(left > 0, 1.0 - _EDGE, 1.0))
    return tf.stack([top, left, bottom, right], axis=1)


def random_resized_crop(images, seed, scale=(0.2, 1.0), ratio=(3 / 4, 4 / 3)):
    """Crops a random box of every image and resizes it back to the image's size.

    Each image draws its own box: an area, as a fraction of the image's area, uniform in `scale`;
    an aspect ratio (width / height) log-uniform in `ratio`; and a uniformly random position
    inside the image. `tf.image.crop_and_resize` resamples the box bilinearly to `H x W`.

    A box too wide or too tall for the image is drawn again, up to `CROP_TRIES` times per image,
    as in torchvision's `RandomResizedCrop`, so that area and aspect ratio stay within bounds.
    If all tries fail (about once in 10^8 images with the defaults on square images), the image
    falls back as in torchvision: to the whole image if its own aspect ratio is within `ratio`,
    else to the largest box of the nearest allowed ratio.

    Args:
        images: float images `[B, H, W, C]` in [0, 1].
        seed: a shape-[2] integer seed or a Python int.
        scale: `(min, max)` area of the box as a fraction of the image's area.
        ratio: `(min, max)` aspect ratio, width / height, of the box.

    Returns:
        float32 `[B, H, W, C]` in [0, 1].
    """
    images = _float_images(images)
    # BEGIN SOLUTION
    # HINT 1: Per image: a box whose area fraction is uniform in scale and whose aspect ratio
    # HINT 1: (width / height) is log-uniform in ratio, at a random place, resized to H x W
    # HINT 1: bilinearly. Watch out: redraw a box that doesn't fit; clipping it breaks the bounds.
    # HINT 2: tf.random.stateless_uniform([B, CROP_TRIES], seed, minval, maxval) draws all tries at
    # HINT 2: once (split_seed: a seed per kind of draw); tf.argmax on a 0/1 fits mask finds the
    # HINT 2: first fit, tf.gather(..., batch_dims=1) takes it; _crop_boxes;
    # HINT 2: tf.image.crop_and_resize(images, boxes, box_indices, crop_size, method="bilinear").
    # HINT 3: Draw areas and log-ratios of shape [B, CROP_TRIES] and exponentiate the log-ratios.
    # HINT 3: As fractions of the image's sides, a box is sqrt(area * W / (H * r)) high and
    # HINT 3: sqrt(area * H * r / W) wide. Keep each image's first try with both sides <= 1; where
    # HINT 3: none fits, fall back as the docstring says (a square image: the whole image). Draw
    # HINT 3: top and left as (1 - side) times a uniform number, make the boxes with _crop_boxes,
    # HINT 3: crop with tf.range(B) as box indices and [H, W] as size, and clip to [0, 1].
    shape = tf.shape(images)
    batch, height, width = shape[0], shape[1], shape[2]
    image_aspect = tf.cast(width, tf.float32) / tf.cast(height, tf.float32)
    area_seed, ratio_seed, top_seed, left_seed = tf.unstack(split_seed(seed, 4))

    # CROP_TRIES candidate boxes per image.
    tries = tf.stack([batch, CROP_TRIES])
    area = tf.random.stateless_uniform(tries, area_seed, scale[0], scale[1])
    log_ratio = tf.random.stateless_uniform(
        tries, ratio_seed, math.log(ratio[0]), math.log(ratio[1]))
    aspect = tf.exp(log_ratio)
    # Height and width as fractions of the image's: their product is `area`, and
    # (box_width * W) / (box_height * H) is `aspect`.
    box_height = tf.sqrt(area * image_aspect / aspect)
    box_width = tf.sqrt(area * aspect / image_aspect)

    # Each image keeps its first candidate that fits inside the image.
    fits = (box_height <= 1.0) & (box_width <= 1.0)
    first = tf.argmax(tf.cast(fits, tf.int32), axis=1, output_type=tf.int32)
    box_height = tf.gather(box_height, first, batch_dims=1)
    box_width = tf.gather(box_width, first, batch_dims=1)
    # None fits: the whole image, or the largest box of the nearest allowed ratio.
    any_fits = tf.reduce_any(fits, axis=1)
    box_height = tf.where(any_fits, box_height, tf.minimum(1.0, image_aspect / ratio[0]))
    box_width = tf.where(any_fits, box_width, tf.minimum(1.0, ratio[1] / image_aspect))

    # A uniformly random position inside the image.
    top = (1.0 - box_height) * tf.random.stateless_uniform([batch], top_seed)
    left = (1.0 - box_width) * tf.random.stateless_uniform([batch], left_seed)
    boxes = _crop_boxes(top, left, box_height, box_width)
    crops = tf.image.crop_and_resize(
        images, boxes, tf.range(batch), tf.stack([height, width]), method="bilinear")
    return tf.clip_by_value(crops, 0.0, 1.0)
    # END SOLUTION


def color_jitter(images, seed, strength=0.5):
    """Randomly changes the brightness, contrast, saturation and hue of every image.

    With s = `strength`, each image draws its own brightness, contrast and saturation factors f
    uniform in [max(0, 1 - 0.8 s), 1 + 0.8 s] and its own hue shift d uniform in [-0.2 s, 0.2 s]
    (in turns of the colour wheel), as in the paper's Appendix A. It applies the four operations
    in its own random order and clips to [0, 1] after each one, as google-research/simclr's
    `color_jitter_rand` does:

    - brightness: `x * f`, the multiplicative brightness of SimCLR v2 (`impl='simclrv2'` in
      google-research/simclr; v1 added a random delta instead) and of torchvision;
    - contrast: `mean + f * (x - mean)` with the image's per-channel mean, as
      `tf.image.adjust_contrast`;
    - saturation: `gray + f * (x - gray)`, a blend with the image's luma, as torchvision and PIL
      (`tf.image.adjust_saturation` scales the S of HSV instead);
    - hue: `h -> (h + d) mod 1` in HSV, as `tf.image.adjust_hue`.

    `strength=0` is exactly the identity: every factor is 1 and every hue shift is 0.

    Args:
        images: float RGB images `[B, H, W, 3]` in [0, 1].
        seed: a shape-[2] integer seed or a Python int.
        strength: s above; 1.0 is the paper's setting for ImageNet, 0.5 for CIFAR-10.

    Returns:
        float32 `[B, H, W, 3]` in [0, 1].
    """
    images = _float_images(images)
    # BEGIN SOLUTION
    # HINT 1: Each image draws its own brightness, contrast and saturation factors and hue shift,
    # HINT 1: and applies the four in its own random order, clipping to [0, 1] after each. Watch
    # HINT 1: out: ready-made adjust functions use one factor per batch; strength 0 must be exact.
    # HINT 2: tf.random.stateless_uniform([B], seed, low, high) with split_seed; _per_image(f)
    # HINT 2: makes [B] broadcast; tf.reduce_mean(x, axis=[1, 2], keepdims=True); LUMA_WEIGHTS;
    # HINT 2: tf.image.rgb_to_hsv / hsv_to_rgb, tf.math.floormod; tf.argsort of random numbers for
    # HINT 2: the order; tf.dynamic_partition and tf.dynamic_stitch to route images.
    # HINT 3: Draw factors in [max(0, 1 - 0.8 s), 1 + 0.8 s] and hue shifts in [-0.2 s, 0.2 s], one
    # HINT 3: per image, and each image's order as the argsort of 4 uniform numbers. Operations on
    # HINT 3: (x, f): x * f; x * f + mean * (1 - f); x * f + gray * (1 - f); hue: H of HSV plus d
    # HINT 3: modulo 1, back to RGB, x itself where d == 0. At each of the 4 steps, partition
    # HINT 3: images, factors and indices by the operation each image applies now, apply each to
    # HINT 3: its group, stitch back and clip.
    batch = tf.shape(images)[0]
    seeds = tf.unstack(split_seed(seed, 5))
    strength = tf.cast(strength, tf.float32)
    low, high = tf.maximum(0.0, 1.0 - 0.8 * strength), 1.0 + 0.8 * strength
    # [B, 4]: each image's brightness, contrast and saturation factors and hue shift.
    factors = tf.stack([
        tf.random.stateless_uniform([batch], seeds[0], low, high),
        tf.random.stateless_uniform([batch], seeds[1], low, high),
        tf.random.stateless_uniform([batch], seeds[2], low, high),
        tf.random.stateless_uniform([batch], seeds[3], -0.2 * strength, 0.2 * strength),
    ], axis=1)
    # Each image's order of the four operations: the argsort of 4 uniform numbers.
    order = tf.argsort(tf.random.stateless_uniform([batch, 4], seeds[4]), axis=1)

    # Each operation takes images [b, H, W, 3] and one factor per image [b]. Written as
    # x * f + (1 - f) * something, they give back x exactly when f = 1.
    def adjust_brightness(x, f):
        return x * _per_image(f)

    def adjust_contrast(x, f):
        mean = tf.reduce_mean(x, axis=[1, 2], keepdims=True)
        return x * _per_image(f) + mean * (1.0 - _per_image(f))

    def adjust_saturation(x, f):
        gray = tf.reduce_sum(x * LUMA_WEIGHTS, axis=-1, keepdims=True)
        return x * _per_image(f) + gray * (1.0 - _per_image(f))

    def adjust_hue(x, delta):
        hsv = tf.image.rgb_to_hsv(x)
        hue = tf.math.floormod(hsv[..., :1] + _per_image(delta), 1.0)
        shifted = tf.image.hsv_to_rgb(tf.concat([hue, hsv[..., 1:]], axis=-1))
        return _where_per_image(delta == 0.0, x, shifted)  # RGB -> HSV -> RGB is not exact

    operations = (adjust_brightness, adjust_contrast, adjust_saturation, adjust_hue)
    index = tf.range(batch)
    x = images
    for step in range(4):
        # Group the images by the operation they apply at this step, apply each operation to its
        # group, and stitch the images back in their places.
        operation = order[:, step]
        groups = tf.dynamic_partition(x, operation, 4)
        group_factors = tf.dynamic_partition(factors, operation, 4)
        group_index = tf.dynamic_partition(index, operation, 4)
        results = [apply(group, f[:, k]) for k, (apply, group, f)
                   in enumerate(zip(operations, groups, group_factors, strict=False))]
        x = tf.clip_by_value(tf.dynamic_stitch(group_index, results), 0.0, 1.0)
    return x
    # END SOLUTION


def random_grayscale(images, seed, p=0.2):
    """Turns each image, with probability `p`, into its luma repeated on the three channels.

    Luma is ITU-R 601-2: 0.299 R + 0.587 G + 0.114 B (`LUMA_WEIGHTS`). Each image tosses its own
    coin.

    Args:
        images: float RGB images `[B, H, W, 3]` in [0, 1].
        seed: a shape-[2] integer seed or a Python int.
        p: the probability that an image becomes gray.

    Returns:
        float32 `[B, H, W, 3]` in [0, 1].
    """
    images = _float_images(images)
    # BEGIN SOLUTION
    # HINT 1: Each image tosses its own coin: with probability p it becomes its luma (0.299 R +
    # HINT 1: 0.587 G + 0.114 B) copied onto all three channels, otherwise it stays as it is. Watch
    # HINT 1: out: one coin per image, not per pixel, and the output keeps three channels.
    # HINT 2: tf.random.stateless_uniform (one number per image, from as_seed(seed)) against p
    # HINT 2: for the coins; LUMA_WEIGHTS and tf.reduce_sum over the channel axis, keeping it (or
    # HINT 2: tf.image.rgb_to_grayscale); tf.broadcast_to or tf.tile for three channels;
    # HINT 2: _where_per_image or tf.where to choose per image.
    # HINT 3: Compute the luma with keepdims, so it is [B, H, W, 1], and broadcast it to the
    # HINT 3: images' shape. Draw one uniform number per image from as_seed(seed) and compare it
    # HINT 3: with p. Return, per image, the gray version where the coin is true and the original
    # HINT 3: elsewhere.
    gray = tf.reduce_sum(images * LUMA_WEIGHTS, axis=-1, keepdims=True)
    gray = tf.broadcast_to(gray, tf.shape(images))
    coin = tf.random.stateless_uniform([tf.shape(images)[0]], as_seed(seed)) < p
    return _where_per_image(coin, gray, images)
    # END SOLUTION


def augment(images, seed):
    """SimCLR's augmentation for CIFAR-10: one random view of every image.

    In order, each image draws its own: a random resized crop (the defaults of
    `random_resized_crop`), a left-right flip with probability `FLIP_PROBABILITY` (0.5), colour
    jitter of strength `JITTER_STRENGTH` (0.5) with probability `JITTER_PROBABILITY` (0.8), and
    grayscale with probability `GRAYSCALE_PROBABILITY` (0.2). No Gaussian blur: the paper leaves
    it out on 32x32 images. Two calls with different seeds give the two views of a batch.

    Args:
        images: float RGB images `[B, H, W, 3]` in [0, 1].
        seed: a shape-[2] integer seed or a Python int.

    Returns:
        float32 `[B, H, W, 3]` in [0, 1].
    """
    images = _float_images(images)
    # BEGIN SOLUTION
    # HINT 1: Chain SimCLR's steps, each drawn per image: a random resized crop, a left-right flip
    # HINT 1: half the time, colour jitter of strength 0.5 for 80% of images, grayscale for 20%.
    # HINT 1: Watch out: give each random step its own seed.
    # HINT 2: Your random_resized_crop, color_jitter and random_grayscale, with FLIP_PROBABILITY,
    # HINT 2: JITTER_STRENGTH, JITTER_PROBABILITY and GRAYSCALE_PROBABILITY; split_seed(seed, n);
    # HINT 2: tf.reverse(x, axis=[2]) flips left-right; tf.random.stateless_uniform([B], seed) < p
    # HINT 2: tosses one coin per image; _where_per_image(coin, a, b) picks a or b per image.
    # HINT 3: Split the seed into five: crop, flip coin, jitter coin, jitter, gray. Crop the
    # HINT 3: images. Keep, per image, the version reversed along the width where the flip coin is
    # HINT 3: below FLIP_PROBABILITY. Run color_jitter on the whole batch with JITTER_STRENGTH and
    # HINT 3: keep its result where the jitter coin is below JITTER_PROBABILITY. Finish with
    # HINT 3: random_grayscale at GRAYSCALE_PROBABILITY.
    batch = tf.shape(images)[0]
    crop_seed, flip_seed, jitter_coin_seed, jitter_seed, gray_seed = tf.unstack(
        split_seed(seed, 5))
    x = random_resized_crop(images, crop_seed)
    flip = tf.random.stateless_uniform([batch], flip_seed) < FLIP_PROBABILITY
    x = _where_per_image(flip, tf.reverse(x, axis=[2]), x)
    jitter = tf.random.stateless_uniform([batch], jitter_coin_seed) < JITTER_PROBABILITY
    x = _where_per_image(jitter, color_jitter(x, jitter_seed, JITTER_STRENGTH), x)
    return random_grayscale(x, gray_seed, GRAYSCALE_PROBABILITY)
    # END SOLUTION


def build_projection_head(input_dim, hidden_dim=512, output_dim=128):
    """The projection head g of SimCLR: `Dense(hidden_dim) -> ReLU -> Dense(output_dim)`.

    A functional model from the encoder's features `[B, input_dim]` to the embeddings
    `[B, output_dim]` that the loss compares. Section 4.2 of the paper shows that a nonlinear
    head gives better encoder features than a linear head or none: the head can drop what the
    loss has no use for (such as colour), so the encoder need not.

    Args:
        input_dim: the number of encoder features (512 for the course's backbone).
        hidden_dim: the width of the hidden layer.
        output_dim: the size of the embeddings (128 in the paper).

    Returns:
        a `keras.Model` from `(input_dim,)` to `(output_dim,)`.
    """
    # BEGIN SOLUTION
    # HINT 1: The head g is a small two-layer network: a hidden layer with a ReLU nonlinearity,
    # HINT 1: then a linear layer to the embedding size. No activation at the end: the loss
    # HINT 1: normalises the embeddings itself.
    # HINT 2: keras.Input(shape=(input_dim,)), keras.layers.Dense(units), keras.layers.ReLU() (or
    # HINT 2: Dense(units, activation="relu")) and keras.Model(inputs, outputs).
    # HINT 3: Make an input of shape (input_dim,), pass it through a Dense layer of hidden_dim
    # HINT 3: units, a ReLU and a Dense layer of output_dim units, and wrap the input and the
    # HINT 3: output in a keras.Model.
    inputs = keras.Input(shape=(input_dim,))
    hidden = keras.layers.Dense(hidden_dim)(inputs)
    hidden = keras.layers.ReLU()(hidden)
    outputs = keras.layers.Dense(output_dim)(hidden)
    return keras.Model(inputs, outputs, name="projection_head")
    # END SOLUTION


def _l2_normalize(z):
    """The rows of `z` `[N, D]` scaled to length 1, as float32; an all-zero row stays zero.

    `tf.math.l2_normalize` alone squares the entries: rows of size 1e20 overflow to inf, and rows
    of size 1e-8 fall under its epsilon and come out far shorter than 1. Dividing each row by its
    largest entry first keeps the sum of squares between 1 and D. That division does not change
    the direction, so no gradient flows through it.
    """
    z = tf.cast(z, tf.float32)
    largest = tf.stop_gradient(tf.reduce_max(tf.abs(z), axis=1, keepdims=True))
    z = z / tf.where(largest > 0.0, largest, 1.0)
    return tf.math.l2_normalize(z, axis=1)


def nt_xent_loss(z1, z2, temperature=0.5):
    """The NT-Xent (normalised temperature-scaled cross-entropy) loss of SimCLR.

    `z1[i]` and `z2[i]` embed the two views of image i. Together they are 2B embeddings, and
    every pair is scored by its cosine similarity divided by the temperature T. Each of the 2B
    embeddings, the anchor a, classifies the other 2B - 1 (itself excluded), and the right answer
    is its partner (`z2[i]` for `z1[i]`, `z1[i]` for `z2[i]`):

        loss(a) = -log( exp(sim(a, partner) / T) / sum over k != a of exp(sim(a, k) / T) )

    The loss is the mean over the 2B anchors (the paper's Eq. 1 and Algorithm 1). A lower
    temperature weighs the hardest negatives more; the paper uses 0.5 on CIFAR-10 and 0.1 on
    ImageNet.

    Args:
        z1, z2: embeddings `[B, D]`, rows of any nonzero length.
        temperature: T above, a positive float.

    Returns:
        a float32 scalar, finite for any nonzero embeddings.
    """
    # BEGIN SOLUTION
    # HINT 1: Score every pair of the 2B embeddings by cosine similarity over the temperature.
    # HINT 1: Each anchor picks its partner (the other view of its image) out of the others,
    # HINT 1: itself left out; average the 2B losses. Watch out: stay finite for any nonzero rows.
    # HINT 2: _l2_normalize (safe for any length); tf.concat; tf.matmul and its transpose_b;
    # HINT 2: tf.linalg.set_diag with -math.inf to drop the self-pairs;
    # HINT 2: tf.nn.sparse_softmax_cross_entropy_with_logits (stable even with -inf);
    # HINT 2: tf.reduce_mean.
    # HINT 3: Normalise z1 and z2 with _l2_normalize and concatenate them into z [2B, D]. Multiply
    # HINT 3: z by its transpose and divide by the temperature (as float32) for logits [2B, 2B].
    # HINT 3: Set the diagonal to -inf. The partner of row i is row (i + B) mod 2B: the labels are
    # HINT 3: the range B .. 2B - 1 followed by 0 .. B - 1. Return the mean of the sparse softmax
    # HINT 3: cross-entropy of those labels against the logits.
    z = tf.concat([_l2_normalize(z1), _l2_normalize(z2)], axis=0)  # [2B, D], rows of length 1
    logits = tf.matmul(z, z, transpose_b=True) / tf.cast(temperature, tf.float32)  # [2B, 2B]
    pairs = tf.shape(z)[0] // 2
    # A diagonal of -inf gives each anchor itself a probability of exactly 0. The sparse cross
    # entropy reads only the partner's log-probability, so no 0 * inf can make a NaN.
    logits = tf.linalg.set_diag(logits, tf.fill([2 * pairs], -math.inf))
    partners = tf.concat([tf.range(pairs, 2 * pairs), tf.range(pairs)], axis=0)
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=partners, logits=logits)
    return tf.reduce_mean(losses)
    # END SOLUTION


def contrastive_step(encoder, head, optimizer, images, seed, temperature=0.5):
    """One SimCLR training step on a batch of images.

    Makes two views of every image (`augment` with two seeds split from `seed`), encodes and
    projects them in training mode, computes `nt_xent_loss`, and applies its gradients to the
    trainable variables of `encoder` and `head` with `optimizer`. The two views go through the
    encoder as one batch of 2B, so BatchNormalization normalises them with shared statistics.

    It runs eagerly and in a `tf.function`, which is faster in a training loop:
    `step = tf.function(contrastive_step)`. Pass the seed as a tensor (each new Python int traces
    the function again). Keras creates the optimizer's variables on its first update, and a
    `tf.function` may create variables only on its first trace: to use one `step` for several
    models, call `optimizer.build(encoder.trainable_variables + head.trainable_variables)` first.

    Args:
        encoder: a Keras model from images `[B, H, W, 3]` to features `[B, F]`.
        head: a Keras model from `[B, F]` to embeddings `[B, D]` (`build_projection_head(F)`).
        optimizer: a Keras optimizer.
        images: float images `[B, H, W, 3]` in [0, 1].
        seed: a shape-[2] integer seed or a Python int.
        temperature: the temperature of `nt_xent_loss`.

    Returns:
        the loss of this batch, a float32 scalar, computed before the update.
    """
    # BEGIN SOLUTION
    # HINT 1: Make two views of every image with different seeds, pass both through the encoder and
    # HINT 1: the head in training mode, compute the contrastive loss, and update both models with
    # HINT 1: its gradients. Return this step's loss, from before the update.
    # HINT 2: split_seed for the two views' seeds; tf.GradientTape around the forward pass; the
    # HINT 2: models called with training=True; tf.split to halve a batch; tape.gradient and
    # HINT 2: optimizer.apply_gradients, over the trainable_variables of the encoder and the head.
    # HINT 3: Split the seed in two and concatenate the two augmented views along axis 0, one batch
    # HINT 3: of 2B (so BatchNormalization shares statistics). Inside a GradientTape, run the
    # HINT 3: encoder, then the head, on the views with training=True, split the embeddings into
    # HINT 3: two halves and compute nt_xent_loss with the temperature. Take the gradient of the
    # HINT 3: loss with respect to both models' trainable variables, apply it with the optimizer,
    # HINT 3: and return the loss.
    seed_1, seed_2 = tf.unstack(split_seed(seed, 2))
    views = tf.concat([augment(images, seed_1), augment(images, seed_2)], axis=0)
    variables = encoder.trainable_variables + head.trainable_variables
    with tf.GradientTape() as tape:
        z = head(encoder(views, training=True), training=True)
        z1, z2 = tf.split(z, 2, axis=0)
        loss = nt_xent_loss(z1, z2, temperature)
    gradients = tape.gradient(loss, variables)
    optimizer.apply_gradients(zip(gradients, variables, strict=False))
    return loss
    # END SOLUTION
