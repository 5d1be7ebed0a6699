"""Lab 4: SimCLR, learning by telling two views of an image apart from all the others.

The pretext tasks of labs 2 and 3 invent a label (a rotation, a patch position, a permutation)
and train a classifier to predict it. Contrastive learning needs no invented label. Take a batch
of B images and make two random *views* of each (crop, flip, recolour): 2B views in all. For every
view the network must find its *partner*, the other view of the same image, among the other
2B - 1 views. To do that it has to keep what survives the augmentations (shapes, textures, object
parts) and ignore what they change (position, scale, colour), so the augmentations decide what the
representation learns.

SimCLR (Chen, Kornblith, Norouzi & Hinton, ICML 2020, "A Simple Framework for Contrastive Learning
of Visual Representations", https://arxiv.org/abs/2002.05709) does exactly this:

    image --augment--> view 1 --encoder f--> h1 --head g--> z1 --+
      |                                                          +--> NT-Xent loss
      +----augment--> view 2 --encoder f--> h2 --head g--> z2 --+

The encoder f is the course's backbone; the projection head g is a small MLP used only during
pretraining. Afterwards g is thrown away, and the encoder's features h go to the downstream task
(the linear probe or fine-tuning of lab 2's `transfer`).

What you write in this lab:

1. the augmentations, each for a whole batch at once, every image with its own random draws:
   `random_resized_crop`, `color_jitter`, `random_grayscale`, and `augment`, which chains them;
2. `build_projection_head`: the MLP g;
3. `nt_xent_loss`: SimCLR's contrastive loss;
4. `contrastive_step`: one training step that ties them together.

Conventions, as in every lab: images are float32 in [0, 1], channels-last `[B, H, W, C]`; functions
accept NumPy arrays or tensors and return tensors; randomness comes from an explicit `seed` (a
shape-[2] integer tensor or a Python int, see `course.seeds`). Same inputs and seed give the same
output. Every draw is made per image with `tf.random.stateless_*` ops: no Python loop over the
images.

The augmentation parameters follow the paper's Appendix A (ImageNet) and B.9 (CIFAR-10):

| parameter                   | here          | paper                | why                              |
|-----------------------------|---------------|----------------------|----------------------------------|
| crop area (`scale`)         | (0.2, 1.0)    | (0.08, 1.0), App. A  | 8% of 32x32 is a 9x9 crop; 0.2 is the usual CIFAR choice |
| crop aspect ratio (`ratio`) | (3/4, 4/3)    | (3/4, 4/3), App. A   |                                  |
| left-right flip             | p = 0.5       | p = 0.5, App. A      |                                  |
| colour jitter strength s    | 0.5           | 1.0 ImageNet, 0.5 CIFAR-10 (App. B.9) |                 |
| colour jitter applied       | p = 0.8       | p = 0.8, App. A      |                                  |
| grayscale                   | p = 0.2       | p = 0.2, App. A      |                                  |
| Gaussian blur               | none          | ImageNet only; left out for CIFAR-10 (App. B.9) | |
| temperature                 | 0.5           | 0.5 for CIFAR-10 (App. B.9) |                           |
| projection head             | 2-layer MLP, 128-d output | same (Sec. 2.1, 4.2) |                     |
"""
from __future__ import annotations

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
"""Draws of (area, aspect ratio) per image before `random_resized_crop` falls back (as torchvision)."""

_EDGE = 1e-5
"""How far inside the image's far edge `_crop_boxes` ends a box that starts inside the image."""


def _float_images(images) -> tf.Tensor:
    """`images` as a float32 tensor (uint8 images are scaled from [0, 255] to [0, 1])."""
    images = tf.convert_to_tensor(images)
    if images.dtype == tf.uint8:
        return tf.cast(images, tf.float32) / 255.0
    return tf.cast(images, tf.float32)


def _per_image(values) -> tf.Tensor:
    """Reshapes one value per image, `[B]`, to `[B, 1, 1, 1]` so that it broadcasts over `[B, H, W, C]`."""
    return tf.reshape(values, [-1, 1, 1, 1])


