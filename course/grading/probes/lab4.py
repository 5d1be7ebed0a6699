"""Lab 4's probes: the loss's gradient, one contrastive step, and the projection head for the
judge."""

from __future__ import annotations

import numpy as np


def probe_loss_gradient(lab, z1, z2, temperature):
    """nt_xent_loss(z1, z2, temperature) differentiated with tf.GradientTape"""
    import tensorflow as tf

    a, b = tf.constant(z1), tf.constant(z2)
    with tf.GradientTape() as tape:
        tape.watch([a, b])
        loss = lab.nt_xent_loss(a, b, temperature)
    if not tf.is_tensor(loss):
        return {"tensor": False, "type": type(loss).__name__}
    gradients = tape.gradient(loss, [a, b])
    return {
        "tensor": True,
        "loss": np.asarray(loss),
        "gradients": [
            None if g is None else np.asarray(tf.convert_to_tensor(g)) for g in gradients
        ],
    }


def _small_models():
    """A small encoder (no BatchNormalization, so encoding the views together or one at a time
    gives
    the same features) and a Dense-ReLU-Dense head, with fixed weights that keep the embeddings of
    different images apart (so that the loss depends clearly on the temperature and the weights).
    """
    import keras

    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Rescaling(2.0, offset=-1.0)(inputs)
    x = keras.layers.Conv2D(4, 3, strides=2, activation="tanh")(x)
    x = keras.layers.Flatten()(x)
    encoder = keras.Model(inputs, keras.layers.Dense(16)(x))
    features = keras.Input((16,))
    hidden = keras.layers.Dense(32, activation="relu")(features)
    head = keras.Model(features, keras.layers.Dense(8)(hidden))
    generator = np.random.default_rng(12)
    for model in (encoder, head):
        model.set_weights(
            [
                generator.normal(
                    0.0,
                    (
                        1.0 / np.sqrt(w.shape[0] if len(w.shape) == 2 else np.prod(w.shape[:-1]))
                        if len(w.shape) > 1
                        else 0.01
                    ),
                    size=w.shape,
                ).astype("float32")
                for w in model.weights
            ]
        )
    return encoder, head


def probe_step(lab, images, learning_rate, seed, temperature=None):
    """contrastive_step(encoder, head, optimizer, images, seed, temperature)"""
    import keras
    import tensorflow as tf

    encoder, head = _small_models()
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate)
    before = [[w.numpy() for w in model.trainable_weights] for model in (encoder, head)]
    # Record the views the step makes with the lab's augment (eager calls only).
    views, original = [], lab.augment

    def recording_augment(*args, **kwargs):
        out = original(*args, **kwargs)
        views.append(np.asarray(out) if tf.executing_eagerly() and hasattr(out, "numpy") else None)
        return out

    lab.augment = recording_augment
    try:
        kwargs = {} if temperature is None else {"temperature": temperature}
        loss = lab.contrastive_step(encoder, head, optimizer, images, seed, **kwargs)
    finally:
        lab.augment = original
    after = [[w.numpy() for w in model.trainable_weights] for model in (encoder, head)]

    def embed(weights, images):
        for model, values in zip((encoder, head), weights, strict=False):
            for w, value in zip(model.trainable_weights, values, strict=False):
                w.assign(value)
        return np.asarray(head(encoder(images, training=True), training=True))

    recorded = None
    if views and all(v is not None for v in views):
        recorded = {
            "views": views,
            "before": [embed(before, v) for v in views],
            "after": [embed(after, v) for v in views],
        }
    loss = loss.numpy() if hasattr(loss, "numpy") else loss
    return {"loss": loss, "weights_before": before, "weights_after": after, "recorded": recorded}


def probe_head(lab, args, kwargs):
    """build_projection_head(...)"""
    return lab.build_projection_head(*args, **kwargs)
