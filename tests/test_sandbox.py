"""The adversarial suite: hostile submissions (tests/fixtures/submissions/hostile.py) graded in one
`course grade --jobs 2` batch, and the sandbox, the verdict file and the limits on their own.

Every case must earn what its honest part earns and no more, leave its classmates' grades alone,
leave the checkout, the virtual environment and $HOME byte-identical, reach no network, and leave
no process behind; the grader must exit 0 with every report written.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from course import ROOT
from course.grading import sandbox
from course.grading.grade import printable
from course.grading.runner import _read_results, read_verdicts

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "submissions"))
import hostile  # noqa: E402
from commands import LIMITS, course, live_commands  # noqa: E402

NAMESPACES = "namespaces" in sandbox.available()
needs_namespaces = pytest.mark.skipif(
    not NAMESPACES, reason="bubblewrap with user namespaces is not available"
)


PLANTED = ("conftest.py", "sitecustomize.py", "HOSTILE_WAS_HERE")


def tree_state(root: Path, contents: bool, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """Every path under `root` with a digest of its type, mode and size, and of its bytes
    (`contents`) or its modification time. Equal states: nothing was added, removed or changed.
    Bytecode caches are left out (other tests, running beside this one, may compile modules for
    the first time); a planted file is caught by name (`planted`)."""
    state = {}
    for folder, folders, files in os.walk(root):
        folders[:] = sorted(
            f for f in folders if os.path.join(folder, f) not in skip and f != "__pycache__"
        )
        for name in sorted(files) + folders:
            path = os.path.join(folder, name)
            info = os.lstat(path)
            digest = hashlib.sha256(f"{info.st_mode}\0{info.st_size}\0".encode())
            if contents and os.path.isfile(path) and not os.path.islink(path):
                digest.update(Path(path).read_bytes())
            elif not contents:
                digest.update(str(info.st_mtime_ns).encode())
            state[path] = digest.hexdigest()
    return state


def states(home: Path) -> dict[str, dict]:
    """Digests of the checkout (its bytes; runs/ and caches aside), its .git, the virtual
    environment and the grader's $HOME, and the planted files found anywhere in them."""
    skip = tuple(
        str(path)
        for path in [*ROOT.glob(".venv*"), ROOT / ".pytest_cache", ROOT / ".git", ROOT / "runs"]
    )
    return {
        "checkout": tree_state(ROOT, contents=True, skip=skip),
        "git": tree_state(ROOT / ".git", contents=False) if (ROOT / ".git").exists() else {},
        "venv": tree_state(Path(sys.prefix), contents=False),
        "home": tree_state(home, contents=True),
        "planted": {
            str(path): ""
            for root in (ROOT, Path(sys.prefix), home)
            for name in PLANTED
            for path in root.rglob(name)
            if root != ROOT or not str(path.relative_to(root)).startswith(".venv")
        },
    }


def survivors() -> list[str]:
    """Command lines of live processes that a hostile case started."""
    return [command for command in live_commands(hostile.MARKER) if "pytest" not in command]


