"""Autograder for lab 2, the public checks: rotation prediction.

Each test is one check worth points; its docstring's first line is what the report calls it. The
checks here are public (students run them with `course check`): properties, and values shipped as
data (`course.grading.expected`); those that need a reference are in
`test_lab2_rotation_hidden.py`, which only the staff have.
Tests run in a process without TensorFlow: `lab.f(...)` runs the student's function in its
sandboxed worker, and the probes of `course.grading.probes.lab2` run there too, returning what the
lab's functions made: arrays, and models as model files. The models are measured by the judge, a
process that never ran student code (the `measure_*` functions below); comparisons are made here.

Rotations are identified by comparing with all four quarter turns of each image, counter-clockwise
on the (H, W) axes as `np.rot90(image, k)` turns it, read from a table of where each pixel of an
8 x 8 image goes; so any technique (tf.image.rot90, transpose and reverse, gather, any order of the
examples) is graded by what it returns.
"""

import math

import numpy as np
import pytest

from course.grading import expected
from course.grading.codec import AsTensor
from course.grading.probes.lab2 import (
    probe_k_counts,
    probe_random_rotations,
    probe_rotation_dataset,
    probe_rotation_model,
    probe_transfer,
)

LAB = "lab2"

rng = np.random.default_rng(2)
# Random pixels: no image equals a rotation or a mirror image of itself or of another image.
IMAGES = rng.integers(0, 256, size=(6, 8, 8, 3), dtype=np.uint8)
FLOATS = rng.random(size=(6, 8, 8, 3)).astype(np.float32)
PER_IMAGE_K = np.array([0, 1, 2, 3, 3, 1], dtype=np.int32)
POOL = rng.integers(
    0, 256, size=(13, 8, 8, 3), dtype=np.uint8
)  # 52 examples: batches of 8 and a last one of 4
ONE_IMAGE = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)


EXPECTED = expected.load(LAB)


def rot90(images: np.ndarray, k) -> np.ndarray:
    """[B, 8, 8, C] images turned by `k` (an int or one int per image) quarter turns
    counter-clockwise."""
    ks = np.broadcast_to(np.asarray(k) % 4, (len(images),))
    # "quarter_turns" [4, 8, 8, 2]: the (row, column) that pixel (i, j) turned by k comes from.
    source = EXPECTED["quarter_turns"][ks]  # [B, 8, 8, 2]
    batch = np.arange(len(images))[:, None, None]
    return np.asarray(images)[batch, source[..., 0], source[..., 1]]


def all_rotations(images: np.ndarray) -> np.ndarray:
    """[B, 4, H, W, C]: every image rotated by k = 0..3."""
    return np.stack([rot90(images, k) for k in range(4)], axis=1)


def standardized(images_uint8: np.ndarray) -> np.ndarray:
    # "standardized_levels" [256, 3]: the standardized value of each uint8 level in each channel.
    return EXPECTED["standardized_levels"][images_uint8, np.arange(3)]


def identify(outputs: np.ndarray, sources: np.ndarray, atol: float = 0.0):
    """(image index, k) of each output among the rotations of `sources`, None where none
    matches."""
    candidates = all_rotations(np.asarray(sources, dtype=np.float64))
    found = []
    for out in np.asarray(outputs, dtype=np.float64):
        if out.shape != candidates.shape[2:]:
            found.append(None)
            continue
        close = np.abs(candidates - out).max(axis=(2, 3, 4)) <= atol
        hits = np.argwhere(close)
        found.append((int(hits[0][0]), int(hits[0][1])) if len(hits) else None)
    return found


def mirrors(image: np.ndarray) -> dict:
    return {
        "transpose": np.swapaxes(image, 0, 1),
        "up-down flip": image[::-1],
        "left-right flip": image[:, ::-1],
        "anti-transpose": np.swapaxes(image[::-1, ::-1], 0, 1),
    }


def mirror_of(out: np.ndarray, sources: np.ndarray) -> str:
    """' (it is the up-down flip of input 3)' when `out` mirrors one of `sources`, else ''."""
    for j, image in enumerate(sources):
        for name, mirror in mirrors(image).items():
            if mirror.shape == np.shape(out) and np.array_equal(
                np.asarray(out, dtype=np.float64), mirror.astype(np.float64)
            ):
                return f" (it is the {name} of input {j}, a mirror image)"
    return ""


