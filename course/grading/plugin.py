"""The autograder as a pytest plugin: points on markers, the student's lab as a fixture.

A graded test module sets `LAB = "lab2"` and marks each test `@pytest.mark.grade("rotate",
points=2)`; its docstring's first line says what it checks. The fixture `lab` is a `Submission`
of that lab from `--impl` (solutions, labs, or a folder). With `--grade-results FILE` each test's
outcome is written as a JSON line as soon as it is known, so a grading run cut short by its time
limit loses nothing that was already graded; so is, at the end, what the lab's code printed.

The student's worker runs in the sandbox that `--isolation` names (`course.grading.sandbox`).
Beside it runs the module's judge, a trusted worker that never runs student code: it measures the
models the student's probes return (`lab.probe(probe, ..., measure=...)`) and, where the reference
solutions are installed, runs them for the fixture `reference`. Students get the course without
`solutions/`: there tests that request `reference` are skipped as "checked at submission" and
`course check` lists them. The two workers start side by side and share TensorFlow's pages: two
fit in Gradescope's 768 MB (docs/grading.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from course import ROOT, registry
from course.grading.scan import solution_references
from course.grading.submission import StudentCodeError, Submission
from course.impl import impl_dir

AUTOGRADER = ROOT / "tests" / "autograder"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("course grading")
    group.addoption(
        "--impl",
        default="solutions",
        help="the implementation graded: solutions, labs or a folder",
    )
    group.addoption(
        "--grade-results",
        default=None,
        help="write each graded test's outcome to this JSON-lines file",
    )
    group.addoption(
        "--call-timeout",
        type=float,
        default=30.0,
        help="seconds one call of student code may take",
    )
    group.addoption(
        "--import-timeout", type=float, default=60.0, help="seconds the import of a lab may take"
    )
    group.addoption(
        "--exercise", action="append", default=[], help="grade only this exercise (repeatable)"
    )
    group.addoption(
        "--solutions",
        default=str(ROOT / "solutions"),
        help="the reference solutions' folder (absent for students)",
    )
    group.addoption(
        "--public-only",
        action="store_true",
        help="run the public checks only; hidden ones are listed as run at grading (course check)",
    )
    group.addoption(
        "--isolation",
        default="none",
        choices=("namespaces", "uid", "none"),
        help=(
            "the sandbox of the student's code (course grade chooses it; see"
            " course.grading.sandbox)"
        ),
    )
    group.addoption(
        "--variants",
        default=None,
        help=(
            "JSON file {name: {impl, exercises}}: grade many trusted "
            "variants of a lab in one worker (the autograder's own tests)"
        ),
    )


def _variants(config: pytest.Config) -> dict | None:
    path = config.getoption("--variants")
    return json.loads(Path(path).read_text()) if path else None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    variants = _variants(metafunc.config)
    if variants and "lab" in metafunc.fixturenames:
        metafunc.parametrize("lab", list(variants), indirect=True, scope="module")


def _variant(item: pytest.Item) -> str | None:
    return getattr(item, "callspec", None) and item.callspec.params.get("lab")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "grade(exercise, points): an autograder check worth `points` for `exercise`"
    )
    path = config.getoption("--grade-results")
    config._grade_results = open(path, "a", buffering=1) if path else None  # noqa: SIM115


def pytest_unconfigure(config: pytest.Config) -> None:
    if getattr(config, "_grade_results", None):
        config._grade_results.close()


def _emit(config: pytest.Config, record: dict) -> None:
    if config._grade_results:
        config._grade_results.write(json.dumps(record) + "\n")


def grade_info(item: pytest.Item) -> dict:
    """Lab, exercise, points and the check's title of a graded test."""
    marker = item.get_closest_marker("grade")
    lab = item.module.LAB
    title = " ".join((item.function.__doc__ or item.name).strip().split("\n\n")[0].split())
    return {
        "id": item.nodeid,
        "lab": lab,
        "exercise": marker.args[0],
        "points": float(marker.kwargs["points"]),
        "name": f"{lab}.{marker.args[0]}: {title}",
        "variant": _variant(item),
        # Hidden: it runs only when the staff grade (it needs the reference, or says so).
        "hidden": bool(marker.kwargs.get("hidden")) or "reference" in item.fixturenames,
    }


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    graded = [item for item in items if hasattr(getattr(item, "module", None), "LAB")]
    totals: dict[tuple[str, str, object], float] = {}
    for item in graded:
        marker = item.get_closest_marker("grade")
        if marker is None or len(marker.args) != 1 or "points" not in marker.kwargs:
            raise pytest.UsageError(
                f"{item.nodeid}: a graded test needs @pytest.mark.grade(exercise, points=N)"
            )
        try:
            registry.LABS[item.module.LAB].exercise(marker.args[0])
        except (KeyError, registry.RegistryError) as error:
            raise pytest.UsageError(f"{item.nodeid}: {error} (course/registry.py)") from None
        key = (item.module.LAB, marker.args[0], _variant(item))
        totals[key] = totals.get(key, 0) + marker.kwargs["points"]
    for (lab, name, _), total in totals.items():
        if total != registry.LABS[lab].exercise(name).points:
            raise pytest.UsageError(
                f"the checks of {lab}.{name} add up to {total:g} points, course/registry.py "
                f"gives it {registry.LABS[lab].exercise(name).points}"
            )
    exercises, variants = set(config.getoption("--exercise")), _variants(config) or {}

    def wanted(item: pytest.Item) -> bool:
        exercise = item.get_closest_marker("grade").args[0]
        only = variants[_variant(item)]["exercises"] if variants else exercises
        return not only or exercise in only

    keep = [item for item in items if item not in graded or wanted(item)]
    if len(keep) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in keep])
        items[:] = keep


