"""Grades the labs of one submission: a pytest child process, its results read back as data.

The parent (this module) imports neither TensorFlow nor any student code; the child is pytest
running the labs' autograder tests, which in turn runs the student's code in a sandboxed worker
(one for all the labs, restarted where a lab broke it: `course.grading.plugin`). The child writes
its verdicts to a file in a private temporary folder (mode 0700, never mounted in a sandbox); the
parent reads it defensively (`read_verdicts`). A lab that overruns its wall limit loses only the
checks it had not finished; a child that dies loses only the checks it had not finished.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from course import ROOT, registry
from course.grading.protocol import (
    LIMITS,
    CheckInfo,
    Collected,
    ErrorKind,
    Event,
    LabEnded,
    PrintedOutput,
    Problem,
    ProtocolError,
    Result,
    Started,
    parse_event,
)
from course.grading.results import LabResult, TestResult

AUTOGRADER = ROOT / "tests" / "autograder"


def check_files(lab: str, public_only: bool = False) -> list[Path]:
    """The autograder modules of `lab`: its public checks, then its hidden ones where they exist
    (the staff's copy) and are wanted."""
    module = registry.LABS[lab].module
    public, hidden = AUTOGRADER / f"test_{module}.py", AUTOGRADER / f"test_{module}_hidden.py"
    if public_only:
        return [public]
    if hidden.is_file():
        return [public, hidden]
    if (ROOT / "solutions").is_dir():  # the staff's copy; only the students' has no hidden checks
        raise CollectionError(
            f"{hidden} is missing, but grading {lab} with solutions/ needs its hidden checks too:"
            " restore it from the course's repository"
        )
    return [public]


def graded_labs() -> list[str]:
    """The labs that have autograder tests (`tests/autograder/test_<lab module>.py`)."""
    return [
        key
        for key, lab in registry.LABS.items()
        if (AUTOGRADER / f"test_{lab.module}.py").is_file()
    ]


# The grading plugin, loaded by the grader's runs only (no pytest11 entry point); an entry point
# left by an older install of the course is blocked, so that the plugin is registered once.
PLUGIN = ("-p", "no:course-grading", "-p", "course.grading.plugin")

VERDICTS_LIMIT = LIMITS.verdict_bytes


def _run_pytest(
    labs: list[str],
    results: Path,
    *options: str,
    timeout: float | None = None,
    public_only: bool = False,
) -> subprocess.CompletedProcess:
    """Runs the labs' autograder tests in a pytest child that writes its outcomes to `results`.
    On `timeout` the child's whole process group is killed (its workers die with it)."""
    command = [
        sys.executable,
        "-m",
        "pytest",
        *[str(file) for lab in labs for file in check_files(lab, public_only)],
        "--grade-results",
        str(results),
        *options,
        "-q",
        *PLUGIN,
        "-p",
        "no:cacheprovider",
        "--no-header",
        "-o",
        "addopts=",
        f"--rootdir={ROOT}",
    ]
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", TMPDIR=str(results.parent))
    child = subprocess.Popen(
        command,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=env,  # TMPDIR: the sandboxes' scratch folders go where the parent removes them
    )
    try:
        stdout, _ = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.communicate()
        raise
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
    return subprocess.CompletedProcess(command, child.returncode, stdout, b"")


def _run_problem(child: subprocess.CompletedProcess) -> str:
    """What went wrong with a grading run, if pytest ended otherwise than with passed/failed
    tests."""
    if child.returncode in (0, 1):
        return ""
    return (
        f"the grader's test run ended with status {child.returncode}:"
        f" {child.stdout.decode(errors='replace')[-1500:]}"
    )


class CollectionError(RuntimeError):
    """The autograder's own tests could not be collected: the grader cannot run."""


def collect(labs: list[str]) -> dict[str, LabResult]:
    """The checks of each lab, not run (names, numbers, points), from one `pytest
    --collect-only`."""
    with tempfile.TemporaryDirectory(prefix="course-collect-") as tmp:
        results = Path(tmp) / "results.jsonl"
        child = _run_pytest(labs, results, "--collect-only")
        verdicts = read_verdicts(results)
        found = {lab: _read_results(verdicts, lab, "") for lab in labs}
    empty = [lab for lab, result in found.items() if not result.tests]
    if child.returncode != 0 or empty:
        raise CollectionError(
            f"the autograder tests of {', '.join(empty or labs)} could not be collected (pytest"
            " exited with status"
            f" {child.returncode}):\n{child.stdout.decode(errors='replace')[-3000:]}"
        )
    return found


GRADER_SECONDS = LIMITS.grader_seconds


def grade_labs(
    submission: Path | str,
    labs: list[str],
    exercises: list[str] = (),
    wall_limit: float = LIMITS.wall_limit,
    call_timeout: float = LIMITS.call_timeout,
    import_timeout: float = LIMITS.import_timeout,
    solutions: Path | str | None = None,
    isolation: str = "auto",
    public_only: bool = False,
) -> dict[str, LabResult]:
    """Runs the autograder tests of `labs` against the folder `submission`, its code isolated as
    `isolation` says (`course.grading.sandbox.choose`), in one pytest child; each lab may take
    `wall_limit` seconds.

    `solutions` is the reference solutions' folder (default `solutions/` of the checkout; where it
    does not exist, checks that need it are skipped as "checked at submission")."""
    from course.grading.sandbox import choose

    level = choose(isolation)
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="course-grade-") as tmp:
        results = Path(tmp) / "results.jsonl"
        try:
            problem = _run_problem(
                _run_pytest(
                    labs,
                    results,
                    "--impl",
                    str(submission),
                    "--call-timeout",
                    str(call_timeout),
                    "--import-timeout",
                    str(import_timeout),
                    "--wall-limit",
                    str(wall_limit),
                    f"--isolation={level}",
                    *([f"--solutions={solutions}"] if solutions is not None else []),
                    *[f"--exercise={exercise}" for exercise in exercises],
                    timeout=wall_limit * len(labs) + GRADER_SECONDS,
                    public_only=public_only,
                )
            )
        except subprocess.TimeoutExpired:
            problem = (
                f"grading took longer than its limit of {wall_limit:g} s a lab; the checks not"
                " finished by then earn no points"
            )
        verdicts = read_verdicts(results)
        events = verdicts[0]
        # A lab graded to its end before the run failed keeps its grade, without that problem;
        # one the run never reached says so.
        complete = {e.lab for e in events if isinstance(e, LabEnded) and e.complete}
        started = {e.lab for e in events if isinstance(e, Started)}

        def lab_problem(lab: str) -> str:
            if lab in complete or not problem:
                return ""
            if lab in started:
                return problem
            return f"grading stopped before this lab began: {problem}"

        graded = {lab: _read_results(verdicts, lab, lab_problem(lab)) for lab in labs}
    for lab, result in graded.items():
        if not result.seconds and lab in started:  # cut short: the run's time is its time
            result.seconds = time.monotonic() - start
        result.isolation = level
    return graded


