"""`course experiment`: rows, results files, figures and error paths.

The default run uses a tiny synthetic CIFAR-10 and `TEST_BUDGET` (one epoch of a few images per
phase) and takes well under a minute. The tests marked slow run the quick budget of each
experiment on ../shared/data/cifar10 through the command line, as CI does
(`python -m pytest tests/test_experiments.py --run-slow`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from course import ROOT
from course.data import CIFAR10, CLASS_NAMES
from course.experiments import (
    BUDGETS,
    EXPERIMENTS,
    ROWS,
    TEST_BUDGET,
    ExperimentError,
    Lab,
    Options,
    experiment_command,
    results_markdown,
    run_experiment,
    write_results,
)
from course.impl import ImplementationError, load_lab

SHARED_CIFAR10 = ROOT.parent / "shared" / "data" / "cifar10"
ROW_KEYS = {
    "method",
    "pretraining_images",
    "labelled_images",
    "test_images",
    "accuracy",
    "final_accuracy",
    "seconds",
    "seconds_per_epoch",
}
METHODS = set(ROWS)


def tiny_cifar10(train_per_class: int = 4, test_per_class: int = 8, seed: int = 0) -> CIFAR10:
    """A class-major CIFAR10 of random images, as load_cifar10 returns it (no files read)."""
    rng = np.random.default_rng(seed)
    classes = len(CLASS_NAMES)

    def images(per_class):
        return rng.integers(0, 256, (classes * per_class, 32, 32, 3), dtype=np.uint8)

    def labels(per_class):
        return np.repeat(np.arange(classes, dtype=np.int64), per_class)

    return CIFAR10(
        images(train_per_class),
        labels(train_per_class),
        images(test_per_class),
        labels(test_per_class),
        source="synthetic",
    )


def quiet(_message: str) -> None:
    pass


def run_cli(
    *args: str, env: dict | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "course", "experiment", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment,
    )


def check_results_json(results: dict, name: str) -> None:
    for key in ("experiment", "budget", "data", "impl", "rows", "command", "date"):
        assert key in results, key
    assert results["experiment"] == name
    assert [row["method"] for row in results["rows"]] == list(EXPERIMENTS[name])
    for row in results["rows"]:
        assert ROW_KEYS <= set(row), row
        assert row["method"] in METHODS
        assert 0.0 <= row["final_accuracy"] <= 100.0 and 0.0 <= row["accuracy"] <= 100.0
        assert row["final_accuracy"] <= row["accuracy"] + 1e-9  # the best epoch is the best
        assert row["seconds"] >= 0
        # An epoch's training alone, within the row's training and evaluation.
        assert 0 <= row["seconds_per_epoch"] <= row["seconds"]
        assert (row["seconds_per_epoch"] > 0) == (row["method"] != "random")


# --- one tiny run of every row ------------------------------------------------------------------


@pytest.fixture(scope="module")
def all_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("all")
    messages = []
    results = run_experiment(
        "all",
        data=tiny_cifar10(),
        budget=TEST_BUDGET,
        impl="solutions",
        out=out,
        log=messages.append,
    )
    return results, out, messages


def test_all_has_every_row_once(all_run):
    results, _, _ = all_run
    check_results_json(results, "all")
    rows = {row["method"]: row for row in results["rows"]}
    assert rows["random"]["accuracy"] == rows["random"]["final_accuracy"] == 10.0
    assert rows["random"]["seconds"] == 0
    assert (
        rows["supervised"]["labelled_images"] == 40
        and rows["supervised"]["pretraining_images"] == 0
    )
    assert (
        rows["supervised-all"]["labelled_images"] == 40
    )  # TEST_BUDGET.unlabelled training images
    pretrained = [row for row in ROWS.values() if row.pretext]
    assert len(pretrained) == 8  # the workshop's pretexts and lab 4's, each fine-tuned and probed
    for method in (row.name for row in pretrained):
        assert rows[method]["pretraining_images"] == 40
        assert rows[method]["labelled_images"] == 40
    assert {row["test_images"] for row in results["rows"]} == {40}
    # Each pretraining ran once, shared by the fine-tuned and the linear-probe rows.
    assert set(results["pretraining"]) == {"rotation", "context", "jigsaw", "simclr"}
    assert results["pretraining"]["jigsaw"]["permutations"] == Options().jigsaw_permutations
    assert len(results["pretraining"]["simclr"]["loss"]) == TEST_BUDGET.simclr_epochs


def test_all_writes_results_and_figures(all_run):
    results, out, messages = all_run
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk == results
    markdown = (out / "results.md").read_text()
    assert (
        results["command"] in markdown and "wall time" in markdown and results["date"] in markdown
    )
    for row in results["rows"]:
        assert f"| {row['method']} |" in markdown
    expected = {
        "results.png",
        "training_curves.png",
        "rotation_examples.png",
        "rotation_pretraining.png",
        "simclr_views.png",
        "simclr_loss.png",
        "neighbours_supervised.png",
        "neighbours_rotation.png",
        "neighbours_simclr.png",
        "context_pretraining.png",
        "context_examples.png",
        "neighbours_context.png",
        "jigsaw_pretraining.png",
        "jigsaw_examples.png",
        "neighbours_jigsaw.png",
        "confusion.png",
    }
    assert set(results["figures"]) == expected
    for name in expected:
        data = (out / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 1000, name
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left
    # Progress: the command at the start and the end, and one line per row.
    assert results["command"] in messages[0] and results["command"] in messages[-1]
    assert sum(m.startswith("row ") for m in messages) == len(EXPERIMENTS["all"])


def test_runs_are_repeatable(all_run, tmp_path):
    results, _, _ = all_run
    again = run_experiment(
        "supervised", data=tiny_cifar10(), budget=TEST_BUDGET, out=tmp_path, log=quiet
    )
    first = {row["method"]: row for row in results["rows"]}
    for row in again["rows"]:  # same seeds per row, whichever experiment runs it
        assert row["accuracy"] == first[row["method"]]["accuracy"]


# --- writers and helpers (no training) ----------------------------------------------------------


def fake_results() -> dict:
    row = dict(
        method="supervised",
        pretraining_images=0,
        labelled_images=5000,
        test_images=5000,
        accuracy=52.9,
        final_accuracy=51.7,
        seconds=31.0,
    )
    return {
        "experiment": "supervised",
        "budget": "full",
        "data": "d",
        "impl": "solutions",
        "rows": [
            dict(
                row,
                method="random",
                labelled_images=0,
                accuracy=10.0,
                final_accuracy=10.0,
                seconds=0.0,
            ),
            row,
        ],
        "command": "course experiment supervised --data d --budget full --impl solutions --out o",
        "date": "2026-11-29T00:00:00+00:00",
        "machine": "m",
        "wall_seconds": 90.0,
    }


def test_write_results_is_atomic_and_complete(tmp_path):
    out = tmp_path / "new" / "folder"
    json_path, md_path = write_results(out, fake_results())
    assert json.loads(json_path.read_text()) == fake_results()
    markdown = md_path.read_text()
    assert "| supervised | supervised | - | 5000 | 5000 | 52.90 | 51.70 | 31 |" in markdown
    assert "| random | random guess | - | - | 5000 | 10.00 | 10.00 | 0 |" in markdown
    assert "wall time: 1.5 min" in markdown
    assert sorted(p.name for p in out.iterdir()) == ["results.json", "results.md"]


def test_results_markdown_names_the_command():
    assert "`course experiment supervised --data d" in results_markdown(fake_results())


def test_experiment_command_round_trips_options():
    command = experiment_command(
        "rotation",
        "../data dir",
        "full",
        "labs",
        "runs/x",
        Options(
            schedule="constant", widths=(32, 64, 128), seed=3, rotation_head="mlp", bn_momentum=0.9
        ),
    )
    assert (
        command == "course experiment rotation --data '../data dir' --budget full --impl labs "
        "--out runs/x --rotation-batches groups --schedule constant --widths 32,64,128 "
        "--rotation-head mlp --rotation-flips --init keras --bn-momentum 0.9 --seed 3"
    )
    assert (
        experiment_command("supervised", "d", "quick", "solutions", "o")
        == "course experiment supervised --data d --budget quick --impl solutions --out o --init"
        " keras"
    )
    # Each pretext's recipe is spelled out, and only the recipes of the experiment's pretexts.
    assert experiment_command("simclr", "d", "quick", "solutions", "o").endswith(
        "--rotation-batches groups --schedule constant --rotation-head linear --rotation-flips"
        " --init keras"
    )
    assert experiment_command("jigsaw", "d", "quick", "solutions", "o").endswith(
        "--out o --schedule constant --jigsaw-permutations 100 --patch-scale 3 --patch-size 20"
        " --patch-jitter --patch-bn-recalibrate --init keras"
    )


def test_options_name_the_bad_value():
    with pytest.raises(ExperimentError, match="rotation_head must be one of linear, mlp, got 'x'"):
        Options(rotation_head="x")
    with pytest.raises(ExperimentError, match="jigsaw_permutations must be at least 1"):
        Options(jigsaw_permutations=0)
    with pytest.raises(ExperimentError, match="patch_size must be between 8 .* and 10 .*, got 12"):
        Options(patch_scale=1, patch_size=12)


def test_budgets_table():
    assert set(BUDGETS) == {"quick", "full"}
    full = BUDGETS["full"]
    # The workshop's protocol.
    assert (full.labelled_per_class, full.test_per_class, full.unlabelled) == (500, 500, None)
    assert (full.epochs, full.rotation_epochs, full.batch_size, full.learning_rate) == (
        15,
        15,
        128,
        1e-3,
    )
    quick = BUDGETS["quick"]
    assert quick.epochs < full.epochs and quick.unlabelled is not None


def test_the_results_chart_zooms_to_its_values_and_marks_the_workshop(tmp_path, monkeypatch):
    from course import plots

    seen = {}
    monkeypatch.setattr(plots, "_save", lambda figure, path: seen.setdefault("figure", figure))
    rows = [
        dict(method=m, accuracy=a, final_accuracy=a - 1)
        for m, a in (("supervised", 51.5), ("rotation", 59.9), ("rotation-linear", 54.6))
    ]
    plots.results_bar_chart(rows, tmp_path / "r.png", workshop={"supervised": 52.48, "x": 1.0})
    axis = seen["figure"].axes[0]
    low, high = axis.get_ylim()
    assert 40 < low < 50.5 and 60 < high < 75
    colours = {tuple(bar.get_facecolor()[:3]) for bar in axis.patches[:3]}
    assert len(colours) == 3  # baseline, fine-tuned, probe
    labels = [text.get_text() for text in axis.get_legend().get_texts()]
    assert "workshop's result" in labels and "pretrained, linear probe" in labels
    assert [
        row_kind for row_kind in map(plots.row_kind, ("random", "simclr", "jigsaw-linear"))
    ] == ["baseline", "fine-tuned", "probe"]


# --- error paths --------------------------------------------------------------------------------


def lab_folder(tmp_path: Path, lab: str, extra: str = "", drop: str | None = None) -> Path:
    """A copy of solutions/<lab>.py with `extra` appended (e.g. a stub overriding a function)."""
    source = (ROOT / "solutions" / f"{lab}.py").read_text()
    if drop is not None:  # remove a function by renaming it
        source = source.replace(f"def {drop}(", f"def _removed_{drop}(")
    folder = tmp_path / "impl"
    folder.mkdir(exist_ok=True)
    (folder / f"{lab}.py").write_text(source + "\n" + extra)
    return folder


STUB_STANDARDIZE = """
def standardize(images):
    raise NotImplementedError("scale, then subtract the mean and divide by the std")
