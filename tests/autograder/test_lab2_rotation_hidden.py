"""Autograder for lab 2, the hidden checks: they run only when the staff grade.

They rotate images no student has seen, of a size the public data does not cover (6 x 6), and
compare with `np.rot90`, and check the frozen backbone's BatchNormalization; `expected_values()`
computes from the references the data that the public checks (`test_lab2_rotation.py`, whose
helpers these checks share) compare with.
"""

import numpy as np
import pytest
from test_lab2_rotation import check_pair, dataset_epochs, transfer_result

from course.data import CIFAR10_MEAN, CIFAR10_STD
from course.grading.codec import AsTensor
from course.grading.probes.lab2 import probe_random_rotations

LAB = "lab2"

# Unseen by students: the public checks use other images, all 8 x 8.
UNSEEN = np.random.default_rng(2002).integers(0, 256, size=(6, 6, 6, 3), dtype=np.uint8)


def standardized(images_uint8: np.ndarray) -> np.ndarray:
    return (images_uint8 / 255.0 - CIFAR10_MEAN) / CIFAR10_STD


def rotations_of(outputs, sources: np.ndarray, atol: float = 0.0) -> list:
    """(image index, k) of each output among the np.rot90 turns of `sources`, None where none
    matches."""
    sources = np.asarray(sources, np.float64)
    found = []
    for out in np.asarray(outputs, np.float64):
        hits = [
            (j, k)
            for j, image in enumerate(sources)
            for k in range(4)
            if out.shape == image.shape and np.abs(out - np.rot90(image, k)).max() <= atol
        ]
        found.append(hits[0] if hits else None)
    return found


def check_every_rotation_once(found, labels, what: str) -> None:
    every = [(j, k) for j in range(len(UNSEEN)) for k in range(4)]
    assert None not in found, f"{what}: an output is no counter-clockwise turn of an input image"
    assert sorted(found) == every, f"{what}: each image should appear once in each rotation"
    wrong = [i for i, (_, k) in enumerate(found) if int(labels[i]) != k]
    assert not wrong, f"{what}: {len(wrong)} labels do not match their images' rotations"


def expected_values() -> dict[str, np.ndarray]:
    """The data of the public checks: where each pixel of an 8 x 8 image comes from under each
    quarter turn, [4, 8, 8, 2], and each uint8 level standardized in each channel, [256, 3]."""
    rows, columns = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    positions = np.stack([rows, columns], axis=-1)  # [8, 8, 2]: each pixel's own (row, column)
    levels = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)
    return {
        "quarter_turns": np.stack([np.rot90(positions, k) for k in range(4)]),
        "standardized_levels": standardized(levels),
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


@pytest.mark.grade("rotation_batch", points=1)
def test_rotation_batch_unseen_images(lab):
    """6 x 6 images: every image in all four rotations once, each labelled with its k"""
    x, y = check_pair(lab.rotation_batch(UNSEEN))
    check_every_rotation_once(rotations_of(x, UNSEEN), np.reshape(y, -1), "rotation_batch")


@pytest.mark.grade("random_rotation", points=1)
def test_random_rotation_unseen_image(lab):
    """a 6 x 6 image is rotated by exactly the k returned, and every k comes up"""
    result = lab.probe(probe_random_rotations, UNSEEN[0], list(range(40)), timeout=120)
    assert "error" not in result, result.get("error")
    ks = [int(k) for k in result["k"]]
    for out, k in zip(result["rotated"], ks, strict=True):
        assert np.array_equal(np.asarray(out, np.float64), np.rot90(UNSEEN[0], k)), (
            f"random_rotation returned k = {k} but the image is not np.rot90(image, {k})"
        )
    assert sorted(set(ks)) == [0, 1, 2, 3], f"40 seeds gave only k = {sorted(set(ks))}"


@pytest.mark.grade("make_rotation_dataset", points=1)
def test_dataset_unseen_images(lab):
    """6 x 6 images: an epoch holds every standardized rotation once, labelled with its k"""
    epoch = dataset_epochs(lab, UNSEEN, 5, 9, 1)[0]
    found = rotations_of(epoch["images"], standardized(UNSEEN), atol=1e-4)
    check_every_rotation_once(found, epoch["labels"], "make_rotation_dataset")


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
