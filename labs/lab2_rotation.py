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


# Exercise 2.1 (6 points): rotating image batches by quarter turns, one k per image.
def rotate(images, k):
    """Rotates square images by `k * 90` degrees counter-clockwise, like `np.rot90(image, k)`.

    Args:
        images: `[B, H, W, C]` with H == W, any dtype (or one image `[H, W, C]` with a scalar k).
        k: a Python int, a scalar int tensor, or an int tensor `[B]` with one k per image. Any
            integer works: k = -1 is the same as k = 3.

    Returns:
        The rotated images, same shape and dtype.
    """
    raise NotImplementedError("lab2.rotate: not written yet; `course hint lab2.rotate` helps")


# Exercise 2.2 (4 points): a pretext task's labels made from the data itself. Builds on `rotate`.
def rotation_batch(images):
    """Every image in all four rotations, with the rotation as its label.

    Args:
        images: `[B, H, W, C]` square images.

    Returns:
        `(x, y)`: the rotated images `[4B, H, W, C]` (same dtype) and int32 labels `[4B]`, where
        `x[i]` is an image rotated by `y[i] * 90` degrees counter-clockwise.
    """
    raise NotImplementedError("lab2.rotation_batch: not written yet; "
                              "`course hint lab2.rotation_batch` helps")


# Exercise 2.3 (5 points): stateless, seeded randomness. Builds on `rotate`.
def random_rotation(image, seed):
    """Rotates one image by a random multiple of 90 degrees.

    Args:
        image: one square image `[H, W, C]`.
        seed: a Python int or a shape-[2] int tensor.

    Returns:
        `(rotated, k)`: the image rotated by `k * 90` degrees counter-clockwise, and the int32
        scalar k, uniform on {0, 1, 2, 3}.
    """
    raise NotImplementedError("lab2.random_rotation: not written yet; "
                              "`course hint lab2.random_rotation` helps")


# Exercise 2.4 (6 points): a pretraining pipeline that sees every rotation once per epoch. Builds
# on `rotate`.
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
    raise NotImplementedError("lab2.make_rotation_dataset: not written yet; "
                              "`course hint lab2.make_rotation_dataset` helps")


# Exercise 2.5 (4 points): a pretext head on a shared backbone.
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
    raise NotImplementedError("lab2.build_rotation_model: not written yet; "
                              "`course hint lab2.build_rotation_model` helps")


# Exercise 2.6 (9 points): fine-tuning against linear probing, and frozen BatchNormalization.
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
    raise NotImplementedError("lab2.transfer: not written yet; `course hint lab2.transfer` helps")
