"""Autograder for lab 1, the public checks: the supervised baseline.

Each test is one check worth points; its docstring's first line is what the report calls it. The
checks here are public (students run them with `course check`): they test properties, and compare
with values shipped as data (`course.grading.expected`), never with reference code; the checks
that need a reference are in `test_lab1_supervised_hidden.py`, which only the staff have.
Tests run in a process without TensorFlow: `lab.f(...)` runs the student's function in its
sandboxed worker, and the probes of `course.grading.probes.lab1` run there too, returning what the
lab's functions made: arrays, and models as model files. What a model is (its size, its outputs,
the weights it holds) is measured by the judge, a process that never ran student code, with the
`measure_*` functions below; every comparison is made here.
"""

import numpy as np
import pytest

from course.grading import expected
from course.grading.probes.lab1 import probe_backbone, probe_classifier, probe_pipeline

LAB = "lab1"

rng = np.random.default_rng(0)
IMAGES = rng.integers(0, 256, size=(10, 32, 32, 3), dtype=np.uint8)
LABELS = np.arange(10, dtype=np.int64) % 7
WIDE = rng.integers(0, 256, size=(64, 32, 32, 3), dtype=np.uint8)
LABELS_WIDE = np.arange(64, dtype=np.int64) % 10


EXPECTED = expected.load(LAB)


def expected_standardized(images_uint8: np.ndarray) -> np.ndarray:
    # "standardized_levels" [256, 3]: the standardized value of each uint8 level in each channel.
    return EXPECTED["standardized_levels"][images_uint8, np.arange(3)]


# -- standardize
# -----------------------------------------------------------------------------------


@pytest.mark.grade("standardize", points=2)
def test_standardize_uint8(lab):
    """uint8 images are scaled by 1/255, then standardized per channel (float32 out)"""
    out = lab.standardize(IMAGES)
    assert out.shape == IMAGES.shape, f"expected shape {IMAGES.shape}, got {out.shape}"
    assert out.dtype == np.float32, f"expected float32, got {out.dtype}"
    expected = expected_standardized(IMAGES)
    worst = np.abs(out - expected).max()
    assert worst < 1e-4, (
        f"values differ from (x / 255 - CIFAR10_MEAN) / CIFAR10_STD by up to {worst:.3g}; pixel"
        f" [0, 0, 0] of the first image: expected {expected[0, 0, 0].round(4)}, got"
        f" {out[0, 0, 0].round(4)}"
    )


@pytest.mark.grade("standardize", points=1)
def test_standardize_float(lab):
    """float images are taken as already in [0, 1] (not divided by 255 again)"""
    floats = IMAGES.astype(np.float32) / 255.0
    out = lab.standardize(floats)
    worst = np.abs(np.asarray(out) - expected_standardized(IMAGES)).max()
    assert worst < 1e-4, (
        "float images in [0, 1] should be standardized as they are; values differ by up to"
        f" {worst:.3g}"
    )


# -- make_pipeline
# ---------------------------------------------------------------------------------


def check_dataset(result):
    assert result["type"] == "Dataset", (
        f"make_pipeline should return a tf.data.Dataset, got {result['type']}"
    )


@pytest.mark.grade("make_pipeline", points=1)
def test_pipeline_eval_order(lab):
    """training=False: original order, standardized, every example once, last batch smaller"""
    result = lab.probe(probe_pipeline, IMAGES, LABELS, 4, False, 0)
    check_dataset(result)
    epoch = result["epochs"][0]
    assert epoch["sizes"] == [
        4,
        4,
        2,
    ], f"10 examples in batches of 4 should give batch sizes [4, 4, 2], got {epoch['sizes']}"
    assert epoch["dtypes"] == ["float32"], f"images should be float32, got {epoch['dtypes']}"
    assert np.array_equal(epoch["labels"], LABELS), (
        f"labels should keep their order: expected {LABELS}, got {epoch['labels']}"
    )
    worst = np.abs(epoch["images"] - expected_standardized(IMAGES)).max()
    assert worst < 1e-4, (
        "images should be standardized, unshuffled and not flipped; they differ by up to"
        f" {worst:.3g}"
    )


