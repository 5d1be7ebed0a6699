"""The operating-system boundary around every process that runs or judges student work.

Three levels, the strongest available chosen by default (`choose`):

- `namespaces`: bubblewrap (`bwrap`). The process gets its own user, PID, network, IPC, UTS and
  mount namespaces, uid 65534 and no capabilities. Its file system is built from an allowlist:
  the system's `/usr`, the Python installation and the virtual environment, the course library
  (`course/`), all read-only; the submission's folder read-only at `/submission`; small private
  tmpfs for `/tmp`, `$HOME` and the working folder `/scratch`. Nothing else of the checkout
  exists there: no `solutions/`, `tests/`, `.git/`, reports or other submissions. It dies with its
  parent, and everything it started dies with it (the PID namespace ends with its first process).
- `uid`: where user namespaces are refused (some containers), the process runs as uid 65534 with
  no groups and `no_new_privs`, in a scratch folder of its own. What protects the reference
  solutions then is their file modes: `exposed` names the protected paths that uid 65534 could
  still read, and the report says so.
- `none`: student code runs as the grader. Only by an explicit `--isolation none`, with a warning.

Every level sets resource limits (address space, file size, CPU time, open files, processes, no
core dumps) before the program starts; where the grader may create a pids cgroup (as root), the
number of processes is capped there too, since RLIMIT_NPROC does not bind root.
"""

from __future__ import annotations

import functools
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from course import ROOT

LEVELS = ("namespaces", "uid", "none")
NOBODY = 65534
SUBMISSION = "/submission"  # where the submission's folder appears inside the namespaces sandbox
SCRATCH = "/scratch"
HOME = "/home/student"

# Bounds on one sandboxed process. TensorFlow reserves about 2.7 GB of address space on start.
ADDRESS_SPACE = 8 << 30
FILE_SIZE = 256 << 20
TMPFS_SIZE = 256 << 20
OPEN_FILES = 1024
PROCESSES = 512  # TensorFlow's thread pools count: threads are tasks


class IsolationError(RuntimeError):
    """The isolation asked for is not available here."""


@dataclass
class Limits:
    cpu_seconds: int = 1200

    def apply(self) -> None:
        """Sets the limits on the calling process (run in the child before it executes)."""
        for limit, value in (
            (resource.RLIMIT_AS, ADDRESS_SPACE),
            (resource.RLIMIT_FSIZE, FILE_SIZE),
            (resource.RLIMIT_CPU, self.cpu_seconds),
            (resource.RLIMIT_NOFILE, OPEN_FILES),
            (resource.RLIMIT_NPROC, PROCESSES),
            (resource.RLIMIT_CORE, 0),
        ):
            soft, hard = resource.getrlimit(limit)
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(limit, (value, value))


@functools.lru_cache(maxsize=None)
def _bwrap_works() -> bool:
    if not shutil.which("bwrap"):
        return False
    box = Sandbox("namespaces")  # the very command line, limits and cgroup a worker gets
    try:
        command, options = box.popen_args([sys.executable, "-c", "import course"], pass_fds=())
        return subprocess.run(command, **options, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired, IsolationError):
        return False
    finally:
        box.close()


@functools.lru_cache(maxsize=None)
def _uid_works() -> bool:
    if os.geteuid() != 0:
        return False  # only root can become uid 65534
    try:
        result = subprocess.run(
            [sys.executable, "-c", "pass"],
            preexec_fn=_become_nobody,
            capture_output=True,
            timeout=30,
            cwd="/",
        )
        return result.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def available() -> list[str]:
    """The isolation levels this machine can provide, strongest first."""
    return [
        level for level, works in (("namespaces", _bwrap_works), ("uid", _uid_works)) if works()
    ] + ["none"]


def choose(requested: str = "auto", allow_none: bool = False) -> str:
    """The level to grade with: `requested`, or for "auto" the strongest available. "auto" settles
    for "none" only when `allow_none` (a student checking their own code)."""
    if requested not in ("auto", *LEVELS):
        raise IsolationError(f"unknown isolation {requested!r}; choose auto, {', '.join(LEVELS)}")
    levels = available()
    if requested == "auto":
        if levels[0] != "none" or allow_none:
            return levels[0]
        raise IsolationError(
            "no sandbox is available for student code: install bubblewrap (apt install bubblewrap)"
            " and allow unprivileged user namespaces, or run the grader as root for the uid"
            " fallback; --isolation none grades without one (only for code you trust)"
        )
    if requested not in levels:
        raise IsolationError(
            f"--isolation {requested} is not available here (available: {', '.join(levels)})"
        )
    return requested


