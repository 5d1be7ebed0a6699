"""What a lab notebook's cells call (`course.lab_notebook` writes them): the public checks of one
exercise, figures drawn with the student's own functions, and a short training run.

The code graded or trained is the notebook's as it has run: the statements of its executed cells
that define things (imports, functions, classes, constants), in the order they ran, so that a
function rewritten and run again counts in its last form (what a cell computes or prints is left
out). It is a student's feedback: the grade comes from the notebook handed in, all its code cells
in order (`course.grading.notebooks`). A stub, or any error of the student's code, shows as one
line that says what to do, never as a traceback.
"""

from __future__ import annotations

import ast
import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from course import registry
from course.i18n import _, message

_DEFINITIONS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)


def _defines(node: ast.stmt) -> bool:
    """A statement that only defines: an import, a def, a class, a literal constant or string."""
    if isinstance(node, _DEFINITIONS):
        return True
    if isinstance(node, ast.Expr):
        return isinstance(node.value, ast.Constant)
    if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
        try:
            ast.literal_eval(node.value)
        except Exception:  # noqa: BLE001  (ValueError, TypeError, ...: not a literal)
            return False
        return True
    return False


def notebook_code() -> str:
    """The lab's code as this notebook has run it (see the module's docstring)."""
    from IPython import get_ipython

    shell = get_ipython()
    history = shell.user_ns.get("In", []) if shell is not None else []
    kept = []
    for text in history:
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        for node in tree.body:
            if _defines(node):
                decorators = getattr(node, "decorator_list", [])
                kept.append(
                    "".join(f"@{ast.get_source_segment(text, d)}\n" for d in decorators)
                    + ast.get_source_segment(text, node)
                )
    return "\n\n".join(kept) + "\n"


def _show(markdown: str) -> None:
    from IPython.display import Markdown, display

    display(Markdown(markdown))


def _lab_folder(lab: registry.Lab, folder: Path) -> Path:
    """`folder` holding this notebook's code as `lab`'s file, beside the other labs of the working
    folder (labs/: a training run of lab 2 uses lab 1's functions too)."""
    for path in Path.cwd().glob("lab*.py"):
        if path.name != lab.file:
            shutil.copy(path, folder / path.name)
    (folder / lab.file).write_text(notebook_code())
    # A sandbox running as another user (course.grading.sandbox) must read them.
    folder.chmod(0o755)
    for path in folder.iterdir():
        path.chmod(0o644)
    return folder


def check(exercise: str) -> None:
    """Runs the public checks of `exercise` ("lab2.rotate") on the notebook's code and shows a
    table: each check, passed or failed, and what to fix."""
    from course.grading.runner import grade_labs
    from course.grading.sandbox import choose

    found = registry.exercise(exercise)
    lab = registry.LABS[found.lab]
    with tempfile.TemporaryDirectory(prefix="course-notebook-check-") as tmp:
        folder = _lab_folder(lab, Path(tmp))
        result = grade_labs(
            folder,
            [lab.key],
            exercises=[found.name],
            public_only=True,
            isolation=choose("auto", allow_none=True),
        )[lab.key]
    rows = [_("| | check | what the grader says |"), "|---|---|---|"]
    for test in result.tests:
        title = message(test.name.split(": ", 1)[-1])
        said = " ".join(message(test.output or "").split())[:300].replace("|", "\\|")
        status = _("passed") if test.status == "passed" else _("**failed**")
        rows.append(f"| {status} | {title} | {said} |")
    passed = sum(test.status == "passed" for test in result.tests)
    summary = _("**{exercise}: {passed}/{count} public checks passed**").format(
        exercise=exercise, passed=passed, count=len(result.tests)
    )
    if result.problem:
        summary += f" ({message(result.problem)})"
    if passed < len(result.tests):
        summary += _("; `course hint {exercise} --level 1` (then 2, 3) helps").format(
            exercise=exercise
        )
    _show(summary + _("; hidden checks run when the staff grade.") + "\n\n" + "\n".join(rows))


