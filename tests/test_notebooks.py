"""Notebook submissions (the contract, "Notebook submissions"): a lab handed in as
`labN_<name>.ipynb` grades exactly as the same code in a `.py`; a notebook that cannot be graded
costs only its lab, with a message that names the problem."""

from __future__ import annotations

import ast
import json
import shutil

import pytest
from commands import LIMITS, course
from mutation import replace_function, variants

from course import ROOT, registry
from course.grading.notebooks import NotebookError, graded_form, notebook_source, untouched


def as_notebook(source: str) -> dict:
    """`source` as a student's notebook: a cell per top-level statement, with a magic and a shell
    escape among them and a `demo` cell that would fail if it ran."""
    lines = source.splitlines(keepends=True)
    starts = [
        min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])]) - 1
        for node in ast.parse(source).body
    ]
    bounds = zip([0, *starts[1:]], [*starts[1:], len(lines)], strict=True)
    chunks = ["".join(lines[start:end]) for start, end in bounds]

    def code(text: str, tags: tuple[str, ...] = ()) -> dict:
        return {
            "cell_type": "code",
            "metadata": {"tags": list(tags)},
            "source": text.splitlines(keepends=True),
            "outputs": [],
            "execution_count": None,
        }

    cells = [{"cell_type": "markdown", "metadata": {}, "source": ["# My lab"]}]
    cells += [code("%matplotlib inline\n")] + [code(chunk) for chunk in chunks]
    cells += [code("!pip list\n"), code("raise SystemExit('a demo cell ran')\n", ("demo",))]
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def write_notebook(path, source: str) -> None:
    path.write_text(json.dumps(as_notebook(source)))


def lab_sources():
    """(lab, name, source) of the solutions and of every mutant and alternative."""
    for lab in registry.LABS:
        path = ROOT / "solutions" / registry.LABS[lab].file
        if path.is_file():
            yield lab, "solutions", path.read_text()
    for kind in ("mutants", "alternatives"):
        for lab, name, exercise, code in variants(kind):
            solution = (ROOT / "solutions" / registry.LABS[lab].file).read_text()
            yield lab, name, replace_function(solution, exercise, code)


@pytest.mark.parametrize("lab, name, source", list(lab_sources()), ids=lambda v: str(v)[:40])
def test_a_notebook_is_graded_as_the_same_code(tmp_path, lab, name, source):
    """Its code, cells joined, magics, escapes and demo cells dropped, is the .py's code: so every
    mutant and alternative gets the same grade in either form."""
    path = tmp_path / f"{registry.LABS[lab].module}.ipynb"
    write_notebook(path, source)
    assert ast.dump(ast.parse(notebook_source(path))) == ast.dump(ast.parse(source))


def test_notebooks_grade_like_py_files_end_to_end(tmp_path):
    solution = (ROOT / "solutions" / "lab2_rotation.py").read_text()
    lab, name, exercise, code = next(v for v in variants("mutants") if v[0] == "lab1")
    lab1 = (ROOT / "solutions" / "lab1_supervised.py").read_text()
    mutant = replace_function(lab1, exercise, code)
    for form in ("py", "notebook"):
        folder = tmp_path / form
        folder.mkdir()
        for module, text in (("lab2_rotation", solution), ("lab1_supervised", mutant)):
            if form == "py":
                (folder / f"{module}.py").write_text(text)
            else:
                write_notebook(folder / f"{module}.ipynb", text)
    graded = course(
        "grade", str(tmp_path / "py"), str(tmp_path / "notebook"), "--jobs", "2",
        "--json", str(tmp_path / "reports") + "/", *LIMITS,
    )
    assert graded.returncode == 0, graded.stderr
    reports = {form: json.loads((tmp_path / "reports" / f"{form}.json").read_text())
               for form in ("py", "notebook")}
    scores = {form: [(t["name"], t["score"]) for t in r["tests"]] for form, r in reports.items()}
    assert scores["py"] == scores["notebook"]
    assert reports["notebook"]["score"] < reports["notebook"]["max_score"]  # the mutant's lab 1