def _crop_boxes(top, left, height, width) -> tf.Tensor:
    """Boxes `[B, 4]` as `(y1, x1, y2, x2)` for `tf.image.crop_and_resize`, from fractions of the image.

    `crop_and_resize` measures boxes in fractions of the image (0 = the first pixel, 1 = the last)
    and writes its `extrapolation_value` (black) wherever a sample point falls outside the image.
    For a box that starts inside the image and ends exactly at its edge, rounding puts the last
    sample point a hair past the last pixel in about 8% of cases, and the crop gets a black last row
    or column. Such boxes end `_EDGE` (3e-4 pixel on 32x32 images) inside the edge instead. A box
    that starts at 0 is computed exactly, so the whole image stays exactly the whole image.
    """
    bottom = tf.minimum(top + height, tf.where(top > 0, 1.0 - _EDGE, 1.0))
    right = tf.minimum(left + width, tf.where(left > 0, 1.0 - _EDGE, 1.0))
    return tf.stack([top, left, bottom, right], axis=1)


def random_resized_crop(images, seed, scale=(0.2, 1.0), ratio=(3 / 4, 4 / 3)) -> tf.Tensor:
    """Crops a random box of every image and resizes it back to the image's size.

    Each image draws its own box: an area, as a fraction of the image's area, uniform in `scale`;
    an aspect ratio (width / height) log-uniform in `ratio`; and a uniformly random position that
    keeps the box inside the image. The box is resampled bilinearly to `H x W`
    (`tf.image.crop_and_resize`, box corners measured from the first to the last pixel).

    A box too wide or too tall for the image is drawn again, up to `CROP_TRIES` times per image,
    as torchvision's `RandomResizedCrop` does, so every box keeps its area and aspect ratio within
    bounds. An image whose tries all fail (about 1 in 10^8 with the defaults on square images) falls back
    as torchvision does too: the whole image if the image's own aspect ratio is within `ratio`, else the largest box
    of the nearest allowed aspect ratio.

    Args:
        images: float images `[B, H, W, C]` in [0, 1].
        seed: a shape-[2] integer seed or a Python int.
        scale: `(min, max)` area of the box as a fraction of the image's area. The SimCLR paper
            uses (0.08, 1); 0.2 suits 32x32 images.
        ratio: `(min, max)` aspect ratio, width / height, of the box.

    Returns:
        float32 `[B, H, W, C]` in [0, 1].
    """
    images = _float_images(images)
    # HINT: Draw CROP_TRIES candidates per image ([B, CROP_TRIES], tf.random.stateless_uniform, one seed
    # HINT: per kind of draw from split_seed): an area fraction s uniform in `scale` and an aspect ratio r
    # HINT: whose log is uniform in log(`ratio`). As fractions of the image's height and width, the box is
    # HINT: sqrt(s * W / (H * r)) high and sqrt(s * H * r / W) wide. Keep each image's first candidate that
    # HINT: fits (both <= 1; tf.argmax and tf.gather(..., batch_dims=1)); if none fits, use the whole image
    # HINT: (or the largest box of the nearest allowed ratio). Place the box at a uniformly random position
    # HINT: inside the image, build boxes with _crop_boxes(top, left, height, width), and resample with
    # HINT: tf.image.crop_and_resize(images, boxes, tf.range(B), [H, W], method="bilinear").
    raise NotImplementedError('Draw CROP_TRIES candidates per image ([B, CROP_TRIES], tf.random.stateless_uniform, one seed per kind of draw from split_seed): an area fraction s uniform in `scale` and an aspect ratio r whose log is uniform in log(`ratio`). As fractions of the image\'s height and width, the box is sqrt(s * W / (H * r)) high and sqrt(s * H * r / W) wide. Keep each image\'s first candidate that fits (both <= 1; tf.argmax and tf.gather(..., batch_dims=1)); if none fits, use the whole image (or the largest box of the nearest allowed ratio). Place the box at a uniformly random position inside the image, build boxes with _crop_boxes(top, left, height, width), and resample with tf.image.crop_and_resize(images, boxes, tf.range(B), [H, W], method="bilinear").')


