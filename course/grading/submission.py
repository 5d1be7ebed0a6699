"""`Submission`: the autograder's handle on a student's lab, run in a worker process.

Tests call `lab.rotate(x, 1)` or `lab.probe(probe_function, ...)` and get plain data back; every
way student code can fail (an exception, a stub, a missing function, a hang, an exit, a crash,
reading the solutions) becomes a `StudentCodeError` whose message tells the student what happened.
"""

from __future__ import annotations

import fcntl
import inspect
import os
import signal
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path
from typing import Any, Callable

from course.grading.codec import CodecError, read_message, write_message
from course.grading.protocol import (
    LIMITS,
    Call,
    End,
    ErrorKind,
    Fork,
    Load,
    Measure,
    Probe,
    ProtocolError,
    Reply,
    ReplyError,
    ReplyKind,
    Request,
)
from course.grading.sandbox import Limits, Sandbox

TENSORFLOW_START_SECONDS = LIMITS.tensorflow_start
MESSAGE_LIMIT = LIMITS.message_bytes


class GraderError(RuntimeError):
    """The grader itself failed (its reference or judge): the course's problem, not the
    student's."""


class StudentCodeError(Exception):
    """Student code failed, as `kind` says (`protocol.ErrorKind`)."""

    def __init__(self, kind: ErrorKind | str, message: str):
        super().__init__(message)
        self.kind = ErrorKind(kind)
        self.message = message


class Printed:
    """The head and tail of what the student's code printed while one lab was graded."""

    def __init__(self, keep: int = 2000):
        self.head, self.tail, self.total, self.keep = b"", b"", 0, keep

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        if len(self.head) < self.keep:
            self.head += chunk[: self.keep - len(self.head)]
        self.tail = (self.tail + chunk)[-self.keep :]

    def text(self) -> str:
        if self.total <= self.keep:
            return self.head.decode(errors="replace")
        if self.total <= 2 * self.keep:
            return (self.head + self.tail[self.keep - self.total :]).decode(errors="replace")
        return (
            f"{self.head.decode(errors='replace')}\n... [{self.total:,} bytes in all]"
            f" ...\n{self.tail.decode(errors='replace')}"
        )


class CapturedOutput:
    """Drains a worker's output pipe on a thread into the `Printed` of the lab being graded (one
    worker grades a submission's labs in turn)."""

    def __init__(self, pipe):
        self.pipe, self.printed, self._lock = pipe, Printed(), threading.Lock()
        # While a hidden check runs, what the code prints is that check's, hidden with it.
        self.hidden: Printed | None = None
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        for chunk in iter(lambda: self.pipe.read1(65536), b""):
            with self._lock:
                (self.hidden or self.printed).add(chunk)

    def hide(self, printed: Printed | None) -> None:
        """From now on, what the worker prints goes to `printed` (None: the lab's again)."""
        self.settle()
        with self._lock:
            self.hidden = printed

    def settle(self) -> None:
        """Waits (briefly) until what the worker has written so far has been read: its output is
        unbuffered (`course.grading.sandbox`), so what it printed before its last reply belongs to
        the lab that was being graded."""
        if not self.thread.is_alive():
            return
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            try:
                pending = int.from_bytes(
                    fcntl.ioctl(self.pipe.fileno(), termios.FIONREAD, b"\0" * 4), sys.byteorder
                )
            except (OSError, ValueError):
                return
            if not pending:
                time.sleep(0.005)  # the drain thread may still hold its last chunk
                return
            time.sleep(0.005)

    def next_lab(self) -> Printed:
        """What the worker prints from now on, for the lab about to be graded."""
        self.settle()
        with self._lock:
            self.printed = Printed()
            return self.printed

    def ended(self) -> None:
        self.thread.join(timeout=1)  # the pipe closes when the worker ends