def pytest_collection_finish(session: pytest.Session) -> None:
    tests, counters = [], {}
    for item in session.items:
        if hasattr(getattr(item, "module", None), "LAB"):
            info = grade_info(item)
            key = (info["lab"], info["variant"])
            counters[key] = counters.get(key, 0) + 1
            info["number"] = f"{info['lab'].removeprefix('lab')}.{counters[key]}"
            item.stash[_INFO] = info
            tests.append(info)
    _emit(session.config, {"event": "collected", "tests": tests})


_INFO = pytest.StashKey[dict]()


HIDDEN_AT_CHECK = "a hidden check: it runs when the course staff grade"


def pytest_runtest_setup(item: pytest.Item) -> None:
    if (
        item.config.getoption("--public-only")
        and _INFO in item.stash
        and item.stash[_INFO]["hidden"]
    ):
        pytest.skip(HIDDEN_AT_CHECK)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if (
        _INFO not in item.stash
        or call.when == "teardown"
        or (call.when == "setup" and report.passed)
    ):
        return report
    status, output, kind = (
        ("passed" if report.passed else "skipped" if report.skipped else "failed"),
        "",
        None,
    )
    if call.excinfo is not None:
        error = call.excinfo.value
        if isinstance(error, StudentCodeError):
            report.longrepr = output = (
                error.message
            )  # the student's problem, not the grader's traceback
            kind = error.kind
        elif report.skipped:
            output = str(getattr(error, "msg", error))
        elif isinstance(error, AssertionError):
            output = str(error).split("\nassert ")[0]
        else:
            output = (
                f"the check itself failed ({type(error).__name__}: {error}); please report this to"
                " the course staff"
            )
    _emit(
        item.config,
        {
            "event": "result",
            "id": item.nodeid,
            "status": status,
            "output": output,
            "error_kind": kind,
        },
    )
    return report


CHECKED_AT_SUBMISSION = "checked at submission: needs the reference solutions"


def _solutions(config: pytest.Config) -> Path:
    return Path(config.getoption("--solutions")).expanduser().resolve()


def _limits(config: pytest.Config) -> dict:
    return {
        "call_timeout": config.getoption("--call-timeout"),
        "import_timeout": config.getoption("--import-timeout"),
    }


@pytest.fixture(scope="module")
def judge(request: pytest.FixtureRequest):
    """The trusted worker of this module's `LAB`: measures the student's models and runs the
    reference solution where it is installed. It starts as soon as the student's lab has been
    imported, beside the student's worker (a lab that cannot be imported needs no judge)."""
    config = request.config
    solution_file = _solutions(config) / registry.LABS[request.module.LAB].file
    handle = Submission(
        solution_file if solution_file.is_file() else None,
        isolation=config.getoption("--isolation"),
        trusted=True,
        readable=[AUTOGRADER, Path(request.module.__file__).parent],
        **_limits(config),
    )
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def lab(request: pytest.FixtureRequest, judge: Submission):
    """The graded implementation of this module's `LAB`, run in a sandboxed worker process."""
    config = request.config
    name = registry.LABS[request.module.LAB].module
    variants = _variants(config)
    if variants:
        yield _shared_variant_submission(
            request, Path(variants[request.param]["impl"]) / f"{name}.py", judge
        )
        return
    folder = impl_dir(config.getoption("--impl"))
    lab_file = folder / f"{name}.py"
    submission = Submission(
        lab_file,
        isolation=config.getoption("--isolation"),
        judge=judge,
        exercises=_exercise_names(request),
        lab_key=request.module.LAB,
        **_limits(config),
    )
    if lab_file.is_file() and folder != _solutions(config):
        references = solution_references(lab_file.read_text(errors="replace"))
        if references:
            submission.fatal = StudentCodeError(
                "forbidden",
                f"{lab_file.name} refers to the reference solutions ({references[0]}); "
                "a lab that reads or imports the reference solutions earns no points.",
            )
    if not submission.fatal:
        try:
            submission.start()
        except StudentCodeError as error:
            submission.fatal = error
    yield submission
    submission.stop()
    printed, text = submission.printed()
    _emit(config, {"event": "printed", "lab": request.module.LAB, "bytes": printed, "text": text})


@pytest.fixture(scope="module")
def reference(judge: Submission):
    """The reference solution of this module's `LAB`, run by the judge. Where the solutions are
    not installed (the students' copy of the course) every test that requests it is skipped as
    "checked at submission"."""
    if judge.lab_file is None:
        pytest.skip(CHECKED_AT_SUBMISSION)
    return judge


def _exercise_names(request: pytest.FixtureRequest) -> tuple[str, ...]:
    return tuple(exercise.name for exercise in registry.LABS[request.module.LAB].exercises)


def _shared_variant_submission(
    request: pytest.FixtureRequest, lab_file: Path, judge: Submission
) -> Submission:
    """One worker for every variant of a lab: the variants are the course's own trusted
    fixtures."""
    shared = request.config.stash.setdefault(_SHARED, {})
    submission = shared.get(request.module.LAB)
    if submission is None:
        submission = shared[request.module.LAB] = Submission(
            lab_file,
            judge=judge,
            exercises=_exercise_names(request),
            lab_key=request.module.LAB,
            **_limits(request.config),
        )
        request.config.add_cleanup(submission.stop)
    submission.judge = judge
    try:
        submission.retarget(lab_file)
    except StudentCodeError:
        pass  # every call repeats the import error
    return submission


_SHARED = pytest.StashKey[dict]()