def flips_of(images, epoch):
    """For each example of an epoch: its index in `images` and whether it was flipped
    left-right."""
    expected = expected_standardized(images)
    found = []
    for image, label in zip(epoch["images"], epoch["labels"], strict=False):
        matches = [
            (i, flipped)
            for i in range(len(images))
            for flipped in (False, True)
            if np.abs(image - (expected[i][:, ::-1] if flipped else expected[i])).max() < 1e-4
        ]
        assert matches, (
            "a training image is neither a standardized example nor its left-right flip"
        )
        index, flipped = matches[0]
        assert label == LABELS_WIDE[index], "an image arrived with another example's label"
        found.append((index, flipped))
    return found


@pytest.mark.grade("make_pipeline", points=2)
def test_pipeline_training_shuffles(lab):
    """training=True: each epoch is a new shuffle of every example exactly once"""
    result = lab.probe(probe_pipeline, WIDE, LABELS_WIDE, 16, True, 7, epochs=2)
    check_dataset(result)
    orders = []
    for epoch in result["epochs"]:
        assert sum(epoch["sizes"]) == 64, (
            f"an epoch should hold all 64 examples, got {sum(epoch['sizes'])}"
        )
        indices = [index for index, _ in flips_of(WIDE, epoch)]
        assert sorted(indices) == list(range(64)), (
            "an epoch should hold every example exactly once"
        )
        orders.append(indices)
    assert orders[0] != list(range(64)), (
        "training batches should be shuffled, but came in the original order"
    )
    assert orders[0] != orders[1], (
        "the order should be reshuffled every epoch, but two epochs came in the same order"
    )


@pytest.mark.grade("make_pipeline", points=2)
def test_pipeline_training_flips(lab):
    """training=True: each image is flipped left-right with probability 1/2, anew each epoch"""
    result = lab.probe(probe_pipeline, WIDE, LABELS_WIDE, 16, True, 3, epochs=2)
    check_dataset(result)
    found = [flips_of(WIDE, epoch) for epoch in result["epochs"]]
    batches = [
        [flipped for _, flipped in found[0][start : start + 16]] for start in range(0, 64, 16)
    ]
    assert any(0 < sum(batch) < len(batch) for batch in batches), (
        "within each batch all images got the same flip: draw the flip for each image, not once"
        " per batch"
    )
    per_epoch = [dict(epoch) for epoch in found]
    flipped = sum(per_epoch[0].values())
    # Binomial(64, 1/2) lies in [16, 48] with probability 1 - 1e-4; it never flakes with fixed
    # seeds.
    assert 16 <= flipped <= 48, f"{flipped} of 64 images were flipped; about half should be"
    changed = sum(per_epoch[0][i] != per_epoch[1][i] for i in range(64))
    assert changed > 0, (
        "every image got the same flip in both epochs: flips should be drawn anew each epoch"
    )


@pytest.mark.grade("make_pipeline", points=1)
def test_pipeline_seed_reproducible(lab):
    """training=True with the same seed gives the same batches"""
    first = lab.probe(probe_pipeline, WIDE, LABELS_WIDE, 16, True, 11)
    second = lab.probe(probe_pipeline, WIDE, LABELS_WIDE, 16, True, 11)
    check_dataset(first)
    assert np.array_equal(
        first["epochs"][0]["labels"], second["epochs"][0]["labels"]
    ) and np.allclose(first["epochs"][0]["images"], second["epochs"][0]["images"]), (
        "two pipelines made with the same seed gave different batches"
    )


# -- build_backbone
# --------------------------------------------------------------------------------
# The models are built in the student's worker (`course.grading.probes.lab1`) and measured here by
# the judge (the `measure_*` functions run there, on the models loaded from their files).


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


