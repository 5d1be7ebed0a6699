"""What the grader's processes agree on, declared once: the limits on student code, the kinds of
failure a check reports, and the records they exchange.

The command line (`course.grading.cli`), the batch (`course.grading.grade`), the pytest child
(`course.grading.runner`, `course.grading.plugin`) and the worker's handle
(`course.grading.submission`) all take their defaults from `LIMITS`; the kinds of a
`StudentCodeError` travel in the verdict file as `ErrorKind` values.

Two protocols, each a set of small frozen records that convert themselves to their wire form and
back. The verdict file: a JSON line per `Event`, written by the plugin, read back by the runner
(`parse_event`). A worker's channels (`course.grading.codec` frames them): a `Request` for each
thing the grader asks (`parse_request`), a `Reply` for each answer. What a record is read from may
have been written by, or next to, student code: reading one checks every field, cuts and cleans
its text as the reports need it, and raises `ProtocolError` for anything else.

This module imports nothing of the grader but its text cleaning (`course.grading.text`, which
imports nothing), so that any of them may import it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from enum import Enum
from typing import Any, ClassVar

from course.grading.text import printable


@dataclass(frozen=True)
class Limits:
    """The grader's limits, in seconds and bytes."""

    call_timeout: float = 30.0  # one call of student code; the solutions' take well under 2 s
    import_timeout: float = 60.0  # importing one lab file, after TensorFlow has started
    # Reading a notebook and turning its cells into Python, in a child process of its own:
    # an honest one takes well under a second.
    notebook_seconds: float = 20.0
    notebook_memory: int = 256 << 20  # that child's address space
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


class ProtocolError(ValueError):
    """A verdict record, request or reply that breaks the protocol: forged, corrupted or cut
    short."""


_NONE = type(None)


def _field(record: dict, key: str, types: type | tuple[type, ...]) -> Any:
    """`record[key]`, if it is of `types` (with NoneType among them, it may be absent)."""
    value = record.get(key)
    if not isinstance(value, types):
        raise ProtocolError(f"{key!r} is missing or of the wrong type")
    return value


def _number(record: dict, key: str) -> float:
    """`record[key]` as a float, if it is a number a float can hold."""
    try:
        return float(_field(record, key, (int, float)))
    except OverflowError:  # an integer of 400 digits is JSON too
        raise ProtocolError(f"{key!r} is out of range") from None


def _text(value: object, limit: int) -> str:
    """A string of an untrusted record, cut to `limit` and made printable (newlines kept); ""
    for anything that is not a string (a record is not dropped for its text alone)."""
    return printable(value[:limit], keep="\n") if isinstance(value, str) else ""


# -- the verdict file -------------------------------------------------------------------------


class Event:
    """A line of the verdict file: {"event": EVENT, and the record's fields by name}. Each kind
    reads itself back with `parse`, which checks the record as untrusted."""

    EVENT: ClassVar[str]

    def to_json(self) -> str:
        return json.dumps({"event": self.EVENT, **asdict(self)})


@dataclass(frozen=True)
class CheckInfo:
    """A collected check: its pytest id, lab, exercise, points, title ("lab2.rotate: ..."), the
    variant it grades (`course.grading.runner.grade_variants`), whether it is hidden, and its
    number ("2.1")."""

    id: str
    lab: str
    exercise: str
    points: float
    name: str
    variant: str | None
    hidden: bool
    number: str

    @classmethod
    def parse(cls, record: object) -> CheckInfo:
        if not isinstance(record, dict):
            raise ProtocolError("a collected check is not an object")
        points = _number(record, "points")
        if not points >= 0:  # NaN fails this too
            raise ProtocolError("a check's points are negative")
        return cls(
            id=_field(record, "id", str),
            lab=_field(record, "lab", str),
            exercise=_field(record, "exercise", str),
            points=points,
            name=_field(record, "name", str),
            variant=_field(record, "variant", (str, _NONE)),
            hidden=record.get("hidden") is True,
            number=_field(record, "number", str),
        )


@dataclass(frozen=True)
class Collected(Event):
    """The run's checks, before any of them runs."""

    EVENT = "collected"
    tests: tuple[CheckInfo, ...]

    @classmethod
    def parse(cls, record: dict) -> Collected:
        """The well-formed checks of the record: a malformed one is left out, not its
        neighbours."""
        checks = []
        for check in _field(record, "tests", list):
            try:
                checks.append(CheckInfo.parse(check))
            except ProtocolError:
                continue
        return cls(tuple(checks))


@dataclass(frozen=True)
class Problem(Event):
    """What stopped a lab's grading (it ran past its wall limit)."""

    EVENT = "problem"
    lab: str
    problem: str

    @classmethod
    def parse(cls, record: dict) -> Problem:
        return cls(_field(record, "lab", str), _text(record.get("problem"), 2000))


STATUSES = ("passed", "failed", "skipped")


