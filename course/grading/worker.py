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
import gc
import importlib
import importlib.util
import os
import signal
import sys
import tempfile
import time
import traceback
import types
from dataclasses import replace
from pathlib import Path
from typing import Any

from course import ROOT
from course.files import empty_folder
from course.grading.codec import CodecError, ModelFile, read_message, write_message
from course.grading.protocol import (
    Call,
    End,
    Fork,
    Load,
    Measure,
    Probe,
    ProtocolError,
    Reply,
    ReplyError,
    ReplyKind,
    Request,
    parse_request,
)
from course.quiet import first_operation, import_tensorflow, start_tensorflow

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


def describe(error: BaseException, lab_file: str) -> ReplyError:
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
    try:
        message = str(error)[:2000]
    except Exception:  # noqa: BLE001  (a lab's exception whose __str__ itself raises)
        message = "(its message could not be read)"
    missing = (getattr(error, "name", None) or "").split(".")[0]
    if isinstance(error, ModuleNotFoundError) and missing in _lab_modules():
        message = (
            f"{Path(lab_file).name} imports {error.name}: each lab is graded from its own file"
            " alone; copy the function into this lab"
        )
    return ReplyError(
        type=type(error).__name__,
        message=message,
        where=tuple(where),
        function=own[-1].name if own else None,
        raised_by_lab=bool(frames) and frames[-1].filename == lab_file,
    )


def _refusal(message: str) -> Reply:
    """The reply to a request this worker cannot answer."""
    return Reply(ReplyKind.ERROR, error=ReplyError("RuntimeError", message))


def _lab_modules() -> set[str]:
    from course import registry

    return {lab.module for lab in registry.LABS.values()}


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


def load_module(path: str, name: str, cells: list | None = None, beside: bool = True):
    """Imports the file at `path` as module `name`. `cells`: it is a notebook, run as a kernel
    runs it (`course.grading.notebooks.cell_plan`): cell by cell, with the names a kernel
    provides, a cell that may fail (it defines no exercise) costing nothing when it does.
    `beside`: the modules beside it may be imported (the grader's own files; never a student's
    lab, which is graded from its own file alone)."""
    # A hidden check module imports its lab's public one, beside it.
    if beside and str(Path(path).parent) not in sys.path:
        sys.path.append(str(Path(path).parent))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    if cells is None:
        spec.loader.exec_module(module)
        return module
    from course.grading import kernel

    vars(module).update(kernel.names())
    lines = Path(path).read_text().splitlines(keepends=True)
    for plan in cells:
        first, last, may_fail = int(plan[0]), int(plan[1]), bool(plan[2])
        # Padded with blank lines: a traceback names the line of the joined cells.
        code = "\n" * (first - 1) + "".join(lines[first - 1 : last])
        try:
            exec(compile(code, path, "exec"), vars(module))  # noqa: S102
        except (Exception, SystemExit):
            if not may_fail:
                raise
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


def settle_heap() -> None:
    """Moves every object made so far (TensorFlow's and Keras' modules: about a million) out of
    the garbage collector's reach (`gc.freeze`). Each collection then scans only what was made
    since: `free_memory` between a judge's labs stops costing a pass over TensorFlow, and a lab's
    child forked from the worker no longer writes to every inherited object's header, which
    copied the pages the two processes shared (the memory a container charges twice)."""
    gc.collect()
    gc.freeze()


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