class Listener:
    """A TCP server on the host's loopback that counts the connections it accepts."""

    def __init__(self):
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.accepted = 0
        self.socket.settimeout(0.5)
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while self.running:
            try:
                connection, _ = self.socket.accept()
                self.accepted += 1
                connection.close()
            except OSError:
                continue

    def close(self) -> None:
        self.running = False
        self.thread.join()
        self.socket.close()


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """Every hostile submission graded by one `course grade --jobs 2` run."""
    if not NAMESPACES:
        pytest.skip("bubblewrap with user namespaces is not available")
    folder = tmp_path_factory.mktemp("hostile")
    out = tmp_path_factory.mktemp("reports")
    listener = Listener()
    submissions = hostile.write_all(folder, listener.port)
    home = tmp_path_factory.mktemp("home")
    (home / ".keras").mkdir()
    (home / ".keras" / "keras.json").write_text('{"floatx": "float32"}')
    before = states(home)
    start = time.monotonic()
    result = course(
        "grade",
        *map(str, submissions),
        "--lab",
        hostile.LAB,
        "--jobs",
        "2",
        *LIMITS,
        "--csv",
        str(out / "grades.csv"),
        "--json",
        str(out / "json") + "/",
        "--junit",
        str(out / "junit.xml"),
        env=dict(os.environ, HOME=str(home)),
    )
    seconds = time.monotonic() - start
    time.sleep(1)
    after, alive = states(home), survivors()
    listener.close()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    shown = {name: printable(hostile.folder_of(folder, name).name) for name in hostile.CASES}
    return {
        "folder": folder,
        "out": out,
        "stdout": result.stdout,
        "stderr": result.stderr,
        "seconds": seconds,
        "before": before,
        "after": after,
        "survivors": alive,
        "connections": listener.accepted,
        "names": shown,
        "csv": {row["submission"]: row for row in csv.DictReader((out / "grades.csv").open())},
        "json": {
            name: json.loads((out / "json" / f"{shown[name]}.json").read_text())
            for name in hostile.CASES
        },
    }


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=case.open))
        if case.open
        else name
        for name, case in hostile.CASES.items()
    ],
)
def test_hostile_submission_gets_what_its_honest_part_earns(batch, name):
    case = hostile.CASES[name]
    data, row = batch["json"][name], batch["csv"][batch["names"][name]]
    failed = [(t["number"], t["output"][:200]) for t in data["tests"] if t["status"] != "passed"]
    assert data["score"] == case.score and data["max_score"] == 20, failed
    assert row["lab1"] == row["total"] == f"{case.score:g}" and row["max_total"] == "20"
    for exercise, full in hostile.FULL.items():
        tests = [t for t in data["tests"] if t["name"].startswith(f"lab1.{exercise}: ")]
        assert sum(t["score"] for t in tests) == case.points.get(exercise, full), exercise
        says = case.says.get(exercise) or case.says.get("*")
        for test in tests:
            if test["status"] == "failed" and says:
                assert says in test["output"], (test["number"], test["output"])
    if case.note:
        assert case.note in data["output"], data["output"][:2000]
    if case.problem:
        assert case.problem in row["problems"], row["problems"]
    elif name not in ("corrupt_channel", "resources"):
        assert row["problems"] == "", row["problems"]
    assert data["extra_data"]["labs"]["lab1"]["printed_bytes"] >= case.printed
    if (
        not case.no_file
        and "not in the submission" not in case.problem
        and case.file_name == "lab1_supervised.py"
    ):
        assert data["extra_data"]["isolation"] == "namespaces"


def test_the_batch_leaves_no_trace(batch):
    for tree, before in batch["before"].items():
        after = batch["after"][tree]
        changed = sorted(
            path for path in before.keys() | after.keys() if before.get(path) != after.get(path)
        )
        assert not changed, f"{tree} changed: {changed[:10]}"
    assert batch["survivors"] == [], batch["survivors"]
    assert batch["connections"] == 0, "a submission reached the host's loopback"
    assert batch["seconds"] < 600
    summary = batch["stdout"].split("\nsubmission ")[-1].splitlines()
    assert summary[-1].startswith(f"graded {len(hostile.CASES)} submissions in ")
    assert len(list((batch["out"] / "json").glob("*.json"))) == len(hostile.CASES)


def test_no_report_carries_the_solution_or_an_escape_code(batch):
    solution = (ROOT / "solutions" / "lab1_supervised.py").read_text()
    secret = next(line.strip() for line in solution.splitlines() if "BEGIN SOLUTION" in line)
    body = (
        solution.split("BEGIN SOLUTION", 1)[1]
        .split("END SOLUTION", 1)[0]
        .strip()
        .splitlines()[0]
        .strip()
    )
    for text in [
        batch["stdout"],
        batch["stderr"],
        *(json.dumps(d) for d in batch["json"].values()),
    ]:
        assert body not in text and secret not in text
    assert "\x1b" not in batch["stdout"] + batch["stderr"]
    assert "\u202e" not in batch["stdout"] and "\u2066" not in batch["stdout"]
    assert "\x1b" not in (batch["out"] / "grades.csv").read_text()