def describe_rotation(out: np.ndarray, image: np.ndarray, k: int) -> str:
    """What `out` is, relative to `image`, when it is not `np.rot90(image, k)`."""
    out = np.asarray(out)
    if out.shape != image.shape:
        return f"an array of shape {out.shape} instead of {image.shape}"
    turns = rot90(np.stack([image] * 4), np.arange(4))
    for j in range(4):
        if np.array_equal(out, turns[j]):
            if j == (-k) % 4 and j != k % 4:
                return (
                    f"the image turned {k % 4 * 90} degrees clockwise: rotate counter-clockwise,"
                    " as np.rot90(image, k) does"
                )
            return (
                f"the image rotated by k = {j} quarter turns counter-clockwise instead of k = {k}"
            )
    for name, mirror in mirrors(image).items():
        if np.array_equal(out, mirror):
            return (
                f"its {name}, a mirror image rather than a rotation (a quarter turn is a transpose"
                " followed by a flip)"
            )
    if np.allclose(out, image, atol=1e-3) or any(
        np.allclose(out, turns[j], atol=1e-3) for j in range(4)
    ):
        return "a rotation whose values changed slightly (keep the pixel values as they are)"
    return "no rotation of the image (the pixel values changed)"


# -- rotate ---------------------------------------------------------------------------------------


@pytest.mark.grade("rotate", points=2)
def test_rotate_python_int(lab):
    """k = 0, 1, 2, 3 as a Python int: quarter turns counter-clockwise like np.rot90, same shape
    and dtype"""
    for k in range(4):
        out = lab.rotate(IMAGES, k)
        expected = rot90(IMAGES, k)
        assert out.shape == IMAGES.shape, (
            f"rotate(images, {k}) on [6, 8, 8, 3] images should keep the shape, got {out.shape}"
        )
        assert np.array_equal(out.astype(np.float64), expected.astype(np.float64)), (
            f"rotate(images, {k}) should equal np.rot90(image, {k}) for every image; the first"
            " image came back as " + describe_rotation(out[0], IMAGES[0], k)
        )
        assert out.dtype == IMAGES.dtype, (
            f"rotate should keep the dtype: uint8 images came back as {out.dtype}"
        )


@pytest.mark.grade("rotate", points=2)
def test_rotate_per_image_k(lab):
    """an int tensor k [B] rotates each image by its own k"""
    out = lab.rotate(FLOATS, AsTensor(PER_IMAGE_K, "int32"))
    expected = rot90(FLOATS, PER_IMAGE_K)
    assert out.shape == FLOATS.shape, (
        f"6 images with 6 k's should give shape {FLOATS.shape}, got {out.shape}"
    )
    for i, k in enumerate(PER_IMAGE_K):
        if not np.allclose(out[i], expected[i], atol=1e-6):
            first_k = rot90(FLOATS, PER_IMAGE_K[0])
            same_k = all(
                np.allclose(out[j], first_k[j], atol=1e-6) for j in range(len(FLOATS))
            )
            hint = (
                " Every image was rotated by the first k: rotate each image by its own k[i]."
                if same_k
                else ""
            )
            raise AssertionError(
                f"with k = {PER_IMAGE_K.tolist()}, image {i} should be rotated by k = {k}; it came"
                " back as " + describe_rotation(out[i], FLOATS[i], int(k)) + "." + hint
            )


@pytest.mark.grade("rotate", points=1)
def test_rotate_scalar_tensor(lab):
    """a scalar int tensor k rotates every image like the same Python int"""
    for k in (1, 3):
        out = lab.rotate(IMAGES, AsTensor(np.int32(k), "int32"))
        assert out.shape == IMAGES.shape, (
            f"a scalar tensor k = {k} should keep the shape {IMAGES.shape}, got {out.shape}"
        )
        assert np.array_equal(out.astype(np.float64), rot90(IMAGES, k).astype(np.float64)), (
            f"with k = tf.constant({k}), the first image came back as "
            + describe_rotation(out[0], IMAGES[0], k)
        )