def color_jitter(images, seed, strength=0.5) -> tf.Tensor:
    """Randomly changes the brightness, contrast, saturation and hue of every image.

    With s = `strength`, each image draws its own brightness, contrast and saturation factors f
    uniform in [max(0, 1 - 0.8 s), 1 + 0.8 s] and its own hue shift d uniform in [-0.2 s, 0.2 s]
    (in turns of the colour wheel), as in the paper's Appendix A. It applies the four operations in
    its own random order, clipping to [0, 1] after each one, as google-research/simclr's
    `color_jitter_rand` does:

    - brightness: `x * f`, the multiplicative brightness of SimCLR v2 (`impl='simclrv2'` in
      google-research/simclr; v1 added a random delta instead) and of torchvision;
    - contrast: `mean + f * (x - mean)`, with the image's per-channel mean, as `tf.image.adjust_contrast`;
    - saturation: `gray + f * (x - gray)`, a blend with the image's luma, as torchvision and PIL
      (`tf.image.adjust_saturation` scales S in HSV instead);
    - hue: `h -> (h + d) mod 1` in HSV, as `tf.image.adjust_hue`.

    `strength=0` is exactly the identity: every factor is 1 and every hue shift is 0.

    Args:
        images: float RGB images `[B, H, W, 3]` in [0, 1].
        seed: a shape-[2] integer seed or a Python int.
        strength: s above; 1.0 is the paper's ImageNet setting, 0.5 its CIFAR-10 setting.

    Returns:
        float32 `[B, H, W, 3]` in [0, 1].
    """
    images = _float_images(images)
    # HINT: tf.image.adjust_* take one factor for the whole batch, so write the four per-image operations
    # HINT: yourself, with factors of shape [B] drawn by tf.random.stateless_uniform and reshaped by _per_image:
    # HINT: brightness x * f; contrast x * f + mean * (1 - f) with the per-image, per-channel mean;
    # HINT: saturation x * f + gray * (1 - f) with gray = the luma (LUMA_WEIGHTS); hue: shift H of
    # HINT: tf.image.rgb_to_hsv by d modulo 1 and convert back with tf.image.hsv_to_rgb (keep x where d == 0,
    # HINT: so that strength 0 is exact). Give each image its own order: tf.argsort of 4 uniform numbers per
    # HINT: image is a random permutation. At step k, compute all four operations and keep, per image, the one
    # HINT: its permutation names (tf.stack(..., axis=1) then tf.gather(..., batch_dims=1)); clip to [0, 1].
    raise NotImplementedError('tf.image.adjust_* take one factor for the whole batch, so write the four per-image operations yourself, with factors of shape [B] drawn by tf.random.stateless_uniform and reshaped by _per_image: brightness x * f; contrast x * f + mean * (1 - f) with the per-image, per-channel mean; saturation x * f + gray * (1 - f) with gray = the luma (LUMA_WEIGHTS); hue: shift H of tf.image.rgb_to_hsv by d modulo 1 and convert back with tf.image.hsv_to_rgb (keep x where d == 0, so that strength 0 is exact). Give each image its own order: tf.argsort of 4 uniform numbers per image is a random permutation. At step k, compute all four operations and keep, per image, the one its permutation names (tf.stack(..., axis=1) then tf.gather(..., batch_dims=1)); clip to [0, 1].')


def random_grayscale(images, seed, p=0.2) -> tf.Tensor:
    """Turns each image, with probability `p`, into its luma repeated on the three channels.

    Luma is ITU-R 601-2, 0.299 R + 0.587 G + 0.114 B (`LUMA_WEIGHTS`). Each image flips its own coin.

    Args:
        images: float RGB images `[B, H, W, 3]` in [0, 1].
        seed: a shape-[2] integer seed or a Python int.
        p: the probability that an image becomes gray.

    Returns:
        float32 `[B, H, W, 3]` in [0, 1].
    """
    images = _float_images(images)
    # HINT: One coin per image: tf.random.stateless_uniform([B], as_seed(seed)) < p. The gray image is
    # HINT: tf.reduce_sum(images * LUMA_WEIGHTS, axis=-1, keepdims=True), broadcast back to three channels;
    # HINT: choose per image with tf.where(_per_image(coin), gray, images).
    raise NotImplementedError('One coin per image: tf.random.stateless_uniform([B], as_seed(seed)) < p. The gray image is tf.reduce_sum(images * LUMA_WEIGHTS, axis=-1, keepdims=True), broadcast back to three channels; choose per image with tf.where(_per_image(coin), gray, images).')