@contextlib.contextmanager
def says_what_to_fix():
    """Around a notebook's own training cell: a stub or an error of the lab's code ends the cell
    with one line that says what to write or fix, not a traceback from inside Keras."""
    from course.experiments.labs import error_cause

    try:
        yield
    except Exception as error:  # noqa: BLE001  (the student's code: say it in a line)
        cause, kind = error_cause(error), type(error).__name__
        if "symbolic" in cause:  # NumPy on a tensor of a tf.data map or a training step
            print(
                _(
                    "The training stopped: {kind}: {cause}. A function ran inside a tf.data"
                    " pipeline or a training step, where its inputs are symbolic tensors: use"
                    " TensorFlow ops on them, not NumPy."
                ).format(kind=kind, cause=cause)
            )
        elif isinstance(error, NotImplementedError):
            print(
                _(
                    "The training did not start: a function it calls is not written yet ({why})."
                ).format(why=cause)
            )
        else:
            print(_("The training stopped: {kind}: {cause}").format(kind=kind, cause=cause))


def compare(**models) -> None:
    """A table of each fitted model's best and last test accuracy (`val_accuracy`), beside the
    workshop's published figure for the row of that name."""
    from course.experiments import WORKSHOP

    rows = [
        _("| method | best epoch, accuracy % | last epoch % | the workshop's % |"),
        "|---|---:|---:|---:|",
    ]
    for name, model in models.items():
        accuracy = model.history.history["val_accuracy"]
        workshop = WORKSHOP.get(name)
        rows.append(
            f"| {name} | {100 * max(accuracy):.2f} | {100 * accuracy[-1]:.2f} |"
            f" {'-' if workshop is None else f'{workshop:.2f}'} |"
        )
    heading = _(
        "**Trained in this notebook**, {budget} budget (the workshop's numbers are its full"
        " protocol: 15 epochs a phase on 50,000 / 5,000 images)"
    ).format(budget=os.environ.get("COURSE_BUDGET", "quick"))
    _show(heading + "\n\n" + "\n".join(rows))


def _quietly(function: Callable, *args, **kwargs):
    """`function(...)`, or None after one line that says why it failed (a stub, an error)."""
    try:
        return function(*args, **kwargs)
    except NotImplementedError as error:
        print(
            _(
                "{function}() is not written yet ({error}): write it, run its cell, then this one"
                " again."
            ).format(function=function.__name__, error=error)
        )
    except Exception as error:  # noqa: BLE001  (the student's code: say it in a line)
        print(
            _("{function}() failed: {error}").format(
                function=function.__name__, error=f"{type(error).__name__}: {str(error)[:300]}"
            )
        )
    return None


