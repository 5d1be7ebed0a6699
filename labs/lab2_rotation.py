"""Lab 2: learning from rotations.

Gidaris, Singh and Komodakis (ICLR 2018, "Unsupervised Representation Learning by Predicting Image
Rotations") train a CNN on unlabelled images with a task whose labels come for free: rotate each
image by 0, 90, 180 or 270 degrees and ask the network which of the four rotations was applied.
There is no way to tell that a cat is upside down without knowing where its head, ears and paws
are and which way is up for a cat, so solving the task forces the network to recognise objects.
The features it learns then transfer to classification with few labels.

The workshop's result, which this lab reproduces on CIFAR-10 with the backbone of lab 1:

| training                          | labelled images | accuracy % |
|-----------------------------------|-----------------|-----------|
| supervised                        | 5000            | 52.48     |
| rotation pretraining + supervised | 5000            | 59.39     |

The pretraining sees the 50,000 training images without their labels; the fine-tuning sees the
same 5,000 labelled images as the supervised baseline.

You will write:

- `rotate`, `rotation_batch` and `random_rotation`: the pretext task's inputs and labels;
- `make_rotation_dataset`: the input pipeline for pretraining;
- `build_rotation_model`: the backbone with a head that predicts the rotation;
- `transfer`: a classifier on the pretrained backbone, fine-tuned or as a frozen linear probe.

`course check lab2` grades your functions. `course experiment rotation --impl labs` pretrains a
backbone with `build_rotation_model` on batches made by your `rotation_batch` (all four rotations
of an image in the same batch, as Gidaris et al. do; `--rotation-batches shuffled` uses your
`make_rotation_dataset` instead), then trains `transfer` classifiers on the 5,000 labelled images
and compares them with the supervised baseline.
"""
import keras
import tensorflow as tf
from keras import layers

from course.data import CIFAR10_MEAN, CIFAR10_STD
from course.seeds import as_seed, split_seed

NUM_ROTATIONS = 4
"""Rotations by 0, 90, 180 and 270 degrees, labelled k = 0, 1, 2, 3."""


def rotate(images, k):
    """Rotates square images by `k * 90` degrees counter-clockwise, like `np.rot90(image, k)`.

    Args:
        images: `[B, H, W, C]` with H == W, any dtype (or one image `[H, W, C]` with a scalar k).
        k: a Python int, a scalar int tensor, or an int tensor `[B]` with one k per image. Any
            integer works: k = -1 is the same as k = 3.

    Returns:
        The rotated images, same shape and dtype.
    """
    # HINT: tf.image.rot90(images, k) handles a scalar k. For one k per image, compute all four
    # HINT: rotations, stack them on a new axis 1 ([B, 4, H, W, C]), and pick one per image with
    # HINT: tf.gather(..., k % 4, batch_dims=1).
    raise NotImplementedError('tf.image.rot90(images, k) handles a scalar k. For one k per image, compute all four rotations, stack them on a new axis 1 ([B, 4, H, W, C]), and pick one per image with tf.gather(..., k % 4, batch_dims=1).')


def rotation_batch(images):
    """Every image in all four rotations, with the rotation as its label.

    Args:
        images: `[B, H, W, C]` square images.

    Returns:
        `(x, y)`: the rotated images `[4B, H, W, C]` (same dtype) and int32 labels `[4B]`, where
        `x[i]` is an image rotated by `y[i] * 90` degrees counter-clockwise.
    """
    # HINT: tf.concat the four tf.image.rot90(images, k), k = 0..3, along the batch axis; the
    # HINT: labels are then tf.repeat(tf.range(4), B) in the same order.
    raise NotImplementedError('tf.concat the four tf.image.rot90(images, k), k = 0..3, along the batch axis; the labels are then tf.repeat(tf.range(4), B) in the same order.')


def random_rotation(image, seed):
    """Rotates one image by a random multiple of 90 degrees.

    Args:
        image: one square image `[H, W, C]`.
        seed: a Python int or a shape-[2] int tensor.

    Returns:
        `(rotated, k)`: the image rotated by `k * 90` degrees counter-clockwise, and the int32
        scalar k, uniform on {0, 1, 2, 3}.
    """
    # HINT: draw k with tf.random.stateless_uniform([], as_seed(seed), minval=0, maxval=4,
    # HINT: dtype=tf.int32) (maxval is excluded), then rotate with tf.image.rot90.
    raise NotImplementedError('draw k with tf.random.stateless_uniform([], as_seed(seed), minval=0, maxval=4, dtype=tf.int32) (maxval is excluded), then rotate with tf.image.rot90.')


