"""The grader's protocol records (`course.grading.protocol`): each survives its wire form, and
each refuses, cuts or cleans what a hostile writer could put in a verdict file or a reply."""

from __future__ import annotations

import json

import numpy as np
import pytest

from course.grading.codec import AsTensor, ModelFile, decode, encode
from course.grading.protocol import (
    Call,
    CheckInfo,
    Collected,
    End,
    ErrorKind,
    Fork,
    LabEnded,
    Load,
    Measure,
    PrintedOutput,
    Probe,
    Problem,
    ProtocolError,
    Reply,
    ReplyError,
    ReplyKind,
    Result,
    Started,
    parse_event,
    parse_request,
)

CHECK = CheckInfo(
    id="tests/autograder/test_lab1_supervised.py::test_shape",
    lab="lab1",
    exercise="build_classifier",
    points=2.0,
    name="lab1.build_classifier: the shape",
    variant=None,
    hidden=False,
    number="1.1",
)

EVENTS = [
    Collected((CHECK, CheckInfo("t2", "lab1", "f", 0.5, "lab1.f: two", "mutant", True, "1.2"))),
    Problem("lab1", "grading this lab took longer than its limit of 300 s"),
    Result(
        CHECK.id, "failed", "f() raised ValueError: no\n  at lab1.py line 3", ErrorKind.EXCEPTION
    ),
    Result(CHECK.id, "passed", "", None),
    Started("lab2"),
    PrintedOutput("lab2", 12, "hello\nworld"),
    LabEnded("lab2", 12.5, True),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda event: type(event).__name__)
def test_every_event_survives_its_json_line(event):
    line = event.to_json()
    assert "\n" not in line
    assert parse_event(line) == event


def test_events_keep_the_verdict_files_field_names():
    assert json.loads(EVENTS[2].to_json()) == {
        "event": "result",
        "id": CHECK.id,
        "status": "failed",
        "output": "f() raised ValueError: no\n  at lab1.py line 3",
        "error_kind": "exception",
    }
    assert json.loads(PrintedOutput("lab1", 3, "hi!").to_json()) == {
        "event": "printed",
        "lab": "lab1",
        "bytes": 3,
        "text": "hi!",
    }
    assert json.loads(LabEnded("lab1", 1.0, False).to_json())["event"] == "lab"
    assert set(json.loads(EVENTS[0].to_json())["tests"][0]) == {
        "id",
        "lab",
        "exercise",
        "points",
        "name",
        "variant",
        "hidden",
        "number",
    }


@pytest.mark.parametrize(
    "line",
    [
        "{not json",
        "[" * 100_000,  # nested past the recursion limit
        json.dumps(["a", "list"]),
        json.dumps({"event": 7}),
        json.dumps({"event": "verdict", "lab": "lab1"}),  # no such event
        json.dumps({"lab": "lab1"}),
        json.dumps({"event": "collected", "tests": "all"}),
        json.dumps({"event": "result", "id": "t1", "status": "passed!"}),
        json.dumps({"event": "result", "id": ["t1"], "status": "passed"}),
        json.dumps({"event": "result", "status": "passed"}),
        json.dumps({"event": "problem", "lab": None, "problem": "x"}),
        json.dumps({"event": "started", "lab": ["lab1"]}),
        json.dumps({"event": "printed", "lab": "lab1", "bytes": "12", "text": "x"}),
        json.dumps({"event": "lab", "lab": "lab1", "complete": True}),  # no seconds
        json.dumps({"event": "lab", "lab": "lab1", "seconds": "1", "complete": True}),
        '{"event": "lab", "lab": "lab1", "seconds": 1' + "0" * 400 + ', "complete": true}',
    ],
)
def test_a_line_that_is_no_event_is_refused(line):
    with pytest.raises(ProtocolError):
        parse_event(line)