def grade_lab(submission: Path | str, lab: str, **options) -> LabResult:
    """`grade_labs` of one lab."""
    return grade_labs(submission, [lab], **options)[lab]


def grade_variants(
    lab: str, variants: dict[str, tuple[Path, list[str]]], wall_limit: float = 1200.0
) -> dict[str, LabResult]:
    """Grades many trusted variants of a lab (name -> (folder, exercises)) in one pytest run and
    one
    worker, without isolation: the autograder's own tests, which grade dozens of mutants, would
    otherwise pay a TensorFlow start for each."""
    with tempfile.TemporaryDirectory(prefix="course-variants-") as tmp:
        results, spec = Path(tmp) / "results.jsonl", Path(tmp) / "variants.json"
        spec.write_text(
            json.dumps(
                {
                    name: {"impl": str(folder), "exercises": list(exercises)}
                    for name, (folder, exercises) in variants.items()
                }
            )
        )
        problem = _run_problem(
            _run_pytest(
                [lab], results, "--variants", str(spec), "--isolation=none", timeout=wall_limit
            )
        )
        verdicts = read_verdicts(results)
        return {name: _read_results(verdicts, lab, problem, variant=name) for name in variants}


def read_verdicts(path: Path) -> tuple[list[Event], str]:
    """The events of a verdict file, and what was wrong with it ("" if nothing).

    Only the grader's pytest child writes there, out of every sandbox's reach; it is still read as
    untrusted: a regular file, not followed through a link, never blocking, at most
    `VERDICTS_LIMIT` bytes, each line an event that `protocol.parse_event` accepts (a line cut
    short by a wall limit is dropped).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return [], ""
    except OSError as error:
        return [], f"the grader's verdict file could not be opened ({error.strerror})"
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return [], "the grader's verdict file is not a regular file"
    with os.fdopen(fd, "rb") as file:
        data = file.read(VERDICTS_LIMIT + 1)
    problem = (
        "the grader's verdict file is larger than its limit; later checks were dropped"
        if len(data) > VERDICTS_LIMIT
        else ""
    )
    events = []
    for line in data[:VERDICTS_LIMIT].decode(errors="replace").splitlines():
        try:
            events.append(parse_event(line))
        except ProtocolError:
            continue
    return events, problem


def _collected(events: list[Event], lab: str, variant: str | None) -> list[CheckInfo]:
    first = next((e for e in events if isinstance(e, Collected)), None)
    return [
        info
        for info in (first.tests if first else ())
        if info.lab == lab and info.variant == variant
    ]


def _read_results(
    verdicts: tuple[list[Event], str], lab: str, problem: str, variant: str | None = None
) -> LabResult:
    """`lab`'s result (of `variant`) from a run's `read_verdicts`."""
    events, broken = verdicts
    problem = next(
        (e.problem for e in events if isinstance(e, Problem) and e.lab == lab),
        problem or broken,
    )
    collected = _collected(events, lab, variant)
    ids = {info.id for info in collected}
    outcomes: dict[str, Result] = {}
    for event in events:  # the first verdict of a collected test counts; any later one is ignored
        if isinstance(event, Result) and event.id in ids and event.id not in outcomes:
            outcomes[event.id] = event
    result = LabResult(
        lab,
        problem=problem if collected or problem else "the grader collected no checks for this lab",
    )
    forbidden = next(
        (r.output for r in outcomes.values() if r.error_kind == ErrorKind.FORBIDDEN), None
    )
    for info in collected:
        outcome = outcomes.get(info.id)
        test = TestResult(
            info.name, info.number, info.lab, info.exercise, info.points, hidden=info.hidden
        )
        if forbidden:
            test.output, test.kind = forbidden, ErrorKind.FORBIDDEN
        elif outcome is None:
            test.output = "not run: " + (problem or "grading stopped before this check")
        else:
            test.status, test.output, test.kind = (
                outcome.status,
                outcome.output,
                outcome.error_kind or "",
            )
            test.score = test.max_score if test.status == "passed" else 0.0
        result.tests.append(test)
    if forbidden:
        result.problem = forbidden
    for event in events:
        if isinstance(event, LabEnded) and event.lab == lab:
            result.seconds = event.seconds
        if isinstance(event, PrintedOutput) and event.lab == lab:
            result.printed_bytes += event.bytes
            result.printed = (result.printed + "\n" + event.text).strip("\n")
    return result
