"""Autograder for lab 3, the public checks: spatial context and jigsaw puzzles.

Each test is one check worth points; its docstring's first line is what the report calls it. The
checks here are public (students run them with `course check`); those that need a reference are
in `test_lab3_context_hidden.py`, which only the staff have.

Patches are identified by where they came from: the images hold random pixels, so a patch
matches exactly one window of one image, found by searching every window (`locate`). A check
then compares that window's corner with the cell and offset the spec names; so any technique
(slicing, gathers, `tf.image.extract_patches`, loops over cells) is graded by what it returns.
The permutation set is checked against its definition, farthest-point selection over all 9!
permutations, not against one particular set. The two models are measured by the judge (the
`measure_*` functions, reusing lab 2's model measurements); comparisons are made here.
"""

import itertools

import numpy as np
import pytest
from test_lab2_rotation import (
    check_logits,
    check_model,
    gradient_step,
    holder_of,
    largest_change,
    model_type,
)

from course.grading import expected
from course.grading.codec import AsTensor
from course.grading.probes.lab3 import (
    probe_context_model,
    probe_in_pipeline,
    probe_jigsaw_model,
)

LAB = "lab3"

EXPECTED = expected.load(LAB)

rng = np.random.default_rng(3)
# Random pixels: no window of an image equals another window of it or of another image.
IMAGES = rng.integers(0, 256, size=(5, 32, 32, 3), dtype=np.uint8)
FLOATS = rng.random(size=(4, 16, 16, 3)).astype(np.float32)
MANY = rng.integers(0, 256, size=(200, 32, 32, 3), dtype=np.uint8)


def cell_grid(side: int, grid: int, patch_size: int) -> tuple[int, int]:
    """(cell side, centred offset) of the spec."""
    cell = side // grid
    return cell, (cell - patch_size) // 2


def locate(patch: np.ndarray, image: np.ndarray):
    """(row, column) of the top-left corner of the window of `image` that equals `patch`, None
    where none does."""
    patch, image = np.asarray(patch, np.float64), np.asarray(image, np.float64)
    p = patch.shape[0]
    if patch.ndim != 3 or patch.shape[:2] != (p, p) or patch.shape[2] != image.shape[2]:
        return None
    windows = np.lib.stride_tricks.sliding_window_view(image, (p, p), axis=(0, 1))
    # windows: [S - p + 1, S - p + 1, C, p, p]
    hits = np.argwhere(
        (np.abs(windows - np.moveaxis(patch, -1, 0)) <= 1e-6).all(axis=(2, 3, 4))
    )
    return tuple(int(v) for v in hits[0]) if len(hits) else None


def check_patch_shape(out, images, grid, patch_size) -> np.ndarray:
    out = np.asarray(out)
    want = (len(images), grid * grid, patch_size, patch_size, images.shape[-1])
    assert out.shape == want, (
        f"extract_patches on {list(images.shape)} images with grid={grid}, patch_size="
        f"{patch_size} should give shape {want}, got {out.shape}"
    )
    return out