# -- rotation_batch
# --------------------------------------------------------------------------------


def check_pair(result):
    assert isinstance(result, (tuple, list)) and len(result) == 2, (
        f"rotation_batch should return a pair (x, y), got {type(result).__name__}"
        + (f" of length {len(result)}" if isinstance(result, (tuple, list)) else "")
    )
    x, y = (np.asarray(part) for part in result)
    return x, y


@pytest.mark.grade("rotation_batch", points=2)
def test_rotation_batch_every_rotation(lab):
    """every image in all four rotations exactly once, each labelled with its k (any order)"""
    x, y = check_pair(lab.rotation_batch(IMAGES))
    b = len(IMAGES)
    assert x.shape == (
        4 * b,
        *IMAGES.shape[1:],
    ), f"6 images [6, 8, 8, 3] should give x of shape (24, 8, 8, 3), got {x.shape}"
    assert y.shape == (4 * b,), (
        f"y should hold one label per image of x, shape (24,), got {y.shape}"
    )
    found = identify(x, IMAGES)
    for i, match in enumerate(found):
        if match is None:
            raise AssertionError(
                f"x[{i}] is no rotation of an input image{mirror_of(x[i], IMAGES)}; a 180-degree"
                " turn flips both axes, a quarter turn is a transpose and a flip"
            )
    pairs = sorted(found)
    missing = sorted(set((j, k) for j in range(b) for k in range(4)) - set(found))
    assert pairs == [(j, k) for j in range(b) for k in range(4)], (
        "each of the 6 images should appear once in each of the 4 rotations; missing (image, k):"
        f" {missing[:6]}"
        + ("" if len(set(found)) == len(found) else "; some rotations appear more than once")
    )
    wrong = [i for i, (_, k) in enumerate(found) if y[i] != k]
    if wrong:
        clockwise = all(y[i] == (-k) % 4 for i, (_, k) in enumerate(found))
        i = wrong[0]
        raise AssertionError(
            f"{len(wrong)} of 24 labels do not match their images: x[{i}] is rotated by k ="
            f" {found[i][1]} counter-clockwise but labelled {y[i]}"
            + (
                "; the labels count clockwise turns: use np.rot90's counter-clockwise convention"
                if clockwise
                else "; build the labels in the same order as the rotated images"
            )
        )


@pytest.mark.grade("rotation_batch", points=1)
def test_rotation_batch_labels(lab):
    """y is int32 with each label 0..3 on a quarter of the batch; tensors work too"""
    x, y = check_pair(lab.rotation_batch(AsTensor(FLOATS)))
    assert y.dtype == np.int32, f"the labels y should be int32, got {y.dtype}"
    y = y.reshape(-1)
    counts = np.bincount(y.astype(np.int64), minlength=4) if y.size and y.min() >= 0 else None
    assert counts is not None and len(counts) == 4 and counts.tolist() == [6, 6, 6, 6], (
        "6 images should give each label 0, 1, 2, 3 six times, got labels"
        f" {sorted(set(y.tolist()))} with counts"
        f" {counts.tolist() if counts is not None else 'including negative values'}"
    )
    x_numpy, _ = check_pair(lab.rotation_batch(FLOATS))
    assert x.shape == x_numpy.shape and np.allclose(x, x_numpy), (
        "a float32 tf.Tensor input should give the same x as a NumPy array"
    )


# -- random_rotation
# -------------------------------------------------------------------------------


def random_rotations(lab, seeds):
    """The rotated images (a list: their shapes may differ) and the k's, as an int array."""
    result = lab.probe(probe_random_rotations, ONE_IMAGE, seeds, timeout=120)
    assert "error" not in result, result.get("error")
    return [np.asarray(out) for out in result["rotated"]], np.array(result["k"], dtype=np.int64)


