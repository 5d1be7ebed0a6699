"""Autograder for lab 1, the hidden checks: they run only when the staff grade.

They compare with references (the workshop's network, the standardization formula on images no
student has seen, float images among them, which the public data's table of uint8 levels does
not cover), and `expected_values()` computes from those references the data that the public
checks (`test_lab1_supervised.py`) compare with.
"""

import numpy as np
import pytest

from course.data import CIFAR10_MEAN, CIFAR10_STD
from course.grading.codec import AsTensor
from course.grading.probes.lab1 import probe_backbone, probe_pipeline

LAB = "lab1"

# Unseen by students: the public checks use other images.
_rng = np.random.default_rng(1001)
UNSEEN = _rng.integers(0, 256, size=(7, 24, 20, 3), dtype=np.uint8)
UNSEEN_FLOATS = _rng.random((6, 32, 32, 3), dtype=np.float32)  # no multiples of 1/255


def expected_standardized(images: np.ndarray) -> np.ndarray:
    """The formula: uint8 images scaled by 1/255, float ones taken as in [0, 1]."""
    scaled = images / 255.0 if images.dtype == np.uint8 else images.astype(np.float64)
    return (scaled - CIFAR10_MEAN) / CIFAR10_STD


def expected_values() -> dict[str, np.ndarray]:
    """The data of the public checks: each uint8 level standardized in each channel, [256, 3]."""
    levels = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)
    return {"standardized_levels": expected_standardized(levels)}


# -- standardize
# -----------------------------------------------------------------------------------


@pytest.mark.grade("standardize", points=1)
def test_standardize_tensor_and_single_image(lab):
    """accepts a tf tensor of any image size, and a single image [H, W, C]"""
    out = lab.standardize(AsTensor(UNSEEN))
    assert np.shape(out) == UNSEEN.shape, (
        f"a uint8 tf.Tensor of shape {UNSEEN.shape} gave shape {np.shape(out)}"
    )
    assert np.abs(np.asarray(out) - expected_standardized(UNSEEN)).max() < 1e-4, (
        "a uint8 tf.Tensor input gave other values than (x / 255 - CIFAR10_MEAN) / CIFAR10_STD"
    )
    single = lab.standardize(UNSEEN[3])
    assert np.shape(single) == UNSEEN[3].shape, (
        f"a single image {list(UNSEEN[3].shape)} should keep its shape, got {np.shape(single)}"
    )
    assert np.abs(single - expected_standardized(UNSEEN[3])).max() < 1e-4, (
        "a single image gave other values"
    )
    floats = lab.standardize(UNSEEN_FLOATS)
    assert np.abs(np.asarray(floats) - expected_standardized(UNSEEN_FLOATS)).max() < 1e-4, (
        "float images in [0, 1] gave other values than (x - CIFAR10_MEAN) / CIFAR10_STD"
    )


# -- make_pipeline
# ---------------------------------------------------------------------------------


@pytest.mark.grade("make_pipeline", points=1)
def test_pipeline_unseen_float_images(lab):
    """training=False on float images: standardized as they are, in order, every one once"""
    labels = np.arange(len(UNSEEN_FLOATS), dtype=np.int64)
    result = lab.probe(probe_pipeline, UNSEEN_FLOATS, labels, 4, False, 0)
    assert result["type"] == "Dataset", f"make_pipeline returned a {result['type']}"
    epoch = result["epochs"][0]
    assert np.array_equal(epoch["labels"], labels), "the labels lost their order"
    worst = np.abs(epoch["images"] - expected_standardized(UNSEEN_FLOATS)).max()
    assert worst < 1e-4, f"float images were not standardized as they are (off by {worst:.3g})"


# -- build_backbone
# --------------------------------------------------------------------------------


def workshop_backbone():
    """The workshop's network, built by the judge to compare with: written here from the course's
    contract, not imported from solutions/, so that a slip in the solution cannot hide."""
    import keras
    from keras import layers

    inputs = keras.Input((32, 32, 3))
    x = inputs
    for width in (8, 16, 32):
        x = layers.Conv2D(width, 3, padding="same")(x)
        x = layers.ReLU()(x)
        x = layers.MaxPool2D(2)(x)
        x = layers.BatchNormalization()(x)
    return keras.Model(inputs, layers.Flatten()(x))


def measure_backbone_network(model):
    import keras

    if not isinstance(model, keras.Model):
        return {"same_weights": False}
    reference = workshop_backbone()
    if [tuple(w.shape) for w in model.weights] != [tuple(w.shape) for w in reference.weights]:
        return {"same_weights": False}
    rng = np.random.default_rng(2)
    values = [rng.normal(size=w.shape).astype("float32") for w in reference.weights]
    # BatchNormalization's moving variance must stay positive.
    values = [
        np.abs(v) + 0.5 if "variance" in w.path else v
        for v, w in zip(values, reference.weights, strict=False)
    ]
    reference.set_weights(values)
    model.set_weights(values)
    x = rng.normal(size=(8, 32, 32, 3)).astype("float32")
    return {
        "same_weights": True,
        "inference": (
            np.asarray(model(x, training=False)),
            np.asarray(reference(x, training=False)),
        ),
        "training": (np.asarray(model(x, training=True)), np.asarray(reference(x, training=True))),
    }



@pytest.mark.grade("build_backbone", points=2)
def test_backbone_computes_workshop_network(lab):
    """Conv2D -> ReLU -> MaxPool2D -> BatchNormalization blocks of 8, 16, 32 filters, then
    Flatten"""
    result = lab.probe(probe_backbone, measure=measure_backbone_network)
    assert result["same_weights"], (
        "the weights do not match the workshop's blocks: Conv2D(c, 3, padding='same') -> ReLU ->"
        " MaxPool2D(2) -> BatchNormalization with c = 8, 16, 32, then Flatten"
    )
    differences = [
        (
            float(np.abs(np.asarray(got, np.float64) - expected).max())
            if np.shape(got) == np.shape(expected)
            else np.inf
        )
        for got, expected in (result["inference"], result["training"])
    ]
    assert max(differences) < 1e-4, (
        "with the workshop network's weights, the outputs differ from it "
        f"(by up to {max(differences):.3g}): check the order of the layers "
        "(convolution, ReLU, max-pooling, then batch normalization) and the 'same' padding"
    )
