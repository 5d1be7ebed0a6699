"""`course grade` and `course check`: submissions x labs, each submission in a child process.

The labs of a submission (those in one folder) are one `runner.grade_labs` run (pytest on the
labs' autograder tests, the student's code in a worker below it), so a submission that hangs,
crashes or misbehaves costs only its own points; `--jobs N` runs N of them at once on threads.
This process imports neither TensorFlow nor any student code: the scores are assembled here from
the checks' outcomes, which only the grader's pytest process writes. The reports are in
`course.grading.reports`.
"""

from __future__ import annotations

import copy
import os
import re
import sys
import threading
import time
import unicodedata
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable

from course import ROOT, registry
from course.grading.runner import LabResult, TestResult, collect, grade_labs, graded_labs

CALL_TIMEOUT = 30.0  # one call of student code; the solutions' calls take well under 2 s
IMPORT_TIMEOUT = 60.0  # importing one lab file (after TensorFlow has started)
WALL_LIMIT = 300.0  # one lab of one submission, everything included
SEARCH_DEPTH = 3  # how deep to look for a lab file that is not at the top of a submission


@dataclass
class SubmissionResult:
    """One submission's grades: a `LabResult` per graded lab, in the order of the labs."""

    name: str
    folder: Path
    labs: list[LabResult] = field(default_factory=list)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # not problems: e.g. where a lab file was found

    @property
    def score(self) -> float:
        return sum(lab.score for lab in self.labs)

    @property
    def max_score(self) -> float:
        return sum(lab.max_score for lab in self.labs)

    @property
    def isolation(self) -> str:
        """The isolation level the labs were graded with (`course.grading.sandbox`)."""
        levels = sorted(
            {lab.isolation for lab in self.labs if lab.isolation and lab.isolation != "not run"}
        )
        return ", ".join(levels) or "not run"

    @property
    def tests(self) -> list[TestResult]:
        return [test for lab in self.labs for test in lab.tests]

    @property
    def skipped(self) -> list[TestResult]:
        """Checks that could not run here (they need the reference solutions)."""
        return [test for test in self.tests if test.status == "skipped"]

    def lab(self, name: str) -> LabResult | None:
        return next((lab for lab in self.labs if lab.lab == name), None)

    def problems(self) -> list[str]:
        """What went wrong beyond wrong answers, one short line per lab affected."""
        return [f"{lab.lab}: {problem}" for lab in self.labs for problem in lab_problems(lab)]


def first_line(text: str, width: int = 160) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 3] + "..."


def lab_problems(result: LabResult) -> list[str]:
    """Short descriptions of what stopped a lab's checks from running normally (not wrong
    answers)."""
    problems = [first_line(result.problem)] if result.problem else []
    failed = [test for test in result.tests if test.status == "failed"]
    if any(test.kind == "forbidden" for test in failed):
        return problems  # result.problem says it
    outputs = {test.output for test in failed}
    if (
        failed
        and len(failed) == len(result.tests)
        and len(outputs) == 1
        and failed[0].kind in ("missing_file", "import", "timeout", "crash", "protocol")
    ):
        return problems + [
            first_line(failed[0].output)
        ]  # the whole lab failed for one reason (an import that failed)
    counts = Counter(test.kind for test in failed)
    words = {
        "timeout": "timed out",
        "crash": "crashed the Python process",
        "protocol": "corrupted the grader's channel",
    }
    for kind, said in words.items():
        if counts[kind]:
            problems.append(f"{counts[kind]} check{'s' if counts[kind] > 1 else ''} {said}")
    missing = sorted({test.exercise for test in failed if test.kind == "missing_function"})
    if missing:
        problems.append("no function " + ", ".join(f"{name}()" for name in missing))
    return problems


def printable(text: str, keep: str = "") -> str:
    """`text` with every character that a terminal or a reader could act on replaced by '?':
    control and format characters (escape codes, bidirectional overrides), lone surrogates (the
    bytes of an undecodable file name), private and unassigned code points. `keep`: characters
    to leave, such as a newline."""
    if text.isascii() and text.isprintable():
        return text
    return "".join(c if c in keep or unicodedata.category(c)[0] != "C" else "?" for c in text)


