"""Tests of the autograder against a lab that patches NumPy to lie.

The student's lab runs in the worker, and so do the graders' probes: a lab that replaces
`np.allclose` or `np.abs` there must not change any verdict. Probes return raw observations and
the tests compare them in the grader's own process, so the solution with a lying NumPy keeps full
marks and the stubs with a lying NumPy still get nothing.
"""

import ast

import pytest

from course import ROOT, registry
from course.grading.runner import grade_lab, graded_labs

# Comparison-type functions that a correct lab has no need for, each replaced by a liar: every
# difference is zero, every maximum is 0, everything is close and equal. TensorFlow's own code
# relies on some of them (its gradient of a sum asks np.array_equal whether every axis is
# reduced), as does a lab's training: like a cheat that keeps its training working, the liars
# answer TensorFlow, Keras and NumPy truthfully and lie to everyone else (the lab, the graders'
# probes, the course's library).
LIES = {
    "abs": "lambda x, *a, **k: _lying_np.zeros_like(_lying_np.asarray(x))",
    "absolute": "lambda x, *a, **k: _lying_np.zeros_like(_lying_np.asarray(x))",
    "max": "lambda *a, **k: 0.0",
    "amax": "lambda *a, **k: 0.0",
    "allclose": "lambda *a, **k: True",
    "isclose": "lambda *a, **k: True",
    "array_equal": "lambda *a, **k: True",
    "array_equiv": "lambda *a, **k: True",
}
LYING_NUMPY = """\
import sys as _lying_sys
import numpy as _lying_np


def _lying_install(name, answer):
    truth = getattr(_lying_np, name)

    def lie(*args, **kwargs):
        caller = _lying_sys._getframe(1).f_globals.get("__name__") or ""
        if caller.split(".")[0] in ("tensorflow", "keras", "numpy"):
            return truth(*args, **kwargs)
        return answer(*args, **kwargs)

    setattr(_lying_np, name, lie)


""" + "".join(f"_lying_install({name!r}, {lie})\n" for name, lie in LIES.items())


def with_patch(source: str, patch: str) -> str:
    """`source` with `patch` inserted after its docstring and `from __future__` imports."""
    tree = ast.parse(source)
    end = 0
    for index, node in enumerate(tree.body):
        docstring = (
            index == 0
            and isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        )
        if docstring or (isinstance(node, ast.ImportFrom) and node.module == "__future__"):
            end = node.end_lineno
        else:
            break
    lines = source.splitlines(keepends=True)
    return "".join(lines[:end]) + patch + "".join(lines[end:])


def lying_submission(folder, lab: str, origin):
    folder.mkdir(parents=True, exist_ok=True)
    name = registry.LABS[lab].file
    source = with_patch((ROOT / origin / name).read_text(), LYING_NUMPY)
    ast.parse(source)  # the patched lab is still Python
    (folder / name).write_text(source)
    return folder


def failures(result) -> str:
    return (
        "\n".join(f"{t.name}: {t.output}" for t in result.tests if t.status != "passed")
        or result.problem
    )


def test_with_patch_keeps_docstring_and_future_first():
    source = '"""Doc."""\nfrom __future__ import annotations\nimport os\n'
    patched = with_patch(source, "PATCH = 1\n")
    assert patched == '"""Doc."""\nfrom __future__ import annotations\nPATCH = 1\nimport os\n'
    assert with_patch("import os\n", "PATCH = 1\n") == "PATCH = 1\nimport os\n"


@pytest.mark.parametrize("lab", graded_labs())
def test_patching_solution_with_lying_numpy_keeps_full_marks(tmp_path, lab):
    result = grade_lab(lying_submission(tmp_path / "solution", lab, "solutions"), lab)
    assert result.tests and result.score == result.max_score, failures(result)


@pytest.mark.parametrize("lab", graded_labs())
def test_patching_stub_with_lying_numpy_gets_zero(tmp_path, stubs, lab):
    result = grade_lab(lying_submission(tmp_path / "stub", lab, stubs), lab)
    assert result.tests and result.score == 0, [
        f"{t.name}: passed" for t in result.tests if t.score
    ]