"""


def test_stub_is_named_before_training(tmp_path):
    folder = lab_folder(tmp_path, "lab1_supervised", STUB_STANDARDIZE)
    with pytest.raises(ImplementationError, match=r"standardize\(\) is not implemented yet"):
        run_experiment(
            "supervised",
            data=tiny_cifar10(),
            budget=TEST_BUDGET,
            impl=str(folder),
            out=tmp_path / "out",
            log=quiet,
        )
    assert not (tmp_path / "out" / "results.json").exists()


def test_stub_called_inside_another_function_is_named(tmp_path):
    # The solution's make_pipeline calls the (stub) standardize inside a tf.data map.
    folder = lab_folder(tmp_path, "lab1_supervised", STUB_STANDARDIZE)
    lab1 = Lab(str(folder), "lab1")
    images, labels = np.zeros((4, 32, 32, 3), np.uint8), np.zeros(4, np.int64)
    with pytest.raises(ImplementationError, match=r"standardize\(\)") as error:
        lab1.make_pipeline(images, labels)
    assert "\n" not in str(error.value)


def test_missing_function_is_named(tmp_path):
    lab_folder(tmp_path, "lab1_supervised")
    folder = lab_folder(tmp_path, "lab2_rotation", drop="transfer")
    with pytest.raises(ImplementationError, match=r"no function transfer\(\)"):
        run_experiment(
            "rotation",
            data=tiny_cifar10(),
            budget=TEST_BUDGET,
            impl=str(folder),
            out=tmp_path / "out",
            log=quiet,
        )


def test_missing_lab_file(tmp_path):
    folder = lab_folder(tmp_path, "lab1_supervised")
    with pytest.raises(ImplementationError, match="lab2_rotation.py"):
        run_experiment(
            "rotation",
            data=tiny_cifar10(),
            budget=TEST_BUDGET,
            impl=str(folder),
            out=tmp_path / "out",
            log=quiet,
        )


@pytest.mark.parametrize("name", ["context", "jigsaw"])
def test_lab3_stubs_are_named_before_training(name, tmp_path):
    lab_folder(tmp_path, "lab1_supervised")
    folder = lab_folder(tmp_path, "lab2_rotation")
    shutil.copy(ROOT / "labs" / "lab3_context.py", folder)  # the stubs, as released
    with pytest.raises(ImplementationError, match=r"lab3_context.py: \w+\(\) is not implemented"):
        run_experiment(
            name,
            data=tiny_cifar10(),
            budget=TEST_BUDGET,
            impl=str(folder),
            out=tmp_path / "o",
            log=quiet,
        )
    assert not (tmp_path / "o" / "results.json").exists()


DENSE_BACKBONE = """
def build_backbone(input_shape=(32, 32, 3)):
    inputs = keras.Input(input_shape)
    x = layers.Conv2D(8, 3, padding="same")(inputs)
    return keras.Model(inputs, layers.Dense(16)(layers.Flatten()(x)))