def describe(level: str) -> str:
    """One line for reports: what isolated the student's code."""
    return {
        "namespaces": (
            "namespaces (bubblewrap: own user, PID, network and mount namespaces; "
            "no solutions, tests or .git in view)"
        ),
        "uid": "uid (uid 65534 and file modes; no namespaces were available)",
        "none": "none (the student's code ran with the grader's privileges)",
    }[level]


def _become_nobody() -> None:
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def _pids_cgroup() -> Path | None:
    """A fresh pids cgroup (v2 or v1) where this process may create one, else None."""
    for parent in (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup")):
        if (
            (parent / "cgroup.procs").exists()
            and os.access(parent, os.W_OK)
            and (parent.name == "pids" or "pids" in _read(parent / "cgroup.controllers"))
        ):
            try:
                return Path(tempfile.mkdtemp(prefix="course-sandbox-", dir=parent))
            except OSError:
                continue
    return None


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def exposed(paths: list[Path]) -> list[str]:
    """The paths among `paths` that uid 65534 could read (mode bits for "other" on the way)."""
    found = []
    for path in paths:
        if not path.exists():
            continue
        chain = [*reversed(path.resolve().parents), path.resolve()]
        if all(p.stat().st_mode & 0o001 for p in chain[:-1]) and path.stat().st_mode & 0o004:
            found.append(str(path))
    return found


@dataclass
class Sandbox:
    """How to start one process at `level`: `popen_args` gives the command and Popen options."""

    level: str
    folder: Path | None = None  # the submission's folder, readable at /submission (namespaces)
    readable: list[Path] = field(default_factory=list)  # more read-only paths, at the same place
    limits: Limits = field(default_factory=Limits)

    def __post_init__(self) -> None:
        # As uid 65534 the scratch folder must not sit in the grader's private temporary folder.
        shared = "/tmp" if self.level == "uid" and os.path.isdir("/tmp") else None
        self._scratch = Path(tempfile.mkdtemp(prefix="course-scratch-", dir=shared))
        self._cgroup = _pids_cgroup() if self.level != "none" else None
        if self._cgroup:
            try:
                (self._cgroup / "pids.max").write_text(str(PROCESSES))
            except OSError:
                self._cgroup.rmdir()
                self._cgroup = None
        if self.level == "uid":
            os.chown(self._scratch, NOBODY, NOBODY)

    def path(self, host: Path) -> str:
        """Where the file `host` of the submission's folder is, as the process sees it."""
        if self.level == "namespaces" and self.folder is not None:
            return f"{SUBMISSION}/{Path(host).absolute().relative_to(self.folder.absolute())}"
        return str(Path(host).resolve())

    def shows(self, host: Path) -> bool:
        """Whether the process sees the file `host` (at `path(host)`): in namespaces only the
        submission's folder and the readable paths are there."""
        if self.level != "namespaces":
            return True
        host = Path(host).absolute()
        if self.folder is not None:
            return host.is_relative_to(self.folder.absolute())
        return any(host.is_relative_to(Path(path).absolute()) for path in self.readable)

    def environment(self) -> dict[str, str]:
        home = HOME if self.level == "namespaces" else str(self._scratch)
        keep = {
            name: os.environ[name]
            for name in ("PATH", "LANG", "LC_ALL", "TZ")
            if name in os.environ
        }
        # The worker imports the grader's own `course`: in the sandbox its checkout holds nothing
        # else.
        path = str(ROOT) if self.level == "namespaces" else os.environ.get("PYTHONPATH")
        if path:
            keep["PYTHONPATH"] = path
        return {
            **keep,
            "HOME": home,
            "KERAS_HOME": f"{home}/.keras",
            "MPLCONFIGDIR": f"{home}/.matplotlib",
            "TMPDIR": "/tmp" if self.level == "namespaces" else str(self._scratch),
            "PYTHONNOUSERSITE": "1",
            "PYTHONSAFEPATH": "1",  # the working folder is the student's: never on sys.path
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "CUDA_VISIBLE_DEVICES": "",
            "MPLBACKEND": "Agg",
            # glibc gives each of TensorFlow's threads a malloc arena of its own, each keeping
            # freed memory; two arenas hold far less in a 768 MB container, as fast.
            "MALLOC_ARENA_MAX": "2",
        }

    def popen_args(self, argv: list[str], pass_fds: tuple[int, ...]) -> tuple[list[str], dict]:
        """The command line and `subprocess.Popen` keyword arguments for `argv`."""
        options = {
            "env": self.environment(),
            "pass_fds": pass_fds,
            "start_new_session": True,
            "preexec_fn": self._preexec,
            "cwd": str(self._scratch),
        }
        if self.level != "namespaces":
            return argv, options
        return self._bwrap(argv), options

    def _preexec(self) -> None:
        if self._cgroup:
            try:
                (self._cgroup / "cgroup.procs").write_text(str(os.getpid()))
            except OSError:
                pass
        self.limits.apply()
        if self.level == "uid":
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS

    def _bwrap(self, argv: list[str]) -> list[str]:
        command = [
            shutil.which("bwrap"),
            "--unshare-all",
            "--die-with-parent",
            "--new-session",
            "--cap-drop",
            "ALL",
            "--uid",
            str(NOBODY),
            "--gid",
            str(NOBODY),
            "--hostname",
            "sandbox",
            "--ro-bind",
            "/usr",
            "/usr",
            "--proc",
            "/proc",
            "--dev",
            "/dev",
        ]
        for link in ("bin", "sbin", "lib", "lib64", "lib32"):
            top = Path("/") / link
            if top.is_symlink():
                command += ["--symlink", os.readlink(top), str(top)]
            elif top.is_dir():
                command += ["--ro-bind", str(top), str(top)]
        for name in (
            "ld.so.cache",
            "ld.so.conf",
            "ld.so.conf.d",
            "localtime",
            "nsswitch.conf",
            "passwd",
            "group",
        ):
            command += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
        for size_and_folder in ("/tmp", HOME, SCRATCH):
            command += ["--size", str(TMPFS_SIZE), "--tmpfs", size_and_folder]
        for path in _python_paths() + [ROOT / "course", *self.readable]:
            command += ["--ro-bind", str(path), str(path)]
        if self.folder is not None:
            command += ["--ro-bind", str(self.folder.resolve()), SUBMISSION]
        command += ["--chdir", SCRATCH, "--"]
        return command + argv

    def close(self) -> None:
        """Ends whatever the process left running, then removes the scratch folder and the
        cgroup. In namespaces the PID namespace ends with the process; as uid 65534 a process
        in a session of its own would outlive it, so every process of that uid is killed (the
        grader runs one sandbox at a time at that level)."""
        if self.level == "uid":
            _kill_everything_of(NOBODY)
        for _ in range(200 if self._cgroup else 0):
            for pid in _read(self._cgroup / "cgroup.procs").split():
                try:
                    os.kill(int(pid), 9)
                except (OSError, ValueError):
                    pass
            try:
                self._cgroup.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:  # the killed tasks leave the cgroup within moments
                time.sleep(0.01)
        self._cgroup = None
        shutil.rmtree(self._scratch, ignore_errors=True)


def _kill_everything_of(uid: int) -> None:
    """SIGKILL to every process of `uid`, sent by a child that became `uid` (kill(-1) then
    reaches exactly those processes)."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            os.kill(-1, 9)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def _python_paths() -> list[Path]:
    """The Python installation and the virtual environment, outermost first, without repeats."""
    import site
    import sysconfig

    candidates = [
        sys.base_prefix,
        sys.prefix,
        sys.exec_prefix,
        *site.getsitepackages(),
        sysconfig.get_paths()["stdlib"],
        os.path.dirname(os.path.realpath(sys.executable)),
    ]
    paths: list[Path] = []
    for candidate in sorted(
        {os.path.realpath(c) for c in candidates if c and os.path.isdir(c)}, key=len
    ):
        path = Path(candidate)
        if path == Path("/") or str(path).startswith("/usr"):
            continue  # /usr is bound already
        if path == ROOT or path in ROOT.parents:
            raise IsolationError(
                f"the Python installation at {path} holds the course checkout; "
                "use a virtual environment inside or beside it"
            )
        if not any(parent in path.parents for parent in paths):
            paths.append(path)
    return paths
