"""Autograder for lab 2, the hidden checks: they run only when the staff grade.

They rotate images no student has seen and compare with `np.rot90`, and check the frozen
backbone's BatchNormalization; `expected_values()` computes from the references the data that the
public checks (`test_lab2_rotation.py`, whose helpers these checks share) compare with.
"""

import numpy as np
import pytest
from test_lab2_rotation import transfer_result

from course.data import CIFAR10_MEAN, CIFAR10_STD
from course.grading.codec import AsTensor

LAB = "lab2"

# Unseen by students: the public checks use other images, all 8 x 8.
UNSEEN = np.random.default_rng(2002).integers(0, 256, size=(6, 6, 6, 3), dtype=np.uint8)


def expected_values() -> dict[str, np.ndarray]:
    """The data of the public checks: where each pixel of an 8 x 8 image comes from under each
    quarter turn, [4, 8, 8, 2], and each uint8 level standardized in each channel, [256, 3]."""
    rows, columns = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    positions = np.stack([rows, columns], axis=-1)  # [8, 8, 2]: each pixel's own (row, column)
    levels = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)
    return {
        "quarter_turns": np.stack([np.rot90(positions, k) for k in range(4)]),
        "standardized_levels": (levels / 255.0 - CIFAR10_MEAN) / CIFAR10_STD,
    }


@pytest.mark.grade("rotate", points=1)
def test_rotate_any_integer(lab):
    """any integer k works as in np.rot90: k = 4 + j and k = j - 4 turn like k = j"""
    for k in (5, -1, 4):
        out = lab.rotate(UNSEEN, k)
        assert np.array_equal(
            np.asarray(out, dtype=np.float64), np.rot90(UNSEEN, k, axes=(1, 2)).astype(np.float64)
        ), f"rotate(images, {k}) should turn like k = {k % 4}, as np.rot90(image, {k}) does"
    ks = np.array([4, 5, 6, 7, -1, -3], dtype=np.int32)
    out = lab.rotate(UNSEEN, AsTensor(ks, "int32"))
    for i, k in enumerate(ks):
        assert np.shape(out) == UNSEEN.shape and np.array_equal(
            np.asarray(out[i], np.float64), np.rot90(UNSEEN[i], int(k)).astype(np.float64)
        ), (
            f"with one k per image, k = {ks.tolist()}, image {i} should turn like k = {k % 4}:"
            " take k modulo 4"
        )


@pytest.mark.grade("transfer", points=2)
def test_transfer_frozen_batchnorm_inference(lab):
    """freeze_backbone=True: BatchNormalization uses its moving statistics even in training mode"""
    result = transfer_result(lab, 10, True)
    assert result["batch_dependence"] < 1e-4 and result["train_vs_inference"] < 1e-4, (
        "with freeze_backbone=True, calling the model with training=True still normalises with"
        " each batch's own statistics (an image's logits change by up to"
        f" {max(result['batch_dependence'], result['train_vs_inference']):.3g} with its batch):"
        " the frozen backbone's BatchNormalization should use its moving statistics. In Keras 3,"
        " backbone.trainable = False does this; backbone(x, training=False) alone is overridden"
        " by the outer model"
    )
