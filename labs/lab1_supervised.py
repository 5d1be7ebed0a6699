"""Lab 1: a supervised baseline.

Self-supervised learning promises to make labels go further, so before any pretext task we need
the number it has to beat: a small CNN trained from scratch on the few labels we have. Like the
workshop, we pretend that only 5,000 CIFAR-10 images are labelled (500 per class). The workshop's
network reaches 52.48% test accuracy with them, and 68.50% with all 50,000 labels; the labs that
follow try to close that gap with the 50,000 training images alone, without their labels.

You will write the four pieces of a supervised pipeline:

- `standardize`: scales images to [0, 1] and standardizes each colour channel;
- `make_pipeline`: a `tf.data` input pipeline that shuffles and flips images for training;
- `build_backbone`: the workshop's small CNN, the feature extractor that every lab reuses;
- `build_classifier`: a linear classification head on top of the backbone.

`course check lab1` grades your functions, and `course experiment supervised --impl labs` trains the
baseline with them.
"""
import keras
import tensorflow as tf
from keras import layers

from course.data import CIFAR10_MEAN, CIFAR10_STD
from course.seeds import split_seed


def standardize(images):
    """Scales images to [0, 1], then standardizes each channel with the CIFAR-10 statistics.

    Args:
        images: uint8 images in [0, 255] or float images in [0, 1], `[B, H, W, 3]` or `[H, W, 3]`.

    Returns:
        float32 images of the same shape, `(x - CIFAR10_MEAN) / CIFAR10_STD` per channel.
    """
    # HINT: tf.image.convert_image_dtype(images, tf.float32) scales uint8 by 1/255 and leaves floats
    # HINT: in [0, 1] as they are; then subtract CIFAR10_MEAN and divide by CIFAR10_STD (both
    # HINT: have shape [3], so they broadcast over the channel axis).
    raise NotImplementedError('tf.image.convert_image_dtype(images, tf.float32) scales uint8 by 1/255 and leaves floats in [0, 1] as they are; then subtract CIFAR10_MEAN and divide by CIFAR10_STD (both have shape [3], so they broadcast over the channel axis).')


def make_pipeline(images, labels, batch_size=128, training=False, seed=None):
    """A `tf.data` pipeline of standardized image batches and their labels.

    Args:
        images: uint8 `[N, 32, 32, 3]` (or float images in [0, 1]).
        labels: int `[N]`.
        batch_size: images per batch; the last batch may be smaller.
        training: if True, reshuffle the images every epoch and flip each one left-right with
            probability 1/2; if False, keep the original order and do not augment.
        seed: makes the shuffles and flips reproducible (None: fresh randomness).

    Returns:
        A `tf.data.Dataset` of `(float32 [b, 32, 32, 3], int [b])` batches.
    """
    # HINT: Dataset.from_tensor_slices((images, labels)), then .batch(batch_size), then .map() your
    # HINT: standardize over each batch, then .prefetch(tf.data.AUTOTUNE). For training, add
    # HINT: .shuffle(len(images), seed=..., reshuffle_each_iteration=True) before batching, and
    # HINT: flip each batch with tf.image.stateless_random_flip_left_right; for a new flip seed
    # HINT: per batch and epoch, zip the batches with tf.data.Dataset.random(seed=...,
    # HINT: rerandomize_each_iteration=True).batch(2). split_seed(seed, 2) gives the two seeds.
    raise NotImplementedError('Dataset.from_tensor_slices((images, labels)), then .batch(batch_size), then .map() your standardize over each batch, then .prefetch(tf.data.AUTOTUNE). For training, add .shuffle(len(images), seed=..., reshuffle_each_iteration=True) before batching, and flip each batch with tf.image.stateless_random_flip_left_right; for a new flip seed per batch and epoch, zip the batches with tf.data.Dataset.random(seed=..., rerandomize_each_iteration=True).batch(2). split_seed(seed, 2) gives the two seeds.')


def build_backbone(input_shape=(32, 32, 3)):
    """The workshop's CNN: three blocks of Conv2D -> ReLU -> MaxPool2D -> BatchNormalization.

    The blocks have 8, 16 and 32 filters of size 3x3 ("same" padding); each max-pool halves the
    image, so a 32x32 input ends as 4x4x32, flattened to 512 features. 6,256 parameters.

    Args:
        input_shape: `(H, W, C)` of one image.

    Returns:
        A functional `keras.Model` from `[B, H, W, C]` images to float32 `[B, 512]` features.
    """
    # HINT: start from inputs = keras.Input(input_shape); for each width in (8, 16, 32) apply
    # HINT: layers.Conv2D(width, 3, padding="same"), layers.ReLU(), layers.MaxPool2D(2) and
    # HINT: layers.BatchNormalization(); end with layers.Flatten() and keras.Model(inputs, outputs).
    raise NotImplementedError('start from inputs = keras.Input(input_shape); for each width in (8, 16, 32) apply layers.Conv2D(width, 3, padding="same"), layers.ReLU(), layers.MaxPool2D(2) and layers.BatchNormalization(); end with layers.Flatten() and keras.Model(inputs, outputs).')


def build_classifier(backbone, num_classes):
    """A linear classifier on top of `backbone`, sharing its layers and weights.

    Args:
        backbone: a functional model from images to feature vectors, e.g. `build_backbone()`.
        num_classes: the number of classes.

    Returns:
        A functional `keras.Model` from `[B, H, W, C]` images to float32 `[B, num_classes]` logits
        (no softmax: the loss takes `from_logits=True`).
    """
    # HINT: make a new keras.Input(backbone.input_shape[1:]), call the backbone on it like a layer
    # HINT: (that reuses its weights), add layers.Dense(num_classes), and wrap in keras.Model.
    raise NotImplementedError('make a new keras.Input(backbone.input_shape[1:]), call the backbone on it like a layer (that reuses its weights), add layers.Dense(num_classes), and wrap in keras.Model.')
