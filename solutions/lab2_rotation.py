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
    # BEGIN SOLUTION
    # HINT 1: Turn each image counter-clockwise by k quarter turns, as np.rot90 does on the height
    # HINT 1: and width axes. k is one number for the batch or one per image, any integer (k = -1
    # HINT 1: means 3). Watch out: with one k per image, each image turns by its own amount.
    # HINT 2: tf.image.rot90(images, k) rotates counter-clockwise, works on [B, H, W, C] and [H, W,
    # HINT 2: C], but takes only a scalar k. For one k per image, tf.gather(candidates, k % 4,
    # HINT 2: batch_dims=1) picks one of several candidates per image (tf.where or tf.map_fn can
    # HINT 2: work too).
    # HINT 3: Convert the images to a tensor and cast k to int32. If k has rank 0, return
    # HINT 3: tf.image.rot90 of the images by k. Otherwise stack the four rotations j = 0..3 with
    # HINT 3: tf.stack on a new axis 1 ([B, 4, H, W, C]) and gather from it with k % 4 and
    # HINT 3: batch_dims=1.
    images = tf.convert_to_tensor(images)
    k = tf.cast(k, tf.int32)
    if k.shape.rank == 0:
        return tf.image.rot90(images, k)
    # Rotating a batch four times costs less than looping over images, and square images make
    # all four rotations the same shape.
    rotations = tf.stack([tf.image.rot90(images, j) for j in range(NUM_ROTATIONS)], axis=1)
    return tf.gather(rotations, k % NUM_ROTATIONS, batch_dims=1)
    # END SOLUTION


def rotation_batch(images):
    """Every image in all four rotations, with the rotation as its label.

    Args:
        images: `[B, H, W, C]` square images.

    Returns:
        `(x, y)`: the rotated images `[4B, H, W, C]` (same dtype) and int32 labels `[4B]`, where
        `x[i]` is an image rotated by `y[i] * 90` degrees counter-clockwise.
    """
    # BEGIN SOLUTION
    # HINT 1: Every image appears four times, once per rotation, and each copy is labelled with its
    # HINT 1: k (0, 1, 2 or 3). Any order is fine as long as each label matches its image's
    # HINT 1: rotation. Watch out: the labels are int32.
    # HINT 2: tf.image.rot90(images, k) rotates a whole batch at once; tf.concat(..., axis=0) joins
    # HINT 2: batches; tf.range(4, dtype=tf.int32) and tf.repeat or tf.tile build the labels;
    # HINT 2: tf.shape(images)[0] is B even when the batch size is unknown.
    # HINT 3: Convert the images to a tensor. Concatenate the four rotations k = 0..3 along axis 0,
    # HINT 3: so that block k holds every image rotated by k. The labels are then tf.range(4) as
    # HINT 3: int32 with each value repeated B times (tf.repeat). Return both.
    images = tf.convert_to_tensor(images)
    x = tf.concat([tf.image.rot90(images, k) for k in range(NUM_ROTATIONS)], axis=0)
    y = tf.repeat(tf.range(NUM_ROTATIONS, dtype=tf.int32), tf.shape(images)[0])
    return x, y
    # END SOLUTION