@pytest.mark.grade("random_rotation", points=2)
def test_random_rotation_consistent(lab):
    """the image is rotated by exactly the k it returns, a scalar k in {0, 1, 2, 3}"""
    seeds = list(range(16)) + [[3, 4], [10, 20], [7, 1]]
    rotated, ks = random_rotations(lab, seeds)
    assert ((ks >= 0) & (ks <= 3)).all(), (
        f"k should be in {{0, 1, 2, 3}}, got values {sorted(set(ks.tolist()))}"
    )
    for seed, out, k in zip(seeds, rotated, ks, strict=False):
        turned = rot90(ONE_IMAGE[None], k)[0]
        assert np.array_equal(out.astype(np.float64), turned.astype(np.float64)), (
            f"with seed {seed}, random_rotation returned k = {k} but the image is "
            + describe_rotation(out, ONE_IMAGE, int(k))
            + ": return the k you rotated by"
        )


# The chi-square statistic of 400 draws over 4 equally likely values, with 3 degrees of freedom,
# exceeds 16.27 with probability 0.001. The seeds are fixed, so a check that passes once always
# passes; drawing k in 0..4 inclusive (one label twice as likely) gives a statistic near 48.
CHI2_SEEDS = 400
CHI2_LIMIT = 16.27


@pytest.mark.grade("random_rotation", points=1)
def test_random_rotation_uniform(lab):
    """k is uniform on {0, 1, 2, 3} over 400 seeds (a chi-square test)"""
    result = lab.probe(probe_k_counts, ONE_IMAGE, CHI2_SEEDS, timeout=120)
    assert "error" not in result, result.get("error")
    ks = np.array(result["k"], dtype=np.int64)
    assert ((ks >= 0) & (ks <= 3)).all(), (
        f"k should be in {{0, 1, 2, 3}}, got values {sorted(set(ks.tolist()))}"
    )
    counts = np.bincount(ks, minlength=4)
    expected = CHI2_SEEDS / 4
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < CHI2_LIMIT, (
        f"over seeds 0..{CHI2_SEEDS - 1}, k = 0, 1, 2, 3 came {counts.tolist()} times, where about"
        f" {expected:g} each is expected (chi-square {chi2:.1f}, limit {CHI2_LIMIT}); draw k from"
        " 4 equally likely values, e.g. stateless_uniform(..., minval=0, maxval=4,"
        " dtype=tf.int32) (maxval is excluded)"
        + (
            "; one k comes about twice as often as the others, as when drawing from 0..4 and"
            " folding 4 onto a valid k"
            if counts.max() > 1.6 * np.sort(counts)[-2]
            else ""
        )
    )


@pytest.mark.grade("random_rotation", points=1)
def test_random_rotation_deterministic(lab):
    """the same seed gives the same rotation, as an int or a shape-[2] tensor; other seeds vary"""
    seeds = [5, [8, 9], 12, [21, 2]]
    first, ks_first = random_rotations(lab, seeds)
    second, ks_second = random_rotations(lab, seeds)
    for i, seed in enumerate(seeds):
        assert ks_first[i] == ks_second[i] and np.array_equal(first[i], second[i]), (
            f"two calls with the seed {seed} gave k = {ks_first[i]} and k = {ks_second[i]}: draw k"
            " with a stateless op (tf.random.stateless_uniform) from the seed, not from the"
            " global random state"
        )
    _, ks = random_rotations(lab, list(range(100, 120)))
    assert len(set(ks.tolist())) > 1, (
        f"20 different seeds all gave k = {ks[0]}: the draw should depend on the seed"
    )


# -- make_rotation_dataset
# -------------------------------------------------------------------------


def epoch_of(batches):
    """An epoch's batches [(images, k), ...] as sizes, all images, all labels and their dtypes."""
    assert all(x.ndim > 0 for x, _ in batches), (
        "each batch should be a pair (images, k) of batched arrays"
    )
    shapes = sorted({x.shape[1:] for x, _ in batches})
    assert len(shapes) <= 1, f"the batches should hold images of one shape, got {shapes}"
    return {
        "sizes": [len(x) for x, _ in batches],
        "images": np.concatenate([x for x, _ in batches]) if batches else np.zeros((0,)),
        "labels": (
            np.concatenate([y.reshape(-1) for _, y in batches]) if batches else np.zeros((0,))
        ),
        "dtypes": sorted({str(x.dtype) for x, _ in batches}),
        "label_dtypes": sorted({str(y.dtype) for _, y in batches}),
    }


