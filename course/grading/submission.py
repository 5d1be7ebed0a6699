"""`Submission`: the autograder's handle on a student's lab, run in a worker process.

Tests call `lab.rotate(x, 1)` or `lab.probe(probe_function, ...)` and get plain data back; every
way student code can fail (an exception, a stub, a missing function, a hang, an exit, a crash,
reading the solutions) becomes a `StudentCodeError` whose message tells the student what happened.
"""
from __future__ import annotations

import inspect
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

from course.grading.codec import CodecError, read_message, write_message

TENSORFLOW_START_SECONDS = 180.0  # generous: two graders on two busy cores can take a while


class StudentCodeError(Exception):
    """Student code failed; `kind` is one of: not_implemented, exception, missing_function,
    missing_file, import, timeout, crash, forbidden, protocol."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message


class CapturedOutput:
    """Drains a pipe on a thread, keeping the head and tail of what the student's code prints."""

    def __init__(self, pipe, keep: int = 2000):
        self.head, self.tail, self.total, self.keep = b"", b"", 0, keep
        self.thread = threading.Thread(target=self._drain, args=(pipe,), daemon=True)
        self.thread.start()

    def _drain(self, pipe) -> None:
        for chunk in iter(lambda: pipe.read1(65536), b""):
            self.total += len(chunk)
            if len(self.head) < self.keep:
                self.head += chunk[: self.keep - len(self.head)]
            self.tail = (self.tail + chunk)[-self.keep :]

    def text(self) -> str:
        self.thread.join(timeout=1)  # the pipe closes when the worker ends
        if self.total <= self.keep:
            return self.head.decode(errors="replace")
        if self.total <= 2 * self.keep:
            return (self.head + self.tail[self.keep - self.total :]).decode(errors="replace")
        return f"{self.head.decode(errors='replace')}\n... [{self.total:,} bytes in all] ...\n{self.tail.decode(errors='replace')}"


def _exit_reason(returncode: int) -> str:
    if returncode < 0:
        name = signal.Signals(-returncode).name
        return f"it was killed by signal {name}" + (" (the Python interpreter crashed)" if name in ("SIGSEGV", "SIGABRT", "SIGBUS", "SIGFPE", "SIGILL") else "")
    return f"it exited with status {returncode} (a lab must not call sys.exit, os._exit or quit)"


