"""The result model of a grading run: a check (`TestResult`), a lab (`LabResult`) and a
submission (`SubmissionResult`), and the problems of a lab in a line each. The runner fills them
from the verdict file; the reports read them; of the rest of the grader, only its kinds of failure
(`protocol.ErrorKind`) are imported here."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from course.grading.protocol import ErrorKind
from course.grading.text import first_line
from course.i18n import gettext, ngettext

if TYPE_CHECKING:
    from course.grading.commits import Commit


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
    # For a failure of the student's code: StudentCodeError.kind (an ErrorKind: timeout, ...).
    kind: str = ""
    hidden: bool = False  # a hidden check: Gradescope shows it after the grades are published


@dataclass
class LabResult:
    lab: str
    tests: list[TestResult] = field(default_factory=list)
    problem: str = ""  # what went wrong with the lab as a whole, in words a student can act on
    seconds: float = 0.0
    printed_bytes: int = 0  # how much the lab's code printed
    printed: str = ""  # the start and end of it
    isolation: str = ""  # the sandbox level that graded it (course.grading.sandbox)

    @property
    def score(self) -> float:
        return sum(test.score for test in self.tests)

    @property
    def max_score(self) -> float:
        return sum(test.max_score for test in self.tests)


@dataclass
class SubmissionResult:
    """One submission's grades: a `LabResult` per graded lab, in the order of the labs."""

    name: str
    folder: Path
    labs: list[LabResult] = field(default_factory=list)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # not problems: e.g. where a lab file was found
    commit: Commit | None = None  # `--commit`: the commit graded (`course.grading.commits`)

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


# The kinds of failure that, where every check of a lab failed with one message, are the lab's.
WHOLE_LAB_KINDS = (
    ErrorKind.MISSING_FILE,
    ErrorKind.IMPORT,
    ErrorKind.TIMEOUT,
    ErrorKind.CRASH,
    ErrorKind.PROTOCOL,
)


def lab_problems(result: LabResult) -> list[str]:
    """Short descriptions of what stopped a lab's checks from running normally (not wrong
    answers)."""
    problems = [first_line(result.problem)] if result.problem else []
    failed = [test for test in result.tests if test.status == "failed"]
    if any(test.kind == ErrorKind.FORBIDDEN for test in failed):
        return problems  # result.problem says it
    outputs = {test.output for test in failed}
    if (
        failed
        and len(failed) == len(result.tests)
        and len(outputs) == 1
        and failed[0].kind in WHOLE_LAB_KINDS
    ):
        return problems + [
            first_line(failed[0].output)
        ]  # the whole lab failed for one reason (an import that failed)
    counts = Counter(test.kind for test in failed)
    words = {
        ErrorKind.TIMEOUT: ngettext(
            "{count} check timed out", "{count} checks timed out", counts[ErrorKind.TIMEOUT]
        ),
        ErrorKind.CRASH: ngettext(
            "{count} check crashed the Python process",
            "{count} checks crashed the Python process",
            counts[ErrorKind.CRASH],
        ),
        ErrorKind.PROTOCOL: ngettext(
            "{count} check corrupted the grader's channel",
            "{count} checks corrupted the grader's channel",
            counts[ErrorKind.PROTOCOL],
        ),
    }
    for kind, said in words.items():
        if counts[kind]:
            problems.append(said.format(count=counts[kind]))
    missing = sorted({test.exercise for test in failed if test.kind == ErrorKind.MISSING_FUNCTION})
    if missing:
        problems.append(
            gettext("no function {names}").format(names=", ".join(f"{name}()" for name in missing))
        )
    return problems