_SAMPLES: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def sample_images(count: int = 4, data: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """`count` test images (uint8 [count, 32, 32, 3]) of different classes, and their labels."""
    from course.data import load_cifar10

    source = data or os.environ.get("COURSE_DATA", "tfds")
    if source not in _SAMPLES:
        cifar = load_cifar10(source)
        firsts = [int(np.argmax(cifar.test_labels == label)) for label in range(10)]
        _SAMPLES[source] = cifar.test_images[firsts], cifar.test_labels[firsts]
    images, labels = _SAMPLES[source]
    return images[:count], labels[:count]


def _figure(draw: Callable[[Path], Path]) -> None:
    """Draws with `draw(path)` into a temporary PNG and shows it."""
    with tempfile.TemporaryDirectory() as tmp:
        path = draw(Path(tmp) / "figure.png")
        from IPython.display import Image, display

        display(Image(filename=str(path)))


def show_rotations(rotate: Callable) -> None:
    """Four images, each as `rotate(images, k)` turns it for k = 0..3: a clockwise turn, a
    transposition or a flip shows at once."""
    from course import plots

    images, _ = sample_images(4)

    def rotations(images):
        return np.stack([np.asarray(rotate(images, k)) for k in range(4)], axis=1)

    rotations.__name__ = rotate.__name__
    rotated = _quietly(rotations, images)  # [N, 4, H, W, C]
    if rotated is None:
        return
    _figure(lambda path: plots.rotation_examples(rotated, path, title="your rotate(images, k)"))


def show_context(extract_patches: Callable, relative_position_pairs: Callable) -> None:
    """Four images, each beside its grid of centred and of jittered patches made by
    `extract_patches`, and the centre and neighbour of `relative_position_pairs`, titled with
    the position that the neighbour's label names."""
    from course import plots

    images, _ = sample_images(4)

    def patches(images):
        return [np.asarray(extract_patches(images)), np.asarray(extract_patches(images, seed=1))]

    patches.__name__ = extract_patches.__name__
    grids = _quietly(patches, images)
    pairs = _quietly(relative_position_pairs, images, 0)
    if grids is None or pairs is None:
        return
    pairs = [np.asarray(part) for part in pairs]
    _figure(lambda path: plots.context_examples(images, *grids, pairs, path))


def show_puzzles(jigsaw_batch: Callable, permutation_set: Callable) -> None:
    """Four puzzles made by `jigsaw_batch` with 10 permutations of `permutation_set`, each
    beside its tiles put back by the permutation its label names."""
    from course import plots

    images, _ = sample_images(4)
    permutations = _quietly(permutation_set, 10)
    if permutations is None:
        return
    puzzles = _quietly(jigsaw_batch, images, permutations, 0)
    if puzzles is None:
        return
    tiles, label = (np.asarray(part) for part in puzzles)
    _figure(lambda path: plots.jigsaw_examples(tiles, label, np.asarray(permutations), path))


def show_views(augmentation: Callable) -> None:
    """Four images and two views of each, made by `augmentation(images, seed)` with two seeds."""
    from course import plots

    images, _ = sample_images(4)
    floats = images.astype(np.float32) / 255.0
    def views(images):
        return [np.asarray(augmentation(images, seed)) for seed in ((0, 1), (0, 2))]

    views.__name__ = augmentation.__name__
    made = _quietly(views, floats)
    if made is None:
        return
    _figure(lambda path: plots.augmentation_grid(floats, *made, path))


def show_pipeline(make_pipeline: Callable) -> None:
    """Each image beside what two training epochs of `make_pipeline` made of it (standardized,
    shown rescaled to [0, 1]; flipped or not)."""
    from course import plots

    images, labels = sample_images(4)

    def epochs(images):
        made = []
        for seed in (0, 1):
            dataset = make_pipeline(images, labels, batch_size=4, training=True, seed=seed)
            batch, batch_labels = next(iter(dataset))
            batch = np.asarray(batch)[np.argsort(np.asarray(batch_labels), kind="stable")]
            made.append((batch - batch.min()) / max(batch.max() - batch.min(), 1e-6))
        return made

    epochs.__name__ = make_pipeline.__name__
    made = _quietly(epochs, images)
    if made is None:
        return
    order = np.argsort(labels, kind="stable")
    _figure(lambda path: plots.augmentation_grid(images[order], *made, path))


def train(experiment: str, data: str = "tfds", budget: str | None = None) -> dict | None:
    """Runs `course experiment EXPERIMENT` (budget `COURSE_BUDGET` or "quick") on this notebook's
    functions and shows its table beside the workshop's; returns its results."""
    from course.data import DataError
    from course.experiments import WORKSHOP, ExperimentError, run_experiment
    from course.impl import ImplementationError
    from course.lab_notebook import EXPERIMENTS

    budget = budget or os.environ.get("COURSE_BUDGET", "quick")
    lab = registry.LABS[next(key for key, name in EXPERIMENTS.items() if name == experiment)]
    with tempfile.TemporaryDirectory(prefix="course-notebook-train-") as tmp:
        folder = _lab_folder(lab, Path(tmp))
        try:
            results = run_experiment(
                experiment, data=data, budget=budget, impl=str(folder), out=folder / "run"
            )
        except (ImplementationError, ExperimentError, DataError) as error:
            message = str(error).replace(f"{folder}/", "").replace(str(folder), "labs/")
            print(_("The training did not start: {why}").format(why=message))
            return None
    rows = [_("| method | yours, accuracy % | the workshop's % |"), "|---|---:|---:|"]
    for row in results["rows"]:
        workshop = WORKSHOP.get(row["method"])
        rows.append(
            f"| {row['method']} | {row['accuracy']:.2f} |"
            f" {'-' if workshop is None else f'{workshop:.2f}'} |"
        )
    _show(
        _(
            "**course experiment {experiment}, {budget} budget** (the workshop's numbers are its"
            " full protocol: 15 epochs a phase on 50,000 / 5,000 images)"
        ).format(experiment=experiment, budget=budget)
        + "\n\n"
        + "\n".join(rows)
    )
    return results