FORMS = {  # of uint8 images
    "standardized": standardized,
    "scaled to [0, 1] but not standardized": lambda images: images / 255.0,
    "not scaled nor standardized (0..255)": lambda images: images.astype(np.float64),
}


def examples_of(epoch, images):
    """For each example: (image index, k found in the pixels, the form of its values, its
    label)."""
    found = []
    for x, label in zip(epoch["images"], epoch["labels"], strict=False):
        match = None
        for form, transform in FORMS.items():
            hit = identify(
                x[None],
                transform(images),
                atol=1e-3 if form != "standardized" else 1e-4,
            )[0]
            if hit is not None:
                match = (*hit, form, int(label))
                break
        assert match is not None, (
            "an example is no rotation of an input image (standardized or not): check the rotation"
            " and how the images are gathered"
        )
        found.append(match)
    return found


def dataset_epochs(lab, images, batch_size, seed, epochs):
    result = lab.probe(probe_rotation_dataset, images, batch_size, seed, epochs, timeout=60)
    assert result["type"] == "Dataset", (
        f"make_rotation_dataset should return a tf.data.Dataset, got {result['type']}"
    )
    assert "error" not in result, result.get("error")
    return [epoch_of(batches) for batches in result["epochs"]]


@pytest.mark.grade("make_rotation_dataset", points=1)
def test_dataset_every_rotation_once(lab):
    """each epoch holds every image in all four rotations exactly once, labelled with its k"""
    n = len(POOL)
    for number, epoch in enumerate(dataset_epochs(lab, POOL, 8, 3, 2), start=1):
        total = sum(epoch["sizes"])
        assert total == 4 * n, (
            "13 images should give 52 examples per epoch (all four rotations of each), epoch"
            f" {number} held {total}"
        )
        assert epoch["sizes"][:-1] == [8] * (len(epoch["sizes"]) - 1), (
            "batches should hold batch_size = 8 examples (the last may be smaller), got sizes"
            f" {epoch['sizes']}"
        )
        assert all(d.startswith("int") or d.startswith("uint") for d in epoch["label_dtypes"]), (
            f"the labels k should be integers, got {epoch['label_dtypes']}"
        )
        found = examples_of(epoch, POOL)
        pairs = [(j, k) for j, k, _, _ in found]
        assert sorted(pairs) == [(j, k) for j in range(n) for k in range(4)], (
            f"epoch {number} should hold each (image, rotation) once; {len(set(pairs))} of the 52"
            " were there" + ("" if len(set(pairs)) == len(pairs) else ", some more than once")
        )
        wrong = [(k, label) for _, k, _, label in found if k != label]
        assert not wrong, (
            f"{len(wrong)} of 52 labels do not match their images: e.g. an image rotated by k ="
            f" {wrong[0][0]} (counter-clockwise, as np.rot90) was labelled {wrong[0][1]}"
        )


@pytest.mark.grade("make_rotation_dataset", points=1)
def test_dataset_standardized(lab):
    """images are float32 and standardized as in lab 1, from uint8 and from float inputs"""
    for images, kind in ((POOL, "uint8"), (POOL.astype(np.float32) / 255.0, "float")):
        epoch = dataset_epochs(lab, images, 16, 1, 1)[0]
        assert epoch["dtypes"] == ["float32"], (
            f"with {kind} inputs the images should be float32, got {epoch['dtypes']}"
        )
        forms = sorted({form for _, _, form, _ in examples_of(epoch, POOL)})
        assert forms == ["standardized"], (
            f"with {kind} inputs the rotated images are {', '.join(forms)}: standardize them as"
            " lab 1 does, (x / 255 - CIFAR10_MEAN) / CIFAR10_STD for uint8 images, (x -"
            " CIFAR10_MEAN) / CIFAR10_STD for floats in [0, 1]"
        )