def unique_names(folders: list[Path]) -> list[str]:
    """Display names, which also name the report files: each folder's name (control characters
    replaced), with its parent's name where two folders share a name, and a number where that is
    not enough. No two names are alike even up to case (a report file per submission on any
    disk), and a number never turns a name into another folder's: `a/x`, `b/x`, `c/a-x` and
    `d/a-x-1` are `a-x-2`, `b-x`, `a-x-3` and `a-x-1`."""
    plain = [printable(folder.name or str(folder)) for folder in folders]
    folded = Counter(name.casefold() for name in plain)
    names = [
        (
            f"{printable(folder.parent.name)}-{name}"
            if folded[name.casefold()] > 1 and folder.parent.name
            else name
        )
        for name, folder in zip(plain, folders, strict=True)
    ]
    counts = Counter(name.casefold() for name in names)
    # A name held by one folder alone is its own; the numbered ones avoid all of those.
    taken = {name.casefold() for name in names if counts[name.casefold()] == 1}
    unique = []
    for name in names:
        if counts[name.casefold()] == 1:
            unique.append(name)
            continue
        number = 1
        while f"{name}-{number}".casefold() in taken:
            number += 1
        taken.add(f"{name}-{number}".casefold())
        unique.append(f"{name}-{number}")
    return unique


def _holds(folder: Path, module: str) -> Path | None:
    """`module`.py in `folder`, else `module`.ipynb (a notebook submission), else None."""
    for name in (f"{module}.py", f"{module}.ipynb"):
        if (folder / name).is_file():
            return folder / name
    return None


def locate(folder: Path, module: str) -> tuple[Path | None, str]:
    """The folder that holds `module`.py (or its notebook, `module`.ipynb) in a submission: its
    top level, or else the one subfolder (a few levels down) that holds it, as when a student
    uploads a zip of a folder. And a note."""
    if _holds(folder, module):
        return folder, ""
    found, level = [], [folder]
    for _ in range(SEARCH_DEPTH):
        level = [sub for parent in level[:200] for sub in _subfolders(parent)]
        found += [path for path in map(lambda sub: _holds(sub, module), level) if path]
    if len(found) == 1:
        return (
            found[0].parent,
            f"{found[0].name} was graded from"
            f" {printable(str(found[0].parent.relative_to(folder)))}/",
        )
    if len(found) > 1:
        where = ", ".join(printable(str(path.relative_to(folder))) for path in found[:4])
        return None, f"{module}.py is in several folders ({where}); hand in exactly one"
    near = near_misses(folder, module)
    if near:
        return (
            None,
            (
                f"{module}.py is not in the submission, but {printable(near[0])} is: "
                f"name the file exactly {module}.py"
            ),
        )
    return None, ""


COPY_SUFFIX = re.compile(r"(\s*\(\d+\)|\s*-\s*copy|\s*copy|_\d+|-\d+)$", re.IGNORECASE)


def near_misses(folder: Path, module: str) -> list[str]:
    """Files of the submission (a few levels down) named like `module`.py up to case, a copy suffix
    such as " (1)" or "-copy", or a .txt or .py.txt ending: the names of an honest slip."""
    found, level = [], [folder]
    for _ in range(SEARCH_DEPTH + 1):
        for parent in level[:200]:
            try:
                files = sorted(path for path in parent.iterdir() if path.is_file())
            except OSError:
                continue
            for path in files[:500]:
                stem = path.name
                for ending in (".py.txt", ".txt", ".py"):
                    if stem.lower().endswith(ending):
                        stem = stem[: -len(ending)]
                        break
                if COPY_SUFFIX.sub("", stem).strip().lower() == module:
                    found.append(str(path.relative_to(folder)))
        level = [sub for parent in level[:200] for sub in _subfolders(parent)]
    return found


def _subfolders(parent: Path) -> list[Path]:
    try:
        return [
            sub
            for sub in sorted(parent.iterdir())
            if sub.is_dir() and not sub.is_symlink() and not sub.name.startswith((".", "__"))
        ]
    except OSError:
        return []


