"""The worker: a TensorFlow process that answers the autograder's requests over two pipes.

Started by `Submission` as `python -m course.grading.worker LAB_FOLDER REQUEST_FD REPLY_FD
[--judge]`, inside the sandbox of `course.grading.sandbox`. A student's worker imports a lab file
of LAB_FOLDER on `load` (the labs of a submission, one after another) and answers `call` (a lab
function) and `probe` (a function of `course.grading.probes`, which calls lab functions and
returns what they made). Replies hold plain data only (`course.grading.codec`); a Keras model
travels as its `.keras` file.

A judge (`--judge`) never runs student code: it loads the reference solutions if there are any
(LAB_FOLDER "-" where there are none) and answers `measure`: a grader function applied to a probe's
result, with every model file loaded by `keras.saving.load_model(..., safe_mode=True)`, which
builds Keras' own layers and refuses to deserialize code. What a check reports about a student's
model is computed there, out of reach of the student's interpreter.

The audit hook below is a tripwire, not a defence (the sandbox is): it names, in the student's
report, an attempt to import or open the reference solutions, which the sandbox hides anyway.
"""

from __future__ import annotations

import ctypes
import importlib
import importlib.util
import os
import signal
import sys
import tempfile
import traceback
import types
from pathlib import Path
from typing import Any

from course import ROOT
from course.grading.codec import CodecError, ModelFile, read_message, write_message
from course.quiet import start_tensorflow

PROBES = "course.grading.probes."
PRIVATE = {
    str(ROOT / "solutions"): "the reference solutions",
    str(ROOT / ".git"): "the course's git history",
}


class ModelLoadError(Exception):
    """A model file that Keras' safe loader refused: the student's model, not the grader, is at
    fault."""


class Tripwire:
    """An audit hook (`sys.addaudithook`) that records and refuses the plain ways of reaching the
    reference solutions; audit hooks cannot be removed by the code they watch."""

    def __init__(self, lab_folder: str):
        self.violations: list[str] = []
        # Grading the reference solutions themselves (`course grade solutions`) reads them, of
        # course.
        self.private = {
            root: what
            for root, what in PRIVATE.items()
            if not (lab_folder + os.sep).startswith(root + os.sep)
        }

    def deny(self, what: str) -> None:
        self.violations.append(what)
        raise PermissionError(f"the grader forbids this: {what}")

    def __call__(self, event: str, args: tuple) -> None:
        if event == "import" and (args[0] == "solutions" or str(args[0]).startswith("solutions.")):
            self.deny(f"importing the reference solutions (import {args[0]})")
        elif event == "open" and isinstance(args[0], (str, bytes)):
            path = os.path.abspath(os.fsdecode(args[0]))
            for private, what in self.private.items():
                if path == private or path.startswith(private + os.sep):
                    self.deny(f"reading {what} ({path})")


def die_with_parent() -> None:
    """Asks Linux to kill this worker when the process that started it ends (without namespaces,
    nothing else would stop a student's endless loop from outliving its grading)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def describe(error: BaseException, lab_file: str) -> dict:
    """The exception as the student should see it: type, message, the lines of their file, and
    whether the lab's own code raised it (the innermost frame is in the lab file)."""
    frames = traceback.extract_tb(error.__traceback__)
    own = [frame for frame in frames if frame.filename == lab_file]
    where = [
        f"{Path(lab_file).name} line {frame.lineno}, in {frame.name}: {frame.line}"
        for frame in own[-3:]
    ]
    if isinstance(error, SyntaxError) and error.filename == lab_file:
        where = [f"{Path(lab_file).name} line {error.lineno}: {(error.text or '').strip()}"]
    return {
        "type": type(error).__name__,
        "message": str(error)[:2000],
        "where": where,
        "function": own[-1].name if own else None,
        "raised_by_lab": bool(frames) and frames[-1].filename == lab_file,
    }


class Plain:
    """Turns results into plain data: tensors into arrays, Keras models into `.keras` files."""

    def __init__(self):
        self.saved = 0

    def __call__(self, value: Any) -> Any:
        import numpy as np

        if value is None or isinstance(
            value, (bool, int, float, str, np.ndarray, np.generic, ModelFile)
        ):
            return value
        import keras

        if isinstance(value, keras.Model):
            return self.model_file(value)
        if hasattr(value, "numpy") and callable(value.numpy):
            return np.asarray(value.numpy())
        if isinstance(value, (list, tuple)):
            return type(value)(self(item) for item in value)
        if isinstance(value, dict) and all(isinstance(key, str) for key in value):
            return {key: self(item) for key, item in value.items()}
        return {"__type__": f"{type(value).__module__}.{type(value).__qualname__}"}

    def model_file(self, model) -> ModelFile:
        self.saved += 1
        path = Path(tempfile.gettempdir()) / f"model-{os.getpid()}-{self.saved}.keras"
        try:
            model.save(path)
            return ModelFile(path.read_bytes())
        finally:
            path.unlink(missing_ok=True)


def load_models(value: Any) -> Any:
    """`value` with every `ModelFile` loaded as a Keras model, safely (the judge's side)."""
    if isinstance(value, ModelFile):
        import keras

        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "model.keras"
            path.write_bytes(value.data)
            try:
                return keras.saving.load_model(path, compile=False, safe_mode=True)
            except Exception as error:  # noqa: BLE001  (whatever Keras raises, the model is at fault)
                raise ModelLoadError(f"{type(error).__name__}: {str(error)[:300]}") from None
    if isinstance(value, (list, tuple)):
        return type(value)(load_models(item) for item in value)
    if isinstance(value, dict):
        return {key: load_models(item) for key, item in value.items()}
    return value