def check_centred(out, images, grid, patch_size, what="extract_patches") -> None:
    """Every patch of `out` [B, n, p, p, C] is the centred patch of its cell, in row-major
    order."""
    cell, offset = cell_grid(images.shape[1], grid, patch_size)
    for i, image in enumerate(images):
        for n in range(grid * grid):
            row, column = divmod(n, grid)
            want = (row * cell + offset, column * cell + offset)
            found = locate(out[i, n], image)
            if found == want:
                continue
            if found is None:
                raise AssertionError(
                    f"{what}: patch {n} of image {i} is no {patch_size} x {patch_size} window"
                    " of the image (keep the pixel values and the channel order)"
                )
            hint = ""
            if (found[0] // cell, found[1] // cell) == (row, column):
                hint = (
                    f": it is {found[0] % cell} x {found[1] % cell} pixels into its cell; centre"
                    f" it, offset (cell - p) // 2 = {offset} each way"
                )
            elif row != column and (found[1] // cell, found[0] // cell) == (row, column):
                hint = ": the cells go in row-major order (all of row 0 first), not column-major"
            raise AssertionError(
                f"{what}: patch {n} of image {i} (row {row}, column {column} of the {grid} x"
                f" {grid} grid, cells of {cell} pixels) should start at pixel {want}, it starts"
                f" at {found}{hint}"
            )


def corners(out, images) -> np.ndarray:
    """[B, n, 2]: the corner of each patch's window (-1 where none matches)."""
    return np.array(
        [[locate(patch, image) or (-1, -1) for patch in patches] for patches, image in
         zip(out, images, strict=True)]
    )


def check_jittered(out, images, grid, patch_size) -> np.ndarray:
    """Every patch lies inside its own cell; returns the offsets [B, n, 2] within the cells."""
    cell, _ = cell_grid(images.shape[1], grid, patch_size)
    found = corners(out, images)
    assert (found >= 0).all(), (
        "extract_patches with a seed: a patch is no window of its image (keep the pixel values)"
    )
    cells = np.array([divmod(n, grid) for n in range(grid * grid)]) * cell  # [n, 2]
    offsets = found - cells
    outside = np.argwhere(((offsets < 0) | (offsets > cell - patch_size)).any(axis=-1))
    if len(outside):
        i, n = outside[0]
        raise AssertionError(
            f"extract_patches with a seed: patch {n} of image {i} starts at"
            f" {tuple(int(v) for v in found[i, n])},"
            f" outside its cell (row {n // grid}, column {n % grid}, pixels"
            f" {cells[n][0]}..{cells[n][0] + cell - 1} x {cells[n][1]}..{cells[n][1] + cell - 1}):"
            f" the offset in a cell goes from 0 to cell - p = {cell - patch_size}"
        )
    return offsets


# -- extract_patches ------------------------------------------------------------------------------


# What the experiment hands the task functions: float images whose cells are the patches' size
# (jittered patches laid edge to edge), here 8-pixel cells of 24 x 24 images.
MOSAICS = np.random.default_rng(33).random(size=(4, 24, 24, 3)).astype(np.float32)


def check_in_pipeline(lab, name, images, seed, **kwargs) -> list[np.ndarray]:
    """`name` gives in a tf.data map (graph mode, batches of unknown size) what it gives eagerly:
    how `course experiment` calls it. Returns its outputs."""
    result = lab.probe(probe_in_pipeline, name, images, seed, kwargs)
    assert "error" not in result, (
        f"{name} failed inside a tf.data map, where `course experiment` calls it (graph mode: its"
        f" inputs are symbolic tensors whose batch size is unknown): {result.get('error')}. Use"
        " TensorFlow ops on its inputs (tf.shape(x)[0], not len(x) or .numpy(); no NumPy on"
        " them, no Python `if` or loop over their values)"
    )
    eager, traced = result["eager"], result["traced"]
    assert len(eager) == len(traced) and all(
        np.array_equal(a, b) for a, b in zip(eager, traced, strict=True)
    ), (
        f"{name} gave other values inside a tf.data map than eagerly, with the same inputs and"
        " seed: draw with stateless random ops from the seed it is given"
    )
    return eager


@pytest.mark.grade("extract_patches", points=1)
def test_extract_patches_in_a_pipeline(lab):
    """runs inside a tf.data map, as the experiment calls it: jittered patches of a batch of
    unknown size"""
    check_in_pipeline(lab, "extract_patches", IMAGES, [5, 6], grid=3, patch_size=8)
    check_in_pipeline(lab, "extract_patches", MOSAICS, [5, 7], grid=3, patch_size=8)


@pytest.mark.grade("extract_patches", points=2)
def test_extract_patches_centred(lab):
    """seed=None: [B, 9, 8, 8, C] patches centred in the 10-pixel cells of 32 x 32 images,
    row-major, same dtype"""
    out = check_patch_shape(lab.extract_patches(IMAGES), IMAGES, 3, 8)
    check_centred(out, IMAGES, 3, 8)
    assert out.dtype == IMAGES.dtype, (
        f"extract_patches should keep the dtype: uint8 images gave {out.dtype} patches"
    )


@pytest.mark.grade("extract_patches", points=1)
def test_extract_patches_other_grids(lab):
    """other grids and patch sizes: cells of S // grid pixels from the top-left corner, leftover
    pixels unused"""
    for grid, patch_size in ((4, 2), (2, 5)):  # 16 x 16 floats: cells of 4 and of 8 pixels
        out = lab.extract_patches(AsTensor(FLOATS), grid=grid, patch_size=patch_size)
        check_centred(check_patch_shape(out, FLOATS, grid, patch_size), FLOATS, grid, patch_size)
    odd = IMAGES[:2, :29, :29]  # cells of 9 pixels; the last 2 rows and columns are unused
    check_centred(check_patch_shape(lab.extract_patches(odd, 3, 5), odd, 3, 5), odd, 3, 5)


@pytest.mark.grade("extract_patches", points=2)
def test_extract_patches_jitter(lab):
    """with a seed every patch lies at its own random offset inside its cell; the seed decides
    them"""
    first = check_patch_shape(lab.extract_patches(IMAGES, seed=3), IMAGES, 3, 8)
    offsets = check_jittered(first, IMAGES, 3, 8)
    assert len(np.unique(offsets.reshape(-1, 2), axis=0)) > 1, (
        "extract_patches with a seed placed every patch at the same offset in its cell: draw an"
        " offset for each patch of each image"
    )
    again = np.asarray(lab.extract_patches(IMAGES, seed=3))
    assert np.array_equal(first, again), (
        "extract_patches with the same seed gave other patches: draw the offsets from the seed"
        " (tf.random.stateless_uniform), not from a global random state"
    )
    other = np.asarray(lab.extract_patches(IMAGES, seed=AsTensor(np.array([4, 1]), "int64")))
    assert not np.array_equal(first, other), (
        "seeds 3 and [4, 1] gave the same patches: the seed should decide the offsets"
    )


@pytest.mark.grade("extract_patches", points=1)
def test_extract_patches_jitter_uniform(lab):
    """jitter: every offset 0..cell - p comes up, in rows and columns drawn apart, per image"""
    images = MANY[:40]
    offsets = check_jittered(np.asarray(lab.extract_patches(images, seed=9)), images, 3, 8)
    for axis, name in ((0, "row"), (1, "column")):
        counts = np.bincount(offsets[..., axis].reshape(-1), minlength=3)
        assert (counts >= 0.2 * counts.sum()).all(), (
            f"over 40 images the {name} offsets 0, 1, 2 came up {counts.tolist()} times: draw"
            " each offset uniformly from 0..cell - p (maxval cell - p + 1, excluded)"
        )
    assert not np.array_equal(offsets[..., 0], offsets[..., 1]), (
        "every patch moved as far down as right: draw the row and the column offsets apart"
    )
    assert len({tuple(o.reshape(-1)) for o in offsets}) == len(images), (
        "some images got exactly the same offsets: draw them per image"
    )


# -- relative_position_pairs ---------------------------------------------------------------------


def check_triple(result):
    assert isinstance(result, (tuple, list)) and len(result) == 3, (
        "relative_position_pairs should return (center, neighbor, label), got"
        f" {type(result).__name__}"
        + (f" of length {len(result)}" if isinstance(result, (tuple, list)) else "")
    )
    return tuple(np.asarray(part) for part in result)


def check_pairs(center, neighbor, label, images, patch_size) -> None:
    """The centre patch, the neighbour the label names, both centred."""
    b, p = len(images), patch_size
    for name, part in (("center", center), ("neighbor", neighbor)):
        assert part.shape == (b, p, p, images.shape[-1]), (
            f"{name} should have shape {(b, p, p, images.shape[-1])}, got {part.shape}"
        )
    assert label.shape == (b,), f"label should have shape ({b},), got {label.shape}"
    cell, offset = cell_grid(images.shape[1], 3, p)
    middle = (cell + offset, cell + offset)
    # "neighbour_cells" [8, 2]: the (row, column) of the cell each label names.
    cells = EXPECTED["neighbour_cells"]
    for i, image in enumerate(images):
        found = locate(center[i], image)
        assert found == middle, (
            f"center[{i}] should be the centred patch of the middle cell, starting at {middle};"
            f" it starts at {found}"
        )
        found = locate(neighbor[i], image)
        assert found is not None, f"neighbor[{i}] is no {p} x {p} window of image {i}"
        assert 0 <= label[i] < 8, f"label[{i}] is {label[i]}, outside 0..7"
        want = tuple(int(v) * cell + offset for v in cells[int(label[i])])
        if found != want:
            at = (found[0] // cell, found[1] // cell)
            named = [k for k, c in enumerate(cells.tolist()) if tuple(c) == at]
            hint = ""
            if at == (1, 1):
                hint = "; the neighbour is the centre patch itself: never pick cell 4"
            elif named:
                hint = (
                    f"; that is the cell of label {named[0]}: label l names cell l for l < 4 and"
                    " l + 1 from 4 on (the centre is skipped)"
                )
            raise AssertionError(
                f"label[{i}] = {label[i]} names the neighbour in row {cells[int(label[i])][0]},"
                f" column {cells[int(label[i])][1]} (a patch starting at {want}), but"
                f" neighbor[{i}] starts at {found}{hint}"
            )


@pytest.mark.grade("relative_position_pairs", points=1)
def test_context_pairs_in_a_pipeline(lab):
    """runs inside a tf.data map, as the experiment calls it (also on float images whose cells
    are the patch size), and gives the pairs it gives eagerly"""
    check_in_pipeline(lab, "relative_position_pairs", IMAGES, [7, 8], patch_size=8)
    center = check_in_pipeline(lab, "relative_position_pairs", MOSAICS, [7, 9], patch_size=8)[0]
    assert center.dtype == np.float32 and np.array_equal(center, MOSAICS[:, 8:16, 8:16]), (
        "on float 24 x 24 images with patch_size=8 (each patch fills its cell) the centre patch"
        " should be the middle cell, float32 as given"
    )


@pytest.mark.grade("relative_position_pairs", points=2)
def test_pairs_centre_and_named_neighbour(lab):
    """center is the middle patch, neighbor the centred patch of the cell its label names (0
    top-left .. 7 bottom-right)"""
    center, neighbor, label = check_triple(lab.relative_position_pairs(MANY[:24], seed=5))
    check_pairs(center, neighbor, label, MANY[:24], 8)


@pytest.mark.grade("relative_position_pairs", points=1)
def test_pairs_labels_uniform(lab):
    """labels are int32 [B], one draw per image, uniform over the eight neighbours"""
    _, _, label = check_triple(lab.relative_position_pairs(MANY, seed=1))
    assert label.dtype == np.int32, f"the labels should be int32, got {label.dtype}"
    assert label.shape == (len(MANY),), f"label should have shape (200,), got {label.shape}"
    counts = np.bincount(np.clip(label, 0, 8).astype(np.int64), minlength=9)[:8]
    assert label.min() >= 0 and label.max() <= 7 and (counts >= 10).all(), (
        f"200 images gave the labels 0..7 {counts.tolist()} times: draw each image's label"
        " uniformly from 0..7 (maxval 8, excluded)"
    )


@pytest.mark.grade("relative_position_pairs", points=1)
def test_pairs_seed(lab):
    """the same seed gives the same pairs, another seed other labels; tensor seeds work"""
    first = check_triple(lab.relative_position_pairs(MANY[:50], seed=2))
    again = check_triple(lab.relative_position_pairs(MANY[:50], seed=2))
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True)), (
        "the same seed gave other pairs: draw the labels from the seed (stateless random ops)"
    )
    other = check_triple(
        lab.relative_position_pairs(MANY[:50], seed=AsTensor(np.array([2, 7]), "int32"))
    )
    assert not np.array_equal(first[2], other[2]), (
        "seeds 2 and [2, 7] gave the same labels: the seed should decide them"
    )


# -- permutation_set ------------------------------------------------------------------------------


ALL_PERMUTATIONS = {  # read straight into arrays: a list of 9! tuples would take 50 MB
    n: np.fromiter(
        itertools.chain.from_iterable(itertools.permutations(range(n))), np.int8
    ).reshape(-1, n)
    for n in (4, 9)
}


def check_permutations(out, count: int, num_patches: int) -> np.ndarray:
    assert isinstance(out, np.ndarray), (
        f"permutation_set should return a NumPy array, got {type(out).__name__}"
    )
    assert out.dtype.kind in "iu", f"the permutations should be integers, got {out.dtype}"
    assert out.shape == (count, num_patches), (
        f"permutation_set({count}, {num_patches}) should have shape {(count, num_patches)}, got"
        f" {out.shape}"
    )
    wrong = [i for i, row in enumerate(out) if sorted(row.tolist()) != list(range(num_patches))]
    assert not wrong, (
        f"row {wrong[0]}, {out[wrong[0]].tolist()}, is not a permutation of 0..{num_patches - 1}"
    )
    assert len(np.unique(out, axis=0)) == count, "some permutations appear more than once"
    return out


def check_farthest_points(out: np.ndarray) -> None:
    """Each permutation after the first is as far as any candidate from those before it."""
    candidates = ALL_PERMUTATIONS[out.shape[1]]
    closest = (candidates != out[0]).sum(axis=1)
    for k in range(1, len(out)):
        distance = int(min((out[k] != out[j]).sum() for j in range(k)))
        if distance != closest.max():
            raise AssertionError(
                f"permutation {k} is {distance} positions away from the closest one chosen"
                f" before it, but some permutation is {int(closest.max())} away from all of"
                " them: each time add a candidate whose smallest Hamming distance to those"
                " chosen is largest (farthest-point selection: the minimum, not the average)"
            )
        closest = np.minimum(closest, (candidates != out[k]).sum(axis=1))


@pytest.mark.grade("permutation_set", points=2)
def test_permutation_set_distinct_permutations(lab):
    """a NumPy int array [N, 9] of distinct permutations of 0..8"""
    check_permutations(lab.permutation_set(12), 12, 9)


@pytest.mark.grade("permutation_set", points=2)
def test_permutation_set_farthest_points(lab):
    """each permutation is one of those farthest (smallest Hamming distance largest) from the
    ones before it"""
    check_farthest_points(check_permutations(lab.permutation_set(12, seed=0), 12, 9))
    check_farthest_points(check_permutations(lab.permutation_set(24, 4, seed=1), 24, 4))


@pytest.mark.grade("permutation_set", points=1)
def test_permutation_set_seed(lab):
    """the same seed gives the same set, another seed starts from another permutation"""
    first = check_permutations(lab.permutation_set(6, seed=3), 6, 9)
    assert np.array_equal(first, lab.permutation_set(6, seed=3)), (
        "the same seed gave another set: draw with np.random.default_rng(seed)"
    )
    starts = {tuple(lab.permutation_set(1, seed=s)[0].tolist()) for s in range(4)}
    assert len(starts) > 1, (
        "seeds 0, 1, 2, 3 all start from the same permutation: the seed should pick the first"
    )


# -- jigsaw_batch ---------------------------------------------------------------------------------


PERMUTATIONS = np.array(
    [[0, 1, 2, 3, 4, 5, 6, 7, 8], [8, 7, 6, 5, 4, 3, 2, 1, 0], [2, 0, 1, 5, 3, 4, 8, 6, 7],
     [1, 2, 0, 4, 5, 3, 7, 8, 6], [3, 6, 0, 1, 8, 2, 4, 7, 5]]
)


def jigsaw_pair(result) -> tuple[np.ndarray, np.ndarray]:
    assert isinstance(result, (tuple, list)) and len(result) == 2, (
        f"jigsaw_batch should return a pair (tiles, label), got {type(result).__name__}"
    )
    return tuple(np.asarray(part) for part in result)


def check_tiles(result, images, permutations, patch_size) -> tuple[np.ndarray, np.ndarray]:
    tiles, label = jigsaw_pair(result)
    want = (len(images), 9, patch_size, patch_size, images.shape[-1])
    assert tiles.shape == want, f"tiles should have shape {want}, got {tiles.shape}"
    assert label.shape == (len(images),), (
        f"label should have shape ({len(images)},), got {label.shape}"
    )
    assert label.min() >= 0 and label.max() < len(permutations), (
        f"the labels should index the {len(permutations)} permutations, got"
        f" {sorted(set(label.tolist()))}"
    )
    cell, offset = cell_grid(images.shape[1], 3, patch_size)
    for i, image in enumerate(images):
        order = permutations[int(label[i])]
        found = [locate(tile, image) for tile in tiles[i]]
        cells = [
            None if f is None or (f[0] - offset) % cell or (f[1] - offset) % cell
            else (f[0] // cell) * 3 + f[1] // cell
            for f in found
        ]
        if cells == list(order):
            continue
        if None in cells:
            j = cells.index(None)
            raise AssertionError(
                f"tile {j} of image {i} is not one of its centred {patch_size} x {patch_size}"
                " patches (patches = extract_patches(images, 3, patch_size), no jitter)"
            )
        inverse = np.argsort(order).tolist()
        hint = (
            ": that is the inverse permutation; tile j is patches[permutation[j]], not patch j"
            " at position permutation[j]"
            if cells == inverse
            else ""
        )
        raise AssertionError(
            f"image {i} has label {label[i]}, permutation {order.tolist()}, but its tiles are"
            f" the patches {cells}{hint}"
        )
    return tiles, label


@pytest.mark.grade("jigsaw_batch", points=1)
def test_jigsaw_in_a_pipeline(lab):
    """runs inside a tf.data map, as the experiment calls it (also on float images whose cells
    are the patch size), and gives the puzzles it gives eagerly"""
    for images, seed in ((IMAGES, [9, 1]), (MOSAICS, [9, 2])):
        check_in_pipeline(
            lab, "jigsaw_batch", images, seed, permutations=PERMUTATIONS, patch_size=8
        )


@pytest.mark.grade("jigsaw_batch", points=2)
def test_jigsaw_tiles_follow_the_permutation(lab):
    """tiles[i, j] == patches[i, permutations[label[i], j]] with the centred patches"""
    check_tiles(lab.jigsaw_batch(MANY[:20], PERMUTATIONS, seed=4), MANY[:20], PERMUTATIONS, 8)


@pytest.mark.grade("jigsaw_batch", points=1)
def test_jigsaw_labels_uniform(lab):
    """labels are int32 [B], one draw per image, uniform over the permutations"""
    _, label = jigsaw_pair(lab.jigsaw_batch(MANY, PERMUTATIONS.tolist(), seed=1))
    assert label.dtype == np.int32, f"the labels should be int32, got {label.dtype}"
    counts = np.bincount(np.clip(label.reshape(-1), 0, 5).astype(np.int64), minlength=6)[:5]
    assert label.shape == (len(MANY),) and (counts >= 20).all(), (
        f"200 images gave the labels 0..4 {counts.tolist()} times: draw each image's label"
        " uniformly over the permutations (maxval len(permutations), excluded)"
    )


@pytest.mark.grade("jigsaw_batch", points=1)
def test_jigsaw_seed(lab):
    """the same seed gives the same puzzles, another seed other labels"""
    first = jigsaw_pair(lab.jigsaw_batch(MANY[:50], PERMUTATIONS, seed=2))
    again = jigsaw_pair(lab.jigsaw_batch(MANY[:50], PERMUTATIONS, seed=2))
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True)), (
        "the same seed gave other puzzles: draw the labels from the seed (stateless random ops)"
    )
    other = jigsaw_pair(
        lab.jigsaw_batch(MANY[:50], PERMUTATIONS, seed=AsTensor(np.array([2, 9]), "int64"))
    )
    assert not np.array_equal(first[1], other[1]), (
        "seeds 2 and [2, 9] gave the same labels: the seed should decide them"
    )


