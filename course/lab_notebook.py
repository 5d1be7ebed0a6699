"""A lab as a Jupyter/Colab notebook, generated from the lab's `.py` (the students' stubs or the
solutions): one master copy, two forms.

The notebook holds the `.py`'s code, cut into cells at its top-level functions, so that its code
cells joined are the `.py` (a notebook submission grades as the file, `course.grading.notebooks`).
Around them come cells for the reader, all tagged `demo` (the grader skips them): the lab's text
as markdown, an install cell for Colab, after each exercise a check cell (its public checks, run
by `course.in_notebook.check`) and, where the exercise makes something to look at, a figure drawn
with the student's own function, and at the end a quick training run compared with the
workshop's table.

The JSON is written here, in nbformat 4.5's layout (the tests validate it with nbformat), so that
`course release` needs no notebook package: it runs where TensorFlow and Jupyter are not
installed, as it did before the notebooks.
"""

from __future__ import annotations

import ast
import configparser
import json

from course import ROOT, i18n, registry
from course.i18n import _

FIGURES = {
    "lab1.make_pipeline": "show_pipeline(make_pipeline)",
    "lab2.rotate": "show_rotations(rotate)",
    "lab3.relative_position_pairs": "show_context(extract_patches, relative_position_pairs)",
    "lab3.jigsaw_batch": "show_puzzles(jigsaw_batch, permutation_set)",
    "lab4.random_resized_crop": "show_views(random_resized_crop)",
    "lab4.augment": "show_views(augment)",
}
"""Exercise -> the figure cell after it: what the student's function made, drawn (a bug shows)."""

EXPERIMENTS = {"lab1": "supervised", "lab2": "rotation", "lab3": "context", "lab4": "simclr"}
"""Lab -> the `course experiment` its training cell runs on the notebook's functions."""


DATA_CELL = """\
# The workshop's split of CIFAR-10 at the budget COURSE_BUDGET names: "quick" (the default:
# minutes on a laptop's CPU) or "full" (the workshop's protocol: 50,000 unlabelled images,
# 5,000 labelled, 5,000 test, 15 epochs a phase).
from course.data import load_cifar10, workshop_split
from course.experiments import BUDGETS
from course.train import compile_classifier  # Adam 1e-3, cross-entropy on logits, accuracy

budget = BUDGETS[os.environ.get("COURSE_BUDGET", "quick")]
split = workshop_split(
    load_cifar10(DATA), budget.labelled_per_class, budget.test_per_class, budget.unlabelled
)
print(split)"""
"""The first cell of every "train it yourself" section: the data and the budget, no lab code."""

LABELLED = """\
    labelled = make_pipeline(split.labelled_images, split.labelled_labels, training=True, seed=0)
    test = make_pipeline(split.test_images, split.test_labels)"""

FINE_TUNE = """\
    backbone = build_backbone()
    backbone.set_weights(encoder.get_weights())  # the same convolutions, now on 32 x 32 images
    {name} = compile_classifier(transfer(backbone, 10))
    {name}.fit(labelled, validation_data=test, epochs=budget.epochs)"""