def augment(images, seed) -> tf.Tensor:
    """SimCLR's augmentation for CIFAR-10: one random view of every image.

    In order, each image draws its own: a random resized crop (`random_resized_crop` defaults),
    a left-right flip with probability `FLIP_PROBABILITY` (0.5), colour jitter of strength
    `JITTER_STRENGTH` (0.5) with probability `JITTER_PROBABILITY` (0.8), and grayscale with
    probability `GRAYSCALE_PROBABILITY` (0.2). No Gaussian blur: the paper leaves it out on 32x32
    images. Call it twice with different seeds to get the two views of a batch.

    Args:
        images: float RGB images `[B, H, W, 3]` in [0, 1].
        seed: a shape-[2] integer seed or a Python int.

    Returns:
        float32 `[B, H, W, 3]` in [0, 1].
    """
    images = _float_images(images)
    # HINT: Split `seed` into one seed per random step (split_seed(seed, 5)). Crop with random_resized_crop;
    # HINT: flip each image with its own coin (tf.reverse(x, axis=[2]) flips left-right; choose with tf.where);
    # HINT: color_jitter the whole batch and keep the result where each image's coin < JITTER_PROBABILITY;
    # HINT: finish with random_grayscale(x, ..., GRAYSCALE_PROBABILITY).
    raise NotImplementedError("Split `seed` into one seed per random step (split_seed(seed, 5)). Crop with random_resized_crop; flip each image with its own coin (tf.reverse(x, axis=[2]) flips left-right; choose with tf.where); color_jitter the whole batch and keep the result where each image's coin < JITTER_PROBABILITY; finish with random_grayscale(x, ..., GRAYSCALE_PROBABILITY).")


def build_projection_head(input_dim, hidden_dim=512, output_dim=128) -> keras.Model:
    """The projection head g of SimCLR: `Dense(hidden_dim) -> ReLU -> Dense(output_dim)`.

    A functional model from the encoder's features `[B, input_dim]` to the embeddings
    `[B, output_dim]` on which the loss is computed. The paper's Section 4.2 shows that a nonlinear head
    gives better encoder features than a linear one or none: the head can discard what the loss
    does not need (such as colour), and the encoder keeps it.

    Args:
        input_dim: the number of encoder features (512 for the course's backbone).
        hidden_dim: the width of the hidden layer.
        output_dim: the size of the embeddings (128 in the paper).

    Returns:
        a `keras.Model` with input `(input_dim,)` and output `(output_dim,)`.
    """
    # HINT: keras.Input(shape=(input_dim,)) -> keras.layers.Dense(hidden_dim) -> keras.layers.ReLU()
    # HINT: -> keras.layers.Dense(output_dim); return keras.Model(inputs, outputs).
    raise NotImplementedError('keras.Input(shape=(input_dim,)) -> keras.layers.Dense(hidden_dim) -> keras.layers.ReLU() -> keras.layers.Dense(output_dim); return keras.Model(inputs, outputs).')


def _l2_normalize(z) -> tf.Tensor:
    """Rows of `z` `[N, D]` scaled to unit length, as float32; an all-zero row stays zero.

    `tf.math.l2_normalize` alone squares the entries: rows of size 1e20 overflow to inf and rows
    of size 1e-8 fall under its epsilon and come out far shorter than 1. Dividing each row by its
    largest entry first keeps the sum of squares between 1 and D. That division does not change the
    direction, so no gradient flows through it.
    """
    z = tf.cast(z, tf.float32)
    largest = tf.stop_gradient(tf.reduce_max(tf.abs(z), axis=1, keepdims=True))
    z = z / tf.where(largest > 0.0, largest, 1.0)
    return tf.math.l2_normalize(z, axis=1)