@pytest.mark.grade("jigsaw_batch", points=1)
def test_jigsaw_patch_size_and_dtype(lab):
    """patch_size works, tiles keep the images' dtype, and a tensor of 3 permutations works"""
    permutations = PERMUTATIONS[2:]
    tiles, _ = check_tiles(
        lab.jigsaw_batch(AsTensor(FLOATS), AsTensor(permutations, "int32"), 6, patch_size=4),
        FLOATS,
        permutations,
        4,
    )
    assert tiles.dtype == np.float32, f"float32 images gave {tiles.dtype} tiles"
    tiles, _ = check_tiles(lab.jigsaw_batch(IMAGES, PERMUTATIONS, 6), IMAGES, PERMUTATIONS, 8)
    assert tiles.dtype == np.uint8, f"uint8 images gave {tiles.dtype} tiles"


# -- the models -----------------------------------------------------------------------------------


def patches_for(patch_size: int, count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(count, patch_size, patch_size, 3)).astype(
        "float32"
    )


def measure_patch_model(made, inputs, variants):
    """The model's logits on `inputs` and on each of `variants` (other inputs: patches changed or
    swapped); which of its weights hold the encoder's (changed after the model was built, so only
    the encoder's own variables hold them); how many copies of the encoder's kernel it has; how a
    training step moves the encoder's weights (the judge takes the step)."""
    model, encoder = made["model"], made["encoder"]
    facts = model_type(model)
    if facts["type"] != "Model":
        return facts
    logits = np.asarray(model(inputs, training=False))
    changed = {
        name: largest_change(np.asarray(model(x, training=False)), logits)
        for name, x in variants.items()
    }
    kernel = next(w for w in encoder.weights if w.path.endswith("kernel"))
    expected = [(w.path, w.numpy()) for w in encoder.weights if w.path.endswith("kernel")]
    holder = holder_of(model, expected)
    before = [w.numpy() for w in model.weights]
    gradient_step(model, inputs)
    after = [w.numpy() for w in model.weights]
    return {
        **facts,
        "logits": logits,
        "changed": changed,
        "shares_variables": len(holder) == len(expected),
        "kernel_copies": sum(tuple(w.shape) == tuple(kernel.shape) for w in model.weights),
        "encoder_moved": min((largest_change(after[i], before[i]) for i in holder), default=0.0),
    }