@dataclass(frozen=True)
class Result(Event):
    """A check's outcome: its status (one of `STATUSES`), what the student reads, and how the
    student's code failed it, if it did."""

    EVENT = "result"
    id: str
    status: str
    output: str
    error_kind: ErrorKind | None

    @classmethod
    def parse(cls, record: dict) -> Result:
        status, kind = record.get("status"), record.get("error_kind")
        if status not in STATUSES:
            raise ProtocolError(f"a check's status is {status!r}")
        return cls(
            _field(record, "id", str),
            status,
            _text(record.get("output"), 20000),
            # Kinds are compared with, never shown: one the grader does not know is none.
            ErrorKind(kind) if isinstance(kind, str) and kind in _ERROR_KINDS else None,
        )


_ERROR_KINDS = frozenset(kind.value for kind in ErrorKind)


@dataclass(frozen=True)
class Started(Event):
    """A lab's grading started."""

    EVENT = "started"
    lab: str

    @classmethod
    def parse(cls, record: dict) -> Started:
        return cls(_field(record, "lab", str))


@dataclass(frozen=True)
class PrintedOutput(Event):
    """How many bytes a lab's code printed, and the start and end of it."""

    EVENT = "printed"
    lab: str
    bytes: int
    text: str

    @classmethod
    def parse(cls, record: dict) -> PrintedOutput:
        return cls(
            _field(record, "lab", str),
            _field(record, "bytes", int),
            _text(record.get("text"), 10000),
        )


@dataclass(frozen=True)
class LabEnded(Event):
    """A lab's grading ended after `seconds`; `complete`: its every check ran."""

    EVENT = "lab"
    lab: str
    seconds: float
    complete: bool

    @classmethod
    def parse(cls, record: dict) -> LabEnded:
        return cls(
            _field(record, "lab", str), _number(record, "seconds"), record.get("complete") is True
        )


EVENTS: dict[str, type[Event]] = {
    event.EVENT: event for event in (Collected, Problem, Result, Started, PrintedOutput, LabEnded)
}


def parse_event(line: str) -> Event:
    """The event on a line of the verdict file; `ProtocolError` if there is none (a line cut
    short by a wall limit, a forged one)."""
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):  # RecursionError: brackets nested thousands deep
        raise ProtocolError("a line that is not JSON") from None
    kind = record.get("event") if isinstance(record, dict) else None
    if not isinstance(kind, str) or kind not in EVENTS:
        raise ProtocolError(f"unknown event {kind!r}")
    return EVENTS[kind].parse(record)


# -- a worker's channels ----------------------------------------------------------------------


class Op(str, Enum):
    """What a request asks; on the wire, its "op"."""

    FORK = "fork"  # the zygote: start a child for the next lab (`course.grading.worker.zygote`)
    END = "end"  # the zygote: end the lab's child and everything it started
    LOAD = "load"  # import a lab file
    CALL = "call"  # call a function of the lab
    PROBE = "probe"  # run a function of `course.grading.probes` on the lab
    MEASURE = "measure"  # the judge: measure what a probe returned, its models loaded


class Request:
    """A request to a worker, or an order to its zygote: {"op": OP, and its fields by name}, in
    the plain data `course.grading.codec` carries."""

    OP: ClassVar[Op]

    def to_wire(self) -> dict:
        # Not asdict: it would take apart the codec's own dataclasses among the arguments.
        return {
            "op": self.OP.value,
            **{field.name: getattr(self, field.name) for field in fields(self)},
        }

    @classmethod
    def from_wire(cls, message: dict) -> Request:
        """The request in `message`, its fields checked (an order has none)."""
        return cls()


@dataclass(frozen=True)
class Fork(Request):
    OP = Op.FORK


@dataclass(frozen=True)
class End(Request):
    OP = Op.END


@dataclass(frozen=True)
class Load(Request):
    """Import `file` as the module `module`; `cells`: it is a notebook, run cell by cell as
    `course.grading.notebooks.cell_plan` says."""

    OP = Op.LOAD
    file: str
    module: str
    cells: list | None = None

    @classmethod
    def from_wire(cls, message: dict) -> Load:
        return cls(
            _field(message, "file", str),
            _field(message, "module", str),
            _field(message, "cells", (list, _NONE)),
        )


@dataclass(frozen=True)
class Call(Request):
    """Call the lab's function `name`."""

    OP = Op.CALL
    name: str
    args: list
    kwargs: dict

    @classmethod
    def from_wire(cls, message: dict) -> Call:
        return cls(
            _field(message, "name", str),
            _field(message, "args", list),
            _field(message, "kwargs", dict),
        )


@dataclass(frozen=True)
class Probe(Request):
    """Run `module.name(lab, *args, **kwargs)`, a function of `course.grading.probes`."""

    OP = Op.PROBE
    module: str
    name: str
    args: list
    kwargs: dict

    @classmethod
    def from_wire(cls, message: dict) -> Probe:
        return cls(
            _field(message, "module", str),
            _field(message, "name", str),
            _field(message, "args", list),
            _field(message, "kwargs", dict),
        )


