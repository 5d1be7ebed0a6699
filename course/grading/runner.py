"""Grades one lab of one submission: a pytest child process, its results read back as data.

The parent (this module) imports neither TensorFlow nor any student code; the child is pytest
running the lab's autograder tests, which in turn runs the student's code in a worker. A child that
dies or overruns its wall limit loses only the tests it had not finished.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from course import LABS, ROOT

AUTOGRADER = ROOT / "tests" / "autograder"


@dataclass
class TestResult:
    name: str
    number: str
    lab: str
    exercise: str
    max_score: float
    score: float = 0.0
    status: str = "failed"  # passed, failed, or skipped (could not run here)
    output: str = ""
    kind: str = ""  # for a failure of the student's code: StudentCodeError.kind (timeout, crash, ...)


@dataclass
class LabResult:
    lab: str
    tests: list[TestResult] = field(default_factory=list)
    problem: str = ""  # what went wrong with the lab as a whole, in words a student can act on
    seconds: float = 0.0
    printed_bytes: int = 0  # how much the lab's code printed
    printed: str = ""  # the start and end of it

    @property
    def score(self) -> float:
        return sum(test.score for test in self.tests)

    @property
    def max_score(self) -> float:
        return sum(test.max_score for test in self.tests)


def graded_labs() -> list[str]:
    """The labs that have autograder tests (`tests/autograder/test_<lab module>.py`)."""
    return [lab for lab, module in LABS.items() if (AUTOGRADER / f"test_{module}.py").is_file()]


def _run_pytest(labs: list[str], results: Path, *options: str, timeout: float | None = None) -> subprocess.CompletedProcess:
    """Runs the labs' autograder tests in a pytest child that writes its outcomes to `results`."""
    command = [
        sys.executable, "-m", "pytest", *[str(AUTOGRADER / f"test_{LABS[lab]}.py") for lab in labs],
        "--grade-results", str(results), *options,
        "-q", "-p", "no:cacheprovider", "--no-header", "-o", "addopts=", f"--rootdir={ROOT}",
    ]
    return subprocess.run(command, cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
                          env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))


def _run_problem(child: subprocess.CompletedProcess) -> str:
    """What went wrong with a grading run, if pytest ended otherwise than with passed/failed tests."""
    if child.returncode in (0, 1):
        return ""
    return f"the grader's test run ended with status {child.returncode}: {child.stdout.decode(errors='replace')[-1500:]}"


class CollectionError(RuntimeError):
    """The autograder's own tests could not be collected: the grader cannot run."""


def collect(labs: list[str]) -> dict[str, LabResult]:
    """The checks of each lab, not run (names, numbers, points), from one `pytest --collect-only`."""
    with tempfile.TemporaryDirectory(prefix="course-collect-") as tmp:
        results = Path(tmp) / "results.jsonl"
        child = _run_pytest(labs, results, "--collect-only")
        found = {lab: _read_results(results, lab, "") for lab in labs}
    empty = [lab for lab, result in found.items() if not result.tests]
    if child.returncode != 0 or empty:
        raise CollectionError(
            f"the autograder tests of {', '.join(empty or labs)} could not be collected "
            f"(pytest exited with status {child.returncode}):\n{child.stdout.decode(errors='replace')[-3000:]}"
        )
    return found


def grade_lab(
    submission: Path | str,
    lab: str,
    exercises: list[str] = (),
    wall_limit: float = 600.0,
    call_timeout: float = 30.0,
    import_timeout: float = 60.0,
    solutions: Path | str | None = None,
) -> LabResult:
    """Runs the autograder tests of `lab` against the folder `submission`.

    `solutions` is the reference solutions' folder (default `solutions/` of the checkout; where it
    does not exist, checks that need it are skipped as "checked at submission")."""
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="course-grade-") as tmp:
        results = Path(tmp) / "results.jsonl"
        try:
            problem = _run_problem(_run_pytest(
                [lab], results, "--impl", str(submission),
                "--call-timeout", str(call_timeout), "--import-timeout", str(import_timeout),
                *([f"--solutions={solutions}"] if solutions is not None else []),
                *[f"--exercise={exercise}" for exercise in exercises],
                timeout=wall_limit,
            ))
        except subprocess.TimeoutExpired:
            problem = f"grading this lab took longer than its limit of {wall_limit:g} s; the checks not finished by then earn no points"
        lab_result = _read_results(results, lab, problem)
    lab_result.seconds = time.monotonic() - start
    return lab_result


def grade_variants(lab: str, variants: dict[str, tuple[Path, list[str]]], wall_limit: float = 1200.0) -> dict[str, LabResult]:
    """Grades many trusted variants of a lab (name -> (folder, exercises)) in one pytest run and one
    worker: the autograder's own tests, which grade dozens of mutants, would otherwise pay a
    TensorFlow start for each."""
    with tempfile.TemporaryDirectory(prefix="course-variants-") as tmp:
        results, spec = Path(tmp) / "results.jsonl", Path(tmp) / "variants.json"
        spec.write_text(json.dumps({name: {"impl": str(folder), "exercises": list(exercises)}
                                    for name, (folder, exercises) in variants.items()}))
        problem = _run_problem(_run_pytest([lab], results, "--variants", str(spec), timeout=wall_limit))
        return {name: _read_results(results, lab, problem, variant=name) for name in variants}


def _read_results(path: Path, lab: str, problem: str, variant: str | None = None) -> LabResult:
    records = []
    for line in path.read_text(errors="replace").splitlines() if path.exists() else []:
        try:
            records.append(json.loads(line))
        except ValueError:
            pass  # a line cut short when the wall limit stopped the run
    collected = [t for t in next((r["tests"] for r in records if r["event"] == "collected"), [])
                 if t["lab"] == lab and t.get("variant") == variant]
    outcomes = {r["id"]: r for r in records if r["event"] == "result"}
    result = LabResult(lab, problem=problem if collected or problem else "the grader collected no checks for this lab")
    forbidden = next((r["output"] for r in outcomes.values() if r.get("error_kind") == "forbidden"), None)
    for info in collected:
        outcome = outcomes.get(info["id"])
        test = TestResult(info["name"], info["number"], info["lab"], info["exercise"], info["points"])
        if forbidden:
            test.output = forbidden
        elif outcome is None:
            test.output = "not run: " + (problem or "grading stopped before this check")
        else:
            test.status, test.output, test.kind = outcome["status"], outcome["output"], outcome.get("error_kind") or ""
            test.score = test.max_score if test.status == "passed" else 0.0
        if forbidden:
            test.kind = "forbidden"
        result.tests.append(test)
    if forbidden:
        result.problem = forbidden
    for record in records:
        if record["event"] == "printed" and record["lab"] == lab:
            result.printed_bytes += record["bytes"]
            result.printed = (result.printed + "\n" + record["text"]).strip("\n")
    return result