def test_printed_output_is_capped_in_every_report(batch):
    flood = batch["json"]["print_flood"]
    assert flood["extra_data"]["labs"]["lab1"]["printed_bytes"] >= 100_000_000
    assert len(json.dumps(flood)) < 50_000
    assert (batch["out"] / "junit.xml").stat().st_size < 1_000_000


# -- the sandbox on its own
# ------------------------------------------------------------------------


def sandboxed(
    level: str, code: str, folder: Path | None = None, shown: Path | None = None
) -> subprocess.CompletedProcess:
    box = sandbox.Sandbox(level, folder=folder)
    try:
        if shown is not None:
            box.show(shown)
        command, options = box.popen_args([sys.executable, "-c", code], pass_fds=())
        return subprocess.run(command, **options, capture_output=True, text=True, timeout=60)
    finally:
        box.close()


@needs_namespaces
def test_namespaces_show_only_the_allowlist(tmp_path):
    """Of the submission's folder, only the lab being graded is there: not another lab's file."""
    (tmp_path / "lab1_supervised.py").write_text("x = 1\n")
    (tmp_path / "lab2_rotation.py").write_text("x = 2\n")
    code = f"""
import os, socket
print(os.getuid(), sorted(os.listdir({str(ROOT)!r})), sorted(os.listdir("/submission")),
      os.getcwd())
print(os.environ["HOME"], len([p for p in os.listdir("/proc") if p.isdigit()]))
open("/scratch/figure.png", "w").write("ok")
for attempt in (lambda: open("/submission/new.py", "w"),
                lambda: open({str(ROOT / "course" / "x.py")!r}, "w"),
                lambda: socket.create_connection(("127.0.0.1", 22), timeout=1)):
    try:
        attempt()
        print("allowed")
    except OSError as error:
        print(type(error).__name__)
"""
    result = sandboxed("namespaces", code, tmp_path, shown=tmp_path / "lab1_supervised.py")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    uid, listing = lines[0].split(" ", 1)
    assert uid == "65534"
    assert "'solutions'" not in listing and "'tests'" not in listing and "'.git'" not in listing
    assert "['lab1_supervised.py']" in listing and listing.endswith("/scratch")
    assert (
        lines[1].startswith("/home/student") and int(lines[1].split()[-1]) <= 3
    )  # bwrap's init and us
    assert "allowed" not in lines[2:]


@needs_namespaces
def test_the_sandbox_root_takes_no_files():
    """bubblewrap's root and /dev are tmpfs of half the machine's memory, which no rlimit and no
    file system size bounds: 16 x 64 MiB written there must fail before 300 MiB."""
    code = """
import errno, os
written = 0
for place in ("/", "/dev", "/etc", "/home"):
    try:
        for i in range(16):
            with open(os.path.join(place, f"fill{i}"), "wb") as blob:
                blob.write(b"x" * (64 << 20))
            written += 64
        print("FILLED", place)
    except OSError as error:
        print(place, errno.errorcode[error.errno])
print("WRITTEN", written)
"""
    result = sandboxed("namespaces", code)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert int(lines[-1].split()[1]) < 300, lines
    assert all(line.split()[1] in ("EROFS", "ENOSPC") for line in lines[:-1]), lines
    assert sandbox.WRITABLE_MEMORY <= 1 << 30


@needs_namespaces
def test_the_sandbox_adds_little_to_a_start():
    """bubblewrap's own cost, measured against the same Python start without it (best of three)."""

    def best(level: str) -> float:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            assert sandboxed(level, "import numpy").returncode == 0
            times.append(time.perf_counter() - start)
        return min(times)

    assert best("namespaces") - best("none") < 0.5