@pytest.mark.grade("make_rotation_dataset", points=2)
def test_dataset_shuffled(lab):
    """examples come shuffled, rotations mixed within batches, in a new order each epoch"""
    epochs = dataset_epochs(lab, POOL, 8, 5, 2)
    orders = []
    for epoch in epochs:
        found = examples_of(epoch, POOL)
        orders.append([(j, k) for j, k, _, _ in found])
    assert all(len(order) == 4 * len(POOL) for order in orders), (
        "each epoch should hold 52 examples"
    )
    n = len(POOL)
    trivial = (
        [(j, k) for j in range(n) for k in range(4)],
        [(j, k) for k in range(4) for j in range(n)],
    )
    assert orders[0] not in trivial, (
        "the examples came in a fixed order: shuffle them (all 4N examples, not only the images)"
    )
    batches = [orders[0][start : start + 8] for start in range(0, 4 * n, 8)]
    assert any(len({k for _, k in batch}) > 1 for batch in batches), (
        "every batch held a single rotation: shuffle the rotated examples together, so that each"
        " batch mixes rotations"
    )
    assert orders[0] != orders[1], (
        "two epochs came in the same order: reshuffle every epoch (shuffle(...,"
        " reshuffle_each_iteration=True))"
    )


@pytest.mark.grade("make_rotation_dataset", points=1)
def test_dataset_seed_reproducible(lab):
    """the same seed gives the same batches, another seed another order"""
    first = dataset_epochs(lab, POOL, 8, 11, 1)[0]
    second = dataset_epochs(lab, POOL, 8, 11, 1)[0]
    assert (
        np.array_equal(first["labels"], second["labels"])
        and first["images"].shape == second["images"].shape
        and (np.allclose(first["images"], second["images"]))
    ), "two datasets made with the same seed gave different batches: pass the seed to the shuffle"
    other = dataset_epochs(lab, POOL, 8, 12, 1)[0]
    assert not (
        first["images"].shape == other["images"].shape
        and np.allclose(first["images"], other["images"])
    ), "seeds 11 and 12 gave the same order: the seed should choose the shuffle"


# -- build_rotation_model
# --------------------------------------------------------------------------


def gradient_step(model, x):
    """One Adam step on model.trainable_variables for a simple loss (as model.fit would do)."""
    import keras
    import tensorflow as tf

    with tf.GradientTape() as tape:
        outputs = model(x, training=True)
        loss = tf.reduce_mean(tf.square(tf.cast(outputs, tf.float32) - 1.0))
    variables = model.trainable_variables
    grads = tape.gradient(loss, variables)
    pairs = [(g, v) for g, v in zip(grads, variables, strict=False) if g is not None]
    if pairs:
        keras.optimizers.Adam(learning_rate=0.01).apply_gradients(pairs)


MODEL_X = np.random.default_rng(3).normal(size=(6, 32, 32, 3)).astype("float32")


def largest_change(after, before) -> float:
    """max |after - before| (inf when the shapes differ, 0 for empty arrays)."""
    after, before = np.asarray(after, np.float64), np.asarray(before, np.float64)
    if after.shape != before.shape:
        return float("inf")
    return float(np.abs(after - before).max()) if before.size else 0.0


def model_type(model) -> dict:
    import keras

    if not isinstance(model, keras.Model):
        kind = (
            model.get("__type__", type(model).__name__)
            if isinstance(model, dict)
            else type(model).__name__
        )
        return {"type": kind.rsplit(".", 1)[-1]}
    return {"type": "Model", "sequential": isinstance(model, keras.Sequential)}


def holder_of(model, expected: list) -> dict:
    """For each (path, value) of `expected`, the index of a weight of `model` holding that
    value."""
    values = [w.numpy() for w in model.weights]
    holder = {}
    for path, value in expected:
        index = next(
            (
                i
                for i, v in enumerate(values)
                if i not in holder and v.shape == value.shape and np.array_equal(v, value)
            ),
            None,
        )
        if index is not None:
            holder[index] = path
    return holder


def measure_rotation_model(made, x):
    """The model's logits; which of its weights hold the backbone's (changed after the model was
    built, so only the backbone's own variables hold them); those weights before and after a
    training step (the judge takes the step)."""
    model, backbone = made["model"], made["backbone"]
    facts = model_type(model)
    if facts["type"] != "Model":
        return facts
    logits = np.asarray(model(x, training=False))
    expected = [(w.path, w.numpy()) for w in backbone.weights if w.path.endswith("kernel")]
    holder = holder_of(model, expected)
    before = [w.numpy() for w in model.weights]
    gradient_step(model, x)
    after = [w.numpy() for w in model.weights]
    return {
        **facts,
        "logits": logits,
        "dtype": str(logits.dtype),
        "shares_variables": len(holder) == len(expected),
        "backbone_moved": min((largest_change(after[i], before[i]) for i in holder), default=0.0),
    }


