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

`course check lab1` grades your functions, and `course experiment supervised --impl labs` trains
the baseline with them.
"""
import keras
import tensorflow as tf
from keras import layers

from course.data import CIFAR10_MEAN, CIFAR10_STD
from course.seeds import split_seed


# Exercise 1.1 (4 points): scaling and per-channel normalisation of uint8 and float images.
def standardize(images):
    """Scales images to [0, 1], then standardizes each channel with the CIFAR-10 statistics.

    Args:
        images: uint8 images in [0, 255] or float images in [0, 1], `[B, H, W, 3]` or `[H, W, 3]`.

    Returns:
        float32 images of the same shape, `(x - CIFAR10_MEAN) / CIFAR10_STD` per channel.
    """
    raise NotImplementedError("lab1.standardize: not written yet; "
                              "`course hint lab1.standardize` helps")


# Exercise 1.2 (7 points): tf.data input pipelines: shuffling, per-image augmentation, batching.
# Builds on `standardize`.
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
    raise NotImplementedError("lab1.make_pipeline: not written yet; "
                              "`course hint lab1.make_pipeline` helps")


# Exercise 1.3 (5 points): the workshop's CNN as a Keras functional model.
def build_backbone(input_shape=(32, 32, 3)):
    """The workshop's CNN: three blocks of Conv2D -> ReLU -> MaxPool2D -> BatchNormalization.

    The blocks have 8, 16 and 32 filters of size 3x3 ("same" padding); each max-pool halves the
    image, so a 32x32 input ends as 4x4x32, flattened to 512 features. 6,256 parameters.

    Args:
        input_shape: `(H, W, C)` of one image.

    Returns:
        A functional `keras.Model` from `[B, H, W, C]` images to float32 `[B, 512]` features.
    """
    raise NotImplementedError("lab1.build_backbone: not written yet; "
                              "`course hint lab1.build_backbone` helps")


# Exercise 1.4 (4 points): reusing a model's layers and weights under a new head.
def build_classifier(backbone, num_classes):
    """A linear classifier on top of `backbone`, sharing its layers and weights.

    Args:
        backbone: a functional model from images to feature vectors, e.g. `build_backbone()`.
        num_classes: the number of classes.

    Returns:
        A functional `keras.Model` from `[B, H, W, C]` images to float32 `[B, num_classes]` logits
        (no softmax: the loss takes `from_logits=True`).
    """
    raise NotImplementedError("lab1.build_classifier: not written yet; "
                              "`course hint lab1.build_classifier` helps")
