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


# Exercise 4.1 (9 points): the crop that SimCLR's views depend on most.
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
    raise NotImplementedError("lab4.random_resized_crop: not written yet; "
                              "`course hint lab4.random_resized_crop` helps")


# Exercise 4.2 (6 points): colour distortions, each drawn per image.
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
    raise NotImplementedError("lab4.color_jitter: not written yet; "
                              "`course hint lab4.color_jitter` helps")


# Exercise 4.3 (6 points): an augmentation applied with a probability.
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
    raise NotImplementedError("lab4.random_grayscale: not written yet; "
                              "`course hint lab4.random_grayscale` helps")


# Exercise 4.4 (7 points): composing the SimCLR recipe for CIFAR-10. Builds on
# `random_resized_crop`, `color_jitter`, `random_grayscale`.
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
    raise NotImplementedError("lab4.augment: not written yet; `course hint lab4.augment` helps")


# Exercise 4.5 (4 points): the projection head that the loss is computed on.
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
    raise NotImplementedError("lab4.build_projection_head: not written yet; "
                              "`course hint lab4.build_projection_head` helps")


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


# Exercise 4.6 (10 points): the NT-Xent contrastive loss, numerically stable.
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
    raise NotImplementedError("lab4.nt_xent_loss: not written yet; "
                              "`course hint lab4.nt_xent_loss` helps")


# Exercise 4.7 (7 points): a custom training step with tf.GradientTape. Builds on `augment`,
# `nt_xent_loss`.
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
    raise NotImplementedError("lab4.contrastive_step: not written yet; "
                              "`course hint lab4.contrastive_step` helps")
