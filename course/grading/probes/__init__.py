"""The autograder's probes: functions that run in the student's worker, call the lab's functions
on inputs the checks chose, and return what they made (arrays, numbers, and Keras models, which
travel as model files to the judge). They compute no verdict: what a check concludes is computed
outside the student's interpreter. They hold no exercise's answer.
"""

from __future__ import annotations

import math

import numpy as np


def grading_backbone(name: str = "backbone"):
    """A small CNN from 32x32x3 images to 512 features, with BatchNormalization: what labs 2 and 4
    receive as "the backbone" while they are graded. It is deliberately not lab 1's network."""
    import keras
    from keras import layers

    inputs = keras.Input((32, 32, 3), name="images")
    x = layers.Conv2D(8, 3, strides=2, padding="same", name="conv_a")(inputs)
    x = layers.BatchNormalization(name="bn_a")(x)
    x = layers.ReLU(name="relu_a")(x)
    x = layers.Conv2D(32, 3, strides=4, padding="same", name="conv_b")(x)
    x = layers.BatchNormalization(name="bn_b")(x)
    outputs = layers.Flatten(name="features")(x)
    return keras.Model(inputs, outputs, name=name)


def set_weights_from(model, values: np.ndarray, positive: np.ndarray) -> None:
    """Cuts the flat arrays `values` (and `positive`, for BN variances and gammas) into the model's
    weights, in order: distinct, reproducible "pretrained" weights."""
    weights, offset = [], 0
    for w in model.weights:
        size = math.prod(w.shape)
        source = positive if "variance" in w.path or "gamma" in w.path else values
        weights.append(np.asarray(source[offset : offset + size]).reshape(tuple(w.shape)))
        offset += size
    model.set_weights(weights)