"""


def test_a_backbone_that_cannot_be_a_patch_encoder_is_named_before_training(tmp_path):
    lab_folder(tmp_path, "lab1_supervised", DENSE_BACKBONE)
    lab_folder(tmp_path, "lab2_rotation")
    folder = lab_folder(tmp_path, "lab3_context")
    with pytest.raises(ImplementationError, match=r"lab1_supervised.py: build_backbone\(input_sh"):
        run_experiment(
            "context",
            data=tiny_cifar10(),
            budget=TEST_BUDGET,
            impl=str(folder),
            out=tmp_path / "o",
            log=quiet,
        )
    assert not (tmp_path / "o" / "results.json").exists()


NUMPY_PAIRS = """
def relative_position_pairs(images, seed, patch_size=8):
    x = np.asarray(images)
    label = np.zeros(len(x), np.int32)
    patches = np.asarray(extract_patches(x, 3, patch_size))
    return patches[:, 4], patches[:, 0], label
"""


def test_a_lab3_function_that_cannot_run_in_the_pipeline_is_named_before_training(tmp_path):
    """Right eagerly (the checks' first calls), wrong where the experiment calls it: the error
    names the function and says what graph mode asks, before any row trains."""
    lab_folder(tmp_path, "lab1_supervised")
    lab_folder(tmp_path, "lab2_rotation")
    folder = lab_folder(tmp_path, "lab3_context", NUMPY_PAIRS)
    logged = []
    with pytest.raises(
        ImplementationError,
        match=r"lab3_context.py: relative_position_pairs\(\) failed where the experiment calls"
        r" it.*NotImplementedError: Cannot convert a symbolic tf.Tensor.*Use TensorFlow ops",
    ):
        run_experiment(
            "context",
            data=tiny_cifar10(),
            budget=TEST_BUDGET,
            impl=str(folder),
            out=tmp_path / "o",
            log=logged.append,
        )
    assert not any(line.startswith("row ") for line in logged)


def test_the_mosaic_hands_the_jittered_patches_to_the_centred_task_functions():
    """`jittered_mosaic` lays the jittered patches edge to edge, so that the lab's task functions,
    which cut centred patches, cut exactly those."""
    import tensorflow as tf

    from course.experiments.pretexts.patches import jittered_mosaic

    lab3 = load_lab("solutions", "lab3")
    images = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    mosaics = jittered_mosaic(lab3.extract_patches, images, [1, 2], 3, 20)
    assert mosaics.shape == (3, 60, 60, 3) and mosaics.dtype == tf.float32
    floats = tf.image.convert_image_dtype(images, tf.float32)
    upscaled = tf.clip_by_value(tf.image.resize(floats, [96, 96]), 0.0, 1.0)
    jittered = np.asarray(lab3.extract_patches(upscaled, 3, 20, [1, 2]))
    assert np.array_equal(np.asarray(lab3.extract_patches(mosaics, 3, 20)), jittered)
    assert not np.array_equal(jittered, np.asarray(lab3.extract_patches(upscaled, 3, 20)))
    center, _, _ = lab3.relative_position_pairs(mosaics, 0, patch_size=20)
    assert np.array_equal(np.asarray(center), jittered[:, 4])


def test_recalibrated_batch_norm_holds_the_images_statistics():
    """A frozen backbone normalises with its moving statistics: re-estimated, the first
    BatchNormalization's mean is its inputs' mean, not Keras' initial 0 (the random-linear control
    and lab 3's transfers rely on it)."""
    import keras

    from course.data import workshop_split
    from course.experiments.labs import load_labs
    from course.experiments.runner import Runner

    split = workshop_split(tiny_cifar10(), 4, 4)
    labs = load_labs("solutions", ["lab1"])
    runner = Runner(split, TEST_BUDGET, labs, Options(), Path("."), quiet)
    backbone = runner.new_backbone()
    norm = next(
        layer
        for layer in backbone._flatten_layers(include_self=False)
        if isinstance(layer, keras.layers.BatchNormalization)
    )
    before, momentum = backbone.get_weights(), norm.momentum
    runner.recalibrate_batch_norm(backbone)
    assert not np.allclose(np.asarray(norm.moving_mean), 0.0)
    assert norm.momentum == momentum  # restored: fine-tuning keeps the configured momentum
    trainable = {id(w) for w in backbone.trainable_weights}
    for weight, old in zip(backbone.weights, before, strict=True):
        if id(weight) in trainable:
            assert np.array_equal(np.asarray(weight), old), weight.path


def assert_one_line_error(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("course experiment:")]
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_cli_wrong_data_path(tmp_path):
    result = run_cli(
        "supervised", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")
    )
    assert_one_line_error(result, "does not exist")


def test_cli_folder_without_test(tmp_path):
    (tmp_path / "data" / "train").mkdir(parents=True)
    result = run_cli("supervised", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "o"))
    assert_one_line_error(result, "test/")


