"""The operating-system boundary around every process that runs or judges student work.

Three levels, the strongest available chosen by default (`choose`):

- `namespaces`: bubblewrap (`bwrap`). The process gets its own user, PID, network, IPC, UTS and
  mount namespaces, uid 65534 and no capabilities. Its file system is built from an allowlist:
  the system's `/usr`, the Python installation and the virtual environment, the course library
  (`course/`), all read-only; the file of the lab being graded, alone, read-only in `/submission`
  (`Sandbox.show`: never another lab's file); small private tmpfs for `/tmp`, `$HOME` and the
  working folder `/scratch` (256 MiB each) and `/dev/shm` (64 MiB); the root and `/dev` are
  read-only, so that memory-backed files hold `WRITABLE_MEMORY` (832 MiB) at most. Nothing else
  of the checkout exists there: no `solutions/`, `tests/`, `.git/`, reports or other submissions.
  It dies with its parent, and everything it started dies with it (the PID namespace ends with
  its first process).
- `uid`: where user namespaces are refused (some containers), the process runs as a uid of its
  own (`private_uid`: no other process runs as it), no groups, `no_new_privs`, in a scratch folder
  that only it can read. Where the kernel has Landlock (`course.grading.landlock`), its files
  are an allowlist as in namespaces (no solutions, no classmate's files, no /tmp), it has no TCP
  and signals nothing beyond its own processes; what it wrote anywhere is removed by owner when
  it ends, and only its uid's processes are killed. What the level cannot hold on this machine
  is listed by `unkept` and said in every report.
- `none`: student code runs as the grader. Only by an explicit `--isolation none`, with a warning.

Every level sets resource limits (address space, file size, CPU time, open files, processes, no
core dumps) before the program starts; where the grader may create a pids cgroup (as root), the
number of processes is capped there too, since RLIMIT_NPROC does not bind root.
"""

from __future__ import annotations

import ctypes
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
from course.files import empty_folder
from course.grading import landlock

LEVELS = ("namespaces", "uid", "none")
NOBODY = 65534
# The uid level gives each worker a uid of its own from this range (no /etc/passwd entry needed).
PRIVATE_UIDS = range(1_640_000, 1_700_000)
SUBMISSION = "/submission"  # where the submission's folder appears inside the namespaces sandbox
SCRATCH = "/scratch"
HOME = "/home/student"

# Bounds on one sandboxed process. TensorFlow reserves about 2.7 GB of address space on start.
ADDRESS_SPACE = 8 << 30
FILE_SIZE = 256 << 20
TMPFS_SIZE = 256 << 20
SHM_SIZE = 64 << 20  # /dev/shm: what multiprocessing's semaphores need, not a place for data
OPEN_FILES = 1024
PROCESSES = 512  # TensorFlow's thread pools count: threads are tasks
# Bounds on a whole sandbox (a worker and everything it starts), where a cgroup can be made:
# memory includes its tmpfs pages (/tmp, $HOME, /scratch, /dev/shm), which no rlimit counts.
MEMORY = 2 << 30
# The sum of every writable memory-backed file system of a namespaces sandbox: /tmp, $HOME,
# /scratch and /dev/shm (its root and /dev are read-only).
WRITABLE_MEMORY = 3 * TMPFS_SIZE + SHM_SIZE
CPU_CORES = 1.0


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
    from course.grading import landlock

    return {
        "namespaces": (
            "namespaces (bubblewrap: own user, PID, network and mount namespaces; "
            "no solutions, tests or .git in view)"
        ),
        "uid": (
            "uid (a uid of its own"
            + (", Landlock for files, TCP and signals" if landlock.abi() else " and file modes")
            + "; no namespaces were available)"
        ),
        "none": "none (the student's code ran with the grader's privileges)",
    }[level]


def _become_nobody() -> None:
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def _uids_in_use() -> set[int]:
    used = set()
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            for line in _read(Path(f"/proc/{pid}/status")).splitlines():
                if line.startswith("Uid:"):
                    used |= {int(value) for value in line.split()[1:]}
    return used