def rotation_model_result(lab):
    return lab.probe(
        probe_rotation_model, MODEL_X, measure=measure_rotation_model, measure_args=(MODEL_X,)
    )


def check_model(result, function):
    assert result["type"] == "Model", (
        f"{function} should return a keras.Model, got {result['type']}"
    )
    assert not result["sequential"], (
        f"build the model of {function} as a functional model (keras.Model(inputs, outputs)), not"
        " Sequential"
    )


def check_logits(logits, rows, columns, what):
    assert logits.shape == (
        rows,
        columns,
    ), f"{rows} images should give {what} of shape ({rows}, {columns}), got {logits.shape}"
    assert logits.dtype == np.float32, f"the logits should be float32, got {logits.dtype}"
    assert not (np.allclose(logits.sum(axis=1), 1.0, atol=1e-3) and (logits >= 0).all()), (
        "the outputs look like probabilities: return logits (no softmax), the loss applies it"
    )


@pytest.mark.grade("build_rotation_model", points=2)
def test_rotation_model_logits(lab):
    """a functional model from images to [B, 4] rotation logits (no softmax)"""
    result = rotation_model_result(lab)
    check_model(result, "build_rotation_model")
    check_logits(result["logits"], 6, 4, "4 rotation logits")


@pytest.mark.grade("build_rotation_model", points=2)
def test_rotation_model_trains_backbone(lab):
    """the model reuses the given backbone: training it updates the backbone's own weights"""
    result = rotation_model_result(lab)
    check_model(result, "build_rotation_model")
    assert result["shares_variables"] and result["backbone_moved"] > 0, (
        "a training step on the rotation model did not change the weights of the backbone"
        " passed in"
        + (
            ""
            if result["shares_variables"]
            else " (the model does not hold the backbone's variables)"
        )
        + ": call the given backbone on the model's input (no new, cloned or frozen backbone), so"
        " that pretraining trains the backbone that transfer receives"
    )


# -- transfer
# --------------------------------------------------------------------------------------


# The workshop backbone's "pretrained" weights, drawn here and handed to the worker as one flat
# array, cut in order into the backbone's weights (BN variances and gammas from the positive one).
_draws = np.random.default_rng(4).normal(0.0, 0.3, size=8192)
PRETRAINED, PRETRAINED_POSITIVE = (
    _draws.astype("float32"),
    (np.abs(_draws) + 0.5).astype("float32"),
)
_rng = np.random.default_rng(5)
TRANSFER_X = _rng.normal(size=(8, 32, 32, 3)).astype("float32")
# The first 4 images of TRANSFER_X in a batch of other statistics.
TRANSFER_OTHER = np.concatenate(
    [TRANSFER_X[:4], _rng.normal(2.0, 3.0, size=(4, 32, 32, 3)).astype("float32")]
)


def measure_transfer(model, values, positive, x, other):
    """What transfer made of the pretrained backbone: which weights hold the backbone's (the same
    variables or a copy), which train, how BatchNormalization behaves, and what a step changes."""
    from course.grading.probes import grading_backbone, set_weights_from

    facts = model_type(model)
    if facts["type"] != "Model":
        return facts
    backbone = grading_backbone()
    set_weights_from(backbone, values, positive)
    expected = [(w.path, w.numpy()) for w in backbone.weights]
    holder = holder_of(model, expected)
    weights = list(model.weights)
    trainable = {id(w) for w in model.trainable_weights}
    sizes = [math.prod(w.shape) for w in weights]
    in_batch = np.asarray(model(x, training=True))[:4]
    in_other = np.asarray(model(other, training=True))[:4]
    inference = np.asarray(model(x[:4], training=False))
    logits = np.asarray(model(x, training=False))
    before = [w.numpy() for w in weights]
    gradient_step(model, x)
    change = [largest_change(w.numpy(), b) for w, b in zip(weights, before, strict=False)]
    return {
        **facts,
        "logits": logits,
        "missing": [path for path, _ in expected if path not in holder.values()],
        "head_params": int(sum(size for i, size in enumerate(sizes) if i not in holder)),
        "trainable_params": int(sum(math.prod(w.shape) for w in model.trainable_weights)),
        "trainable_backbone": sorted(
            path for i, path in holder.items() if id(weights[i]) in trainable
        ),
        "batch_dependence": largest_change(in_batch, in_other),
        "train_vs_inference": largest_change(in_batch, inference),
        "moved": {path: change[i] for i, path in holder.items()},
        "head_moved": max((change[i] for i in range(len(change)) if i not in holder), default=0.0),
    }