def check_shared_encoder(result, function: str, uses: str) -> None:
    check_model(result, function)
    assert result["shares_variables"] and result["encoder_moved"] > 0, (
        "a training step did not change the weights of the patch encoder passed in"
        + ("" if result["shares_variables"] else " (the model does not hold its variables)")
        + f": call the given encoder on {uses} (no new, cloned or frozen encoder), so that the"
        " pretext task trains the encoder that is transferred"
    )
    assert result["kernel_copies"] == 1, (
        f"the model holds {result['kernel_copies']} copies of the encoder's convolution: use the"
        f" one encoder, with the same weights, for {uses}"
    )


def context_result(lab, patch_size=8, width=4, pooled=False):
    center, neighbor = patches_for(patch_size, 6, 10), patches_for(patch_size, 6, 11)
    other = patches_for(patch_size, 6, 12)
    variants = {
        "swapped": [neighbor, center],
        "other center": [other, neighbor],
        "other neighbor": [center, other],
    }
    return lab.probe(
        probe_context_model,
        patch_size,
        width,
        pooled,
        measure=measure_patch_model,
        measure_args=([center, neighbor], variants),
    )


@pytest.mark.grade("build_context_model", points=1)
def test_context_model_logits(lab):
    """a functional model from [center, neighbor] to [B, 8] logits (no softmax)"""
    result = context_result(lab)
    check_model(result, "build_context_model")
    check_logits(result["logits"], 6, 8, "8 position logits")