@dataclass(frozen=True)
class Measure(Request):
    """The judge's: `name(value, *args)`, a function of the grader's file `file`, with every
    model in `value` loaded."""

    OP = Op.MEASURE
    file: str
    name: str
    value: Any
    args: list

    @classmethod
    def from_wire(cls, message: dict) -> Measure:
        return cls(
            _field(message, "file", str),
            _field(message, "name", str),
            message.get("value"),
            _field(message, "args", list),
        )


REQUESTS: dict[str, type[Request]] = {
    request.OP.value: request for request in (Fork, End, Load, Call, Probe, Measure)
}


def parse_request(message: Any) -> Request:
    """The request (or order) in a message read from a worker's channel; `ProtocolError` if
    there is none."""
    op = message.get("op") if isinstance(message, dict) else None
    if not isinstance(op, str) or op not in REQUESTS:
        raise ProtocolError(f"unknown request {op!r}")
    return REQUESTS[op].from_wire(message)


class ReplyKind(str, Enum):
    """What a worker's reply holds; on the wire, the key of its payload."""

    READY = "ready"  # the worker has started TensorFlow
    IMPORTED = "imported"  # the lab file was imported
    VALUE = "value"  # what a call, probe or measure returned (`Reply.value`)
    ERROR = "error"  # the code raised (`Reply.error`)
    IMPORT_ERROR = "import_error"  # importing the lab file raised (`Reply.error`)
    MISSING = "missing"  # the lab defines no such function (`Reply.missing`)
    MODEL_ERROR = "model_error"  # Keras' safe loader refused a model (`Reply.model_error`)
    ENDED = "ended"  # the zygote: the lab's child, and all it started, have ended
    EXITED = "exited"  # the zygote: the lab's child ended by itself (`Reply.exited`)


@dataclass(frozen=True)
class ReplyError:
    """An exception as the student should see it (`course.grading.worker.describe`): its type
    and message, the lines of the lab file it came through, the lab's innermost function, and
    whether the lab's own code raised it."""

    type: str
    message: str
    where: tuple[str, ...] = ()
    function: str | None = None
    raised_by_lab: bool = False

    def to_wire(self) -> dict:
        return {**asdict(self), "where": list(self.where)}

    @classmethod
    def from_wire(cls, message: Any) -> ReplyError:
        if not isinstance(message, dict):
            raise ProtocolError("an error that is not an object")
        where = _field(message, "where", (list, _NONE)) or []
        if not all(isinstance(line, str) for line in where):
            raise ProtocolError("an error's lines are not strings")
        return cls(
            # A class name is one line of the report: a lab may name its exception anything.
            printable(_field(message, "type", str)[:200]),
            _field(message, "message", str),
            tuple(where),
            _field(message, "function", (str, _NONE)),
            _field(message, "raised_by_lab", (bool, _NONE)) is True,
        )


@dataclass(frozen=True)
class Reply:
    """A worker's answer: one outcome (`kind`) with its payload, and what the tripwire caught
    in the lab so far (`course.grading.worker.Tripwire`). On the wire: {kind: payload,
    "violations": [...]}, the payload True where a kind has none."""

    kind: ReplyKind
    value: Any = None
    error: ReplyError | None = None
    missing: str | None = None  # the function the lab does not define
    model_error: str | None = None  # why Keras' safe loader refused the model
    exited: int | None = None  # the child's exit status, as a shell reports it
    violations: tuple[str, ...] = ()

    def to_wire(self) -> dict:
        if self.kind in (ReplyKind.ERROR, ReplyKind.IMPORT_ERROR):
            payload = self.error.to_wire()
        else:
            payload = {
                ReplyKind.VALUE: self.value,
                ReplyKind.MISSING: self.missing,
                ReplyKind.MODEL_ERROR: self.model_error,
                ReplyKind.EXITED: self.exited,
            }.get(self.kind, True)
        return {self.kind.value: payload, "violations": list(self.violations)}

    @classmethod
    def from_wire(cls, message: Any) -> Reply:
        """The reply in a message from a worker, which may have run student code: its one
        outcome and every field checked, each violation cut to 300 characters."""
        if not isinstance(message, dict):
            raise ProtocolError("a reply that is not an object")
        kinds = [kind for kind in ReplyKind if kind.value in message]
        if len(kinds) != 1:
            raise ProtocolError("a reply with no outcome, or more than one")
        kind = kinds[0]
        violations = _field(message, "violations", (list, _NONE)) or []
        if not all(isinstance(violation, str) for violation in violations):
            raise ProtocolError("violations that are not strings")
        reply = cls(kind, violations=tuple(violation[:300] for violation in violations))
        if kind is ReplyKind.VALUE:
            return replace(reply, value=message["value"])
        if kind in (ReplyKind.ERROR, ReplyKind.IMPORT_ERROR):
            return replace(reply, error=ReplyError.from_wire(message[kind.value]))
        if kind in (ReplyKind.MISSING, ReplyKind.MODEL_ERROR):
            return replace(reply, **{kind.value: _field(message, kind.value, str)})
        if kind is ReplyKind.EXITED:
            return replace(reply, exited=_field(message, "exited", int))
        if message[kind.value] is not True:
            raise ProtocolError(f"a reply {kind.value!r} that is not true")
        return reply
