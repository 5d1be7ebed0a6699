"""The autograder as a pytest plugin: points on markers, the student's lab as a fixture.

A graded test module sets `LAB = "lab2"` and marks each test `@pytest.mark.grade("rotate",
points=2)`; its docstring's first line says what it checks. A lab's checks are public
(`test_lab2_rotation.py`: properties, and values shipped as data; students run them with `course
check`) or hidden (`test_lab2_rotation_hidden.py`: the comparisons with references; only the staff
have it, and `course check` leaves it out). The fixture `lab` is a `Submission` of that lab from
`--impl` (solutions, labs, or a folder). One worker grades every lab of the run in turn, so
TensorFlow starts once per submission; it is replaced by a fresh one after a crash, a hang, a
failed import or a forbidden act (`Submission.retarget`). With `--grade-results FILE` each test's
outcome is written as a JSON line as soon as it is known, so a grading run cut short loses nothing
that was already graded; so is, after each lab, what its code printed and how long it took.
`--wall-limit` bounds each lab: the checks not finished in time earn no points, and the next lab
starts.

The student's worker runs in the sandbox that `--isolation` names (`course.grading.sandbox`).
Beside it runs the lab's judge, a trusted worker that never runs student code: it measures the
models the student's probes return (`lab.probe(probe, ..., measure=...)`) and, where the reference
solutions are installed, runs them for the fixture `reference` (hidden checks only). The two
workers start side by side and share TensorFlow's pages: two fit in Gradescope's 768 MB
(docs/grading.md).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pytest

from course import ROOT, registry
from course.grading.notebooks import (
    NotebookError,
    cell_plan,
    graded_form,
    join_cells,
    notebook_cells,
    untouched,
)
from course.grading.protocol import (
    LIMITS,
    CheckInfo,
    Collected,
    ErrorKind,
    Event,
    LabEnded,
    PrintedOutput,
    Problem,
    Result,
    Started,
)
from course.grading.scan import solution_references
from course.grading.submission import StudentCodeError, Submission
from course.impl import impl_dir

AUTOGRADER = ROOT / "tests" / "autograder"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("course grading")
    group.addoption(
        "--impl",
        # The students' copy has no solutions/: there `pytest -p course.grading.plugin
        # tests/autograder` checks labs/.
        default="solutions" if (ROOT / "solutions").is_dir() else "labs",
        help="the implementation graded: solutions, labs or a folder (default: solutions)",
    )
    group.addoption(
        "--grade-results",
        default=None,
        help="write each graded test's outcome to this JSON-lines file",
    )
    group.addoption(
        "--call-timeout",
        type=float,
        default=LIMITS.call_timeout,
        help="seconds one call of student code may take",
    )
    group.addoption(
        "--import-timeout",
        type=float,
        default=LIMITS.import_timeout,
        help="seconds the import of a lab may take"
    )
    group.addoption(
        "--wall-limit",
        type=float,
        default=None,
        help="seconds grading one lab may take in all (default: no limit)",
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


@dataclass
class GradingRun:
    """The plugin's state for one pytest run, in one object under `config.stash[RUN]` (as
    pytest's junitxml keeps its own): the verdict file, the running workers by role ("lab",
    "judge", "variants"), when each lab's grading started, the labs that ran past their wall
    limit, the folder where notebooks are written out as .py files, and the labs graded with
    their hidden checks."""

    results: IO[str] | None = None
    workers: dict[str, Submission] = field(default_factory=dict)
    started: dict[str, float] = field(default_factory=dict)  # lab -> time.monotonic()
    over_limit: set[str] = field(default_factory=set)
    notebooks: Path | None = None
    hidden: set[str] = field(default_factory=set)  # the labs whose hidden checks this run has

    def emit(self, event: Event) -> None:
        """Writes one verdict record, at once (a run cut short loses nothing written)."""
        if self.results:
            self.results.write(event.to_json() + "\n")


RUN = pytest.StashKey[GradingRun]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "grade(exercise, points): an autograder check worth `points` for `exercise`"
    )
    path = config.getoption("--grade-results")
    config.stash[RUN] = GradingRun(
        results=open(path, "a", buffering=1) if path else None  # noqa: SIM115
    )


def pytest_unconfigure(config: pytest.Config) -> None:
    run = config.stash.get(RUN, None)
    if run is not None and run.results:
        run.results.close()


def _emit(config: pytest.Config, event: Event) -> None:
    config.stash[RUN].emit(event)


def is_hidden(module) -> bool:
    """A hidden check module: `test_<lab module>_hidden.py`."""
    return Path(module.__file__).stem.endswith("_hidden")


def grade_info(item: pytest.Item, number: int) -> CheckInfo:
    """Lab, exercise, points and the check's title of a graded test; `number`: its place among
    its lab's checks (of its variant)."""
    marker = item.get_closest_marker("grade")
    lab = item.module.LAB
    title = " ".join((item.function.__doc__ or item.name).strip().split("\n\n")[0].split())
    return CheckInfo(
        id=item.nodeid,
        lab=lab,
        exercise=marker.args[0],
        points=float(marker.kwargs["points"]),
        name=f"{lab}.{marker.args[0]}: {title}",
        variant=_variant(item),
        hidden=is_hidden(item.module),
        number=f"{lab.removeprefix('lab')}.{number}",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    graded = [item for item in items if hasattr(getattr(item, "module", None), "LAB")]
    totals: dict[tuple[str, str, object], float] = {}
    complete = {item.module.LAB for item in graded if is_hidden(item.module)}
    for item in graded:
        if "reference" in item.fixturenames and not is_hidden(item.module):
            raise pytest.UsageError(
                f"{item.nodeid}: a public check cannot use the reference solutions; move it to"
                " the lab's hidden module"
            )
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
    public = {
        (item.module.LAB, item.get_closest_marker("grade").args[0])
        for item in graded
        if not is_hidden(item.module)
    }
    for lab in {item.module.LAB for item in graded if not is_hidden(item.module)}:
        unchecked = [e.name for e in registry.LABS[lab].exercises if (lab, e.name) not in public]
        if unchecked:  # `course check` would have nothing to say about it
            raise pytest.UsageError(
                f"{lab}.{unchecked[0]} has no public check: give every exercise at least one"
            )
    for (lab, name, _), total in totals.items():
        points = registry.LABS[lab].exercise(name).points
        # Without the hidden module (the students' copy) the public checks hold part of them.
        if total > points or (lab in complete and total != points):
            raise pytest.UsageError(
                f"the checks of {lab}.{name} add up to {total:g} points, course/registry.py "
                f"gives it {points}"
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
            key = (item.module.LAB, _variant(item))
            counters[key] = counters.get(key, 0) + 1
            item.stash[_INFO] = grade_info(item, counters[key])
            tests.append(item.stash[_INFO])
            if item.stash[_INFO].hidden:
                session.config.stash[RUN].hidden.add(item.module.LAB)
    _emit(session.config, Collected(tuple(tests)))


_INFO = pytest.StashKey[CheckInfo]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    """A hidden check's output is its own: kept out of the lab's output (shown at once) and put
    in the check's report, which is hidden as the check is."""
    lab = getattr(item, "funcargs", {}).get("lab")
    if not (isinstance(lab, Submission) and _INFO in item.stash and item.stash[_INFO].hidden):
        return (yield)
    lab.hide_output()
    try:
        return (yield)
    finally:
        item.stash[_HIDDEN_PRINTED] = lab.hidden_printed()


_HIDDEN_PRINTED = pytest.StashKey[tuple]()


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
        if isinstance(error, StudentCodeError) and error.kind == ErrorKind.OVER_LIMIT:
            # This check and the lab's later ones are "not run", as the lab's problem says.
            lab_key = item.module.LAB
            if lab_key not in item.config.stash[RUN].over_limit:
                item.config.stash[RUN].over_limit.add(lab_key)
                _emit(item.config, Problem(lab_key, error.message))
            report.longrepr = error.message
            return report
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
    printed_bytes, printed = item.stash.get(_HIDDEN_PRINTED, (0, ""))
    if printed_bytes:
        output = (
            f"{output}\n\n" if output else ""
        ) + f"Your code printed {printed_bytes:,} bytes during this check:\n{printed}"
    _emit(item.config, Result(item.nodeid, status, output, kind))
    return report


CHECKED_AT_SUBMISSION = "checked at submission: needs the reference solutions"


def _solutions(config: pytest.Config) -> Path:
    return Path(config.getoption("--solutions")).expanduser().resolve()


def _limits(config: pytest.Config) -> dict:
    return {
        "call_timeout": config.getoption("--call-timeout"),
        "import_timeout": config.getoption("--import-timeout"),
    }


def _workers(config: pytest.Config) -> dict[str, Submission]:
    """The running workers by role ("lab", "judge", "variants"): each grades the run's labs in
    turn (a lab's public and hidden modules, then the next lab)."""
    return config.stash[RUN].workers


@pytest.fixture(scope="module")
def judge(request: pytest.FixtureRequest) -> Submission:
    """The trusted worker: measures the student's models and runs the reference solution of this
    module's `LAB` where it is installed. It starts beside the student's worker."""
    config, lab_key = request.config, request.module.LAB
    run = config.stash[RUN]
    if lab_key not in run.started:
        run.started[lab_key] = time.monotonic()
        _emit(config, Started(lab_key))
    solution_file = _solutions(config) / registry.LABS[lab_key].file
    # Only hidden checks use the reference: a run of the public ones alone (`course check`)
    # neither imports it nor shows it to the judge.
    wanted = lab_key in run.hidden and solution_file.is_file()
    reference = solution_file if wanted else None
    workers = _workers(config)
    if "judge" not in workers:
        workers["judge"] = Submission(
            reference,
            isolation=config.getoption("--isolation"),
            trusted=True,
            readable=[AUTOGRADER, Path(request.module.__file__).parent],
            **_limits(config),
        )
    elif workers["judge"].lab_file != reference:
        workers["judge"].retarget(reference)
    workers["judge"].start()
    workers["judge"].preload()  # the reference is imported while the student's lab starts
    return workers["judge"]


@pytest.fixture(scope="module")
def lab(request: pytest.FixtureRequest, judge: Submission) -> Submission:
    """The graded implementation of this module's `LAB`, run in a sandboxed worker process."""
    config, lab_key = request.config, request.module.LAB
    name = registry.LABS[lab_key].module
    variants = _variants(config)
    if variants:
        return _shared_variant_submission(
            request, Path(variants[request.param]["impl"]) / f"{name}.py", judge
        )
    workers = _workers(config)
    if "lab" not in workers or workers["lab"].lab_key != lab_key:
        workers["lab"] = _student_submission(request, judge, workers.get("lab"))
    return workers["lab"]


def _student_submission(
    request: pytest.FixtureRequest, judge: Submission, worker: Submission | None
) -> Submission:
    """The student's lab of this module, graded by `worker` (the previous lab's) if there is
    one."""
    config = request.config
    folder = impl_dir(config.getoption("--impl"))
    handed_in = folder / registry.LABS[request.module.LAB].file
    lab_file, problem, cells = _lab_file(config, handed_in, _exercise_names(request))
    # A notebook is named as handed in; its line numbers count its code cells, joined.
    shown_name = "" if lab_file == handed_in else handed_in.with_suffix(".ipynb").name
    if worker is None:
        submission = Submission(
            lab_file,
            isolation=config.getoption("--isolation"),
            judge=judge,
            exercises=_exercise_names(request),
            lab_key=request.module.LAB,
            shown_name=shown_name,
            wall_limit=config.getoption("--wall-limit"),
            **_limits(config),
        )
    else:
        submission = worker
        submission.retarget(lab_file, request.module.LAB, _exercise_names(request), shown_name)
    submission.cells = cells
    if problem:
        submission.fatal = StudentCodeError(ErrorKind.MISSING_FILE, problem)
    elif lab_file.is_file() and folder != _solutions(config):
        references = solution_references(lab_file.read_text(errors="replace"))
        if references:
            submission.fatal = StudentCodeError(
                ErrorKind.FORBIDDEN,
                f"{submission.name} refers to the reference solutions ({references[0]}); "
                "a lab that reads or imports the reference solutions earns no points.",
            )
    if not submission.fatal:
        try:
            submission.start()
        except StudentCodeError as error:
            submission.fatal = error
    return submission


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """After a lab's last check (its hidden module follows its public one): what its code printed,
    and how long it took."""
    lab_key = getattr(getattr(item, "module", None), "LAB", None)
    if lab_key and lab_key != getattr(getattr(nextitem, "module", None), "LAB", None):
        _finish_lab(item.config, lab_key, complete=True)


def _lab_file(
    config: pytest.Config, lab_file: Path, exercises: tuple[str, ...]
) -> tuple[Path, str, list | None]:
    """The file to grade for `lab_file` (labN_name.py), what is wrong with the submission's
    form, and for a notebook its cells (`notebooks.cell_plan`): its notebook, labN_name.ipynb,
    is graded where there is one instead of the .py (or beside a .py that is still the stubs),
    written out as the .py it grades as (`course.grading.notebooks`), in a folder of its own that
    the run removes."""
    notebook = lab_file.with_suffix(".ipynb")
    if not notebook.is_file() or lab_file.is_symlink():  # the worker refuses a linked .py
        return lab_file, "", None
    python = lab_file.read_text(errors="replace") if lab_file.is_file() else None
    try:
        cells = notebook_cells(notebook)
    except NotebookError as error:
        # Beside a .py holding work, a broken notebook is not what was handed in.
        return lab_file, "" if python and not untouched(python, exercises) else str(error), None
    source = join_cells(cells)
    if python is not None:
        form = graded_form(python, source, exercises)
        if form == "py":
            return lab_file, "", None
        if form is None:
            return lab_file, (
                f"both {lab_file.name} and {notebook.name} hold code of yours: hand in one of"
                " them (or leave the other as released, with its stubs)"
            ), None
    converted = _notebook_folder(config) / lab_file.name
    converted.write_text(source)
    converted.chmod(0o644)
    return converted, "", [list(plan) for plan in cell_plan(cells, exercises)]


def _notebook_folder(config: pytest.Config) -> Path:
    """Where the run's notebooks are written out as .py files: one folder, so that one sandbox
    shows them all; the run removes it."""
    run = config.stash[RUN]
    if run.notebooks is None:
        # A worker at the uid level must reach its files, as the sandbox's scratch.
        folder = run.notebooks = Path(tempfile.mkdtemp(prefix="course-notebook-", dir="/tmp"))
        folder.chmod(0o711)  # its files are read by name, never listed
        config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))
    return run.notebooks