def transfer_result(lab, num_classes, freeze_backbone):
    result = lab.probe(
        probe_transfer,
        num_classes,
        freeze_backbone,
        PRETRAINED,
        PRETRAINED_POSITIVE,
        measure=measure_transfer,
        measure_args=(PRETRAINED, PRETRAINED_POSITIVE, TRANSFER_X, TRANSFER_OTHER),
    )
    check_model(result, "transfer")
    return result


def check_carried_over(result):
    missing = result["missing"]
    assert not missing, (
        f"the model does not hold the pretrained backbone's weights ({len(missing)} missing, e.g."
        f" {missing[0]}): use the given backbone (call it on the input, or build on backbone.input"
        " / backbone.output), not a fresh or re-initialised one"
    )


@pytest.mark.grade("transfer", points=1)
def test_transfer_new_head(lab):
    """[B, num_classes] logits from one new Dense(num_classes) head on the backbone's 512
    features"""
    result = transfer_result(lab, 10, False)
    check_logits(result["logits"], 8, 10, "10 class logits")
    check_carried_over(result)
    assert result["head_params"] == 512 * 10 + 10, (
        "the head should be one Dense(10) layer on the backbone's 512 features (5,130"
        f" parameters), got {result['head_params']:,} parameters outside the backbone: a new head"
        " directly on the features, not on top of the rotation head"
    )


@pytest.mark.grade("transfer", points=2)
def test_transfer_keeps_pretrained_weights(lab):
    """the pretrained backbone's weights and BN statistics carry over into the classifier"""
    for freeze in (False, True):
        check_carried_over(transfer_result(lab, 3, freeze))


@pytest.mark.grade("transfer", points=2)
def test_transfer_fine_tunes(lab):
    """freeze_backbone=False: a training step updates the backbone's weights and the head"""
    result = transfer_result(lab, 3, False)
    check_carried_over(result)
    still = [
        path for path, change in result["moved"].items() if path.endswith("kernel") and change == 0
    ]
    assert not still, (
        f"with freeze_backbone=False a training step left the backbone's {', '.join(still)}"
        " unchanged: the whole network should be trainable when fine-tuning"
    )
    assert result["head_moved"] > 0, "a training step did not change the head's weights"


@pytest.mark.grade("transfer", points=2)
def test_transfer_frozen_trains_head_only(lab):
    """freeze_backbone=True: only the head trains; a step changes no backbone weight nor BN
    statistic"""
    result = transfer_result(lab, 10, True)
    check_carried_over(result)
    assert not result["trainable_backbone"], (
        f"with freeze_backbone=True the backbone's {', '.join(result['trainable_backbone'][:4])}"
        " are still trainable: make the whole backbone untrainable (backbone.trainable = False),"
        " BatchNormalization included"
    )
    changed = sorted(path for path, change in result["moved"].items() if change > 0)
    assert not changed, (
        "with freeze_backbone=True a training step changed the backbone's"
        f" {', '.join(changed[:4])}: nothing in the backbone may change, not even"
        " BatchNormalization's moving statistics"
    )
    assert result["trainable_params"] == result["head_params"], (
        f"with freeze_backbone=True exactly the head's {result['head_params']:,} parameters should"
        f" be trainable, the model has {result['trainable_params']:,} trainable parameters"
    )
    assert result["head_moved"] > 0, (
        "with freeze_backbone=True a training step did not change the head's weights: the head"
        " must train"
    )