TRAIN_YOURSELF = {
    "lab1": f"""\
with says_what_to_fix():
{LABELLED}
    classifier = compile_classifier(build_classifier(build_backbone(), 10))
    classifier.fit(labelled, validation_data=test, epochs=budget.epochs)
    compare(supervised=classifier)""",
    "lab2": f"""\
from lab1_supervised import build_backbone, build_classifier, make_pipeline

with says_what_to_fix():
{LABELLED}
    backbone = build_backbone()
    rotations = make_rotation_dataset(split.unlabelled_images, seed=0)  # no labels needed
    rotation_model = build_rotation_model(backbone)
    compile_classifier(rotation_model).fit(rotations, epochs=budget.rotation_epochs)

    rotation = compile_classifier(transfer(backbone, 10))
    rotation.fit(labelled, validation_data=test, epochs=budget.epochs)
    supervised = compile_classifier(build_classifier(build_backbone(), 10))
    supervised.fit(labelled, validation_data=test, epochs=budget.epochs)
    compare(supervised=supervised, rotation=rotation)""",
    "lab3": f"""\
from lab1_supervised import build_backbone, build_classifier, make_pipeline, standardize
from lab2_rotation import transfer

from course.experiments.pretexts.patches import patch_dataset

PATCH = 20  # patches of 20 pixels, cut from 96 x 96 upscaled images (cells of 32)

# patch_dataset lays each image's nine jittered patches edge to edge in a 60 x 60 mosaic
# (cells of 20 pixels), so your functions' centred patches of 20 pixels are those patches.
with says_what_to_fix():
{LABELLED}
    encoder = build_backbone(input_shape=(PATCH, PATCH, 3))
    pairs = patch_dataset(split.unlabelled_images, lambda mosaics, seed: relative_position_pairs(
        mosaics, seed, patch_size=PATCH), extract_patches, standardize, patch_size=PATCH)
    compile_classifier(build_context_model(encoder)).fit(pairs, epochs=budget.context_epochs)
{FINE_TUNE.format(name="context")}

    encoder = build_backbone(input_shape=(PATCH, PATCH, 3))
    permutations = permutation_set(100)
    puzzles = patch_dataset(split.unlabelled_images, lambda mosaics, seed: jigsaw_batch(
        mosaics, permutations, seed, patch_size=PATCH), extract_patches, standardize,
        patch_size=PATCH)
    jigsaw_model = build_jigsaw_model(encoder, len(permutations))
    compile_classifier(jigsaw_model).fit(puzzles, epochs=budget.jigsaw_epochs)
{FINE_TUNE.format(name="jigsaw")}

    supervised = compile_classifier(build_classifier(build_backbone(), 10))
    supervised.fit(labelled, validation_data=test, epochs=budget.epochs)
    compare(supervised=supervised, context=context, jigsaw=jigsaw)""",
    "lab4": f"""\
from lab1_supervised import build_backbone, build_classifier, make_pipeline, standardize
from lab2_rotation import transfer

from course.experiments.pretexts.simclr import standardized_encoder
from course.train import ContrastivePretraining, image_batches

with says_what_to_fix():
{LABELLED}
    backbone = build_backbone()
    head = build_projection_head(backbone.output_shape[-1])
    simclr_model = ContrastivePretraining(
        standardized_encoder(standardize, backbone), head, contrastive_step)
    simclr_model.compile(optimizer=keras.optimizers.Adam(1e-3))
    batches = image_batches(split.unlabelled_images, budget.simclr_batch_size)
    simclr_model.fit(batches, epochs=budget.simclr_epochs)  # trains the backbone, no labels
    simclr = compile_classifier(transfer(backbone, 10))
    simclr.fit(labelled, validation_data=test, epochs=budget.epochs)

    supervised = compile_classifier(build_classifier(build_backbone(), 10))
    supervised.fit(labelled, validation_data=test, epochs=budget.epochs)
    compare(supervised=supervised, simclr=simclr)""",
}
"""Lab -> the "train it yourself" section's one training cell, written with the notebook's own
functions (a stub or an error ends it in a line); `train_yourself_text` says what it shows."""


def train_yourself_text(lab_key: str) -> str:
    """The markdown that opens a lab's "train it yourself" section, in the current language."""
    return {
        "lab1": _(
            "Lab 1's classifier on the labelled images, trained by Keras' `fit`: your pipeline"
            " feeds it, your backbone and head make it. The test accuracy after each epoch is"
            " `val_accuracy`."
        ),
        "lab2": _(
            "Self-supervised pretraining in two `fit`s. First the rotation model learns, on the"
            " unlabelled images, which way is up: the labels are free, made by your"
            " `make_rotation_dataset`. Then `transfer` puts a new head on the same backbone and"
            " fine-tunes it on the labelled images, beside a backbone that starts from scratch."
        ),
        "lab3": _(
            "Both pretexts, pretrained by `fit` on the unlabelled images, then transferred. The"
            " patch encoder is your backbone built for 20 x 20 patches; `patch_dataset` upscales"
            " each image x3 and cuts its grid with your `extract_patches` (jittered: a random"
            " offset per patch, so that lines running across the gap give nothing away), then"
            " your `relative_position_pairs` or `jigsaw_batch` makes the task. The encoder's"
            " weights fit the 32 x 32 backbone as they are."
        ),
        "lab4": _(
            "SimCLR is `fit` too: `ContrastivePretraining` is a small `keras.Model` whose"
            " `train_step` calls your `contrastive_step` on each batch of unlabelled images (as"
            " keras.io's SimCLR and SimSiam examples do). Then `transfer` fine-tunes the backbone"
            " on the labelled images."
        ),
    }[lab_key]


def repository() -> str:
    """The class's repository on GitHub, "owner/name", from setup.cfg's `url` (the instructor's to
    set): where Colab opens the notebooks and installs the course from."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    url = config.get("metadata", "url", fallback="https://github.com/ssl-course/ssl-course")
    return url.removeprefix("https://github.com/").strip("/")


def code_cells(source: str) -> list[str]:
    """`source` without its module docstring, cut before each top-level function (with the
    comments and decorators above it): the cells whose join is the file."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    body = tree.body
    start = body[0].end_lineno if body and isinstance(body[0], ast.Expr) else 0
    cuts = []
    for node in body:
        if isinstance(node, ast.FunctionDef):
            first = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
            while first > start and lines[first - 1].startswith("#"):
                first -= 1
            cuts.append(first)
    bounds = [start, *cuts, len(lines)]
    cells = ["".join(lines[a:b]).strip("\n") for a, b in zip(bounds, bounds[1:], strict=False)]
    return [cell for cell in cells if cell.strip()]


def _function(cell: str) -> str | None:
    names = [node.name for node in ast.parse(cell).body if isinstance(node, ast.FunctionDef)]
    return names[0] if names else None