def measure_backbone(model, input_shape=(32, 32, 3)):
    facts = model_type(model)
    if facts["type"] != "Model":
        return facts
    x = np.random.default_rng(1).normal(size=(2, *input_shape)).astype("float32")
    return {**facts, "params": int(model.count_params()), "output_shape": list(model(x).shape)}


@pytest.mark.grade("build_backbone", points=2)
def test_backbone_shape_and_size(lab):
    """a functional model with 6,256 parameters from [B, 32, 32, 3] to [B, 512]"""
    result = lab.probe(probe_backbone, measure=measure_backbone)
    assert result["type"] == "Model", (
        f"build_backbone should return a keras.Model, got {result['type']}"
    )
    assert not result["sequential"], (
        "build the backbone as a functional model (keras.Model(inputs, outputs)), not Sequential"
    )
    assert result["output_shape"] == [
        2,
        512,
    ], f"2 images should give features of shape [2, 512], got {result['output_shape']}"
    assert result["params"] == 6256, (
        f"the workshop's backbone has 6,256 parameters, this one has {result['params']:,}"
    )


@pytest.mark.grade("build_backbone", points=1)
def test_backbone_input_shape(lab):
    """input_shape is honoured: 16x16 images give 2 * 2 * 32 = 128 features"""
    result = lab.probe(
        probe_backbone, (16, 16, 3), measure=measure_backbone, measure_args=((16, 16, 3),)
    )
    assert result["type"] == "Model", (
        f"build_backbone should return a keras.Model, got {result['type']}"
    )
    assert result["output_shape"] == [
        2,
        128,
    ], f"build_backbone((16, 16, 3)) should give [2, 128] features, got {result['output_shape']}"


# -- build_classifier
# ------------------------------------------------------------------------------


def measure_classifier(made):
    """The classifier's logits, its size, and whether it holds the backbone's weights as they were
    changed after it was built (it uses the backbone's own variables, not a copy)."""
    model, backbone = made["model"], made["backbone"]
    facts = model_type(model)
    if facts["type"] != "Model":
        return facts
    x = np.random.default_rng(3).normal(size=(4, 32, 32, 3)).astype("float32")
    values = [w.numpy() for w in model.weights]
    holds = all(
        any(v.shape == b.shape and np.array_equal(v, b.numpy()) for v in values)
        for b in backbone.weights
    )
    return {
        **facts,
        "logits": np.asarray(model(x, training=False)),
        "holds_changed_backbone": holds,
        "params": int(model.count_params()),
        "backbone_params": int(backbone.count_params()),
    }


@pytest.mark.grade("build_classifier", points=2)
def test_classifier_logits(lab):
    """backbone -> Dense(num_classes): [B, num_classes] logits, no softmax"""
    result = lab.probe(probe_classifier, 10, measure=measure_classifier)
    assert result["type"] == "Model", (
        f"build_classifier should return a keras.Model, got {result['type']}"
    )
    assert not result["sequential"], "build the classifier as a functional model, not Sequential"
    logits = result["logits"]
    assert logits.shape == (
        4,
        10,
    ), f"4 images should give logits of shape (4, 10), got {logits.shape}"
    assert not np.allclose(logits.sum(axis=1), 1.0, atol=1e-3) or (logits < 0).any(), (
        "the outputs look like probabilities: return logits (no softmax), the loss applies it"
    )
    extra = result["params"] - result["backbone_params"]
    assert extra == 512 * 10 + 10, (
        f"the head should be one Dense(10) layer on 512 features (5,130 parameters), got {extra:,}"
    )


@pytest.mark.grade("build_classifier", points=2)
def test_classifier_reuses_backbone(lab):
    """the classifier reuses the backbone's layers and weights (not a copy)"""
    result = lab.probe(probe_classifier, 3, measure=measure_classifier)
    assert result["type"] == "Model", (
        f"build_classifier should return a keras.Model, got {result['type']}"
    )
    assert result["holds_changed_backbone"], (
        "the classifier does not use the backbone's own weights; call the given backbone on the"
        " input instead of building or cloning a new one, so that pretrained weights carry over"
    )