def _exit_reason(returncode: int, sandboxed: bool = False) -> str:
    """Why the worker ended, in words. Through bubblewrap, a worker killed by signal N ends its
    sandbox with status 128 + N, as a shell reports it."""
    if sandboxed and 128 < returncode < 128 + 65:
        returncode = 128 - returncode
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"number {-returncode}"
        crashed = name in ("SIGSEGV", "SIGABRT", "SIGBUS", "SIGFPE", "SIGILL")
        return f"it was killed by signal {name}" + (
            " (the Python interpreter crashed)" if crashed else ""
        )
    return f"it exited with status {returncode} (a lab must not call sys.exit, os._exit or quit)"


class Submission:
    """One lab file of a submission, imported in a sandboxed worker process started on first use;
    `retarget` moves it to the submission's next lab file, in the same worker where that is
    safe (TensorFlow starts once per submission, not once per lab).

    A `judge` (a trusted worker, see `course.grading.worker`) measures what the student's probes
    return; `trusted=True` makes this handle a judge: it runs the reference solution (if
    `lab_file` is given) and its failures are the course's, never the student's. `wall_limit`:
    the seconds a lab may take in all, from its start; the checks not finished by then fail with
    `ErrorKind.OVER_LIMIT`."""

    def __init__(
        self,
        lab_file: Path | None,
        isolation: str = "none",
        judge: "Submission | None" = None,
        trusted: bool = False,
        readable: list[Path] = (),
        exercises: tuple[str, ...] = (),
        lab_key: str = "",
        call_timeout: float = LIMITS.call_timeout,
        import_timeout: float = LIMITS.import_timeout,
        cpu_seconds: int = 1200,
        shown_name: str = "",
        wall_limit: float | None = None,
    ):
        self.lab_file = Path(lab_file) if lab_file is not None else None
        self.shown_name = shown_name  # what the student handed in, if not lab_file (a notebook)
        self.cells: list | None = None  # a notebook's cells (`notebooks.cell_plan`), run as such
        self.isolation, self.judge, self.trusted = isolation, judge, trusted
        self.readable = [Path(path) for path in readable]
        # The functions `lab.NAME(...)` may call (course.registry).
        self.exercises = tuple(exercises)
        self.lab_key = lab_key  # "lab2", for `course hint lab2.rotate`
        self.call_timeout, self.import_timeout, self.cpu_seconds = (
            call_timeout,
            import_timeout,
            cpu_seconds,
        )
        self.process: subprocess.Popen | None = None
        self.sandbox: Sandbox | None = None
        self.output: CapturedOutput | None = None
        self.outputs: list[Printed] = []  # this lab's output in every worker, restarts included
        self.hidden_outputs: list[Printed] | None = None  # while a hidden check runs
        self.fatal: StudentCodeError | None = None  # an error every later call repeats
        self.hung: dict[str, float] = {}  # what timed out, and its limit: not run again
        self.violations: list[str] = []
        self.wall_limit = wall_limit
        self.deadline = time.monotonic() + wall_limit if wall_limit else None
        self._ready = False  # TensorFlow has started in the worker
        self._loaded: Path | None = None  # the lab file the worker has imported
        self._preloading: Path | None = None  # a judge's lab file whose import reply is unread
        # A student's worker grades each lab in a child forked for it (`worker.zygote`), ordered
        # over a channel of its own that the child cannot reach.
        self._orders: int | None = None
        self._answers: int | None = None
        self._forked = False  # a lab's child is running

    @property
    def name(self) -> str:
        if self.lab_file is None:
            return "the grader's judge"
        return self.shown_name or self.lab_file.name

    # -- the worker's life -------------------------------------------------------------------
    def _check_file(self) -> None:
        if self.lab_file is not None and not self.lab_file.is_file():
            raise StudentCodeError(
                ErrorKind.MISSING_FILE, f"{self.lab_file.name} is not in the submission."
            )
        if self.lab_file is not None and self.lab_file.is_symlink():
            raise StudentCodeError(
                ErrorKind.MISSING_FILE,
                f"{self.lab_file.name} is a symbolic link: hand in the file itself.",
            )

    def start(self) -> None:
        """Starts the worker without waiting for it (TensorFlow takes seconds to start: a lab's
        worker and its judge start side by side); it imports the lab file on first use."""
        if self.process is not None:
            return
        self._check_file()
        folder = None if self.trusted or self.lab_file is None else self.lab_file.parent
        readable = list(self.readable)
        if self.trusted and self.lab_file is not None:
            readable.append(self.lab_file.parent)
        # A judge runs no student code. In namespaces it gets the same sandbox (with the grader's
        # files it needs bound in); as the uid level's own uid it could not read the hidden checks.
        level = "none" if self.trusted and self.isolation == "uid" else self.isolation
        self.sandbox = Sandbox(
            level, folder=folder, readable=readable, limits=Limits(self.cpu_seconds)
        )
        lab_folder = "-" if self.lab_file is None else self.sandbox.path(self.lab_file.parent)
        request_read, self._request = os.pipe()
        self._reply, reply_write = os.pipe()
        passed = [request_read, reply_write]
        flags = ["--judge"] if self.trusted else []
        if not self.trusted:
            orders_read, self._orders = os.pipe()
            self._answers, answers_write = os.pipe()
            passed += [orders_read, answers_write]
            flags = ["--orders", f"{orders_read},{answers_write}"]
            if self.sandbox.private:
                flags.append("--private")
            for folder in self.sandbox.scratch():
                flags += ["--scratch", folder]
        argv = [
            sys.executable,
            "-m",
            "course.grading.worker",
            lab_folder,
            str(request_read),
            str(reply_write),
            *flags,
        ]
        try:
            command, options = self.sandbox.popen_args(argv, pass_fds=tuple(passed))
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                **options,
            )
        except BaseException:
            self._close_channels()
            self.sandbox.close()
            self.sandbox = None
            raise
        finally:
            for fd in passed:
                os.close(fd)
        self.output = CapturedOutput(self.process.stdout)
        self.outputs.append(self.output.printed)
        if self.hidden_outputs is not None:
            self.hidden_outputs.append(Printed())
            self.output.hide(self.hidden_outputs[-1])
        self._ready, self._loaded, self._preloading = False, None, None

    def _ensure_started(self) -> None:
        loading = self.lab_file is not None and self._loaded != self.lab_file
        if loading and self.process is not None and self.process.poll() is not None:
            self.stop()  # it died between labs (a thread of the last one): this lab gets a new one
        reused = loading and self._loaded is not None
        if loading:
            self._end_lab()  # the last lab's child, and all it left, end before this lab starts
        self.start()
        if not self._ready:
            self._receive(TENSORFLOW_START_SECONDS, "starting TensorFlow")
            self._ready = True
        if not loading:
            return
        self._check_file()
        try:
            self._load()
        except StudentCodeError as error:
            if not reused or error.kind not in (ErrorKind.TIMEOUT, ErrorKind.CRASH):
                raise
            # The earlier labs may have spent the worker's limits (CPU time, memory): this lab
            # is imported once more, in a fresh worker, before it is blamed.
            self.fatal = None
            self.stop()
            self._ensure_started()

    def _send_load(self) -> None:
        self.sandbox.show(self.lab_file)  # this lab's file alone: the last lab's child has ended
        try:
            if self._orders is not None:
                write_message(self._orders, Fork().to_wire())  # a fresh interpreter for this lab
                self._forked = True
            load = Load(self.sandbox.path(self.lab_file), self.lab_file.stem, self.cells)
            write_message(self._request, load.to_wire())
        except OSError:
            pass  # the worker died; _receive says how

    def _load(self) -> None:
        if self._preloading != self.lab_file:
            self._send_load()
        self._preloading = None
        reply = self._receive(self.import_timeout, f"importing {self.name}")
        if reply.kind is ReplyKind.IMPORT_ERROR:
            self._discard_lab()  # what ran of the file stays in its process: it ends
        self._imported(reply)
        self._loaded = self.lab_file

    def preload(self) -> None:
        """A judge's import of its lab file (the reference solution), sent now and its reply read
        on first use: the judge imports it while the student's lab starts, rather than when a
        check first needs it."""
        if not self.trusted or self.lab_file is None or self._loaded == self.lab_file:
            return
        self.start()
        if self._preloading != self.lab_file:
            self._send_load()
            self._preloading = self.lab_file

    def _settle_preload(self) -> None:
        """Reads the reply to a `preload` that no check used, before the judge moves on (its
        replies come in order); a judge that fails there is replaced by a fresh one."""
        if self._preloading is None or self._preloading != self.lab_file:
            return
        try:
            self._ensure_started()
        except (StudentCodeError, GraderError):
            self.stop()

    def retarget(
        self,
        lab_file: Path | None,
        lab_key: str | None = None,
        exercises: tuple[str, ...] | None = None,
        shown_name: str = "",
    ) -> None:
        """Grades `lab_file` next: another lab of the same submission, or another trusted variant
        of the same lab. Its wall limit starts now. The worker imports it on first use, if it is
        still running and its sandbox shows the file; else (a worker stopped after a crash, a hang,
        a failed import or a forbidden act) the next call starts a fresh one."""
        self._settle_preload()
        self.lab_file = Path(lab_file) if lab_file is not None else None
        self.lab_key = self.lab_key if lab_key is None else lab_key
        self.exercises = self.exercises if exercises is None else tuple(exercises)
        self.shown_name, self.cells = shown_name, None
        self.fatal, self.hung, self.violations = None, {}, []
        self.deadline = time.monotonic() + self.wall_limit if self.wall_limit else None
        if self.process is None:
            self.outputs = []
        elif self.lab_file is not None and not self.sandbox.shows(self.lab_file):
            self.stop()
            self.outputs = []
        else:
            self._end_lab()  # now: nothing of the last lab runs on into this one
            self.outputs = [self.output.next_lab()] if self.process is not None else []

    def _receive(self, timeout: float, doing: str) -> Reply:
        over = self.deadline is not None and self.deadline - time.monotonic() < timeout
        if over:
            timeout = max(0.0, self.deadline - time.monotonic())
        try:
            message = read_message(
                self._reply,
                deadline=time.monotonic() + timeout,
                limit=MESSAGE_LIMIT,
                abort=self._answers if self._forked else None,
            )
        except (TimeoutError, EOFError, CodecError) as failure:
            if over and isinstance(failure, TimeoutError):
                self._discard_lab()
                self.fatal = StudentCodeError(
                    ErrorKind.OVER_LIMIT,
                    f"grading this lab took longer than its limit of {self.wall_limit:g} s; the"
                    " checks not finished by then earn no points",
                )
                raise self.fatal from None
            if doing.startswith("starting"):
                # No student code has run yet: the sandbox or TensorFlow failed to start.
                self.stop()
                output = self._output_text()[-2000:]
                what = type(failure).__name__
                print(
                    f"course grader: the worker did not start ({what}):\n{output}", file=sys.stderr
                )
                self.fatal = GraderError(
                    "the grader could not start the process that runs your code; this is not your "
                    "code's fault: please report it to the course staff"
                )
                raise self.fatal from None
            return self._failed(failure, timeout, doing)
        return self._checked(message, doing)

    def _failed(self, failure: Exception, timeout: float, doing: str) -> Reply:
        """Raises what the student should read when the worker overran, died or babbled."""
        try:
            raise failure
        except TimeoutError:
            self._discard_lab()
            at_import = doing.startswith("importing")
            error = StudentCodeError(
                ErrorKind.TIMEOUT,
                f"{doing} did not finish within {timeout:g} s: "
                + (
                    "is there an endless loop, input() or training at the top level of the file?"
                    if at_import
                    else (
                        "an endless loop, a wait for input, or far too much work for a tiny input?"
                    )
                ),
            )
            if at_import:
                self.fatal = error
            raise error from None
        except (EOFError, CodecError) as failure:
            sandboxed, returncode = self.isolation == "namespaces", None
            if self._forked and isinstance(failure, EOFError):
                # The lab's child ended; its worker says how, unless the child took it along
                # (then the whole sandbox ended, and says how).
                returncode = self._child_exit()
            if returncode is not None:
                sandboxed = False  # the worker's own waitpid status, not bubblewrap's
            else:
                try:
                    returncode = (
                        self.process.wait(timeout=10) if isinstance(failure, EOFError) else None
                    )
                except subprocess.TimeoutExpired:  # its channel closed, the process did not end
                    failure, returncode = CodecError("the channel was closed"), None
            self._discard_lab()
            if isinstance(failure, CodecError):
                raise StudentCodeError(
                    ErrorKind.PROTOCOL,
                    f"while {doing}, the grader's channel was corrupted by the lab's code"
                    f" ({failure}).",
                ) from None
            error = StudentCodeError(
                ErrorKind.CRASH,
                f"the process running your code died while {doing}:"
                f" {_exit_reason(returncode, sandboxed)}." + self._printed(),
            )
            if doing.startswith("importing"):
                self.fatal = error
            raise error from None

    def _checked(self, message: Any, doing: str) -> Reply:
        """The reply in `message`, once it is known to be one (`Reply.from_wire`) and to report
        no forbidden act."""
        try:
            reply = Reply.from_wire(message)
        except ProtocolError:
            self._discard_lab()
            raise StudentCodeError(
                ErrorKind.PROTOCOL, f"while {doing}, the grader received a malformed reply."
            ) from None
        self.violations += [v for v in reply.violations if v not in self.violations]
        if self.violations:
            self.fatal = StudentCodeError(
                ErrorKind.FORBIDDEN,
                f"{self.name} tried {self.violations[0]}; "
                "a lab that reads or imports the reference solutions earns no points.",
            )
            self._discard_lab()
            raise self.fatal
        return reply

    def _imported(self, reply: Reply) -> None:
        if reply.kind is ReplyKind.IMPORT_ERROR:
            error = reply.error
            self.fatal = StudentCodeError(
                ErrorKind.IMPORT,
                f"importing {self.name} failed: {error.type}: {error.message}" + _where(error),
            )
            raise self.fatal

    def hide_output(self) -> None:
        """What the code prints from now on belongs to a hidden check: it is kept apart from
        the lab's output (visible at once) until `hidden_printed`."""
        self.hidden_outputs = [Printed()]
        if self.output is not None:
            self.output.hide(self.hidden_outputs[0])

    def hidden_printed(self, keep: int = 2000) -> tuple[int, str]:
        """Ends `hide_output`: how many bytes the code printed meanwhile, and the start and end of
        it, for the hidden check's own report."""
        if self.output is not None:
            self.output.hide(None)
        outputs, self.hidden_outputs = self.hidden_outputs or [], None
        total = sum(output.total for output in outputs)
        text = "\n".join(output.text() for output in outputs if output.total)
        if len(text) > 2 * keep:
            text = f"{text[:keep]}\n... [cut] ...\n{text[-keep:]}"
        return total, text

    def printed(self, keep: int = 4000) -> tuple[int, str]:
        """How many bytes the lab's code printed (in every worker it ran in), and the start and end
        of it."""
        if self.output is not None:
            self.output.settle()
        total = sum(output.total for output in self.outputs)
        text = "\n[the grader restarted your code]\n".join(
            output.text() for output in self.outputs if output.total
        )
        if len(text) > 2 * keep:
            text = f"{text[:keep]}\n... [cut] ...\n{text[-keep:]}"
        return total, text

    def _output_text(self) -> str:
        """What the last worker printed, once it has ended."""
        if self.output is None:
            return ""
        self.output.ended()
        return self.output.printed.text()

    def _printed(self) -> str:
        text = self._output_text().strip()
        return f"\nWhat your code printed last:\n{text[-800:]}" if text else ""

    def stop(self) -> None:
        """Ends the worker (and, in its sandbox, everything it started); the next call starts a
        fresh one."""
        if self.process is None:
            if self.sandbox is not None:
                self.sandbox.close()
                self.sandbox = None
            return
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self.process.kill()
        self.process.wait()
        self._close_channels()
        self.process = None
        self._ready, self._loaded, self._preloading = False, None, None
        if self.sandbox is not None:
            self.sandbox.close()
            self.sandbox = None

    close = stop

    def _close_channels(self) -> None:
        for fd in (self._request, self._reply, self._orders, self._answers):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._orders = self._answers = None
        self._forked = False

    def _end_lab(self) -> None:
        """Ends the child grading the current lab, with everything it started, and empties the
        sandbox's scratch folders (`worker.zygote`); where the worker does not confirm it in
        time, the whole worker stops instead. The next lab starts in a fresh child."""
        if not self._forked:
            return
        self._forked, self._loaded = False, None
        deadline = time.monotonic() + LIMITS.end_lab
        try:
            write_message(self._orders, End().to_wire())
            while True:
                answer = self._answer(deadline)
                if answer is not None and answer.kind is ReplyKind.ENDED:
                    break
        except (OSError, TimeoutError, EOFError, CodecError):
            self.stop()
            return
        # Whatever the child wrote after its last reply: nobody else writes there now.
        os.set_blocking(self._reply, False)
        try:
            while os.read(self._reply, 1 << 16):
                pass
        except OSError:
            pass
        finally:
            os.set_blocking(self._reply, True)

    def _child_exit(self) -> int | None:
        """How the lab's child ended, as its worker reports it (None: it did not say in time)."""
        deadline = time.monotonic() + 10
        try:
            while True:
                answer = self._answer(deadline)
                if answer is not None and answer.kind is ReplyKind.EXITED:
                    return answer.exited
        except (OSError, TimeoutError, EOFError, CodecError):
            return None

    def _answer(self, deadline: float) -> Reply | None:
        """The worker's next answer on the grader's own channel (None: one that is no reply,
        passed over as any answer not awaited)."""
        try:
            return Reply.from_wire(read_message(self._answers, deadline=deadline, limit=1 << 16))
        except ProtocolError:
            return None

    def _discard_lab(self) -> None:
        """After a failure of the student's code: its lab's child ends (the next call imports the
        lab again in a fresh one), or the whole worker where there is no child."""
        if self._forked:
            self._end_lab()
        else:
            self.stop()

    # -- requests ------------------------------------------------------------------------------
    def _request_reply(self, request: Request, what: str, timeout: float | None) -> Any:
        if not self.trusted:
            return self._student_request(request, what, timeout)
        try:
            return self._student_request(request, what, timeout)
        except StudentCodeError as error:
            if error.kind == ErrorKind.MODEL:
                raise
            if isinstance(request, Measure) and error.kind == ErrorKind.EXCEPTION:
                # The judge ran only Keras' own layers, built as the student's model says.
                raise StudentCodeError(
                    ErrorKind.MODEL,
                    f"{what}: the model your code returned failed when the grader used it "
                    f"({error.message.split(' raised ', 1)[-1][:300]}); check its input shape and "
                    "layers against the docstring",
                ) from None
            # The reference's or the judge's failure is the course's: details for the staff's log
            # only.
            print(f"course grader: the judge failed on {what}: {error.message}", file=sys.stderr)
            raise GraderError(f"the grader's reference failed on {what}") from None

    def _student_request(self, request: Request, what: str, timeout: float | None) -> Any:
        if self.fatal:
            raise self.fatal
        if what in self.hung:  # it would hang again: spare the student's other checks the wait
            raise StudentCodeError(
                ErrorKind.TIMEOUT,
                f"running {what} did not finish within {self.hung[what]:g} s in an earlier check,"
                " so it was not run again.",
            )
        self._ensure_started()
        try:
            write_message(self._request, request.to_wire())
        except (BrokenPipeError, OSError):
            pass  # the worker died; _receive reports how
        try:
            reply = self._receive(timeout or self.call_timeout, f"running {what}")
        except StudentCodeError as error:
            if error.kind == ErrorKind.TIMEOUT and not self.fatal:
                self.hung[what] = timeout or self.call_timeout
            raise
        if reply.kind is ReplyKind.MISSING:
            raise StudentCodeError(
                ErrorKind.MISSING_FUNCTION,
                f"{self.name} defines no function {reply.missing}(): keep the exercise's name"
                " and signature.",
            )
        if reply.kind is ReplyKind.MODEL_ERROR:
            raise StudentCodeError(
                ErrorKind.MODEL,
                f"{what}: the grader could not load the model your code returned"
                f" ({reply.model_error}). Models are checked after saving and loading them with"
                " Keras' safe loader: build them from keras.layers (no Lambda layer, no custom"
                " layer class) as keras.Model(inputs, outputs).",
            )
        if reply.kind is ReplyKind.ERROR:
            error = reply.error
            kind, message = error.type, error.message
            if kind == "NotImplementedError" and error.raised_by_lab:
                function = error.function
                stub = f"{function}()" if function else what
                helps = (
                    f"; `course hint {self.lab_key}.{function}` helps"
                    if self.lab_key and function in self.exercises
                    else f": {message}"
                )
                raise StudentCodeError(
                    ErrorKind.NOT_IMPLEMENTED, f"{stub} is not implemented yet{helps}"
                )
            message = f": {message}" if message else ""
            if isinstance(request, Probe) and not error.where:
                # No line of the lab is in the traceback: the grader's probe choked on what the lab
                # returned, or TensorFlow failed inside compiled code; say so rather than blame a
                # line.
                raise StudentCodeError(
                    ErrorKind.EXCEPTION,
                    f"{what} failed with {kind}{message}, outside any line of {self.name}: inside"
                    " TensorFlow (code in a tf.function, say) or while the grader used what your"
                    " code returned; check the type, shape and dtype it returns against its"
                    " docstring.",
                )
            raise StudentCodeError(
                ErrorKind.EXCEPTION, f"{what} raised {kind}{message}" + _where(error)
            )
        if reply.kind is not ReplyKind.VALUE:
            raise StudentCodeError(
                ErrorKind.PROTOCOL, f"while running {what}, the grader received a malformed reply."
            )
        if isinstance(request, Call) and reply.value is None:
            raise StudentCodeError(
                ErrorKind.EXCEPTION, f"{what} returned None: is a `return` missing?"
            )
        return reply.value

    def call(self, name: str, *args: Any, timeout: float | None = None, **kwargs: Any) -> Any:
        """Calls the lab's function `name` in the worker; arrays and tensors come back as NumPy."""
        return self._request_reply(Call(name, list(args), kwargs), f"{name}()", timeout)

    def probe(
        self,
        probe: Callable,
        *args: Any,
        measure: Callable | None = None,
        measure_args: tuple = (),
        timeout: float | None = None,
        **kwargs: Any,
    ) -> Any:
        """Runs `probe(lab_module, *args, **kwargs)` in the worker: a function of a module of
        `course.grading.probes` that calls the lab's functions and returns what they made (models
        as model files). With `measure`, the judge computes `measure(result, *measure_args)` from
        it with every model loaded there, and that is what this returns."""
        what = " ".join((probe.__doc__ or probe.__name__).strip().split("\n\n")[0].split())
        request = Probe(probe.__module__, probe.__name__, list(args), kwargs)
        value = self._request_reply(request, what, timeout)
        if measure is None:
            return value
        if self.judge is None:
            raise GraderError("a check measures a model but the grader has no judge")
        return self.judge.measure(measure, value, *measure_args, what=what)

    def measure(self, measure: Callable, value: Any, *args: Any, what: str = "") -> Any:
        """The judge's side of `probe`: `measure(value with models loaded, *args)`."""
        request = Measure(inspect.getfile(measure), measure.__name__, value, list(args))
        return self._request_reply(request, what or measure.__name__, None)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)
        if self.exercises and name not in self.exercises:  # a typo in an autograder test
            raise GraderError(
                f"the autograder called {name}(), which is not an exercise of this lab "
                f"({', '.join(self.exercises)})"
            )
        return lambda *args, **kwargs: self.call(name, *args, **kwargs)


def _where(error: ReplyError) -> str:
    return "".join(f"\n  at {line}" for line in error.where)
