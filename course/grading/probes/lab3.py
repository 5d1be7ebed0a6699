"""Lab 3's probes: its two models, built on a patch encoder of the grader's and returned for the
judge."""

from __future__ import annotations

import numpy as np


def grading_patch_encoder(patch_size: int = 8, width: int = 4, pooled: bool = False):
    """A small CNN from one `(p, p, 3)` patch to a feature vector, with BatchNormalization: what
    lab 3's models receive as "the patch encoder" while they are graded (not lab 1's network)."""
    import keras
    from keras import layers

    inputs = keras.Input((patch_size, patch_size, 3), name="patch")
    x = layers.Conv2D(width, 3, strides=2, padding="same", name="patch_conv")(inputs)
    x = layers.BatchNormalization(name="patch_bn")(x)
    x = layers.ReLU(name="patch_relu")(x)
    pool = layers.GlobalAveragePooling2D if pooled else layers.Flatten
    return keras.Model(inputs, pool(name="patch_features")(x), name="patch_encoder")


def _perturbed(encoder) -> None:
    # A model on the encoder's own variables holds these new values; one on a copy does not.
    for w in encoder.weights:
        w.assign(w.numpy() + np.float32(0.25))


def probe_context_model(lab, patch_size, width, pooled):
    """build_context_model(patch_encoder)"""
    encoder = grading_patch_encoder(patch_size, width, pooled)
    model = lab.build_context_model(encoder)
    _perturbed(encoder)
    return {"model": model, "encoder": encoder}


def probe_jigsaw_model(lab, patch_size, width, pooled, num_permutations):
    """build_jigsaw_model(patch_encoder, num_permutations)"""
    encoder = grading_patch_encoder(patch_size, width, pooled)
    model = lab.build_jigsaw_model(encoder, num_permutations)
    _perturbed(encoder)
    return {"model": model, "encoder": encoder}


def probe_in_pipeline(lab, name, images, seed, kwargs):
    """name(images, seed=..., ...) eagerly, then inside a tf.data map as the experiment calls it

    (graph mode: symbolic inputs, a batch of unknown size). Returns both outputs, or the error
    that the traced call raised, in words."""
    import tensorflow as tf

    function = getattr(lab, name)
    eager = [np.asarray(v) for v in tf.nest.flatten(function(images, seed=seed, **kwargs))]
    batches = tf.data.Dataset.from_tensor_slices(images).batch(len(images))  # [None, S, S, C]
    seeds = tf.data.Dataset.from_tensors(tf.constant(seed, tf.int64))
    try:
        dataset = tf.data.Dataset.zip(batches, seeds).map(
            lambda x, s: tuple(tf.nest.flatten(function(x, seed=s, **kwargs)))
        )
        traced = [np.asarray(v) for v in next(iter(dataset))]
    except Exception as error:  # noqa: BLE001  (the student's code, reported in words)
        metadata = getattr(error, "ag_error_metadata", None)
        text = getattr(metadata, "cause_message", None) or str(error)
        lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
        cause = lines[-1][:300] if lines else ""  # traced code's errors end with their cause
        return {"eager": eager, "error": f"{type(error).__name__}: {cause}"}
    return {"eager": eager, "traced": traced}
