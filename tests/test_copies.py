"""The course handed out: the students' copy (`course release student DIR`) and Gradescope's
autograder bundle (`course release gradescope FILE.zip`), each built, installed in a fresh virtual
environment and run as its users run it.

One virtual environment serves both (installing TensorFlow takes a minute or two): each test
installs its own copy of the course into it with `pip install -e`, as its users do. It is made
from the system's Python where there is one, in a folder every user may enter, as on Gradescope's
image, so that the grader's `uid` level (student code as a uid of its own) can run it too.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest
from commands import LIMITS

from course import ROOT, registry
from course.grading.runner import graded_labs
from course.release import BEGIN, END, HINT

INSTALL_LIMIT = 1200  # seconds: pip may have to fetch TensorFlow


SYSTEM_PYTHON = Path("/usr/bin/python3")


@pytest.fixture(scope="module")
def fresh_root() -> Path:
    """A stand-in for Gradescope's /autograder, holding a fresh virtual environment in venv/."""
    root = Path(tempfile.mkdtemp(prefix="course-autograder-"))
    root.chmod(0o755)
    python = str(SYSTEM_PYTHON) if SYSTEM_PYTHON.is_file() else sys.executable
    subprocess.run([python, "-m", "venv", str(root / "venv")], check=True)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def run(command: list[str], cwd: Path, timeout: float = 900, **env: str):
    return subprocess.run(
        command,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, **env},
    )


def pip_install(venv: Path, folder: Path) -> None:
    installed = run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "-e", str(folder)],
        folder,
        timeout=INSTALL_LIMIT,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]


# -- what the students' copy must not hold -------------------------------------------------------


class _Anonymous(ast.NodeTransformer):
    """Local names and arguments renamed in order of appearance: a renamed copy still matches."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}

    def _name(self, name: str) -> str:
        return self.names.setdefault(name, f"v{len(self.names)}")

    def visit_Name(self, node: ast.Name) -> ast.Name:
        return ast.copy_location(ast.Name(self._name(node.id), node.ctx), node)

    def visit_arg(self, node: ast.arg) -> ast.arg:
        return ast.copy_location(ast.arg(self._name(node.arg)), node)


def normalised_bodies(source: str) -> dict[str, str]:
    """Each function's body (docstring dropped, names anonymised) as an AST dump, by name."""
    bodies = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                body = body[1:]
            if body:
                tree = ast.Module(body=[_Anonymous().visit(s) for s in body], type_ignores=[])
                bodies[node.name] = ast.dump(tree, annotate_fields=False)
    return bodies


def solution_blocks() -> list[list[str]]:
    """The code lines of every solution block in solutions/, stripped."""
    blocks = []
    for path in sorted((ROOT / "solutions").glob("lab*.py")):
        block = None
        for line in path.read_text().splitlines():
            if BEGIN.match(line):
                block = []
            elif END.match(line):
                blocks.append(block)
                block = None
            elif block is not None and line.strip() and not HINT.match(line):
                block.append(line.strip())
    return blocks


def forbidden_bodies() -> dict[str, str]:
    """dump -> where: the bodies of the exercises in solutions/ and of every function of the
    hidden checks (their references)."""
    found = {}
    exercises = {e.name for lab in registry.LABS.values() for e in lab.exercises}
    for path in (ROOT / "solutions").glob("lab*.py"):
        for name, dump in normalised_bodies(path.read_text()).items():
            if name in exercises:
                found[dump] = f"solutions/{path.name}: {name}"
    for path in (ROOT / "tests" / "autograder").glob("*_hidden.py"):
        for name, dump in normalised_bodies(path.read_text()).items():
            found[dump] = f"{path.name}: {name}"
    return found