@pytest.mark.skipif(
    os.geteuid() != 0 or not os.access("/usr/bin/python3", os.X_OK),
    reason="needs root and a system Python",
)
def test_the_uid_fallback_runs_as_its_own_uid_in_its_own_scratch(tmp_path):
    """The `uid` level, shown with the system's Python (the project's may sit in a private
    folder): a uid of its own (never 65534, which others use), no groups."""
    private = tmp_path / "solutions"
    private.mkdir(mode=0o700)
    (private / "lab1_supervised.py").write_text("secret = 1\n")
    code = f"""
import os
print(os.getuid(), os.getgid(), os.getgroups(), os.environ["HOME"] == os.getcwd())
open("figure.png", "w").write("ok")
for path in ({str(private / "lab1_supervised.py")!r}, {str(ROOT / "README.md")!r} + ".new"):
    try:
        open(path, "a" if path.endswith(".new") else "r")
        print("allowed")
    except OSError as error:
        print(type(error).__name__)
"""
    box = sandbox.Sandbox("uid")
    try:
        command, options = box.popen_args(["/usr/bin/python3", "-c", code], pass_fds=())
        result = subprocess.run(command, **options, capture_output=True, text=True, timeout=60)
    finally:
        box.close()
    assert result.returncode == 0, result.stderr
    assert box.uid in sandbox.PRIVATE_UIDS
    assert result.stdout.splitlines() == [
        f"{box.uid} {box.uid} [] True",
        "PermissionError",
        "PermissionError",
    ]


@pytest.mark.skipif(
    os.geteuid() != 0 or not os.access("/usr/bin/python3", os.X_OK),
    reason="needs root and a system Python",
)
def test_the_uid_level_shows_one_lab_file_it_cannot_change(tmp_path):
    """As in namespaces, the lab being graded is the only file of the submission there."""
    for name in ("lab1_supervised.py", "lab2_rotation.py"):
        (tmp_path / name).write_text(f"name = {name!r}\n")
    box = sandbox.Sandbox("uid", folder=tmp_path)
    try:
        box.show(tmp_path / "lab1_supervised.py")
        shown = box.path(tmp_path)
        code = f"""
import os
print(sorted(os.listdir({shown!r})))
for path in ({shown + "/lab2_rotation.py"!r}, {shown + "/lab1_supervised.py"!r}):
    try:
        open(path, "a")
        print("allowed")
    except OSError as error:
        print(type(error).__name__)
"""
        command, options = box.popen_args(["/usr/bin/python3", "-c", code], pass_fds=())
        result = subprocess.run(command, **options, capture_output=True, text=True, timeout=60)
    finally:
        box.close()
    assert result.stdout.splitlines() == [
        "['lab1_supervised.py']",
        "PermissionError",
        "PermissionError",
    ], result.stderr
    assert not Path(shown).exists()


def test_choose_names_the_fix_when_nothing_is_available(monkeypatch):
    monkeypatch.setattr(sandbox, "available", lambda: ["none"])
    with pytest.raises(sandbox.IsolationError, match="install bubblewrap"):
        sandbox.choose("auto")
    assert sandbox.choose("auto", allow_none=True) == "none"
    with pytest.raises(sandbox.IsolationError, match="not available here"):
        sandbox.choose("namespaces")


def test_exposed_names_world_readable_protected_paths():
    tmp_path = Path(tempfile.mkdtemp(dir="/tmp"))  # pytest's own temporary folders are private
    secret, shared = tmp_path / "solutions", tmp_path / "labs"
    secret.mkdir(mode=0o700)
    shared.mkdir()
    tmp_path.chmod(0o755)
    shared.chmod(0o755)
    secret.chmod(0o700)
    try:
        assert sandbox.exposed([secret, shared]) == [str(shared)]
    finally:
        secret.rmdir()
        shared.rmdir()
        tmp_path.rmdir()


def test_every_level_grades_the_solutions_alike():
    """The sandbox changes nothing for honest code: full marks with and without it."""
    from course.grading.runner import grade_lab

    for level in sorted({"none", sandbox.available()[0]}):
        result = grade_lab("solutions", "lab1", isolation=level)
        assert result.isolation == level and result.score == result.max_score > 0, level


def test_grading_without_isolation_warns(tmp_path):
    result = course("grade", str(tmp_path), "--isolation", "none", "--lab", "lab1", *LIMITS)
    assert result.returncode == 0, result.stderr
    assert "WARNING: --isolation none" in result.stderr