@pytest.mark.grade("build_context_model", points=2)
def test_context_model_one_shared_encoder(lab):
    """one patch encoder, the one given, encodes both patches: training the model trains it"""
    check_shared_encoder(context_result(lab), "build_context_model", "both patches")


@pytest.mark.grade("build_context_model", points=1)
def test_context_model_reads_both_patches_in_order(lab):
    """the logits depend on both patches and on which is the centre (features in order, not
    added)"""
    result = context_result(lab)
    check_model(result, "build_context_model")
    changed = result["changed"]
    for name in ("other center", "other neighbor"):
        assert changed[name] > 1e-6, (
            f"another {name.split()[1]} patch left the logits unchanged: the head should see"
            " the features of both patches"
        )
    assert changed["swapped"] > 1e-6, (
        "swapping the centre and the neighbour left the logits unchanged: the head must know"
        " which patch is the centre, so concatenate the features in order [centre, neighbour]"
        " rather than adding or averaging them"
    )


def jigsaw_result(lab, num_permutations=7, patch_size=8, width=4, pooled=False):
    tiles = np.random.default_rng(13).normal(size=(5, 9, patch_size, patch_size, 3))
    tiles = tiles.astype("float32")
    swapped, other = tiles[:, [1, 0, *range(2, 9)]], tiles.copy()
    other[:, 8] = patches_for(patch_size, 5, 14)
    return lab.probe(
        probe_jigsaw_model,
        patch_size,
        width,
        pooled,
        num_permutations,
        measure=measure_patch_model,
        measure_args=(tiles, {"swapped": swapped, "other last tile": other}),
    )


