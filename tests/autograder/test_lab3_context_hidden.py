"""Autograder for lab 3, the hidden checks: they run only when the staff grade.

They cut images no student has seen, of a size the public data does not cover (24 x 24, patches
of 6), compare with patches sliced by hand, check a longer permutation set, and build the models
on another patch encoder; `expected_values()` computes the data that the public checks
(`test_lab3_context.py`, whose helpers these checks share) compare with.
"""

import numpy as np
import pytest
from test_lab3_context import (
    check_farthest_points,
    check_jittered,
    check_permutations,
    check_shared_encoder,
    check_triple,
    context_result,
    jigsaw_pair,
    jigsaw_result,
)

from course.grading.codec import AsTensor

LAB = "lab3"

# Unseen by students: cells of 8 pixels, centred patches of 6 start 1 pixel in.
UNSEEN = np.random.default_rng(3003).integers(0, 256, size=(30, 24, 24, 3), dtype=np.uint8)

# The context task's labels in the spec's words: the neighbour's cell, row-major, centre skipped.
POSITIONS = (
    "top-left", "top", "top-right", "left", "right", "bottom-left", "bottom", "bottom-right"
)


def sliced(images: np.ndarray, cell: int, offset: int, p: int) -> np.ndarray:
    """[B, 9, p, p, C]: the centred patches of a 3 x 3 grid, cut by hand."""
    starts = [(r * cell + offset, c * cell + offset) for r in range(3) for c in range(3)]
    return np.stack([images[:, y : y + p, x : x + p] for y, x in starts], axis=1)


def expected_values() -> dict[str, np.ndarray]:
    """The data of the public checks: the (row, column) of the cell each context label names,
    [8, 2]."""
    rows = {"top": 0, "bottom": 2}
    columns = {"left": 0, "right": 2}
    cells = [
        [rows.get(name.split("-")[0], 1), columns.get(name.split("-")[-1], 1)]
        for name in POSITIONS
    ]
    return {"neighbour_cells": np.array(cells)}


@pytest.mark.grade("extract_patches", points=1)
def test_extract_patches_unseen_images(lab):
    """24 x 24 images, patches of 6: centred as sliced by hand; jittered inside their cells"""
    out = lab.extract_patches(AsTensor(UNSEEN.astype(np.float32)), 3, 6)
    assert np.shape(out) == (30, 9, 6, 6, 3) and np.array_equal(
        np.asarray(out), sliced(UNSEEN, 8, 1, 6).astype(np.float32)
    ), "extract_patches(images, 3, 6) on 24 x 24 images differs from the centred patches"
    check_jittered(np.asarray(lab.extract_patches(UNSEEN, 4, 4, seed=11)), UNSEEN, 4, 4)


@pytest.mark.grade("relative_position_pairs", points=1)
def test_pairs_unseen_images(lab):
    """24 x 24 images, patches of 6: the centre and the neighbour each label names"""
    center, neighbor, label = check_triple(lab.relative_position_pairs(UNSEEN, 21, patch_size=6))
    patches = sliced(UNSEEN, 8, 1, 6)
    assert np.array_equal(center, patches[:, 4]), "center is not the middle patch"
    cells = np.array([0, 1, 2, 3, 5, 6, 7, 8])
    assert label.shape == (30,) and np.array_equal(
        neighbor, patches[np.arange(30), cells[np.clip(label, 0, 7)]]
    ), "a neighbour is not the patch its label names"


@pytest.mark.grade("permutation_set", points=1)
def test_permutation_set_longer(lab):
    """30 permutations of 9 from another seed: distinct, each farthest from those before it"""
    check_farthest_points(check_permutations(lab.permutation_set(30, 9, seed=7), 30, 9))


@pytest.mark.grade("jigsaw_batch", points=1)
def test_jigsaw_unseen_images(lab):
    """24 x 24 images, patches of 6: tiles[i, j] == patches[i, permutations[label[i], j]]"""
    permutations = np.array([np.random.default_rng(s).permutation(9) for s in range(12)])
    tiles, label = jigsaw_pair(lab.jigsaw_batch(UNSEEN, permutations, 8, 6))
    patches = sliced(UNSEEN, 8, 1, 6)
    assert label.shape == (30,) and tiles.shape == (30, 9, 6, 6, 3), (
        f"30 images with patches of 6 should give tiles (30, 9, 6, 6, 3) and labels (30,), got"
        f" {tiles.shape} and {label.shape}"
    )
    order = permutations[np.clip(label, 0, 11)]
    assert np.array_equal(tiles, patches[np.arange(30)[:, None], order]), (
        "the tiles do not follow the permutations their labels name"
    )


@pytest.mark.grade("build_context_model", points=1)
def test_context_model_other_encoder(lab):
    """an encoder of 6 x 6 patches with pooled features: 8 logits, the one encoder trained"""
    result = context_result(lab, patch_size=6, width=16, pooled=True)
    check_shared_encoder(result, "build_context_model", "both patches")
    assert np.shape(result["logits"]) == (6, 8), "the context model should give [B, 8] logits"


@pytest.mark.grade("build_jigsaw_model", points=1)
def test_jigsaw_model_other_encoder(lab):
    """an encoder of 6 x 6 patches with pooled features, 100 permutations: one encoder trained"""
    result = jigsaw_result(lab, num_permutations=100, patch_size=6, width=16, pooled=True)
    check_shared_encoder(result, "build_jigsaw_model", "every tile")
    assert np.shape(result["logits"]) == (5, 100), "the jigsaw model should give [B, 100] logits"
    assert result["changed"]["swapped"] > 1e-6, "the tiles' order does not change the logits"