def nt_xent_loss(z1, z2, temperature=0.5) -> tf.Tensor:
    """The NT-Xent (normalised temperature-scaled cross-entropy) loss of SimCLR.

    `z1[i]` and `z2[i]` are the embeddings of the two views of image i. Stack them into 2B
    embeddings and score every pair by cosine similarity / `temperature`. Each of the 2B anchors
    is a classification over the other 2B - 1 embeddings (itself excluded) whose right answer is its
    partner (`z2[i]` for `z1[i]` and the other way round):

        loss(a) = -log( exp(sim(a, partner) / T) / sum over k != a of exp(sim(a, k) / T) )

    The result is the mean over the 2B anchors (the paper's Eq. 1 and Algorithm 1). A lower temperature
    puts more weight on the hardest negatives; the paper uses 0.5 for CIFAR-10 and 0.1 for ImageNet.

    Args:
        z1, z2: embeddings `[B, D]`; any nonzero rows, whatever their length.
        temperature: T above, a positive float.

    Returns:
        a float32 scalar, finite for any nonzero embeddings.
    """
    # HINT: Stack z = [z1; z2] ([2B, D]) and normalise its rows with _l2_normalize (it is safe for any length).
    # HINT: logits = z @ z^T / temperature ([2B, 2B]); exclude each anchor itself by setting the diagonal to
    # HINT: -inf (tf.where(tf.eye(2B, dtype=tf.bool), -inf, logits)). The partner of row i is row (i + B) mod 2B;
    # HINT: tf.nn.sparse_softmax_cross_entropy_with_logits(labels=partners, logits=logits) computes the
    # HINT: log-softmax stably; return its mean.
    raise NotImplementedError('Stack z = [z1; z2] ([2B, D]) and normalise its rows with _l2_normalize (it is safe for any length). logits = z @ z^T / temperature ([2B, 2B]); exclude each anchor itself by setting the diagonal to -inf (tf.where(tf.eye(2B, dtype=tf.bool), -inf, logits)). The partner of row i is row (i + B) mod 2B; tf.nn.sparse_softmax_cross_entropy_with_logits(labels=partners, logits=logits) computes the log-softmax stably; return its mean.')


def contrastive_step(encoder, head, optimizer, images, seed, temperature=0.5) -> tf.Tensor:
    """One SimCLR training step on a batch of images.

    Makes two views of every image (`augment` with two seeds split from `seed`), encodes and
    projects them in training mode, computes `nt_xent_loss`, and applies its gradients to the
    trainable variables of `encoder` and `head` with `optimizer`. The two views go through the
    encoder as one batch of 2B, so BatchNormalization normalises them with shared statistics.

    It works eagerly and under `tf.function`. In a training loop, `step = tf.function(contrastive_step)`
    is several times faster; make one such function per training run, and pass the seed as a tensor
    (a new Python int would trace the function again).

    Args:
        encoder: a Keras model from images `[B, H, W, 3]` to features `[B, F]`.
        head: a Keras model from `[B, F]` to embeddings `[B, D]` (`build_projection_head(F)`).
        optimizer: a Keras optimizer.
        images: float images `[B, H, W, 3]` in [0, 1].
        seed: a shape-[2] integer seed or a Python int.
        temperature: the temperature of `nt_xent_loss`.

    Returns:
        the float32 scalar loss of this batch, computed before the update.
    """
    # HINT: Split `seed` in two and make views = tf.concat([augment(images, seed_1), augment(images, seed_2)], 0).
    # HINT: Inside a tf.GradientTape: z = head(encoder(views, training=True), training=True), split z into the
    # HINT: two halves and compute nt_xent_loss. Take tape.gradient over encoder.trainable_variables +
    # HINT: head.trainable_variables, apply them with optimizer.apply_gradients(zip(gradients, variables)),
    # HINT: and return the loss.
    raise NotImplementedError('Split `seed` in two and make views = tf.concat([augment(images, seed_1), augment(images, seed_2)], 0). Inside a tf.GradientTape: z = head(encoder(views, training=True), training=True), split z into the two halves and compute nt_xent_loss. Take tape.gradient over encoder.trainable_variables + head.trainable_variables, apply them with optimizer.apply_gradients(zip(gradients, variables)), and return the loss.')