@pytest.fixture(scope="module")
def student_copy(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("release") / "class-labs"
    made = subprocess.run(
        [sys.executable, "-m", "course", "release", "student", str(dest)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    return dest


def test_the_students_copy_holds_no_answer(student_copy):
    files = [path for path in student_copy.rglob("*") if path.is_file()]
    names = [str(path.relative_to(student_copy)) for path in files]
    assert not (student_copy / "solutions").exists()
    assert not [n for n in names if "fixtures" in n or n.endswith("_hidden.py")], names
    assert ".github/workflows/check.yml" in names and "README.md" in names
    assert {f"tests/autograder/expected/{lab}.json" for lab in graded_labs()} <= set(names)

    forbidden = forbidden_bodies()
    for path in files:
        if path.suffix == ".py":
            for name, dump in normalised_bodies(path.read_text()).items():
                assert dump not in forbidden, (
                    f"{path.relative_to(student_copy)}: {name}() is {forbidden[dump]}"
                )
    # Whole blocks, and any three lines of one in a row (one line alone may be an idiom, as
    # `return dataset.prefetch(tf.data.AUTOTUNE)`).
    texts = {path: " ".join(path.read_text(errors="replace").split()) for path in files}
    for block in solution_blocks():
        pieces = [" ".join(block)] + [" ".join(block[i : i + 3]) for i in range(len(block) - 2)]
        for path, text in texts.items():
            found = [piece for piece in pieces if piece in text]
            assert not found, f"{path.relative_to(student_copy)} holds solution code: {found[0]}"


def test_the_students_copy_installs_and_checks_their_labs(student_copy, fresh_root):
    venv = fresh_root / "venv"
    pip_install(venv, student_copy)
    course = [str(venv / "bin" / "course")]

    stubs = run([*course, "check", "--json", "stubs.json", *LIMITS], student_copy)
    assert stubs.returncode == 0, stubs.stderr[-2000:]
    report = json.loads((student_copy / "stubs.json").read_text())
    assert report["tests"] and report["score"] == 0, [
        t["name"] for t in report["tests"] if t["score"]
    ]
    assert {t["visibility"] for t in report["tests"]} == {"visible"}
    public = len(report["tests"])
    assert f"public checks: 0/{public} passed; hidden checks run at grading" in stubs.stdout

    for lab in graded_labs():
        shutil.copy(ROOT / "solutions" / registry.LABS[lab].file, student_copy / "labs")
    solved = run([*course, "check", "--json", "solved.json", *LIMITS], student_copy)
    assert solved.returncode == 0, solved.stderr[-2000:]
    report = json.loads((student_copy / "solved.json").read_text())
    assert report["score"] == report["max_score"], [
        t["name"] for t in report["tests"] if t["status"] != "passed"
    ]
    summary = f"public checks: {public}/{public} passed; hidden checks run at grading"
    assert summary in solved.stdout
    hint = run([*course, "hint", "lab2.rotate"], student_copy)
    assert hint.returncode == 0 and "hint 1 of 3" in hint.stdout, hint.stderr


# -- Gradescope ---------------------------------------------------------------------------------


def test_the_gradescope_bundle_grades_a_submission(tmp_path, fresh_root):
    bundle = tmp_path / "autograder.zip"
    made = run([sys.executable, "-m", "course", "release", "gradescope", str(bundle)], ROOT)
    assert made.returncode == 0, made.stderr
    with zipfile.ZipFile(bundle) as archive:
        names = archive.namelist()
        assert {"setup.sh", "run_autograder"} <= set(names)
        archive.extractall(fresh_root / "source")
    source = fresh_root / "source"
    for script in ("setup.sh", "run_autograder"):
        (source / script).chmod(0o755)
    assert [n for n in names if n.endswith("_hidden.py")]
    assert "solutions/lab1_supervised.py" in names

    # Gradescope runs setup.sh as root on its own image; here bubblewrap is already installed.
    setup = run(
        ["bash", str(source / "setup.sh")],
        source,
        timeout=INSTALL_LIMIT,
        AUTOGRADER_ROOT=str(fresh_root),
        COURSE_NO_APT="1",
    )
    assert setup.returncode == 0, setup.stderr[-3000:]

    submission = fresh_root / "submission"
    (submission / "labs").mkdir(parents=True)  # as a GitHub submission: the student's repository
    shutil.copy(ROOT / "solutions" / "lab1_supervised.py", submission / "labs")
    graded = run(["bash", str(source / "run_autograder")], source, AUTOGRADER_ROOT=str(fresh_root))
    assert graded.returncode == 0, graded.stderr[-3000:]
    results = json.loads((fresh_root / "results" / "results.json").read_text())
    points = registry.LABS["lab1"].points
    assert results["score"] == results["max_score"] == points, results
    assert {t["visibility"] for t in results["tests"]} == {"visible", "after_published"}
    for test in results["tests"]:
        assert re.match(r"lab1\.\w+: ", test["name"]) and test["status"] == "passed", test
    assert "namespaces" in results["output"] or "uid" in results["output"], results["output"]

    # A container that refuses user namespaces: student code runs as a uid of its own, which
    # setup.sh has kept out of the solutions and the checks.
    assert (source / "solutions").stat().st_mode & 0o077 == 0
    assert (source / "tests").stat().st_mode & 0o077 == 0
    if os.geteuid() == 0 and SYSTEM_PYTHON.is_file():
        graded = run(
            ["bash", str(source / "run_autograder")],
            source,
            AUTOGRADER_ROOT=str(fresh_root),
            COURSE_ISOLATION="uid",
        )
        results = json.loads((fresh_root / "results" / "results.json").read_text())
        assert results["score"] == results["max_score"] == points, results["output"]
        assert "uid" in results["output"], results["output"]

    shutil.rmtree(submission)
    submission.mkdir()  # nothing handed in: still a results.json that says what to do
    graded = run(["bash", str(source / "run_autograder")], source, AUTOGRADER_ROOT=str(fresh_root))
    results = json.loads((fresh_root / "results" / "results.json").read_text())
    assert results["score"] == 0 and "lab1_supervised.py" in json.dumps(results), results