# -- the verdict file, read as untrusted
# ---------------------------------------------------------------


def records(*lines: object) -> str:
    return "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)


COLLECTED = {
    "event": "collected",
    "tests": [
        {
            "id": "t1",
            "name": "lab1.f: one",
            "number": "1.1",
            "lab": "lab1",
            "exercise": "f",
            "points": 2,
            "variant": None,
        },
        {
            "id": "t2",
            "name": "lab1.g: two",
            "number": "1.2",
            "lab": "lab1",
            "exercise": "g",
            "points": 3,
            "variant": None,
        },
    ],
}


def test_verdicts_first_record_wins_and_only_collected_tests_count(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text(
        records(
            COLLECTED,
            {
                "event": "result",
                "id": "t1",
                "status": "failed",
                "output": "wrong",
                "error_kind": None,
            },
            {
                "event": "result",
                "id": "t1",
                "status": "passed",
                "output": "",
            },  # a forged second verdict
            {"event": "result", "id": "t3", "status": "passed", "output": ""},  # no such test
            {
                "event": "result",
                "id": "t2",
                "status": "passed",
                "output": 42,
            },  # an output of the wrong type
            "{not json",
            ["a", "list"],
            {"event": 7},
        )
    )
    result = _read_results(read_verdicts(path), "lab1", "")
    assert [(t.status, t.score) for t in result.tests] == [("failed", 0.0), ("passed", 3.0)]
    assert result.tests[1].output == "" and result.score == 3


@pytest.mark.parametrize("kind", ["fifo", "symlink", "huge", "folder"])
def test_verdicts_that_are_not_a_small_regular_file_cost_only_that_lab(tmp_path, kind):
    path = tmp_path / "results.jsonl"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "symlink":
        (tmp_path / "real.jsonl").write_text(records(COLLECTED))
        path.symlink_to(tmp_path / "real.jsonl")
    elif kind == "huge":
        with path.open("w") as handle:
            handle.write(records(COLLECTED))
            handle.write(" " * (17 << 20))
    else:
        path.mkdir()
    start = time.monotonic()
    found, problem = read_verdicts(path)
    assert time.monotonic() - start < 5
    assert problem
    if kind != "huge":
        assert found == []


@needs_namespaces
def test_a_complete_submission_fits_in_gradescopes_memory(tmp_path):
    """`course grade solutions` (every lab) in a 768 MiB memory cgroup, as in Gradescope's default
    container: it must finish with full marks and no process killed for memory."""
    parent = Path("/sys/fs/cgroup/memory")
    if not os.access(parent, os.W_OK):
        pytest.skip("no writable memory cgroup here")
    group = Path(os.path.join(parent, f"course-test-{os.getpid()}"))
    group.mkdir()
    try:
        (group / "memory.limit_in_bytes").write_text(str(768 << 20))
        command = (
            f"echo $$ > {group}/cgroup.procs && exec {sys.executable} -m course grade solutions"
            f" --json {tmp_path}/r.json"
        )
        result = subprocess.run(
            ["sh", "-c", command], cwd=ROOT, capture_output=True, text=True, timeout=900
        )
        oom = (
            (group / "memory.oom_control").read_text()
            if (group / "memory.oom_control").exists()
            else ""
        )
    finally:
        for _ in range(50):
            try:
                group.rmdir()
                break
            except OSError:
                time.sleep(0.2)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["score"] == report["max_score"] > 0, [
        t["output"][:200] for t in report["tests"] if t["status"] != "passed"
    ]
    assert "oom_kill 0" in oom or "oom_kill" not in oom, oom


def test_probes_hold_no_answer():
    """The probes run in the student's sandbox: none may build lab 1's network."""
    text = "".join(
        path.read_text() for path in (ROOT / "course" / "grading" / "probes").glob("*.py")
    )
    assert "MaxPool" not in text
    assert not re.search(r"(?<![.\w\"])build_backbone\(", text), (
        "a probe builds a backbone of its own named like lab 1's"
    )