def _finish_lab(config: pytest.Config, lab_key: str, complete: bool = False) -> None:
    """Reports what the student's code printed while `lab_key` was graded, and the lab's
    seconds; `complete`: its every check ran."""
    started = config.stash[RUN].started.pop(lab_key, None)
    worker = _workers(config).get("lab")
    if worker is not None and worker.lab_key == lab_key:
        printed, text = worker.printed()
        _emit(config, PrintedOutput(lab_key, printed, text))
    if started is not None:
        seconds = time.monotonic() - started
        _emit(config, LabEnded(lab_key, seconds, complete))


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Stops the workers, each whatever the others do (and reports a lab cut short)."""
    for lab_key in list(session.config.stash[RUN].started):
        _finish_lab(session.config, lab_key)
    workers = _workers(session.config)
    for role in ("lab", "variants", "judge"):
        worker = workers.pop(role, None)
        if worker is not None:
            try:
                worker.stop()
            except Exception as error:  # noqa: BLE001  (the other workers must stop too)
                print(f"course grader: stopping the {role} worker failed: {error}")


@pytest.fixture(scope="module")
def reference(judge: Submission) -> Submission:
    """The reference solution of this module's `LAB`, run by the judge (hidden checks only)."""
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
    workers = _workers(request.config)
    if "variants" not in workers:
        workers["variants"] = Submission(
            lab_file,
            judge=judge,
            exercises=_exercise_names(request),
            lab_key=request.module.LAB,
            **_limits(request.config),
        )
    workers["variants"].retarget(lab_file)
    return workers["variants"]