def missing_lab(template: LabResult, message: str) -> LabResult:
    result = copy.deepcopy(template)
    result.isolation = "not run"
    for test in result.tests:
        test.status, test.score, test.output, test.kind = "failed", 0.0, message, "missing_file"
    return result


def not_run(template: LabResult, problem: str) -> LabResult:
    result = copy.deepcopy(template)
    result.problem = problem
    for test in result.tests:
        test.status, test.score, test.output, test.kind = "failed", 0.0, f"not run: {problem}", ""
    return result


def grade_submissions(
    folders: list[Path],
    labs: list[str] | None = None,
    jobs: int = 1,
    call_timeout: float = CALL_TIMEOUT,
    import_timeout: float = IMPORT_TIMEOUT,
    wall_limit: float = WALL_LIMIT,
    solutions: Path | None = None,
    isolation: str = "auto",
    present_only: bool = False,
    public_only: bool = False,
    on_lab: Callable[[SubmissionResult, LabResult], None] | None = None,
    on_submission: Callable[[SubmissionResult], None] | None = None,
) -> list[SubmissionResult]:
    """Grades every lab of every submission (with `present_only`, the labs whose files each
    submission holds, or all where it holds none); raises `runner.CollectionError` if the
    autograder itself cannot be collected. Nothing a submission does stops the others from being
    graded. `on_submission` sees the submissions in the order given."""
    from course.grading.sandbox import choose

    labs = list(labs or graded_labs())
    isolation = choose(isolation)
    collected = _Collected(labs)
    results = [
        SubmissionResult(name, Path(folder))
        for name, folder in zip(unique_names([Path(f) for f in folders]), folders, strict=False)
    ]
    slots: dict[tuple[int, str], LabResult] = {}
    missing: dict[tuple[int, str], str] = {}
    tasks: dict[tuple[int, Path], list[str]] = {}  # the labs in each folder of a submission
    chosen: dict[int, list[str]] = {}
    for index, submission in enumerate(results):
        chosen[index] = labs
        if present_only:
            # A lab counts as handed in when its file is there, or nearly (a misnamed file,
            # several copies): then it is graded, and its note says what to fix.
            present = [
                lab for lab in labs if any(locate(submission.folder, registry.LABS[lab].module))
            ]
            if present and present != labs:
                chosen[index] = present
                submission.notes.append(
                    f"graded the labs it holds: {', '.join(present)} (--lab names others)"
                )
        for lab in chosen[index]:
            folder, note = locate(submission.folder, registry.LABS[lab].module)
            if note:
                submission.notes.append(note)
            if folder is None:
                missing[index, lab] = (
                    note or f"{registry.LABS[lab].file} is not in the submission."
                )
            else:
                tasks.setdefault((index, folder), []).append(lab)
    remaining = Counter(index for index, _ in tasks)
    started: dict[int, float] = {}
    lock = threading.Lock()
    finished: set[int] = set()
    reported = [0]  # submissions before this index have been handed to on_submission

    def finish(index: int) -> None:
        submission = results[index]
        for lab in chosen[index]:
            if (index, lab) in missing:
                slots[index, lab] = missing_lab(collected.result()[lab], missing[index, lab])
        submission.labs = [slots[index, lab] for lab in chosen[index]]
        finished.add(index)
        while reported[0] < len(results) and reported[0] in finished:
            if on_submission:
                _report_safely(on_submission, results[reported[0]])
            reported[0] += 1

    def run(index: int, folder: Path, folder_labs: list[str]) -> dict[str, LabResult]:
        with lock:
            started.setdefault(index, time.monotonic())
        try:
            graded = grade_labs(
                folder,
                folder_labs,
                wall_limit=wall_limit,
                call_timeout=call_timeout,
                import_timeout=import_timeout,
                solutions=solutions,
                isolation=isolation,
                public_only=public_only,
            )
        except Exception as error:  # noqa: BLE001  (one failure of the grader must not stop a batch)
            problem = (
                f"the grader failed on this lab ({type(error).__name__}: {error}); "
                "please report this to the course staff"
            )
            return {lab: not_run(collected.result()[lab], problem) for lab in folder_labs}
        for lab, result in graded.items():
            if not result.tests:  # the grading run ended before it had even collected the checks
                filled = not_run(
                    collected.result()[lab],
                    result.problem or "the grading run ended before any check ran",
                )
                filled.seconds, filled.printed, filled.printed_bytes = (
                    result.seconds,
                    result.printed,
                    result.printed_bytes,
                )
                graded[lab] = filled
            graded[lab].isolation = isolation
        return graded

    pool = ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="grade")
    try:
        futures = {
            pool.submit(partial(run, index, folder, folder_labs)): index
            for (index, folder), folder_labs in tasks.items()
        }
        for index in range(len(results)):
            if not remaining[index]:
                finish(index)
        for future in as_completed(futures):
            index = futures[future]
            for lab, result in future.result().items():
                slots[index, lab] = result
                if on_lab:
                    _report_safely(on_lab, results[index], result)
            remaining[index] -= 1
            if not remaining[index]:
                results[index].seconds = time.monotonic() - started[index]
                finish(index)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)  # Ctrl-C: the running children get it too
        raise
    pool.shutdown()
    return results


