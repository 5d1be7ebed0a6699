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

| setting                  | here        | paper                                                   |
|--------------------------|-------------|---------------------------------------------------------|
| crop area (`scale`)      | 0.2 to 1    | 0.08 to 1; 8% of 32x32 is only 9x9, CIFAR code uses 0.2 |
| crop aspect ratio        | 3/4 to 4/3  | 3/4 to 4/3                                              |
| left-right flip          | p = 0.5     | p = 0.5                                                 |
| colour jitter strength s | 0.5         | 1.0 on ImageNet, 0.5 on CIFAR-10                        |
| colour jitter applied    | p = 0.8     | p = 0.8                                                 |
| grayscale                | p = 0.2     | p = 0.2                                                 |
| Gaussian blur            | none        | on ImageNet only, left out on CIFAR-10                  |
| temperature              | 0.5         | 0.5 on CIFAR-10, 0.1 on ImageNet                        |
| projection head          | Dense, ReLU, Dense to 128 | the same                                  |
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
    # HINT: Draw CROP_TRIES candidate boxes per image, shape [B, CROP_TRIES], with
    # HINT: tf.random.stateless_uniform and one seed per kind of draw (split_seed): an area
    # HINT: fraction s uniform in `scale`, and an aspect ratio r = exp(uniform in log(`ratio`)).
    # HINT: As fractions of the image's sides, the box is sqrt(s * W / (H * r)) high and
    # HINT: sqrt(s * H * r / W) wide. Keep each image's first candidate that fits (both <= 1:
    # HINT: tf.argmax, then tf.gather(..., batch_dims=1)); where none fits, take the whole image.
    # HINT: Place the box at a uniformly random position inside the image, make the boxes with
    # HINT: _crop_boxes(top, left, height, width), and resample them with
    # HINT: tf.image.crop_and_resize(images, boxes, tf.range(B), [H, W], method="bilinear").
    raise NotImplementedError('Draw CROP_TRIES candidate boxes per image, shape [B, CROP_TRIES], with tf.random.stateless_uniform and one seed per kind of draw (split_seed): an area fraction s uniform in `scale`, and an aspect ratio r = exp(uniform in log(`ratio`)). As fractions of the image\'s sides, the box is sqrt(s * W / (H * r)) high and sqrt(s * H * r / W) wide. Keep each image\'s first candidate that fits (both <= 1: tf.argmax, then tf.gather(..., batch_dims=1)); where none fits, take the whole image. Place the box at a uniformly random position inside the image, make the boxes with _crop_boxes(top, left, height, width), and resample them with tf.image.crop_and_resize(images, boxes, tf.range(B), [H, W], method="bilinear").')


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
    # HINT: tf.image.adjust_* take one factor for the whole batch, so write the four operations
    # HINT: yourself, each from images [b, H, W, 3] and one factor per image [b] (_per_image
    # HINT: reshapes it to broadcast): brightness x * f; contrast x * f + mean * (1 - f), with the
    # HINT: mean per image and channel; saturation x * f + gray * (1 - f), with gray the luma
    # HINT: (LUMA_WEIGHTS); hue: add d to the H of tf.image.rgb_to_hsv modulo 1 and convert back
    # HINT: with tf.image.hsv_to_rgb, keeping x where d == 0 (strength 0 must be exact). Draw the
    # HINT: factors with tf.random.stateless_uniform; tf.argsort of 4 uniform numbers per image is a
    # HINT: random order. At each of the 4 steps, split the batch by the operation each image
    # HINT: applies now (tf.dynamic_partition), apply each operation to its group, put the images
    # HINT: back in their places (tf.dynamic_stitch), and clip to [0, 1].
    raise NotImplementedError('tf.image.adjust_* take one factor for the whole batch, so write the four operations yourself, each from images [b, H, W, 3] and one factor per image [b] (_per_image reshapes it to broadcast): brightness x * f; contrast x * f + mean * (1 - f), with the mean per image and channel; saturation x * f + gray * (1 - f), with gray the luma (LUMA_WEIGHTS); hue: add d to the H of tf.image.rgb_to_hsv modulo 1 and convert back with tf.image.hsv_to_rgb, keeping x where d == 0 (strength 0 must be exact). Draw the factors with tf.random.stateless_uniform; tf.argsort of 4 uniform numbers per image is a random order. At each of the 4 steps, split the batch by the operation each image applies now (tf.dynamic_partition), apply each operation to its group, put the images back in their places (tf.dynamic_stitch), and clip to [0, 1].')


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
    # HINT: One coin per image: tf.random.stateless_uniform([B], as_seed(seed)) < p. The gray image
    # HINT: is tf.reduce_sum(images * LUMA_WEIGHTS, axis=-1, keepdims=True), broadcast back to the
    # HINT: three channels (tf.broadcast_to); choose per image with _where_per_image(coin, gray,
    # HINT: images), or tf.where.
    raise NotImplementedError('One coin per image: tf.random.stateless_uniform([B], as_seed(seed)) < p. The gray image is tf.reduce_sum(images * LUMA_WEIGHTS, axis=-1, keepdims=True), broadcast back to the three channels (tf.broadcast_to); choose per image with _where_per_image(coin, gray, images), or tf.where.')


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
    # HINT: Split `seed` into one seed per random step (split_seed(seed, 5)). Crop with
    # HINT: random_resized_crop; flip each image on its own coin (tf.reverse(x, axis=[2]) flips
    # HINT: left-right; choose per image with _where_per_image); run color_jitter on the whole batch
    # HINT: and keep its result where the image's coin < JITTER_PROBABILITY; finish with
    # HINT: random_grayscale(x, ..., GRAYSCALE_PROBABILITY).
    raise NotImplementedError("Split `seed` into one seed per random step (split_seed(seed, 5)). Crop with random_resized_crop; flip each image on its own coin (tf.reverse(x, axis=[2]) flips left-right; choose per image with _where_per_image); run color_jitter on the whole batch and keep its result where the image's coin < JITTER_PROBABILITY; finish with random_grayscale(x, ..., GRAYSCALE_PROBABILITY).")


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
    # HINT: keras.Input(shape=(input_dim,)) -> keras.layers.Dense(hidden_dim) -> keras.layers.ReLU()
    # HINT: -> keras.layers.Dense(output_dim), then keras.Model(inputs, outputs).
    raise NotImplementedError('keras.Input(shape=(input_dim,)) -> keras.layers.Dense(hidden_dim) -> keras.layers.ReLU() -> keras.layers.Dense(output_dim), then keras.Model(inputs, outputs).')


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
    # HINT: Normalise the rows of z1 and z2 with _l2_normalize (safe for any length) and stack them:
    # HINT: z [2B, D]. logits = z @ z^T / temperature, [2B, 2B]. Exclude each anchor itself: set the
    # HINT: diagonal to -inf with tf.linalg.set_diag(logits, tf.fill([2B], -math.inf)). The
    # HINT: partner of row i is row (i + B) mod 2B; tf.nn.sparse_softmax_cross_entropy_with_logits(
    # HINT: labels=partners, logits=logits) computes the log-softmax stably; return its mean.
    raise NotImplementedError('Normalise the rows of z1 and z2 with _l2_normalize (safe for any length) and stack them: z [2B, D]. logits = z @ z^T / temperature, [2B, 2B]. Exclude each anchor itself: set the diagonal to -inf with tf.linalg.set_diag(logits, tf.fill([2B], -math.inf)). The partner of row i is row (i + B) mod 2B; tf.nn.sparse_softmax_cross_entropy_with_logits( labels=partners, logits=logits) computes the log-softmax stably; return its mean.')


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
    # HINT: Split `seed` in two and make the views tf.concat([augment(images, seed_1),
    # HINT: augment(images, seed_2)], axis=0). Inside a tf.GradientTape, compute
    # HINT: z = head(encoder(views, training=True), training=True), split z into its two halves and
    # HINT: compute nt_xent_loss. Take tape.gradient over encoder.trainable_variables +
    # HINT: head.trainable_variables, apply it with optimizer.apply_gradients(zip(gradients,
    # HINT: variables)), and return the loss.
    raise NotImplementedError('Split `seed` in two and make the views tf.concat([augment(images, seed_1), augment(images, seed_2)], axis=0). Inside a tf.GradientTape, compute z = head(encoder(views, training=True), training=True), split z into its two halves and compute nt_xent_loss. Take tape.gradient over encoder.trainable_variables + head.trainable_variables, apply it with optimizer.apply_gradients(zip(gradients, variables)), and return the loss.')