def private_uid() -> tuple[int, Path]:
    """A uid that no process runs as, reserved for one worker by a folder that only this grader
    (root) may make (`/run` or the temporary folder); removing the folder releases it."""
    import random

    base = Path("/run") if os.access("/run", os.W_OK) else Path(tempfile.gettempdir())
    used = _uids_in_use()
    for _ in range(1000):
        uid = random.choice(PRIVATE_UIDS)
        if uid in used:
            continue
        claim = base / f"course-uid-{uid}"
        try:
            claim.mkdir(mode=0o700)
        except FileExistsError:
            continue
        return uid, claim
    raise IsolationError("no free uid for the uid isolation level")


def _remove_owned(uid: int, folders: tuple[str, ...] = ("/tmp", "/var/tmp", "/dev/shm")) -> None:
    """Removes what `uid` left at the top of the shared temporary folders (files written where
    Landlock did not stop it)."""
    for folder in folders:
        empty_folder(folder, owner=uid)


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


def _own_cgroup(controller: str) -> Path | None:
    """The folder of this process's cgroup for `controller` (v1: its own hierarchy; v2: the
    unified one, where the controller is enabled), or None."""
    for line in _read(Path("/proc/self/cgroup")).splitlines():
        _, names, path = line.split(":", 2)
        if controller in names.split(","):
            folder = Path(f"/sys/fs/cgroup/{controller}") / path.lstrip("/")
        elif names == "" and controller in _read(Path("/sys/fs/cgroup/cgroup.controllers")):
            folder = Path("/sys/fs/cgroup") / path.lstrip("/")
        else:
            continue
        if (folder / "cgroup.procs").exists() and os.access(folder, os.W_OK):
            return folder
    return None


def _bounded_cgroup() -> Path | None:
    """A fresh cgroup for one sandbox, below this process's own (so that a container's limits
    still hold), with its memory (tmpfs pages included) and CPU bounded; None where the grader
    may not make one (then `unkept` says so in every report). cgroup v1 (memory and cpu
    hierarchies) or v2."""
    memory = _own_cgroup("memory")
    if memory is None:
        return None
    try:
        folder = Path(tempfile.mkdtemp(prefix="course-sandbox-", dir=memory))
    except OSError:
        return None
    period = 100_000
    settings = (
        [("memory.max", str(MEMORY)), ("memory.swap.max", "0")]
        if (folder / "memory.max").exists()
        else [("memory.limit_in_bytes", str(MEMORY))]
    )
    if (folder / "cpu.max").exists():
        settings.append(("cpu.max", f"{int(CPU_CORES * period)} {period}"))
    try:
        for name, value in settings:
            (folder / name).write_text(value)
    except OSError:
        folder.rmdir()
        return None
    return folder


def _cpu_cgroup() -> Path | None:
    """cgroup v1 keeps the CPU quota in a hierarchy of its own."""
    cpu = _own_cgroup("cpu")
    if cpu is None or not (cpu / "cpu.cfs_quota_us").exists():
        return None
    try:
        folder = Path(tempfile.mkdtemp(prefix="course-sandbox-", dir=cpu))
        (folder / "cpu.cfs_period_us").write_text("100000")
        (folder / "cpu.cfs_quota_us").write_text(str(int(CPU_CORES * 100_000)))
        return folder
    except OSError:
        return None


@functools.lru_cache(maxsize=None)
def can_bound_memory() -> bool:
    """Whether a sandbox's memory, its memory-backed files included, can be bounded here."""
    folder = _bounded_cgroup()
    if folder is None:
        return False
    _remove_cgroup(folder)
    return True


def _remove_cgroup(folder: Path) -> None:
    """Kills what is left in the cgroup `folder` and removes it."""
    for _ in range(200):
        for pid in _read(folder / "cgroup.procs").split():
            try:
                os.kill(int(pid), 9)
            except (OSError, ValueError):
                pass
        try:
            folder.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:  # the killed tasks leave the cgroup within moments
            time.sleep(0.01)