def install_cell(lab: registry.Lab) -> str:
    helpers = sorted(
        {"check"}
        | ({"train"} if lab.key in EXPERIMENTS else set())
        | ({"compare", "says_what_to_fix"} if lab.key in TRAIN_YOURSELF else set())
        | {FIGURES[e.key].split("(")[0] for e in lab.exercises if e.key in FIGURES}
    )
    # The notebook of another language lies in labs/<lang>/ and speaks it (COURSE_LANG).
    lang = i18n.language()
    folder = "labs" if lang == i18n.DEFAULT else f"labs/{lang}"
    language = "" if lang == i18n.DEFAULT else f'\nos.environ.setdefault("COURSE_LANG", "{lang}")'
    colab = _(
        "# In Colab: the course's code and checks, from the class's repository. Elsewhere\n"
        "# this does nothing: install the course with `pip install -e .`, open this notebook in"
        " {folder}/."
    ).format(folder=folder)
    data = _(
        '# The data, as `course experiment --data` takes it: "tfds" (downloaded on first use)'
        " or a folder\n# in the image-folder layout. Set COURSE_DATA, or write the folder here."
    )
    quietly = _("quietly: TensorFlow's start-up log lines say nothing to act on")
    return f"""{colab}
import os
import subprocess
import sys

if "google.colab" in sys.modules and not os.path.isdir("/content/course-repo"):
    subprocess.run(["git", "clone", "-q", "https://github.com/{repository()}",
                    "/content/course-repo"], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", "/content/course-repo"],
                   check=True)
if "google.colab" in sys.modules:
    sys.path.insert(0, "/content/course-repo")
    os.chdir("/content/course-repo/{folder}"){language}

from course.in_notebook import {", ".join(helpers)}
from course.quiet import start_tensorflow

start_tensorflow()  # {quietly}

{data}
DATA = os.environ.get("COURSE_DATA", "tfds")"""


def lab_notebook(source: str, lab_key: str, path: str) -> str:
    """The notebook of lab `lab_key` whose `.py` is `source`, as JSON text; `path` is where it
    lies in the repository (for the Colab badge). Deterministic: the same source, the same
    bytes."""
    lab = registry.LABS[lab_key]
    doc = ast.get_docstring(ast.parse(source)) or _(lab.title)
    title, _newline, text = doc.partition("\n")
    badge = (
        f"[![{_('Open In Colab')}](https://colab.research.google.com/assets/colab-badge.svg)]"
        f"(https://colab.research.google.com/github/{repository()}/blob/main/{path})"
    )
    cells = [_markdown(f"# {title}\n\n{badge}\n{text}"), _code(install_cell(lab), demo=True)]
    for code in code_cells(source):
        name = _function(code)
        exercise = next((e for e in lab.exercises if e.name == name), None)
        if exercise is not None:
            number = lab.exercises.index(exercise) + 1
            cells.append(
                _markdown(
                    _(
                        "## Exercise {number}: `{name}` ({points} points)\n\nWhat it teaches:"
                        " {teaches}. Replace the `raise NotImplementedError` with your code, run"
                        " the cell, then the check below it (`course hint {exercise}` gives"
                        " hints)."
                    ).format(
                        number=f"{lab_key.removeprefix('lab')}.{number}",
                        name=name,
                        points=exercise.points,
                        teaches=_(exercise.teaches),
                        exercise=exercise.key,
                    )
                )
            )
        cells.append(_code(code))
        if exercise is not None:
            cells.append(_code(f'check("{exercise.key}")', demo=True))
            if exercise.key in FIGURES:
                cells.append(_code(FIGURES[exercise.key], demo=True))
    if lab_key in TRAIN_YOURSELF:
        text, code = train_yourself_text(lab_key), TRAIN_YOURSELF[lab_key]
        cells += [
            _markdown(_("## Train it yourself") + f"\n\n{text}"),
            _code(DATA_CELL, demo=True),
            _code(code, demo=True),
        ]
    if lab_key in EXPERIMENTS:
        cells += [
            _markdown(
                _(
                    "## Training on CIFAR-10\n\nA short run of `course experiment {name}` on the"
                    " functions of this notebook (the `quick` budget: minutes on a laptop's CPU),"
                    " its table beside the workshop's. `course experiment {name} --budget full`"
                    " runs the workshop's protocol."
                ).format(name=EXPERIMENTS[lab_key])
            ),
            _code(f'train("{EXPERIMENTS[lab_key]}", DATA)', demo=True),
        ]
    for index, cell in enumerate(cells):
        cell["id"] = f"{lab_key}-{index:02d}"  # not random: regenerated, the same file
    notebook = {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(notebook, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def _markdown(text: str) -> dict:
    return {"cell_type": "markdown", "metadata": {}, "source": text.splitlines(keepends=True)}


def _code(code: str, demo: bool = False) -> dict:
    """A code cell; `demo`: one the grader skips (what it shows is for the reader)."""
    return {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {"tags": ["demo"]} if demo else {},
        "outputs": [],
        "source": code.splitlines(keepends=True),
    }