def load_module(path: str, name: str):
    # A hidden check module imports its lab's public one, beside it.
    if str(Path(path).parent) not in sys.path:
        sys.path.append(str(Path(path).parent))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def free_memory() -> None:
    """Hands back to the system what the previous lab's models, graphs and tensors held: the labs
    of a submission take turns in one worker, inside a container of 768 MB."""
    import keras

    keras.backend.clear_session(free_memory=True)  # Keras' global state, then gc.collect()
    try:  # glibc keeps freed memory for later mallocs unless told to return it
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def trusted_probes() -> dict[str, Any]:
    """"module.name" -> every function of `course.grading.probes`, as it is before any student code
    runs: copies whose globals are private copies of their modules' namespaces, with the copies
    of each other in them. A lab that reassigns a probe, or a helper a probe calls, changes
    nothing the grader calls. (The libraries they use stay shared: this is a hint, not a wall;
    every verdict is reached outside this process.)"""
    import pkgutil

    import course.grading.probes as package

    names = [info.name for info in pkgutil.iter_modules(package.__path__)]
    modules = [package] + [importlib.import_module(PROBES + name) for name in names]
    namespaces = [dict(vars(module)) for module in modules]
    copies: dict[int, types.FunctionType] = {}  # id of the original -> its copy
    trusted = {}
    for module, namespace in zip(modules, namespaces, strict=True):
        for name, value in vars(module).items():
            if isinstance(value, types.FunctionType) and value.__module__ == module.__name__:
                copy = types.FunctionType(
                    value.__code__, namespace, name, value.__defaults__, value.__closure__
                )
                copy.__kwdefaults__ = value.__kwdefaults__
                copies[id(value)] = namespace[name] = trusted[f"{module.__name__}.{name}"] = copy
    for namespace in namespaces:  # a helper imported from another probe module
        for name, value in namespace.items():
            namespace[name] = copies.get(id(value), value)
    return trusted


def main(argv: list[str]) -> None:
    lab_folder, request_fd, reply_fd, *flags = argv
    request_fd, reply_fd = int(request_fd), int(reply_fd)
    judge = "--judge" in flags
    die_with_parent()
    import numpy  # noqa: F401  (imported before the lab, as trusted code)

    tf = start_tensorflow()
    probes = {} if judge else trusted_probes()  # before the lab: it may patch them
    write_message(reply_fd, {"ready": True})

    lab, lab_file = None, "-"
    tripwire = Tripwire(os.path.abspath(lab_folder))
    if not judge:
        sys.addaudithook(tripwire)

    def tensor(array, dtype):
        return tf.convert_to_tensor(array, dtype=dtype)

    plain = Plain()
    measures: dict[str, Any] = {}
    while True:
        try:
            request = read_message(request_fd, tensor=None if judge else tensor)
        except (EOFError, CodecError):
            return
        op = request["op"]
        try:
            if op == "load":
                lab, lab_file = None, request["file"]
                free_memory()
                if str(Path(lab_file).parent) not in sys.path:
                    sys.path.insert(0, str(Path(lab_file).parent))
                lab = load_module(lab_file, request["module"])
                reply: dict[str, Any] = {"imported": True}
            elif op == "measure" and judge:
                if request["file"] not in measures:
                    free_memory()  # another lab's checks: the models measured so far are done
                    measures[request["file"]] = load_module(
                        request["file"], f"_grader_measures_{len(measures)}"
                    )
                function = getattr(measures[request["file"]], request["name"])
                reply = {"value": plain(function(load_models(request["value"]), *request["args"]))}
            elif op in ("call", "probe") and lab is None:
                reply = {
                    "error": {"type": "RuntimeError", "message": "no lab is loaded", "where": []}
                }
            elif op == "call" and not callable(getattr(lab, request["name"], None)):
                reply = {"missing": request["name"]}
            elif op == "probe" and f"{request['module']}.{request['name']}" in probes:
                function = probes[f"{request['module']}.{request['name']}"]
                reply = {"value": plain(function(lab, *request["args"], **request["kwargs"]))}
            elif op == "call":
                reply = {
                    "value": plain(
                        getattr(lab, request["name"])(*request["args"], **request["kwargs"])
                    )
                }
            else:
                reply = {
                    "error": {
                        "type": "RuntimeError",
                        "message": f"unknown request {op!r}",
                        "where": [],
                    }
                }
        except ModelLoadError as error:
            reply = {"model_error": str(error)}
        except AttributeError as error:
            if (
                lab is not None and getattr(error, "obj", None) is lab and error.name
            ):  # a probe used a missing function
                reply = {"missing": error.name}
            else:
                reply = {"error": describe(error, lab_file)}
        except BaseException as error:  # noqa: BLE001  (SystemExit and KeyboardInterrupt included)
            reply = {"error": describe(error, lab_file)}
        if op == "load" and "error" in reply:
            reply = {"import_error": reply["error"]}
        reply["violations"] = tripwire.violations
        write_message(reply_fd, reply)


if __name__ == "__main__":
    main(sys.argv[1:])