def test_cli_truncated_jpeg(tmp_path):
    from PIL import Image

    root = tmp_path / "data"
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for name in CLASS_NAMES:
            folder = root / split / name
            folder.mkdir(parents=True)
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(
                folder / "0.jpg"
            )
    broken = root / "test" / "cat" / "0.jpg"
    broken.write_bytes(broken.read_bytes()[:200])
    result = run_cli(
        "rotation",
        "--data",
        str(root),
        "--out",
        str(tmp_path / "o"),
        env={"COURSE_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert_one_line_error(result, "0.jpg")


def test_cli_bad_option_value(tmp_path):
    result = run_cli("jigsaw", "--jigsaw-permutations", "0", "--out", str(tmp_path / "o"))
    assert_one_line_error(result, "jigsaw_permutations must be at least 1")


# --- the quick budget on the shared CIFAR-10 (CI) -----------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", ["supervised", "rotation", "context", "jigsaw", "simclr"])
def test_quick_experiment(name, tmp_path):
    if not SHARED_CIFAR10.is_dir():
        pytest.skip(f"{SHARED_CIFAR10} is not there")
    out = tmp_path / "out"
    result = run_cli(
        name,
        "--data",
        "../shared/data/cifar10",
        "--budget",
        "quick",
        "--out",
        str(out),
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    check_results_json(results, name)
    assert results["budget"] == "quick" and results["impl"] == "solutions"
    rows = {row["method"]: row for row in results["rows"]}
    quick = BUDGETS["quick"]
    assert rows["supervised"]["labelled_images"] == 10 * quick.labelled_per_class
    assert {row["test_images"] for row in results["rows"]} == {10 * quick.test_per_class}
    # Trained rows beat chance (10%) clearly, even in a few epochs.
    for method in ("supervised", "supervised-all", "rotation", "context", "jigsaw"):
        if method in rows:
            assert rows[method]["accuracy"] > 15.0, rows[method]
    markdown = (out / "results.md").read_text()
    assert results["command"] in markdown and "wall time" in markdown
    assert results["command"] in result.stdout
    pngs = list(out.glob("*.png"))
    assert {p.name for p in pngs} == set(results["figures"]) and len(pngs) >= 3
    assert all(p.stat().st_size > 1000 for p in pngs)


def test_the_tfds_source_fails_fast_and_cleanly_offline(tmp_path):
    """Without the data downloaded and without internet, `--data tfds` (the default) fails in
    seconds, names --data, prints none of TensorFlow's start-up lines, and leaves no
    ~/tensorflow_datasets behind."""
    from course.data import CIFAR10_HOST, _reachable

    if _reachable(CIFAR10_HOST):
        pytest.skip("this machine is online: tfds would download CIFAR-10")
    home = tmp_path / "home"
    home.mkdir()
    env = dict(os.environ, HOME=str(home))
    env.pop("TFDS_DATA_DIR", None)
    start = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "course",
            "experiment",
            "supervised",
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    seconds = time.monotonic() - start
    assert result.returncode == 2, result.stderr
    assert seconds < 10, seconds
    assert "--data PATH" in result.stderr and "cannot be reached" in result.stderr
    assert "I0000" not in result.stderr and "E0000" not in result.stderr, result.stderr[:500]
    assert not (home / "tensorflow_datasets").exists()


# --- more than one device -----------------------------------------------------------------------

TWO_CPUS = """
import json, sys
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
sys.path.insert(0, sys.argv[1])
from test_experiments import tiny_cifar10
from course.experiments import TEST_BUDGET, Options, run_experiment

results = run_experiment(
    "simclr", data=tiny_cifar10(), budget=TEST_BUDGET, out=sys.argv[2],
    options=Options(strategy="mirrored"), log=lambda message: None,
)
print(json.dumps(results))
"""


def test_mirrored_strategy_on_two_devices_trains_and_reports_like_the_default(tmp_path, all_run):
    """A quick experiment under MirroredStrategy on two logical CPUs: every phase (Keras' fit and
    SimCLR's loop of the lab's contrastive_step) runs on both replicas and reports as on one."""
    child = subprocess.run(
        [sys.executable, "-c", TWO_CPUS, str(Path(__file__).parent), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    results = json.loads(child.stdout.strip().splitlines()[-1])
    check_results_json(results, "simclr")
    assert results["replicas"] == 2 and results["options"]["strategy"] == "mirrored"
    assert "--strategy mirrored" in results["command"]
    default = {row["method"]: row for row in all_run[0]["rows"]}
    for row in results["rows"]:
        assert set(row) == set(default[row["method"]])
        assert (row["seconds_per_epoch"] > 0) == (row["method"] != "random")
    assert results["pretraining"]["simclr"]["loss"][0] > 0
    assert (tmp_path / "results.md").is_file()