def serve(
    lab_folder: str, request_fd: int, reply_fd: int, judge: bool, probes: dict[str, Any]
) -> None:
    """Answers requests until the channel closes: a judge's for the whole run, a lab child's for
    its one lab."""
    import tensorflow as tf

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
            message = read_message(request_fd, tensor=None if judge else tensor)
        except (EOFError, CodecError):
            return
        try:
            request: Request | None = parse_request(message)
        except ProtocolError as error:
            request, refused = None, str(error)
        try:
            if request is None:
                reply = _refusal(refused)
            elif isinstance(request, Load):
                lab, lab_file = None, request.file
                if judge:  # a lab's child is fresh: it has nothing of another lab's to free
                    free_memory()
                # A student's lab imports no module beside it: another lab's file is not there
                # (`Sandbox.show`), nor on sys.path.
                if judge and str(Path(lab_file).parent) not in sys.path:
                    sys.path.insert(0, str(Path(lab_file).parent))
                lab = load_module(lab_file, request.module, request.cells, beside=judge)
                reply = Reply(ReplyKind.IMPORTED)
            elif isinstance(request, Measure) and judge:
                if request.file not in measures:
                    free_memory()  # another lab's checks: the models measured so far are done
                    measures[request.file] = load_module(
                        request.file, f"_grader_measures_{len(measures)}"
                    )
                function = getattr(measures[request.file], request.name)
                value = plain(function(load_models(request.value), *request.args))
                reply = Reply(ReplyKind.VALUE, value=value)
            elif isinstance(request, (Call, Probe)) and lab is None:
                reply = _refusal("no lab is loaded")
            elif isinstance(request, Call) and not callable(getattr(lab, request.name, None)):
                reply = Reply(ReplyKind.MISSING, missing=request.name)
            elif isinstance(request, Probe) and f"{request.module}.{request.name}" in probes:
                function = probes[f"{request.module}.{request.name}"]
                value = plain(function(lab, *request.args, **request.kwargs))
                reply = Reply(ReplyKind.VALUE, value=value)
            elif isinstance(request, Call):
                value = plain(getattr(lab, request.name)(*request.args, **request.kwargs))
                reply = Reply(ReplyKind.VALUE, value=value)
            else:
                reply = _refusal(f"unknown request {request.OP.value!r}")
        except ModelLoadError as error:
            reply = Reply(ReplyKind.MODEL_ERROR, model_error=str(error))
        except AttributeError as error:
            if (
                lab is not None and getattr(error, "obj", None) is lab and error.name
            ):  # a probe used a missing function
                reply = Reply(ReplyKind.MISSING, missing=error.name)
            else:
                reply = Reply(ReplyKind.ERROR, error=describe(error, lab_file))
        except BaseException as error:  # noqa: BLE001  (SystemExit and KeyboardInterrupt included)
            reply = Reply(ReplyKind.ERROR, error=describe(error, lab_file))
        if isinstance(request, Load) and reply.kind is ReplyKind.ERROR:
            reply = replace(reply, kind=ReplyKind.IMPORT_ERROR)
        violations = tuple(tripwire.violations)
        try:
            wire = replace(reply, violations=violations).to_wire()
            write_message(reply_fd, wire)
        except Exception as error:  # noqa: BLE001  (encoded whole before a byte is written)
            # What the lab returned is no value the channel carries (an object array, a
            # generator, a list nested past the recursion limit): its check fails, not the lab.
            unsendable = ReplyError(
                "TypeError",
                f"what it returned cannot be sent to the grader ({type(error).__name__}: "
                f"{str(error)[:300]}); return NumPy arrays, tensors, numbers, strings, lists,"
                " tuples, dicts or Keras models",
            )
            failed = Reply(ReplyKind.ERROR, error=unsendable, violations=violations)
            write_message(reply_fd, failed.to_wire())


def start_judge() -> None:
    """TensorFlow and Keras started for a judge, without matplotlib: Keras imports pyplot when
    it starts (half a second, and a font cache built anew in every sandbox) for a plotting helper
    that neither the reference solutions nor the checks' measures use."""
    sys.modules["matplotlib"] = None  # Keras' `import matplotlib.pyplot` fails, as it allows
    try:
        start_tensorflow()
    finally:
        del sys.modules["matplotlib"]


def _prctl(option: int, value: int) -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
    except (OSError, AttributeError):
        pass


PR_SET_DUMPABLE = 4


def zygote(
    lab_folder: str,
    request_fd: int,
    reply_fd: int,
    orders: int,
    answers: int,
    private: bool,
    scratch: list[str],
) -> None:
    """A student's worker: TensorFlow imported, no student code run, and each lab graded in a
    child forked from here, so that a lab's grade follows from its own file alone (nothing one
    lab patches, leaves running or writes reaches the next).

    The grader gives orders on a channel of its own (`orders`, `answers`) that the children
    close before any student code runs: {"op": "fork"} starts a lab's child, which answers the
    lab's requests on the shared channel; {"op": "end"} ends it. Then this process kills what the
    child left running (`private`: every other process it may signal is the lab's, in a PID
    namespace or under a uid of the worker's own; otherwise the child's process group), empties
    the `scratch` folders and the request channel, and answers {"ended": true}. A child that ends
    by itself is reported at once as {"exited": status}. It is not dumpable, so a child, running
    as the same uid, can neither trace it nor open its descriptors through /proc."""
    import numpy  # noqa: F401  (imported before any lab, as trusted code)

    import_tensorflow()
    probes = trusted_probes()  # before any lab: a lab may patch them
    settle_heap()
    _prctl(PR_SET_DUMPABLE, 0)
    write_message(reply_fd, Reply(ReplyKind.READY).to_wire())
    while True:
        try:
            order = parse_request(read_message(orders))
        except (EOFError, CodecError):
            return
        except ProtocolError:
            continue
        if not isinstance(order, Fork):
            continue
        sys.stdout.flush()
        sys.stderr.flush()
        child = os.fork()
        if child == 0:
            status = 0
            try:
                os.close(orders)
                os.close(answers)
                os.setpgid(0, 0)
                die_with_parent()  # cleared by fork: the child dies with this process
                first_operation()
                serve(lab_folder, request_fd, reply_fd, False, probes)
            except BaseException:  # noqa: BLE001  (the grader sees the channel close)
                status = 1
            finally:
                os._exit(status)
        _watch(child, request_fd, orders, answers, private, scratch)