def test_text_of_the_wrong_type_is_empty_and_long_text_is_cut_and_cleaned():
    result = parse_event(
        json.dumps({"event": "result", "id": "t1", "status": "passed", "output": 42})
    )
    assert result == Result("t1", "passed", "", None)
    hostile = "\x1b[2J" + "x" * 30000
    result = parse_event(
        json.dumps({"event": "result", "id": "t1", "status": "failed", "output": hostile})
    )
    assert result.output == "?[2J" + "x" * 19996
    assert len(parse_event(Problem("lab1", "p\n" * 5000).to_json()).problem) == 2000
    printed = parse_event(PrintedOutput("lab1", 10**6, "\u202eline\n" * 5000).to_json())
    assert len(printed.text) == 10000 and "\u202e" not in printed.text and "\n" in printed.text


def test_an_error_kind_the_grader_does_not_know_is_none():
    for kind in ("forbidden!", "x" * 1000, 3, ["forbidden"], None):
        record = {"event": "result", "id": "t1", "status": "failed", "error_kind": kind}
        assert parse_event(json.dumps(record)).error_kind is None
    record = {"event": "result", "id": "t1", "status": "failed", "error_kind": "forbidden"}
    assert parse_event(json.dumps(record)).error_kind is ErrorKind.FORBIDDEN


def test_collected_keeps_its_well_formed_checks_only():
    good = {
        "id": CHECK.id,
        "lab": CHECK.lab,
        "exercise": CHECK.exercise,
        "points": 2,
        "name": CHECK.name,
        "number": CHECK.number,
    }  # variant and hidden may be absent
    bad = [
        "t1",
        {**good, "points": -1},
        {**good, "points": "2"},
        {**good, "points": float("nan")},
        {**good, "points": 10**400},  # no float holds it
        {**good, "variant": 5},
        {key: value for key, value in good.items() if key != "number"},
        {**good, "name": None},
    ]
    line = json.dumps({"event": "collected", "tests": [*bad, good, {**good, "hidden": "yes"}]})
    collected = parse_event(line)
    assert collected.tests == (CHECK, CHECK)


# -- a worker's channels


REQUESTS = [
    Fork(),
    End(),
    Load("/sandbox/lab1_supervised.py", "lab1_supervised", None),
    Load("/tmp/lab1_supervised.py", "lab1_supervised", [[1, 4, False], [6, 9, True]]),
    Call("rotate", [np.arange(6).reshape(2, 3), 1], {"k": (1, 2)}),
    Probe("course.grading.probes.lab2", "trained", [AsTensor(np.zeros(3), "float32")], {}),
    Measure("/grader/probes/lab2.py", "accuracy", {"model": ModelFile(b"PK")}, [0.5]),
]


def same(a, b) -> bool:
    """Two records of the same type with the same wire form (arrays compared by their bytes)."""
    return type(a) is type(b) and encode(a.to_wire()) == encode(b.to_wire())


@pytest.mark.parametrize("request_", REQUESTS, ids=lambda request: type(request).__name__)
def test_every_request_survives_the_codec(request_):
    message = decode(encode(request_.to_wire()))
    assert message["op"] == request_.OP.value
    assert same(parse_request(message), request_)


@pytest.mark.parametrize(
    "message",
    [
        None,
        "load",
        {"op": "fly"},
        {"op": ["load"]},
        {"name": "rotate"},
        {"op": "load", "module": "lab1"},
        {"op": "load", "file": "lab1.py", "module": "lab1", "cells": "all"},
        {"op": "call", "name": "rotate", "args": (1,), "kwargs": {}},
        {"op": "call", "name": 3, "args": [], "kwargs": {}},
        {"op": "probe", "module": "m", "name": "n", "args": [], "kwargs": []},
        {"op": "measure", "file": "f", "name": "n", "value": 1},
    ],
)
def test_a_message_that_is_no_request_is_refused(message):
    with pytest.raises(ProtocolError):
        parse_request(message)


def test_an_unknown_request_is_named_as_before():
    with pytest.raises(ProtocolError, match="unknown request 'fly'"):
        parse_request({"op": "fly"})