def unkept(level: str) -> list[str]:
    """The promises of the contract's Isolation paragraph that `level` does not keep on this
    machine, one line each: every report says them."""
    from course.grading import landlock

    if level == "none":
        return ["the student's code ran with the grader's privileges: nothing was isolated"]
    gaps = []
    if level == "uid":
        version = landlock.abi()
        if not version:
            gaps += [
                "no Landlock in this kernel: files readable by everyone (classmates'"
                " submissions among them) could be read, and files could be written to /tmp,"
                " /var/tmp and /dev/shm (removed when the worker ended)",
            ]
        if version < 4:
            gaps.append("the network, the machine's loopback included, was reachable")
        else:
            gaps.append("UDP and unix sockets were not blocked (Landlock bounds TCP only)")
        if version < 6:
            gaps.append("abstract unix sockets of other programs could be reached")
        gaps += [
            "the student's code could see the machine's other processes (no PID namespace)",
            "the judge, which runs no student code, ran with the grader's privileges",
        ]
    if not can_bound_memory():
        gaps.append(
            "memory is bounded per process, not per submission (no memory cgroup could be made):"
            " memory-backed files are bounded only by their file systems' sizes"
        )
    return gaps


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
        # As a uid of its own the scratch folder must not sit in the grader's private temporary
        # folder.
        shared = "/tmp" if self.level == "uid" and os.path.isdir("/tmp") else None
        self.uid: int | None = NOBODY if self.level == "namespaces" else None
        self._claim: Path | None = None
        if self.level == "uid":
            self.uid, self._claim = private_uid()
        self._scratch = Path(tempfile.mkdtemp(prefix="course-scratch-", dir=shared))
        self._cgroup = _pids_cgroup() if self.level != "none" else None
        if self._cgroup:
            try:
                (self._cgroup / "pids.max").write_text(str(PROCESSES))
            except OSError:
                self._cgroup.rmdir()
                self._cgroup = None
        self._bounds = (
            [group for group in (_bounded_cgroup(), _cpu_cgroup()) if group]
            if self.level != "none"
            else []
        )
        if self.level == "uid":
            os.chown(self._scratch, self.uid, self.uid)  # mode 0700: its alone
        # What the process sees of the submission's folder: one lab's file at a time (`show`),
        # never the other labs' files: a lab's grade follows from its own file alone.
        self._shown: Path | None = None
        if self.folder is not None and self.level != "none":
            self._shown = Path(tempfile.mkdtemp(prefix="course-lab-", dir=shared))
            if self.level == "uid":  # readable by its uid's group, writable by the grader only
                os.chown(self._shown, os.getuid(), self.uid)
                self._shown.chmod(0o750)
            else:
                self._shown.chmod(0o755)

    def show(self, host: Path) -> None:
        """Shows the file `host` of the submission's folder (at `path(host)`) and nothing else of
        it: the last lab's file disappears. Called between two labs, when no student code runs."""
        if self._shown is None:
            return
        for entry in os.listdir(self._shown):
            target = self._shown / entry
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            else:
                target.unlink()
        relative = Path(host).absolute().relative_to(self.folder.absolute())
        copy = self._shown / relative
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(host, copy, follow_symlinks=False)
        made = [self._shown / part for part in relative.parents if part != Path(".")]
        for path in [*made, copy]:
            if self.level == "uid":  # readable by its uid's group, writable by the grader only
                os.chown(path, os.getuid(), self.uid)
            folder = path.is_dir()
            mode = 0o750 if folder else 0o640
            path.chmod(mode if self.level == "uid" else mode | (0o005 if folder else 0o004))

    @property
    def private(self) -> bool:
        """Whether every process the worker may signal is its own (a PID namespace, or a uid of
        its own), so that it may end whatever a lab left running with kill(-1)."""
        return self.level in ("namespaces", "uid")

    @property
    def confined(self) -> bool:
        """Whether the process sees only an allowlist of files (namespaces, or Landlock)."""
        from course.grading import landlock

        return self.level == "namespaces" or (self.level == "uid" and landlock.abi() > 0)

    def scratch(self) -> list[str]:
        """The folders the process may write, as it sees them: emptied between two labs."""
        if self.level == "namespaces":
            return ["/tmp", HOME, SCRATCH]
        return [str(self._scratch)]

    def path(self, host: Path) -> str:
        """Where the file `host` of the submission's folder is, as the process sees it."""
        if self._shown is not None:
            relative = Path(host).absolute().relative_to(self.folder.absolute())
            place = SUBMISSION if self.level == "namespaces" else str(self._shown)
            return place if relative == Path(".") else f"{place}/{relative}"
        return str(Path(host).resolve())

    def shows(self, host: Path) -> bool:
        """Whether the process sees the file `host` (at `path(host)`): in namespaces only the
        submission's folder and the readable paths are there."""
        if not self.confined:
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
        for group in [self._cgroup, *self._bounds]:
            if group:
                try:
                    (group / "cgroup.procs").write_text(str(os.getpid()))
                except OSError:
                    pass
        self.limits.apply()
        if self.level == "uid":
            # Everything is imported and computed before the uid changes: the new uid may not
            # read the grader's Python installation.
            allowlist, version, libc = self._allowlist(), landlock.abi(), ctypes.CDLL(None)
            os.setgroups([])
            os.setgid(self.uid)
            os.setuid(self.uid)
            libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
            if version:
                landlock.restrict(read=allowlist, write=[str(self._scratch)], devices=["/dev"])

    def _allowlist(self) -> list[str]:
        """What a confined process may read: the system, Python, the course library, the
        submission's folder and the readable paths; as in the namespaces' mounts."""
        system = ["/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/etc", "/proc", "/sys"]
        paths = [*system, *map(str, _python_paths()), str(ROOT / "course")]
        paths += [str(path) for path in self.readable]
        if self._shown is not None:
            paths.append(str(self._shown))
        return paths

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
            # bubblewrap's /dev/shm is a folder of /dev's tmpfs, half the machine's memory
            "--size",
            str(SHM_SIZE),
            "--tmpfs",
            "/dev/shm",
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
            command += ["--ro-bind", str(self._shown), SUBMISSION]
        # bubblewrap's root and /dev are tmpfs of half the machine's memory each: read-only
        # once everything is mounted, so that only the sized tmpfs above take files
        # (WRITABLE_MEMORY in all).
        command += ["--remount-ro", "/dev", "--remount-ro", "/"]
        command += ["--chdir", SCRATCH, "--"]
        return command + argv

    def close(self) -> None:
        """Ends whatever the process left running, then removes the scratch folder and the
        cgroup. In namespaces the PID namespace ends with the process; at the uid level a process
        in a session of its own would outlive it, so every process of the worker's own uid is
        killed, and what that uid left in the shared temporary folders is removed."""
        if self.level == "uid" and self._claim is not None:
            _kill_everything_of(self.uid)  # its own uid: nobody else's processes
            _remove_owned(self.uid)
        for group in [self._cgroup, *self._bounds]:
            if group:
                _remove_cgroup(group)
        self._cgroup, self._bounds = None, []
        if self._claim is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._claim.rmdir()
            self._claim = None
        shutil.rmtree(self._scratch, ignore_errors=True)
        if self._shown is not None:
            shutil.rmtree(self._shown, ignore_errors=True)
            self._shown = None


def _kill_everything_of(uid: int) -> None:
    """SIGKILL to every process of `uid`, sent by a child that became `uid` (kill(-1) then
    reaches exactly those processes), until none of them is left running."""
    for _ in range(100):
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
        if not _running_as(uid):
            return
        time.sleep(0.02)


def _running_as(uid: int) -> list[int]:
    """The live processes (not zombies) of `uid`."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        status = _read(Path(f"/proc/{pid}/status"))
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields.get("Uid", "").split()[:1] == [str(uid)] and "Z" not in fields.get("State", ""):
            found.append(int(pid))
    return found


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
