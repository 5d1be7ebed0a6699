"""The worker: the only process that imports a student's lab and runs its code.

Started by `Submission` as `python -m course.grading.worker LAB_FILE MODULE REQUEST_FD REPLY_FD
[FORBIDDEN_DIR ...] [--secret=PATH_PREFIX ...]`. It imports TensorFlow (its start-up log lines are not
the student's output, so they are set aside), installs an audit hook that forbids reading the
forbidden folders (the reference solutions), touching the grader's secret paths (where the
verdicts are written), looking into other processes, changing the course checkout or the Python
installation, starting processes and signalling other processes, imports the lab, then answers
requests: call a lab function, or run a grader's probe function on the lab module. Replies hold
plain data only (see `course.grading.codec`). The worker dies with the process that started it.

An audit hook is a tripwire, not a sandbox: code that goes through ctypes is not seen. It stops
the ordinary ways of peeking at the solutions or the grader; run untrusted cohorts in a container
(as Gradescope does) for isolation.
"""
from __future__ import annotations

import importlib.util
import os
import re
import signal
import site
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

from course import ROOT
from course.grading.codec import CodecError, read_message, write_message

# Operations a lab never needs: each could reach the reference solutions through another program.
PROCESS_EVENTS = frozenset(
    {"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty", "pty.spawn"}
)
PATH_EVENTS = frozenset({"open", "os.listdir", "os.scandir", "os.link", "os.symlink", "os.rename", "shutil.copyfile"})
# Operations that change files: denied (without costing the lab its points) in the course checkout and
# the Python installation, so that no submission can change how the next one is graded.
WRITE_EVENTS = frozenset(
    {"os.remove", "os.rename", "os.truncate", "os.chmod", "os.chown", "os.mkdir", "os.rmdir", "os.link",
     "os.symlink", "os.utime", "shutil.copyfile", "shutil.copytree", "shutil.rmtree", "shutil.move"}
)
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
OTHER_PROCESS = re.compile(r"^/proc/(\d+)(/|$)")


def readonly_roots() -> list[str]:
    """The course checkout and the Python installation: a lab never needs to change them."""
    roots = {str(ROOT), sys.prefix, sys.base_prefix, sys.exec_prefix, site.getusersitepackages(), *site.getsitepackages()}
    return sorted(roots)


class Guard:
    """An audit hook (`sys.addaudithook`): audit hooks cannot be removed by the code they watch."""

    def __init__(self, forbidden: list[str], secret: list[str] = (), readonly: list[str] = ()):
        self.forbidden = [os.path.realpath(path) for path in forbidden]
        # Prefixes, not folders: "/tmp/course-grade-" covers every grading run's results.
        self.secret = [os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path)) for path in secret]
        self.readonly = [os.path.realpath(path) for path in readonly]
        self.pid = os.getpid()
        self.violations: list[str] = []
        self._busy = False

    @staticmethod
    def _under(real: str, roots: list[str]) -> bool:
        return any(real == root or real.startswith(root.rstrip(os.sep) + os.sep) for root in roots)

    def deny(self, what: str) -> None:
        self.violations.append(what)
        raise PermissionError(f"the grader forbids this: {what}")

    def _check_paths(self, event: str, args: tuple) -> None:
        paths = args[:1] if event == "open" else args[:2]
        writing = event in WRITE_EVENTS or (event == "open" and len(args) > 2 and isinstance(args[2], int) and args[2] & WRITE_FLAGS)
        self._busy = True
        try:
            reals = [os.path.realpath(os.fsdecode(path)) for path in paths if isinstance(path, (str, bytes, os.PathLike))]
        finally:
            self._busy = False
        for real in reals:
            if self._under(real, self.forbidden):
                self.deny(f"reading the reference solutions ({event} {real})")
            if any(real.startswith(prefix) for prefix in self.secret):
                self.deny(f"touching the grader's own files ({event} {real})")
            other = OTHER_PROCESS.match(real)
            if other and int(other.group(1)) != self.pid:
                self.deny(f"looking into another process ({event} {real})")
            if writing and self._under(real, self.readonly):
                raise PermissionError(f"the grader does not let a lab change the course or Python's files ({event} {real})")

    def __call__(self, event: str, args: tuple) -> None:
        if self._busy:
            return
        if event in PATH_EVENTS or event in WRITE_EVENTS:
            self._check_paths(event, args)
        elif event == "import" and (args[0] == "solutions" or str(args[0]).startswith("solutions.")):
            self.deny(f"importing the reference solutions (import {args[0]})")
        elif event in PROCESS_EVENTS:
            self.deny(f"starting another program ({event})")
        elif event == "os.kill" and args[0] not in (0, self.pid):
            self.deny("signalling another process (os.kill)")
        elif event == "os.killpg" and args[0] != os.getpgid(0):
            self.deny("signalling another process group (os.killpg)")