class _Collected:
    """The names and points of every check of `labs`, from one `runner.collect`, made when first
    needed (a lab that is missing or could not run): a batch where every lab runs never pays
    for it. Raises `runner.CollectionError` where the autograder itself cannot be collected."""

    def __init__(self, labs: list[str]):
        self.labs, self._lock, self._found = labs, threading.Lock(), None

    def result(self) -> dict[str, LabResult]:
        with self._lock:
            if self._found is None:
                self._found = collect(self.labs)
            return self._found


def _report_safely(callback: Callable, *args) -> None:
    """Runs a progress callback; its failure (a report that cannot be printed) must not cost the
    batch the grades and reports of everyone else."""
    try:
        callback(*args)
    except Exception as error:  # noqa: BLE001
        print(
            f"course grade: could not show a report ({type(error).__name__}: {error}); "
            "the files written at the end hold it",
            file=sys.stderr,
        )


# -- the command line ----------------------------------------------------------------------------


class UsageError(Exception):
    """Bad arguments: the grader cannot run (exit status 2)."""


def resolve_labs(names: list[str] | None) -> list[str]:
    from course.impl import ImplementationError, lab_module_name

    available = graded_labs()
    if not names:
        if not available:
            raise UsageError(f"no lab has autograder tests in {ROOT / 'tests' / 'autograder'}")
        return available
    chosen = []
    for name in names:
        try:
            module = lab_module_name(name)
        except ImplementationError as error:
            raise UsageError(str(error)) from None
        lab = registry.lab(module).key
        if lab not in available:
            raise UsageError(
                f"{lab} has no autograder tests yet (the graded labs are"
                f" {', '.join(available) or 'none'})"
            )
        if lab not in chosen:
            chosen.append(lab)
    return [lab for lab in registry.LABS if lab in chosen]


def resolve_folder(name: str) -> Path:
    from course.impl import ImplementationError, impl_dir

    try:
        return impl_dir(name)
    except ImplementationError:
        raise UsageError(f"no such folder: {name}") from None


def check_writable(path: str | None, directory: bool = False) -> None:
    if path is None:
        return
    target = Path(path)
    parent = target if directory and target.is_dir() else target.parent
    if not parent.is_dir():
        raise UsageError(f"cannot write {path}: the folder {parent} does not exist")
    if target.is_dir() and not directory:
        raise UsageError(f"cannot write {path}: it is a folder")


