"""The lab notebooks (`course.lab_notebook`): generated from the one master copy, graded as the
`.py`, and run headless with nbclient, the solutions' and the students' (stubs)."""

from __future__ import annotations

import ast
import json
import re
import shutil

import pytest

from course import ROOT, registry
from course.grading.notebooks import notebook_source
from course.release import solution_notebooks, stale_labs, worked_on, write_labs

SHARED_CIFAR10 = ROOT.parent / "shared" / "data" / "cifar10"
FORMS = {"labs": "the students' stubs", "solutions": "the solutions"}


def program(source: str) -> str:
    tree = ast.parse(source)
    if isinstance(tree.body[0], ast.Expr):  # the module docstring: the notebook's markdown
        tree.body = tree.body[1:]
    return ast.dump(tree)


@pytest.mark.parametrize("folder", FORMS)
@pytest.mark.parametrize("lab", list(registry.LABS))
def test_a_notebooks_graded_code_is_its_py_and_every_exercise_has_a_check(folder, lab):
    path = ROOT / folder / registry.LABS[lab].file
    if not path.is_file():
        pytest.skip(f"{lab} is not written yet")
    import nbformat

    notebook = path.with_suffix(".ipynb")
    nbformat.validate(nbformat.reads(notebook.read_text(), as_version=4))  # raises if invalid
    assert program(notebook_source(notebook)) == program(path.read_text())
    cells = json.loads(notebook.read_text())["cells"]
    demo = [c for c in cells if "demo" in c["metadata"].get("tags", [])]
    checks = {"".join(c["source"]) for c in demo}
    for exercise in registry.LABS[lab].exercises:
        assert f'check("{exercise.key}")' in checks
    assert "colab.research.google.com/github/" in "".join(cells[0]["source"])
    assert len({c["id"] for c in cells}) == len(cells)


def test_committed_solution_notebooks_are_what_the_generator_writes():
    stale = [
        name
        for name, text in solution_notebooks().items()
        if (ROOT / "solutions" / name).read_text() != text
    ]
    assert not stale, f"run course release: {stale}"


def test_release_check_names_a_stale_notebook_and_keeps_work_in_one(tmp_path):
    solutions, labs = tmp_path / "solutions", tmp_path / "labs"
    shutil.copytree(ROOT / "solutions", solutions, ignore=shutil.ignore_patterns("*.ipynb"))
    assert "solutions/lab2_rotation.ipynb" in stale_labs(solutions, labs)
    write_labs(solutions, labs)
    assert stale_labs(solutions, labs) == []
    notebook = labs / "lab2_rotation.ipynb"
    cells = json.loads(notebook.read_text())
    for cell in cells["cells"]:
        text = "".join(cell["source"])
        if cell["cell_type"] == "code" and text.lstrip("#").lstrip().startswith("Exercise 2.1"):
            cell["source"] = text.split("    raise NotImplementedError")[0] + "    return images\n"
    notebook.write_text(json.dumps(cells))
    assert stale_labs(solutions, labs) == ["lab2_rotation.ipynb"]
    assert worked_on(solutions, labs) == ["lab2_rotation.ipynb: rotate()"]


def test_a_check_cell_grades_the_definitions_the_notebook_ran(monkeypatch):
    """In run order, the last definition of a function wins; what a cell computes or prints
    is left out, its definitions kept (decorators too)."""
    from unittest import mock

    from course import in_notebook

    first = (
        "import os\nx = {[]: 1}\nprint(1)\ndef f(a):\n    return a\n@dec\ndef g():\n    pass\n"
        "Y = 3; print(2)"
    )
    shell = mock.Mock(user_ns={"In": ["", first, "def f(a):\n    return 2 * a", "f(("]})
    monkeypatch.setattr("IPython.get_ipython", lambda: shell)
    code = in_notebook.notebook_code()
    assert "print" not in code and "x =" not in code and "@dec\ndef g():" in code
    assert code.index("return a") < code.index("return 2 * a") and "Y = 3" in code


@pytest.mark.slow
@pytest.mark.parametrize("folder", FORMS)
@pytest.mark.parametrize("lab", list(registry.LABS))
def test_a_notebook_runs_headless(folder, lab, monkeypatch):
    """Every cell runs, on the quick budget. The solutions' checks all pass; after a stub the
    cells say so in a line, and the notebook still finishes."""
    import nbformat
    from nbclient import NotebookClient

    path = (ROOT / folder / registry.LABS[lab].file).with_suffix(".ipynb")
    if not path.is_file():
        pytest.skip(f"{lab} is not written yet")
    if not SHARED_CIFAR10.is_dir():
        pytest.skip(f"{SHARED_CIFAR10} is not there")
    notebook = nbformat.read(path, as_version=4)
    monkeypatch.setenv("COURSE_DATA", str(SHARED_CIFAR10))  # the kernel's environment
    monkeypatch.setenv("COURSE_BUDGET", "quick")
    where = {"metadata": {"path": str(path.parent)}}  # the kernel's working folder
    NotebookClient(notebook, timeout=900, resources=where).execute()
    outputs = [
        (cell.source, output)
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    ]
    assert not [source for source, output in outputs if output.output_type == "error"]
    said = "\n".join(
        output.get("text", "") + output.get("data", {}).get("text/markdown", "")
        for _, output in outputs
    )
    assert "Traceback" not in said
    checked = re.findall(r": (\d+)/(\d+) public checks passed", said)
    assert len(checked) == len(registry.LABS[lab].exercises)
    if folder == "solutions":
        assert all(passed == total for passed, total in checked), checked
        assert "the workshop's %" in said  # the training ran and its table is there
        assert "**Trained in this notebook**" in said  # so did the notebook's own training
        assert "The training stopped" not in said and "did not start" not in said
    else:
        assert all(passed == "0" for passed, _ in checked), checked
        assert "is not written yet" in said and "The training did not start" in said