def test_the_form_that_holds_the_work_is_graded(tmp_path):
    """labs/ holds both forms as released: the one the student worked in is graded; work in both,
    or a broken notebook alone, costs only its lab, with one line that says what to do."""
    lab, _, exercise, code = next(v for v in variants("mutants") if v[0] == "lab1")
    lab1 = (ROOT / "solutions" / "lab1_supervised.py").read_text()
    (tmp_path / "lab1_supervised.py").write_text(replace_function(lab1, exercise, code))
    write_notebook(tmp_path / "lab1_supervised.ipynb", lab1)  # work in both forms
    (tmp_path / "lab2_rotation.ipynb").write_text('{"cells": [')  # cut short, and no .py
    shutil.copy(ROOT / "labs" / "lab4_simclr.py", tmp_path)  # the stubs, as released
    lab4 = (ROOT / "solutions" / "lab4_simclr.py").read_text()
    write_notebook(tmp_path / "lab4_simclr.ipynb", lab4)  # the work in the notebook
    graded = course("grade", str(tmp_path), "--json", str(tmp_path / "r.json"), *LIMITS)
    assert graded.returncode == 0, graded.stderr
    tests = json.loads((tmp_path / "r.json").read_text())["tests"]
    by_lab = {key: [t for t in tests if t["name"].startswith(f"{key}.")] for key in registry.LABS}
    assert by_lab["lab4"] and all(t["status"] == "passed" for t in by_lab["lab4"])
    assert by_lab["lab1"] and all(t["score"] == 0 for t in by_lab["lab1"])
    assert {t["output"] for t in by_lab["lab1"]} == {
        "both lab1_supervised.py and lab1_supervised.ipynb hold code of yours: hand in one of"
        " them (or leave the other as released, with its stubs)"
    }
    broken = "lab2_rotation.ipynb is not a valid notebook"
    assert by_lab["lab2"] and all(broken in t["output"] for t in by_lab["lab2"])


def test_graded_form():
    exercises = [e.name for e in registry.LABS["lab2"].exercises]
    stubs = (ROOT / "labs" / "lab2_rotation.py").read_text()
    solution = (ROOT / "solutions" / "lab2_rotation.py").read_text()
    work = replace_function(solution, "rotate", "def rotate(images, k):\n    return images")
    assert untouched(stubs, exercises) and not untouched(solution, exercises)
    assert graded_form(solution, solution, exercises) == "py"  # the same code: either
    assert graded_form(solution, stubs, exercises) == "py"
    assert graded_form(stubs, solution, exercises) == "ipynb"
    assert graded_form(work, solution, exercises) is None
    # Work written above the stub's raise, left in place, is work; so is an exercise renamed away.
    stub_line = '    raise NotImplementedError("lab2.rotate'
    above = stubs.replace(stub_line, "    return images\n" + stub_line, 1)
    assert above != stubs and graded_form(stubs, above, exercises) == "ipynb"
    assert not untouched(stubs.replace("def rotate(", "def my_rotate("), exercises)
    assert graded_form("def (", stubs, exercises) == "py" and not untouched("((" * 200, exercises)


@pytest.mark.parametrize(
    "text, problem",
    [
        ('{"cells": [', "is not a valid notebook"),
        ('{"cells": [{"cell_type": "markdown", "source": ["hi"]}]}', "has no code cells"),
        ("[1, 2]", "has no list of cells"),
    ],
)
def test_malformed_notebooks_are_named(tmp_path, text, problem):
    path = tmp_path / "lab2_rotation.ipynb"
    path.write_text(text)
    with pytest.raises(NotebookError, match=problem) as error:
        notebook_source(path)
    assert "\n" not in str(error.value) and "lab2_rotation.ipynb" in str(error.value)


def test_a_crafted_notebook_is_read_within_bounds(tmp_path, monkeypatch):
    """The notebook is read in a child process bounded in time and memory: JSON nested too deep,
    a file of millions of tiny objects and cells of hundreds of magics (IPython's transformer is
    quadratic in them) cost their own lab a clear message, never the grader's own memory or the
    batch's time."""
    import dataclasses
    import time

    from course.grading import notebooks

    limits = dataclasses.replace(notebooks.LIMITS, notebook_seconds=3.0)
    monkeypatch.setattr(notebooks, "LIMITS", limits)
    path = tmp_path / "lab2_rotation.ipynb"
    path.write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(NotebookError, match="is not a valid notebook"):
        notebook_source(path)
    cell = {"cell_type": "code", "metadata": {}, "source": "x = 1\n", "outputs": []}
    path.write_text('{"cells": [' + json.dumps(cell) + '], "x": [' + "{}," * 6_000_000 + "{}]}")
    with pytest.raises(NotebookError, match="too large or too deeply nested"):
        notebook_source(path)
    magics = {**cell, "source": "%time x = 1\n" * 450 + "y = 2\n" * 2000}
    path.write_text(json.dumps({"cells": [magics] * 12}))
    start = time.monotonic()
    with pytest.raises(NotebookError, match="took longer than 3 s to read"):
        notebook_source(path)
    assert time.monotonic() - start < 10


def test_a_notebook_that_links_elsewhere_is_not_read(tmp_path):
    """Another student's notebook, linked to, is not graded as this one's."""
    other = tmp_path / "classmate.ipynb"
    write_notebook(other, (ROOT / "solutions" / "lab2_rotation.py").read_text())
    (tmp_path / "lab2_rotation.ipynb").symlink_to(other)
    with pytest.raises(NotebookError, match="is a symbolic link"):
        notebook_source(tmp_path / "lab2_rotation.ipynb")