def make_rotation_dataset(images, batch_size=128, seed=None):
    """The pretraining pipeline: shuffled batches of rotated, standardized images and their k.

    Every epoch holds each of the four rotations of every image exactly once (4N examples), in a
    new random order.

    Args:
        images: uint8 `[N, H, W, 3]` square images (or float images in [0, 1]).
        batch_size: examples per batch; the last batch may be smaller.
        seed: makes the shuffles reproducible (None: fresh randomness).

    Returns:
        A `tf.data.Dataset` of `(float32 [b, H, W, 3], int32 [b])` batches: the rotated images,
        standardized like lab 1's `standardize`, and their rotations k.
    """
    # HINT: number the 4N examples: example i is image i // 4 rotated by k = i % 4. Shuffle
    # HINT: tf.data.Dataset.range(4 * N) (reshuffle_each_iteration=True), batch it, then .map() a
    # HINT: function that loads a whole batch: tf.gather the images, rotate them with your rotate,
    # HINT: and standardize as in lab 1 (tf.image.convert_image_dtype, CIFAR10_MEAN, CIFAR10_STD).
    # HINT: Finish with .prefetch(tf.data.AUTOTUNE). split_seed(seed, 1)[0, 0] is a scalar seed.
    raise NotImplementedError('number the 4N examples: example i is image i // 4 rotated by k = i % 4. Shuffle tf.data.Dataset.range(4 * N) (reshuffle_each_iteration=True), batch it, then .map() a function that loads a whole batch: tf.gather the images, rotate them with your rotate, and standardize as in lab 1 (tf.image.convert_image_dtype, CIFAR10_MEAN, CIFAR10_STD). Finish with .prefetch(tf.data.AUTOTUNE). split_seed(seed, 1)[0, 0] is a scalar seed.')


def build_rotation_model(backbone):
    """The backbone with a rotation head: images to 4 rotation logits.

    The head is a single Dense layer, a linear classifier on the backbone's features: whatever it
    takes to recognise the rotation must then be learnt by the backbone, which is the part that
    `transfer` keeps. (Gidaris et al. find that deeper heads can help big networks; for our small
    backbone the linear head is the simplest that works.)

    Args:
        backbone: a functional model from images to feature vectors; its weights are shared, so
            training this model trains the backbone.

    Returns:
        A functional `keras.Model` from `[B, H, W, C]` images to float32 `[B, 4]` logits.
    """
    # HINT: as lab 1's classifier: call the backbone on a new keras.Input(backbone.input_shape[1:]),
    # HINT: add layers.Dense(4) for the four rotations, and wrap in keras.Model.
    raise NotImplementedError("as lab 1's classifier: call the backbone on a new keras.Input(backbone.input_shape[1:]), add layers.Dense(4) for the four rotations, and wrap in keras.Model.")


def transfer(backbone, num_classes, freeze_backbone=False):
    """A classifier on a pretrained backbone: the same backbone weights, a new Dense head.

    Args:
        backbone: the pretrained functional model from images to feature vectors.
        num_classes: the number of classes.
        freeze_backbone: False fine-tunes the whole network. True trains only the head (a linear
            probe, which measures the pretrained features themselves): the backbone becomes
            untrainable and its BatchNormalization layers use their moving statistics.

    Returns:
        A functional `keras.Model` from `[B, H, W, C]` images to float32 `[B, num_classes]` logits.
    """
    # HINT: set backbone.trainable = not freeze_backbone, then build the model as lab 1's
    # HINT: build_classifier does. (In Keras 3 an untrainable BatchNormalization layer also runs in
    # HINT: inference mode, with its moving statistics.)
    raise NotImplementedError("set backbone.trainable = not freeze_backbone, then build the model as lab 1's build_classifier does. (In Keras 3 an untrainable BatchNormalization layer also runs in inference mode, with its moving statistics.)")