def run(args, check: bool = False) -> int:
    """`course grade` (check=False) or `course check` (check=True); returns the exit status."""
    from course.grading import reports
    from course.grading.runner import CollectionError

    for stream in (sys.stdout, sys.stderr):  # a report must print whatever a student's text holds
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")
    out = sys.stdout
    try:
        if check:
            # labs/ where the student is, else the course's own (as `course grade labs`)
            folders = [Path("labs").resolve() if Path("labs").is_dir() else ROOT / "labs"]
            if not folders[0].is_dir():
                raise UsageError(f"there is no labs/ folder here nor in {ROOT}")
            labs = resolve_labs([args.lab] if args.lab else None)
        else:
            folders = [resolve_folder(name) for name in args.submissions]
            labs = resolve_labs(args.lab)
        for option in ("call_timeout", "import_timeout", "wall_limit"):
            if getattr(args, option) <= 0:
                raise UsageError(f"--{option.replace('_', '-')} must be positive")
        if getattr(args, "jobs", 1) < 1:
            raise UsageError("--jobs must be at least 1")
        solutions = Path(args.solutions).expanduser().resolve() if args.solutions else None
        from course.grading.sandbox import IsolationError, choose
        from course.grading.sandbox import exposed as sandbox_exposed

        try:
            isolation = choose(args.isolation, allow_none=check)
        except IsolationError as error:
            raise UsageError(str(error)) from None
        if isolation == "uid":
            if getattr(args, "jobs", 1) > 1:
                raise UsageError(
                    "--jobs must be 1 with --isolation uid: every submission runs as "
                    "the same uid 65534, so two at once could reach each other"
                )
            exposed = sandbox_exposed([ROOT / "solutions", ROOT / "tests", ROOT / ".git"])
            if exposed:
                raise UsageError(
                    f"--isolation uid protects only what others cannot read, and "
                    f"{', '.join(exposed)} can be: chmod -R go-rwx them first"
                )
        if isolation == "none" and not check:
            print(
                "course grade: WARNING: --isolation none: the submissions' code runs with your"
                " privileges and can read the solutions; grade only code you trust this way",
                file=sys.stderr,
            )
        elif isolation == "none" and args.isolation == "auto":
            print(
                "course check: no sandbox here (bubblewrap is not installed): your code runs as"
                " you, which is fine for your own labs",
                file=sys.stderr,
            )
        names = unique_names(folders)
        json_paths = reports.json_paths(args.json, names) if args.json else {}
        for path in json_paths.values():
            folder = (
                path.parent
            )  # a folder named with a trailing slash is made if its parent exists
            check_writable(
                str(folder if args.json.endswith(("/", os.sep)) and not folder.exists() else path)
            )
        check_writable(getattr(args, "csv", None))
        check_writable(getattr(args, "junit", None))
    except UsageError as error:
        print(f"course {'check' if check else 'grade'}: {error}", file=sys.stderr)
        return 2

    verbose, quiet = getattr(args, "verbose", False), getattr(args, "quiet", False)
    batch = len(folders) > 1

    def on_lab(submission: SubmissionResult, lab: LabResult) -> None:
        if not quiet:
            print(
                f"  graded {lab.lab} of {submission.name}:"
                f" {reports.points(lab.score)}/{reports.points(lab.max_score)} in"
                f" {lab.seconds:.1f} s",
                file=sys.stderr,
                flush=True,
            )

    def on_submission(submission: SubmissionResult) -> None:
        if not (quiet and batch):
            out.write(
                reports.text_report(submission, verbose=verbose or check, student=check) + "\n"
            )
            out.flush()

    start = time.monotonic()
    try:
        results = grade_submissions(
            folders,
            labs,
            jobs=getattr(args, "jobs", 1),
            call_timeout=args.call_timeout,
            import_timeout=args.import_timeout,
            wall_limit=args.wall_limit,
            solutions=solutions,
            isolation=isolation,
            present_only=not check and not args.lab,
            public_only=check,
            on_lab=on_lab,
            on_submission=on_submission,
        )
    except CollectionError as error:
        print(f"course {'check' if check else 'grade'}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: grading did not complete and no report was written", file=sys.stderr)
        return 130
    elapsed = time.monotonic() - start
    if batch:
        out.write(reports.summary_table(results, labs, elapsed) + "\n")
    for result in results:
        if result.name in json_paths:
            reports.write_json(json_paths[result.name], result)
    if getattr(args, "csv", None):
        reports.write_csv(args.csv, results, labs)
    if getattr(args, "junit", None):
        reports.write_junit(args.junit, results)
    written = [str(path) for path in json_paths.values()][:3] + [
        p for p in (getattr(args, "csv", None), getattr(args, "junit", None)) if p
    ]
    if written and not quiet:
        more = len(json_paths) - 3 if len(json_paths) > 3 else 0
        print(
            "wrote " + ", ".join(written) + (f" and {more} more" if more else ""), file=sys.stderr
        )
    return _fail_under(results, getattr(args, "fail_under", None))


