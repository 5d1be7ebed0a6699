"""`course grade` and `course check`: submissions x labs, each submission in a child process.

The labs of a submission (those in one folder) are one `runner.grade_labs` run (pytest on the
labs' autograder tests, the student's code in a worker below it), so a submission that hangs,
crashes or misbehaves costs only its own points; `--jobs N` runs N of them at once on threads.
This process imports neither TensorFlow nor any student code: the scores are assembled here from
the checks' outcomes, which only the grader's pytest process writes. The command line is in
`course.grading.cli`, the reports in `course.grading.reports`, the result model in
`course.grading.results`, finding lab files in `course.grading.discovery`.
"""

from __future__ import annotations

import copy
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from functools import partial
from pathlib import Path
from typing import Callable

from course import registry
from course.grading.discovery import (  # noqa: F401  (re-exported: where they were)
    locate,
    lone_misnamed,
    near_misses,
    stage_renamed,
)
from course.grading.protocol import LIMITS, ErrorKind
from course.grading.results import (  # noqa: F401  (re-exported)
    LabResult,
    SubmissionResult,
    TestResult,
    lab_problems,
)
from course.grading.runner import collect, grade_labs, graded_labs
from course.grading.text import first_line, printable, unique_names  # noqa: F401

CALL_TIMEOUT = LIMITS.call_timeout
IMPORT_TIMEOUT = LIMITS.import_timeout
WALL_LIMIT = LIMITS.wall_limit


def missing_lab(template: LabResult, message: str) -> LabResult:
    result = copy.deepcopy(template)
    result.isolation = "not run"
    for test in result.tests:
        test.status, test.score, test.output = "failed", 0.0, message
        test.kind = ErrorKind.MISSING_FILE
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
    staging: Path | None = None  # copies of misnamed lab files under their exact names
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
            module = registry.LABS[lab].module
            folder, note = locate(submission.folder, module)
            lone = lone_misnamed(submission.folder, module) if folder is None else None
            if lone is not None:
                if staging is None:
                    staging = Path(tempfile.mkdtemp(prefix="course-renamed-", dir="/tmp"))
                    staging.chmod(0o711)
                folder = stage_renamed(lone, module, staging)
                exact = f"{module}{'.ipynb' if lone.suffix.lower() == '.ipynb' else '.py'}"
                note = (
                    f"{printable(str(lone.relative_to(submission.folder)))} was graded as"
                    f" {exact}, the only file named like it: name it exactly {exact}"
                )
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
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
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