@pytest.mark.grade("build_jigsaw_model", points=1)
def test_jigsaw_model_logits(lab):
    """a functional model from [B, 9, p, p, C] tiles to [B, N] logits (no softmax)"""
    result = jigsaw_result(lab, num_permutations=7)
    check_model(result, "build_jigsaw_model")
    check_logits(result["logits"], 5, 7, "7 permutation logits")


@pytest.mark.grade("build_jigsaw_model", points=2)
def test_jigsaw_model_one_shared_encoder(lab):
    """one patch encoder, the one given, encodes all nine tiles: training the model trains it"""
    check_shared_encoder(jigsaw_result(lab), "build_jigsaw_model", "every tile")


@pytest.mark.grade("build_jigsaw_model", points=1)
def test_jigsaw_model_reads_tiles_in_order(lab):
    """the logits depend on every tile and on their order (features concatenated, not
    pooled)"""
    result = jigsaw_result(lab)
    check_model(result, "build_jigsaw_model")
    assert result["changed"]["other last tile"] > 1e-6, (
        "another last tile left the logits unchanged: the head should see all nine tiles"
    )
    assert result["changed"]["swapped"] > 1e-6, (
        "swapping the first two tiles left the logits unchanged: the order of the tiles is the"
        " whole puzzle, so concatenate their features in order rather than adding or pooling them"
    )
