"""The command lines `course grade` and `course check`: their options (`add_arguments`), and
`run`, which checks the arguments, grades (`course.grading.grade.grade_submissions`) and writes the
reports (`course.grading.reports`). Nothing here imports TensorFlow or student code."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from course import ROOT, registry
from course.grading import reports
from course.grading.commits import Commit, CommitError, checked_out
from course.grading.grade import grade_submissions
from course.grading.protocol import LIMITS
from course.grading.results import LabResult, SubmissionResult
from course.grading.runner import CollectionError, graded_labs
from course.grading.text import unique_names
from course.i18n import DEFAULT, gettext, language, translate_report

CALL_TIMEOUT = LIMITS.call_timeout
IMPORT_TIMEOUT = LIMITS.import_timeout
WALL_LIMIT = LIMITS.wall_limit


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
    if getattr(args, "commit", None):
        if len(args.submissions) != 1:
            print(
                "course grade: --commit grades one repository: give exactly one SUBMISSION",
                file=sys.stderr,
            )
            return 2
        try:
            with checked_out(resolve_folder(args.submissions[0]), args.commit) as (folder, commit):
                return _run(args, check, [folder], commit)
        except (CommitError, UsageError) as error:
            print(f"course grade: {error}", file=sys.stderr)
            return 2
    return _run(args, check)


def _run(args, check: bool, given: list[Path] | None = None, commit: Commit | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):  # a report must print whatever a student's text holds
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")
    out = sys.stdout
    try:
        if check:
            # labs/ where the student is, else the course's own (as `course grade labs`); in
            # Spanish, the Spanish labs (labs/es/) where they are
            folders = [Path("labs").resolve() if Path("labs").is_dir() else ROOT / "labs"]
            if language() != DEFAULT and (folders[0] / language()).is_dir():
                folders = [folders[0] / language()]
            if not folders[0].is_dir():
                raise UsageError(f"there is no labs/ folder here nor in {ROOT}")
            labs = resolve_labs([args.lab] if args.lab else None)
        else:
            folders = given or [resolve_folder(name) for name in args.submissions]
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
            from course.preflight import explain  # what is missing, and the command that fixes it

            raise UsageError(explain(str(error))) from None
        from course.grading import landlock

        # Each worker has a uid of its own, so submissions graded at once cannot reach each
        # other; without Landlock only file modes keep the solutions from them.
        if isolation == "uid" and not landlock.abi():
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
                gettext(
                    "course check: no sandbox here (bubblewrap is not installed): your code runs"
                    " as you, which is fine for your own labs"
                ),
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
                gettext("  graded {lab} of {submission}: {points} in {seconds} s").format(
                    lab=lab.lab,
                    submission=submission.name,
                    points=f"{reports.points(lab.score)}/{reports.points(lab.max_score)}",
                    seconds=f"{lab.seconds:.1f}",
                ),
                file=sys.stderr,
                flush=True,
            )

    def on_submission(submission: SubmissionResult) -> None:
        if commit is not None:  # the reports name the repository and the commit, not a copy
            submission.commit, submission.folder = commit, commit.repository
            submission.notes.insert(0, commit.note())
        translate_report(submission)  # the reports speak the grader's language (COURSE_LANG)
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
        translate_report(result)
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
            "--commit",
            metavar="SHA",
            help="grade this commit of the SUBMISSION, a git repository (its working tree is not"
            " touched); the reports record it and how many commits came after it",
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
            "how the student's code is sandboxed: namespaces (bubblewrap), uid (a uid of its own,"
            " where namespaces are refused), none (no sandbox: only for trusted code); default"
            " auto, the strongest available"
            + (", or none if there is none on your machine" if check else "")
        ),
    )