class Submission:
    """One lab file of a submission, imported in a worker process started on first use."""

    def __init__(
        self,
        lab_file: Path,
        forbidden: list[Path] = (),
        call_timeout: float = 30.0,
        import_timeout: float = 60.0,
        secret: list[Path] = (),
        on_start: Callable[["Submission"], None] | None = None,
    ):
        self.lab_file = Path(lab_file)
        self.forbidden = [str(path) for path in forbidden]
        self.secret = [str(path) for path in secret]  # path prefixes of the grader's files: never touched
        self.call_timeout, self.import_timeout = call_timeout, import_timeout
        self.on_start = on_start  # called before each worker starts (e.g. to stop another worker)
        self.process: subprocess.Popen | None = None
        self.output: CapturedOutput | None = None
        self.outputs: list[CapturedOutput] = []  # every worker's output, restarts included
        self.fatal: StudentCodeError | None = None  # an error every later call repeats
        self.hung: dict[str, float] = {}  # what timed out, and its limit: not run again
        self.violations: list[str] = []

    # -- the worker's life -------------------------------------------------------------------
    def _start(self) -> None:
        if not self.lab_file.is_file():
            raise StudentCodeError("missing_file", f"{self.lab_file.name} is not in the submission.")
        if self.on_start:
            self.on_start(self)
        request_read, self._request = os.pipe()
        self._reply, reply_write = os.pipe()
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1", CUDA_VISIBLE_DEVICES="",
                   PYTHONDONTWRITEBYTECODE="1", COURSE_GRADING_PARENT=str(os.getpid()))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "course.grading.worker", str(self.lab_file.resolve()), self.lab_file.stem,
             str(request_read), str(reply_write), *self.forbidden, *[f"--secret={path}" for path in self.secret]],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            pass_fds=(request_read, reply_write), env=env, start_new_session=True,
        )
        os.close(request_read)
        os.close(reply_write)
        self.output = CapturedOutput(self.process.stdout)
        self.outputs.append(self.output)
        self._receive(TENSORFLOW_START_SECONDS, "starting TensorFlow")
        reply = self._receive(self.import_timeout, f"importing {self.lab_file.name}")
        if "import_error" in reply:
            self.stop()
        self._imported(reply)

    def _receive(self, timeout: float, doing: str) -> dict:
        try:
            reply = read_message(self._reply, deadline=time.monotonic() + timeout)
        except TimeoutError:
            self.stop()
            at_import = doing.startswith("importing")
            error = StudentCodeError(
                "timeout",
                f"{doing} did not finish within {timeout:g} s: "
                + ("is there an endless loop, input() or training at the top level of the file?" if at_import
                   else "an endless loop, a wait for input, or far too much work for a tiny input?"),
            )
            if at_import:
                self.fatal = error
            raise error from None
        except (EOFError, CodecError) as failure:
            returncode = self.process.wait(timeout=10) if isinstance(failure, EOFError) else None
            self.stop()
            if isinstance(failure, CodecError):
                raise StudentCodeError("protocol", f"while {doing}, the grader's channel was corrupted by the lab's code ({failure}).") from None
            error = StudentCodeError("crash", f"the process running your code died while {doing}: {_exit_reason(returncode)}." + self._printed())
            if doing.startswith("importing"):
                self.fatal = error
            raise error from None
        if not isinstance(reply, dict):
            self.stop()
            raise StudentCodeError("protocol", f"while {doing}, the grader received a malformed reply.")
        self.violations += [v for v in reply.get("violations", []) if v not in self.violations]
        if self.violations:
            self.fatal = StudentCodeError(
                "forbidden", f"{self.lab_file.name} tried {self.violations[0].replace('the grader forbids this: ', '')}; "
                "a lab that reads or imports the reference solutions, or starts other programs, earns no points."
            )
            self.stop()
            raise self.fatal
        return reply

    def retarget(self, lab_file: Path) -> None:
        """Grades another file of the same lab in the same worker, sparing a TensorFlow start.

        Only for trusted variants (the autograder's own tests): they share one interpreter."""
        self.lab_file = Path(lab_file)
        self.fatal, self.hung, self.violations = None, {}, []
        if self.process is not None:
            write_message(self._request, {"op": "load", "file": str(self.lab_file.resolve())})
            self._imported(self._receive(self.import_timeout, f"importing {self.lab_file.name}"))

    def _imported(self, reply: dict) -> None:
        if "import_error" in reply:
            error = reply["import_error"]
            self.fatal = StudentCodeError(
                "import", f"importing {self.lab_file.name} failed: {error['type']}: {error['message']}" + _where(error)
            )
            raise self.fatal

    def printed(self, keep: int = 4000) -> tuple[int, str]:
        """How many bytes the lab's code printed (in every worker it ran in), and the start and end of it."""
        total = sum(output.total for output in self.outputs)
        text = "\n[the grader restarted your code]\n".join(output.text() for output in self.outputs if output.total)
        if len(text) > 2 * keep:
            text = f"{text[:keep]}\n... [cut] ...\n{text[-keep:]}"
        return total, text

    def _printed(self) -> str:
        text = self.output.text().strip() if self.output else ""
        return f"\nWhat your code printed last:\n{text[-800:]}" if text else ""

    def stop(self) -> None:
        """Ends the worker (and anything it started); the next call starts a fresh one."""
        if self.process is None:
            return
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait()
        for fd in (self._request, self._reply):
            try:
                os.close(fd)
            except OSError:
                pass
        self.process = None

    close = stop

    # -- requests ------------------------------------------------------------------------------
    def _request_reply(self, request: dict, what: str, timeout: float | None) -> Any:
        if self.fatal:
            raise self.fatal
        if what in self.hung:  # it would hang again: spare the student's other checks the wait
            raise StudentCodeError(
                "timeout", f"running {what} did not finish within {self.hung[what]:g} s in an earlier check, so it was not run again."
            )
        if self.process is None:
            self._start()
        try:
            write_message(self._request, request)
        except (BrokenPipeError, OSError):
            pass  # the worker died; _receive reports how
        try:
            reply = self._receive(timeout or self.call_timeout, f"running {what}")
        except StudentCodeError as error:
            if error.kind == "timeout" and not self.fatal:
                self.hung[what] = timeout or self.call_timeout
            raise
        if "missing" in reply:
            raise StudentCodeError(
                "missing_function",
                f"{self.lab_file.name} defines no function {reply['missing']}(): keep the exercise's name and signature.",
            )
        if "error" in reply:
            error = reply["error"]
            if error["type"] == "NotImplementedError":
                stub = f"{error['function']}()" if error.get("function") else what
                raise StudentCodeError("not_implemented", f"{stub} is not implemented yet. Hint: {error['message']}")
            message = f": {error['message']}" if error["message"] else ""
            if request["op"] == "probe" and not error.get("where"):
                # No line of the lab is in the traceback: the grader's check choked on what the lab
                # returned, or TensorFlow failed inside compiled code; say so rather than blame a line.
                raise StudentCodeError(
                    "exception", f"{what} failed with {error['type']}{message}, outside any line of "
                    f"{self.lab_file.name}: inside TensorFlow (code in a tf.function, say) or while the grader "
                    "used what your code returned; check the type, shape and dtype it returns against its docstring.")
            raise StudentCodeError("exception", f"{what} raised {error['type']}{message}" + _where(error))
        return reply["value"]

    def call(self, name: str, *args: Any, timeout: float | None = None, **kwargs: Any) -> Any:
        """Calls the lab's function `name` in the worker; arrays and tensors come back as NumPy."""
        return self._request_reply({"op": "call", "name": name, "args": list(args), "kwargs": kwargs}, f"{name}()", timeout)

    def probe(self, probe: Callable, *args: Any, timeout: float | None = None, **kwargs: Any) -> Any:
        """Runs `probe(lab_module, *args, **kwargs)` in the worker; `probe` is a module-level
        function of a grader file (it may build models or datasets there and return plain data)."""
        what = (probe.__doc__ or probe.__name__).strip().splitlines()[0]
        request = {"op": "probe", "file": inspect.getfile(probe), "name": probe.__name__, "args": list(args), "kwargs": kwargs}
        return self._request_reply(request, what, timeout)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *args, **kwargs: self.call(name, *args, **kwargs)


def _where(error: dict) -> str:
    return "".join(f"\n  at {line}" for line in error.get("where", []))