def die_with_parent(parent: int | None) -> None:
    """Asks Linux to kill this worker when the process that started it ends (a grader killed at its
    wall limit must not leave a student's endless loop running)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if parent is not None and os.getppid() != parent:
        os._exit(70)  # the parent already ended


def quietly(action):
    """Runs `action` with file descriptors 1 and 2 set aside: TensorFlow's start-up log lines are not
    the student's output. They are replayed if `action` fails, for the grader's maintainers."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile() as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        failed = True
        try:
            result = action()
            failed = False
            return result
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            if failed:
                log.seek(0)
                os.write(2, log.read()[-20000:])


def describe(error: BaseException, lab_file: str) -> dict:
    """The exception as the student should see it: type, message, and the lines of their file."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if frame.filename == lab_file]
    where = [f"{Path(lab_file).name} line {frame.lineno}, in {frame.name}: {frame.line}" for frame in frames[-3:]]
    if isinstance(error, SyntaxError) and error.filename == lab_file:
        where = [f"{Path(lab_file).name} line {error.lineno}: {(error.text or '').strip()}"]
    function = frames[-1].name if frames else None
    return {"type": type(error).__name__, "message": str(error)[:2000], "where": where, "function": function}


def plain(value: Any) -> Any:
    """Tensors become NumPy arrays; containers are walked; other objects are described by type."""
    import numpy as np

    if value is None or isinstance(value, (bool, int, float, str, np.ndarray, np.generic)):
        return value
    if hasattr(value, "numpy") and callable(value.numpy):
        return np.asarray(value.numpy())
    if isinstance(value, (list, tuple)):
        return type(value)(plain(item) for item in value)
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        return {key: plain(item) for key, item in value.items()}
    return {"__type__": f"{type(value).__module__}.{type(value).__qualname__}"}


def load_module(path: str, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def main(argv: list[str]) -> None:
    lab_file, module_name, request_fd, reply_fd, *paths = argv
    request_fd, reply_fd = int(request_fd), int(reply_fd)
    forbidden = [path for path in paths if not path.startswith("--secret=")]
    secret = [path.removeprefix("--secret=") for path in paths if path.startswith("--secret=")]
    parent = os.environ.get("COURSE_GRADING_PARENT")
    die_with_parent(int(parent) if parent else None)

    def start_tensorflow():
        import keras  # noqa: F401  (before the guard and before the submission's folder is on sys.path)
        import numpy as np  # noqa: F401  (imported before the guard, as trusted code)
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")
        tf.constant(0.0) + 1.0  # TensorFlow looks for devices (and logs about it) on its first operation
        return tf

    tf = quietly(start_tensorflow)
    write_message(reply_fd, {"ready": True})

    guard = Guard(forbidden, secret, readonly_roots())
    sys.addaudithook(guard)
    sys.path.insert(0, str(Path(lab_file).parent))
    try:
        lab = load_module(lab_file, module_name)
    except BaseException as error:  # noqa: BLE001  (SystemExit and KeyboardInterrupt are student errors too)
        write_message(reply_fd, {"import_error": describe(error, lab_file), "violations": guard.violations})
        return
    write_message(reply_fd, {"imported": True, "violations": guard.violations})

    def tensor(array, dtype):
        return tf.convert_to_tensor(array, dtype=dtype)

    probes: dict[str, Any] = {}
    while True:
        try:
            request = read_message(request_fd, tensor=tensor)
        except (EOFError, CodecError):
            return
        if request["op"] == "load":  # another variant of the lab (tests of the autograder)
            lab_file = request["file"]
            sys.path.insert(0, str(Path(lab_file).parent))
            try:
                lab = load_module(lab_file, module_name)
                reply = {"imported": True}
            except BaseException as error:  # noqa: BLE001
                reply = {"import_error": describe(error, lab_file)}
        elif request["op"] == "call" and not callable(getattr(lab, request["name"], None)):
            reply: dict[str, Any] = {"missing": request["name"]}
        else:
            try:
                if request["op"] == "probe":
                    if request["file"] not in probes:
                        probes[request["file"]] = load_module(request["file"], f"_grader_probes_{len(probes)}")
                    function = getattr(probes[request["file"]], request["name"])
                    result = function(lab, *request["args"], **request["kwargs"])
                else:
                    result = getattr(lab, request["name"])(*request["args"], **request["kwargs"])
                reply = {"value": plain(result)}
            except AttributeError as error:
                if getattr(error, "obj", None) is lab and error.name:  # a probe used a function the lab lacks
                    reply = {"missing": error.name}
                else:
                    reply = {"error": describe(error, lab_file)}
            except BaseException as error:  # noqa: BLE001  (SystemExit and KeyboardInterrupt included)
                reply = {"error": describe(error, lab_file)}
        reply["violations"] = guard.violations
        write_message(reply_fd, reply)


if __name__ == "__main__":
    main(sys.argv[1:])