def random_rotation(image, seed):
    """Rotates one image by a random multiple of 90 degrees.

    Args:
        image: one square image `[H, W, C]`.
        seed: a Python int or a shape-[2] int tensor.

    Returns:
        `(rotated, k)`: the image rotated by `k * 90` degrees counter-clockwise, and the int32
        scalar k, uniform on {0, 1, 2, 3}.
    """
    # BEGIN SOLUTION
    # HINT 1: Draw one k uniformly from {0, 1, 2, 3} with the given seed, and return the image
    # HINT 1: rotated by k together with k. Watch out: the draw must come from the seed (same seed,
    # HINT 1: same k), not from a global random state, and k is an int32 scalar.
    # HINT 2: tf.random.stateless_uniform(shape, seed, minval, maxval, dtype=tf.int32) draws
    # HINT 2: integers in [minval, maxval), maxval excluded; as_seed(seed) turns a Python int into
    # HINT 2: a shape-[2] seed. tf.image.rot90(image, k) does the rotation.
    # HINT 3: Draw a scalar k (shape []) with tf.random.stateless_uniform from as_seed(seed), with
    # HINT 3: maxval 4 and dtype int32, then return tf.image.rot90 of the image by k, and k.
    k = tf.random.stateless_uniform([], as_seed(seed), maxval=NUM_ROTATIONS, dtype=tf.int32)
    return tf.image.rot90(image, k), k
    # END SOLUTION


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
    # BEGIN SOLUTION
    # HINT 1: An epoch holds 4N examples, every image in all four rotations, in a new random order
    # HINT 1: each epoch, batched, standardized as in lab 1 and labelled with k. Tip: shuffling
    # HINT 1: indices is much cheaper than making all 4N rotated images up front.
    # HINT 2: tf.data.Dataset.range(n), .shuffle(n, seed=s, reshuffle_each_iteration=True), .batch,
    # HINT 2: .map, .prefetch; tf.gather loads a batch of images; your rotate takes one k per
    # HINT 2: image; tf.image.convert_image_dtype, CIFAR10_MEAN and CIFAR10_STD standardize;
    # HINT 2: tf.data wants a scalar seed such as split_seed(seed, 1)[0, 0].
    # HINT 3: Number the examples so that example i is image i // 4 rotated by k = i % 4. Shuffle
    # HINT 3: tf.data.Dataset.range(4 * N) with a buffer of 4 * N and the scalar seed, then batch.
    # HINT 3: Map a function of a batch of indices: k is indices % 4 cast to int32; gather the
    # HINT 3: images at indices // 4, rotate them by k, scale them to float32 in [0, 1] and
    # HINT 3: standardize them; return the images and k. Finish with prefetch.
    images = tf.convert_to_tensor(images)
    num_examples = NUM_ROTATIONS * len(images)

    def load(indices):
        # One gather and one rotate per batch, not per example: an epoch of CIFAR-10 holds
        # 200,000 examples.
        k = tf.cast(indices % NUM_ROTATIONS, tf.int32)
        x = rotate(tf.gather(images, indices // NUM_ROTATIONS), k)
        x = tf.image.convert_image_dtype(x, tf.float32)
        return (x - CIFAR10_MEAN) / CIFAR10_STD, k

    # Only the 4N indices go through the shuffle buffer (int64s, cheap); the images stay in one
    # tensor and are gathered a batch at a time.
    dataset = tf.data.Dataset.range(num_examples)
    shuffle_seed = split_seed(seed, 1)[0, 0]  # tf.data takes a scalar seed
    dataset = dataset.shuffle(num_examples, seed=shuffle_seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size).map(load, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)
    # END SOLUTION


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
    # BEGIN SOLUTION
    # HINT 1: Like lab 1's classifier, but the head predicts which of the 4 rotations was applied:
    # HINT 1: 4 logits, no softmax. Call the given backbone rather than building a new one, so that
    # HINT 1: pretraining trains exactly the weights that transfer receives.
    # HINT 2: backbone(tensor) reuses its layers and weights; keras.Input(backbone.input_shape[1:])
    # HINT 2: is a new input of the right shape; layers.Dense(NUM_ROTATIONS) with no activation is
    # HINT 2: a linear head; keras.Model(inputs, outputs) wraps it all.
    # HINT 3: Make a new input with the backbone's image shape, call the backbone on it, put a
    # HINT 3: Dense layer of NUM_ROTATIONS units on the features, and wrap the input and the logits
    # HINT 3: in a keras.Model.
    inputs = keras.Input(backbone.input_shape[1:])
    features = backbone(inputs)
    outputs = layers.Dense(NUM_ROTATIONS)(features)
    return keras.Model(inputs, outputs, name="rotation_model")
    # END SOLUTION


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
    # BEGIN SOLUTION
    # HINT 1: A new classifier head on the pretrained backbone, same weights. For the linear probe
    # HINT 1: only the head learns: the backbone is frozen and its batch normalisation uses stored
    # HINT 1: statistics. Watch out: with freeze_backbone=False the whole network must train.
    # HINT 2: backbone.trainable = False freezes it and, in Keras 3, runs its BatchNormalization in
    # HINT 2: inference mode; backbone(inputs, training=False) alone is not enough, the outer
    # HINT 2: model's training=True overrides it. The rest is lab 1's build_classifier:
    # HINT 2: keras.Input, layers.Dense(num_classes), keras.Model.
    # HINT 3: Set the backbone's trainable flag to the opposite of freeze_backbone. Make a new
    # HINT 3: input with the backbone's image shape, call the backbone on it, put a new Dense layer
    # HINT 3: of num_classes units on the features, and wrap the input and the logits in a
    # HINT 3: keras.Model.
    backbone.trainable = not freeze_backbone
    inputs = keras.Input(backbone.input_shape[1:])
    # Frozen, BatchNormalization normalises with its moving statistics even while the head trains,
    # not with each batch's own: the probe trains on the same fixed features it is tested on.
    # (keras.io's `backbone(inputs, training=False)` would not be enough: in Keras 3 the outer
    # model's `training=True` overrides it.)
    features = backbone(inputs)
    outputs = layers.Dense(num_classes)(features)
    return keras.Model(inputs, outputs, name="transfer")
    # END SOLUTION
