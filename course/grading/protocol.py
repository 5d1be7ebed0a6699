"""What the grader's processes agree on, declared once: the limits on student code, and the kinds
of failure a check reports.

The command line (`course.grading.cli`), the batch (`course.grading.grade`), the pytest child
(`course.grading.runner`, `course.grading.plugin`) and the worker's handle
(`course.grading.submission`) all take their defaults from `LIMITS`; the kinds of a
`StudentCodeError` travel in the verdict file as `ErrorKind` values. This module imports nothing
of the grader, so that any of them may import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True)
class Limits:
    """The grader's limits, in seconds and bytes."""

    call_timeout: float = 30.0  # one call of student code; the solutions' take well under 2 s
    import_timeout: float = 60.0  # importing one lab file, after TensorFlow has started
    wall_limit: float = 300.0  # one lab of one submission, everything included
    # Starting a worker (TensorFlow's import): generous, two graders on two busy cores are slow.
    tensorflow_start: float = 180.0
    # The grader's own time beyond the labs' wall limits: only a grader that is itself stuck
    # runs past it.
    grader_seconds: float = 240.0
    end_lab: float = 20.0  # a worker confirming that a lab's child and all it started ended
    message_bytes: int = 256 << 20  # one reply of a worker
    verdict_bytes: int = 16 << 20  # the verdict file of one run: far more than any honest run


LIMITS = Limits()


class ErrorKind(str, Enum):
    """How a student's code failed a check (`StudentCodeError.kind`, the verdicts' `error_kind`).
    A str: it is written to and compared with the verdict file's strings as it is."""

    NOT_IMPLEMENTED = "not_implemented"  # the stub itself raised NotImplementedError
    EXCEPTION = "exception"
    MISSING_FUNCTION = "missing_function"
    MISSING_FILE = "missing_file"  # no lab file, or one that cannot be graded as handed in
    IMPORT = "import"
    TIMEOUT = "timeout"
    CRASH = "crash"  # the process running the code died
    FORBIDDEN = "forbidden"  # it reached for the reference solutions
    PROTOCOL = "protocol"  # it corrupted the grader's channel
    MODEL = "model"  # a model the judge could not load or use
    OVER_LIMIT = "over_limit"  # the lab ran past its wall limit

    def __str__(self) -> str:
        return self.value
