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


def standardize(images):
    """Scales images to [0, 1], then standardizes each channel with the CIFAR-10 statistics.

    Args:
        images: uint8 images in [0, 255] or float images in [0, 1], `[B, H, W, 3]` or `[H, W, 3]`.

    Returns:
        float32 images of the same shape, `(x - CIFAR10_MEAN) / CIFAR10_STD` per channel.
    """
    # BEGIN SOLUTION
    # HINT 1: Bring every image to floats in [0, 1] first: uint8 pixels are divided by 255, float
    # HINT 1: images stay as they are. Then subtract each colour channel's mean and divide by its
    # HINT 1: std. Watch out: a float image must not be divided by 255 a second time.
    # HINT 2: tf.image.convert_image_dtype(images, tf.float32) does the first step for both dtypes
    # HINT 2: (it rescales integers only). CIFAR10_MEAN and CIFAR10_STD have shape [3], so they
    # HINT 2: broadcast over the last (channel) axis of [B, H, W, 3] or [H, W, 3].
    # HINT 3: Turn the input into a tensor (tf.convert_to_tensor), convert it to float32 with
    # HINT 3: tf.image.convert_image_dtype, then subtract CIFAR10_MEAN and divide by CIFAR10_STD.
    images = tf.image.convert_image_dtype(tf.convert_to_tensor(images), tf.float32)
    return (images - CIFAR10_MEAN) / CIFAR10_STD
    # END SOLUTION


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
    # BEGIN SOLUTION
    # HINT 1: Serve standardized (image, label) batches. For training, shuffle anew every epoch and
    # HINT 1: flip each image left-right on its own coin; for evaluation, keep the order and give
    # HINT 1: each example once. Watch out: a fixed seed must still reshuffle every epoch.
    # HINT 2: tf.data.Dataset.from_tensor_slices, .batch, .map, .prefetch and .shuffle(n, seed=s,
    # HINT 2: reshuffle_each_iteration=True). tf.image.stateless_random_flip_left_right(x, seed)
    # HINT 2: flips each image of a batch on its own coin. tf.data seeds are scalars, and
    # HINT 2: tf.data.Dataset.random(seed=s, rerandomize_each_iteration=True) redraws each epoch.
    # HINT 3: Make the dataset from the (images, labels) pair. If training, take two scalar seeds
    # HINT 3: from split_seed(seed, 2)[:, 0] and shuffle with a buffer of len(images), reshuffled
    # HINT 3: each iteration. Batch. If training, zip the batches with
    # HINT 3: tf.data.Dataset.random(...).batch(2) (a shape-[2] seed per batch) and map a function
    # HINT 3: that flips x with tf.image.stateless_random_flip_left_right and keeps y. Map
    # HINT 3: standardize over x, then prefetch.
    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    if training:
        # tf.data takes scalar seeds: one for the shuffle, one for the stream of flip seeds.
        shuffle_seed, flip_seed = tf.unstack(split_seed(seed, 2)[:, 0])
        # A buffer as large as the data set gives a uniform shuffle, a new one every epoch.
        dataset = dataset.shuffle(len(images), seed=shuffle_seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    if training:
        # A stream of shape-[2] seeds, one per batch, redrawn every epoch (reproducibly from
        # `seed`): each epoch flips a fresh random half of the images.
        batch_seeds = tf.data.Dataset.random(seed=flip_seed, rerandomize_each_iteration=True)
        batch_seeds = batch_seeds.batch(2)

        def flip(batch, batch_seed):
            # Stateless ops draw per image within a batch: each image flips independently.
            x, y = batch
            return tf.image.stateless_random_flip_left_right(x, batch_seed), y

        dataset = tf.data.Dataset.zip(dataset, batch_seeds)
        dataset = dataset.map(flip, num_parallel_calls=tf.data.AUTOTUNE)
    # Standardizing whole batches is much faster than one image at a time.
    dataset = dataset.map(lambda x, y: (standardize(x), y), num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)
    # END SOLUTION


def build_backbone(input_shape=(32, 32, 3)):
    """The workshop's CNN: three blocks of Conv2D -> ReLU -> MaxPool2D -> BatchNormalization.

    The blocks have 8, 16 and 32 filters of size 3x3 ("same" padding); each max-pool halves the
    image, so a 32x32 input ends as 4x4x32, flattened to 512 features. 6,256 parameters.

    Args:
        input_shape: `(H, W, C)` of one image.

    Returns:
        A functional `keras.Model` from `[B, H, W, C]` images to float32 `[B, 512]` features.
    """
    # BEGIN SOLUTION
    # HINT 1: Build the workshop's CNN from an input to an output: three blocks of 3x3 convolution
    # HINT 1: (padded to keep the size), ReLU, 2x2 max-pooling and batch normalisation, in that
    # HINT 1: order, with 8, 16 and 32 filters, then flatten to 512 features (6,256 parameters).
    # HINT 2: keras.Input(input_shape), layers.Conv2D(filters, 3, padding="same"), layers.ReLU(),
    # HINT 2: layers.MaxPool2D(2), layers.BatchNormalization(), layers.Flatten() and
    # HINT 2: keras.Model(inputs, outputs). You call each layer on a tensor to get the next tensor;
    # HINT 2: model.count_params() checks your count.
    # HINT 3: Make an input of input_shape and keep a running tensor x. Loop over the widths 8, 16
    # HINT 3: and 32; each time, pass x through a 3x3 Conv2D of that width with "same" padding, a
    # HINT 3: ReLU, a MaxPool2D(2) and a BatchNormalization. Flatten x, and wrap the input and the
    # HINT 3: flattened tensor in a keras.Model.
    inputs = keras.Input(input_shape)
    x = inputs
    for width in (8, 16, 32):
        x = layers.Conv2D(width, 3, padding="same")(x)
        x = layers.ReLU()(x)
        x = layers.MaxPool2D(2)(x)
        x = layers.BatchNormalization()(x)
    outputs = layers.Flatten()(x)
    return keras.Model(inputs, outputs, name="backbone")
    # END SOLUTION


def build_classifier(backbone, num_classes):
    """A linear classifier on top of `backbone`, sharing its layers and weights.

    Args:
        backbone: a functional model from images to feature vectors, e.g. `build_backbone()`.
        num_classes: the number of classes.

    Returns:
        A functional `keras.Model` from `[B, H, W, C]` images to float32 `[B, num_classes]` logits
        (no softmax: the loss takes `from_logits=True`).
    """
    # BEGIN SOLUTION
    # HINT 1: Put a linear layer with one output per class on top of the backbone's features. Reuse
    # HINT 1: the backbone you are given (don't build a new one) so that its weights are shared,
    # HINT 1: and return raw scores (logits), without softmax.
    # HINT 2: A functional keras.Model can be called like a layer: backbone(tensor) reuses its
    # HINT 2: layers and weights. keras.Input(backbone.input_shape[1:]) gives an input of the right
    # HINT 2: image shape; layers.Dense(num_classes) with no activation gives logits.
    # HINT 3: Make a new input with the backbone's image shape, call the backbone on it to get the
    # HINT 3: features, pass them through a Dense layer of num_classes units, and wrap the input
    # HINT 3: and the logits in a keras.Model.
    inputs = keras.Input(backbone.input_shape[1:])
    features = backbone(inputs)
    outputs = layers.Dense(num_classes)(features)
    return keras.Model(inputs, outputs, name="classifier")
    # END SOLUTION