def _watch(
    child: int, request_fd: int, orders: int, answers: int, private: bool, scratch: list[str]
) -> None:
    """Waits for the grader's order to end the lab `child` grades, or for the child to end."""
    import select

    try:
        pidfd = os.pidfd_open(child)
    except (OSError, AttributeError):  # Linux before 5.3: the child's end is polled for
        pidfd = None
    exited = None
    while True:
        if exited is not None:
            ready = select.select([orders], [], [])[0]
        elif pidfd is not None:
            ready = select.select([orders, pidfd], [], [])[0]
        else:
            ready = select.select([orders], [], [], 0.05)[0]
            pid, status = os.waitpid(child, os.WNOHANG)
            if pid:
                exited = os.waitstatus_to_exitcode(status)
        if exited is None and pidfd is not None and pidfd in ready:
            exited = os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])
        if exited is not None and not ready:
            _end_strays(child, private)
            write_message(answers, Reply(ReplyKind.EXITED, exited=exited).to_wire())
            continue
        if pidfd is not None and pidfd in ready:
            _end_strays(child, private)
            write_message(answers, Reply(ReplyKind.EXITED, exited=exited).to_wire())
            continue
        if not ready:
            continue
        try:
            order = parse_request(read_message(orders))
        except (EOFError, CodecError):
            order = End()
        except ProtocolError:
            continue
        if isinstance(order, End):
            if exited is None:
                _end_strays(child, private)
                try:
                    os.waitpid(child, 0)
                except ChildProcessError:  # reaped already, with the strays
                    pass
            _end_strays(child, private)
            _wipe_scratch(scratch, private)
            _drain(request_fd)
            if pidfd is not None:
                os.close(pidfd)
            write_message(answers, Reply(ReplyKind.ENDED).to_wire())
            return


def _end_strays(child: int, private: bool) -> None:
    """SIGKILL to the lab's child and to everything it started. `private`: this process is alone
    with the lab's processes in what it may signal (its PID namespace, or its own uid), so
    kill(-1) reaches exactly those, repeated until none is left; otherwise the child's process
    group only (the `none` level, for trusted code)."""
    if not private:
        try:
            os.killpg(child, signal.SIGKILL)
        except OSError:
            pass
        return
    for _ in range(50):
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            break  # nothing left to signal
        except OSError:
            break
        _reap()
        time.sleep(0.01)
    _reap()


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _wipe_scratch(scratch: list[str], private: bool) -> None:
    """Empties the sandbox's scratch folders, which the grader names (`Sandbox.scratch`: never
    a folder guessed from the environment), and, where this uid is the lab's alone, what it
    left in the shared temporary folders: the next lab finds what a fresh sandbox holds."""
    for folder in scratch:
        empty_folder(folder)
    if private:
        for folder in ("/dev/shm", "/tmp", "/var/tmp"):
            empty_folder(folder, owner=os.getuid())


def _drain(fd: int) -> None:
    """Discards what is left unread in the request channel (a request the child never read)."""
    os.set_blocking(fd, False)
    try:
        while os.read(fd, 1 << 16):
            pass
    except (BlockingIOError, OSError):
        pass
    finally:
        os.set_blocking(fd, True)


def main(argv: list[str]) -> None:
    lab_folder, request_fd, reply_fd, *flags = argv
    request_fd, reply_fd = int(request_fd), int(reply_fd)
    die_with_parent()
    if "--judge" in flags:
        import numpy  # noqa: F401

        start_judge()
        settle_heap()
        write_message(reply_fd, Reply(ReplyKind.READY).to_wire())
        serve(lab_folder, request_fd, reply_fd, True, {})
        return
    orders, answers = (int(fd) for fd in flags[flags.index("--orders") + 1].split(","))
    scratch = [flags[i + 1] for i, flag in enumerate(flags) if flag == "--scratch"]
    zygote(lab_folder, request_fd, reply_fd, orders, answers, "--private" in flags, scratch)


if __name__ == "__main__":
    main(sys.argv[1:])