ERROR = ReplyError(
    "NotImplementedError",
    "rotate",
    ("lab2_rotation.py line 12, in rotate: raise NotImplementedError",),
    "rotate",
    True,
)
REPLIES = [
    Reply(ReplyKind.READY),
    Reply(ReplyKind.IMPORTED, violations=("importing the reference solutions",)),
    Reply(ReplyKind.VALUE, value={"model": ModelFile(b"PK"), "x": np.ones(2)}),
    Reply(ReplyKind.VALUE, value=None),
    Reply(ReplyKind.ERROR, error=ERROR),
    Reply(ReplyKind.ERROR, error=ReplyError("RuntimeError", "no lab is loaded")),
    Reply(ReplyKind.IMPORT_ERROR, error=ERROR),
    Reply(ReplyKind.MISSING, missing="rotate"),
    Reply(ReplyKind.MODEL_ERROR, model_error="ValueError: a Lambda layer"),
    Reply(ReplyKind.ENDED),
    Reply(ReplyKind.EXITED, exited=-9),
]


@pytest.mark.parametrize("reply", REPLIES, ids=lambda reply: reply.kind.value)
def test_every_reply_survives_the_codec(reply):
    assert same(Reply.from_wire(decode(encode(reply.to_wire()))), reply)


def test_replies_keep_their_wire_keys():
    assert Reply(ReplyKind.EXITED, exited=3).to_wire() == {"exited": 3, "violations": []}
    assert Reply(ReplyKind.ERROR, error=ERROR).to_wire()["error"] == {
        "type": "NotImplementedError",
        "message": "rotate",
        "where": ["lab2_rotation.py line 12, in rotate: raise NotImplementedError"],
        "function": "rotate",
        "raised_by_lab": True,
    }


@pytest.mark.parametrize(
    "message",
    [
        None,
        b"\xff" * 64,
        [{"value": 1}],
        {},
        {"violations": []},  # no outcome
        {"value": 1, "missing": "f"},  # two outcomes
        {"value": 1, "violations": "reading the solutions"},
        {"value": 1, "violations": [3]},
        {"ready": 1},
        {"imported": "yes"},
        {"ended": False},
        {"exited": "9"},
        {"missing": None},
        {"missing": ["f"]},
        {"model_error": 3},
        {"error": "boom"},
        {"error": {"message": "no type"}},
        {"error": {"type": "ValueError", "message": None}},
        {"error": {"type": "ValueError", "message": "m", "where": "line 3"}},
        {"error": {"type": "ValueError", "message": "m", "where": [3]}},
        {"error": {"type": "ValueError", "message": "m", "function": 3}},
        {"import_error": {"type": "ValueError", "message": "m", "raised_by_lab": "yes"}},
    ],
)
def test_a_hostile_reply_is_refused(message):
    with pytest.raises(ProtocolError):
        Reply.from_wire(message)


def test_a_replys_violations_are_cut():
    reply = Reply.from_wire({"value": 1, "violations": ["reading " + "x" * 1000]})
    assert reply.violations == ("reading " + "x" * 292,)


def test_an_error_may_leave_out_its_optional_fields():
    assert Reply.from_wire({"error": {"type": "RuntimeError", "message": "m"}}).error == (
        ReplyError("RuntimeError", "m", (), None, False)
    )


@pytest.mark.parametrize("index", [True, -1, 1, 1.0, "0"])
def test_an_array_index_that_names_no_array_is_refused(index):
    """A reply's `{"__array__": i}` must name one of the arrays that came with it, by an int
    (JSON's true is an int to Python, and -1 would take the last one)."""
    from course.grading.codec import CodecError

    data = encode({"value": np.zeros(2)})
    length = int.from_bytes(data[:8], "little")
    document = json.loads(data[8 : 8 + length])
    document["__dict__"]["value"]["__array__"] = index
    header = json.dumps(document).encode()
    forged = len(header).to_bytes(8, "little") + header + data[8 + length :]
    with pytest.raises(CodecError):
        decode(forged)


def test_an_exception_class_name_is_one_line():
    error = ReplyError.from_wire({"type": "Weird\n1.1 passed 4/4", "message": "m"})
    assert "\n" not in error.type
