"""Lab 2's probes: random rotations and the rotation dataset as arrays; its models, returned for
the judge."""

from __future__ import annotations

import numpy as np

from course.grading.probes import grading_backbone, set_weights_from


def probe_random_rotations(lab, image, seeds):
    """random_rotation(image, seed)"""
    import tensorflow as tf

    rotated, ks = [], []
    for seed in seeds:
        if isinstance(seed, list):
            seed = tf.constant(seed, dtype=tf.int64 if seed[0] % 2 else tf.int32)
        result = lab.random_rotation(image, seed)
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            return {
                "error": (
                    "random_rotation should return a pair (rotated, k), got"
                    f" {type(result).__name__}"
                )
            }
        out, k = result
        rotated.append(np.asarray(out))
        ks.append(np.asarray(k))
    shapes = {k.shape for k in ks}
    kinds = {k.dtype.kind for k in ks}
    if shapes != {()} or not kinds <= {"i", "u"}:
        return {
            "error": (
                f"k should be a scalar integer, got shapes {sorted(shapes)} of dtypes"
                f" {sorted(str(k.dtype) for k in ks[:1])}"
            )
        }
    return {"rotated": rotated, "k": [int(k) for k in ks]}


def probe_k_counts(lab, image, count):
    """random_rotation(image, seed) for seeds 0..399"""
    import time

    import tensorflow as tf

    ks, as_tensor, start = [], False, time.perf_counter()
    for seed in range(count):
        if seed == 8 and time.perf_counter() - start > 8 * 0.1:
            # A tf.function traces anew for every Python int: then pass the same seeds as the
            # shape-[2] tensors [seed, 0] that course.seeds.as_seed makes of them, if that works.
            try:
                lab.random_rotation(image, tf.constant([seed, 0], tf.int64))
                as_tensor = True
            except Exception:  # noqa: BLE001  (keep the Python ints)
                pass
        _, k = lab.random_rotation(image, tf.constant([seed, 0], tf.int64) if as_tensor else seed)
        k = np.asarray(k)
        if k.shape != () or k.dtype.kind not in "iu":
            return {
                "error": f"k should be a scalar integer, got shape {k.shape} of dtype {k.dtype}"
            }
        ks.append(int(k))
    return {"k": ks}


def probe_rotation_dataset(lab, images, batch_size, seed, epochs=1):
    """make_rotation_dataset(images, batch_size, seed) iterated for some epochs"""
    import tensorflow as tf

    dataset = lab.make_rotation_dataset(images, batch_size=batch_size, seed=seed)
    if not isinstance(dataset, tf.data.Dataset):
        return {"type": type(dataset).__name__}
    result = {"type": "Dataset", "epochs": []}
    for _ in range(epochs):
        batches = []
        for batch in dataset:
            if not isinstance(batch, (tuple, list)) or len(batch) != 2:
                return {"type": "Dataset", "error": "each batch should be a pair (images, k)"}
            batches.append((np.asarray(batch[0]), np.asarray(batch[1])))
        result["epochs"].append(batches)
    return result


def probe_rotation_model(lab, x):
    """build_rotation_model(backbone)"""

    backbone = grading_backbone()
    model = lab.build_rotation_model(backbone)
    # A model on the backbone's own variables holds these new values; one on a copy does not.
    for w in backbone.weights:
        w.assign(w.numpy() + np.float32(0.25))
    return {"model": model, "backbone": backbone}


def probe_transfer(lab, num_classes, freeze_backbone, values, positive):
    """transfer(backbone, num_classes, freeze_backbone=...)"""

    backbone = grading_backbone()
    set_weights_from(backbone, values, positive)
    return lab.transfer(backbone, num_classes, freeze_backbone=freeze_backbone)