def _fail_under(results: list[SubmissionResult], percent: float | None) -> int:
    """1 when a submission scored below `percent` of its points (`--fail-under`, for a status
    check in CI), else 0: every report is written either way."""
    if percent is None:
        return 0
    low = [r for r in results if r.max_score and 100 * r.score / r.max_score < percent]
    for result in low:
        print(
            f"course grade: {result.name} scored {100 * result.score / result.max_score:.1f}%, "
            f"below --fail-under {percent:g}%",
            file=sys.stderr,
        )
    return 1 if low else 0


def add_arguments(parser, check: bool = False) -> None:
    """The options `course grade` and `course check` share."""
    if check:
        parser.add_argument(
            "lab",
            nargs="?",
            help="grade only this lab (lab1 or lab1_supervised); default: every lab",
        )
    else:
        parser.add_argument(
            "submissions",
            nargs="+",
            metavar="SUBMISSION",
            help="a folder of lab files (solutions and labs name the course's own where no "
            "such folder is in the current directory)",
        )
        parser.add_argument(
            "--lab",
            action="append",
            help="grade only this lab (repeatable); default: the labs each submission holds",
        )
        parser.add_argument(
            "--fail-under",
            type=float,
            metavar="PERCENT",
            help="exit 1 (after writing every report) when a submission scores below PERCENT "
            "of its points: a student repository's status check",
        )
        parser.add_argument(
            "--jobs",
            "-j",
            type=int,
            default=1,
            help="labs graded at once (each needs ~1 GB of memory and a core); default 1",
        )
        parser.add_argument(
            "--csv", metavar="FILE", help="one row per submission: points per lab, total, problems"
        )
        parser.add_argument(
            "--junit", metavar="FILE", help="JUnit XML: a test suite per submission and lab"
        )
        parser.add_argument(
            "--quiet", "-q", action="store_true", help="batches: only the summary table"
        )
    parser.add_argument(
        "--json",
        metavar="FILE",
        help=(
            "Gradescope results.json; with several submissions, FILE is a folder (it ends with /"
            " or exists) holding NAME.json for each, or else NAME is inserted before FILE's suffix"
            " (results.NAME.json)"
        ),
    )
    parser.add_argument(
        "--verbose", "-v", action="store_true", help="also show what the code printed"
    )
    parser.add_argument(
        "--call-timeout",
        type=float,
        default=CALL_TIMEOUT,
        metavar="S",
        help=f"seconds one call of the student's code may take (default {CALL_TIMEOUT:g})",
    )
    parser.add_argument(
        "--import-timeout",
        type=float,
        default=IMPORT_TIMEOUT,
        metavar="S",
        help=f"seconds importing one lab file may take (default {IMPORT_TIMEOUT:g})",
    )
    parser.add_argument(
        "--wall-limit",
        type=float,
        default=WALL_LIMIT,
        metavar="S",
        help=f"seconds grading one lab may take in all (default {WALL_LIMIT:g})",
    )
    parser.add_argument(
        "--solutions",
        metavar="DIR",
        help="the reference solutions' folder (default: solutions/ of the course)",
    )
    parser.add_argument(
        "--isolation",
        choices=("auto", "namespaces", "uid", "none"),
        default="auto",
        help=(
            "how the student's code is sandboxed: namespaces (bubblewrap), uid (uid 65534, where"
            " namespaces are refused), none (no sandbox: only for trusted code); default auto, the"
            " strongest available"
            + (", or none if there is none on your machine" if check else "")
        ),
    )
