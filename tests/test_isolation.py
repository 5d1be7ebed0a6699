"""The adversarial suite, part two: submissions of several labs (tests/fixtures/submissions/
multilab.py), graded in one `course grade` batch. One lab's file must not change another lab's
grade, nor a classmate's, and nothing it starts may outlive its lab."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from course.grading import sandbox

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "submissions"))
import multilab  # noqa: E402
from commands import LIMITS, course, live_commands  # noqa: E402


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    if "namespaces" not in sandbox.available():
        pytest.skip("bubblewrap with user namespaces is needed")
    folder, out = tmp_path_factory.mktemp("multilab"), tmp_path_factory.mktemp("reports")
    folders = multilab.write_all(folder)
    labs = [option for lab in multilab.LABS for option in ("--lab", lab)]
    result = course(
        "grade", *map(str, folders.values()), *labs, "--jobs", "2", *LIMITS,
        "--json", f"{out}/",
    )
    time.sleep(1)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return {
        "json": {name: json.loads((out / f"{name}.json").read_text()) for name in folders},
        "stdout": result.stdout,
        "survivors": live_commands(multilab.MARKER),
    }


@pytest.mark.parametrize("name", list(multilab.CASES))
def test_each_lab_earns_what_its_own_file_earns(batch, name):
    case, report = multilab.CASES[name], batch["json"][name]
    for lab, points in case.points.items():
        if points is None:
            continue
        earned = report["extra_data"]["labs"][lab]["score"]
        failed = [
            (t["number"], t["output"][:160])
            for t in report["tests"]
            if t["name"].startswith(f"{lab}.") and t["status"] != "passed"
        ]
        assert earned == points, (lab, failed)
    if case.note:
        assert case.note in report["output"], report["output"][:2000]
    for lab, text in case.says.items():
        assert any(text in t["output"] for t in report["tests"] if t["name"].startswith(lab))


def test_memory_backed_files_are_bounded(batch):
    """/dev/shm holds less than one of the 200 MiB blobs; /tmp and $HOME (256 MiB each) one."""
    printed = batch["json"]["fills_memory_backed_files"]["output"]
    filled = dict(re.findall(r"FILLED (\S+) (\d+) MiB", printed))
    assert filled.get("/dev/shm") == "0" and filled.get("/tmp") == "200", printed[-2000:]


def test_the_sandbox_root_takes_no_files(batch):
    """The root is read-only: 16 x 64 MiB stop before 300 MiB, and the lab still gets its grade
    (`test_each_lab_earns_what_its_own_file_earns`)."""
    printed = batch["json"]["fills_the_root"]["output"]
    filled = re.findall(r"ROOT FILLED (\d+) MiB", printed)
    assert filled and int(filled[0]) < 300, printed[-2000:]
    assert re.search(r"ROOT REFUSED (28|30)\b", printed), printed[-2000:]  # ENOSPC, EROFS


def test_a_sandbox_is_bounded_as_a_whole(monkeypatch):
    """The files a sandbox writes in memory count against one memory cgroup: 2 x 200 MiB in two
    tmpfs do not fit in 300 MiB, though each file system takes one."""
    if not sandbox.can_bound_memory():
        pytest.skip("no memory cgroup can be made here; the reports say so")
    monkeypatch.setattr(sandbox, "MEMORY", 300 << 20)
    box = sandbox.Sandbox("namespaces")
    code = (
        "for place in ('/tmp', '/scratch'):\n"
        "    open(place + '/blob', 'wb').write(b'x' * (200 << 20))\n"
        "    print(place, flush=True)\n"
    )
    try:
        command, options = box.popen_args([sys.executable, "-c", code], pass_fds=())
        result = subprocess.run(command, **options, capture_output=True, text=True, timeout=60)
    finally:
        box.close()
    assert result.stdout.split() != ["/tmp", "/scratch"] and result.returncode != 0


def test_what_a_hidden_check_prints_is_hidden_with_it(batch):
    report = batch["json"]["prints_hidden_inputs"]

    def calls(text: str) -> set[int]:
        return {int(n) for n in re.findall(r"CALL (\d+) shape", text)}

    visible = calls(report["output"]) | {
        n for t in report["tests"] if t["visibility"] == "visible" for n in calls(t["output"])
    }
    hidden = {
        n
        for t in report["tests"]
        if t["visibility"] == "after_published"
        for n in calls(t["output"])
    }
    assert visible and hidden, (visible, hidden)
    assert max(visible) < min(hidden), (sorted(visible), sorted(hidden))


def test_nothing_a_lab_started_outlives_it(batch):
    assert batch["survivors"] == []
    assert os.path.exists("/proc/self")


# -- the uid level (Gradescope's fallback), shown with the system's Python ----------------------

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or not os.access("/usr/bin/python3", os.X_OK),
    reason="needs root and a system Python",
)


@needs_root
def test_the_uid_level_keeps_to_its_own(tmp_path):
    """A worker at the uid level gets a uid of its own; it reads no classmate's file, reaches no
    server on the loopback, kills no process it did not start, and leaves nothing behind; its
    own leftover processes end with it. Where the kernel lacks Landlock, the reports say which
    of these it could not hold (`sandbox.unkept`), and this test checks only the rest."""
    from course.grading import landlock

    classmate = Path(tempfile.mkdtemp(dir="/tmp"))
    classmate.chmod(0o755)
    (classmate / "lab1_supervised.py").write_text("answer = 42\n")
    (classmate / "lab1_supervised.py").chmod(0o644)
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    bystander = subprocess.Popen(
        ["sleep", "120"], preexec_fn=lambda: (os.setgid(65534), os.setuid(65534))
    )
    code = f"""
import os, socket, subprocess
print("uid", os.getuid())
def attempt(what, action):
    try:
        action()
        print(what, "allowed")
    except OSError as error:
        print(what, type(error).__name__)
attempt("classmate", lambda: open({str(classmate / "lab1_supervised.py")!r}).read())
for place in ("/tmp", "/var/tmp", "/dev/shm"):
    name = place + "/leftover-" + str(os.getuid())
    attempt("write " + place, lambda: open(name, "w").write("x"))
attempt("loopback", lambda: socket.create_connection(("127.0.0.1", {server.getsockname()[1]}), 2))
attempt("bystander", lambda: os.kill({bystander.pid}, 9))
subprocess.Popen(["sleep", "300"], start_new_session=True, stdout=subprocess.DEVNULL,
                 stderr=subprocess.DEVNULL)
"""
    boxes = [sandbox.Sandbox("uid"), sandbox.Sandbox("uid")]
    try:
        assert boxes[0].uid != boxes[1].uid and 65534 not in (boxes[0].uid, boxes[1].uid)
        command, options = boxes[0].popen_args(["/usr/bin/python3", "-c", code], pass_fds=())
        result = subprocess.run(command, **options, capture_output=True, text=True, timeout=60)
        uid = boxes[0].uid
    finally:
        for box in boxes:
            box.close()
    try:
        server.accept()
        reached = True
    except OSError:
        reached = False
    server.close()
    alive = bystander.poll() is None
    bystander.kill()
    shutil.rmtree(classmate)
    said = dict(line.rsplit(" ", 1) for line in result.stdout.splitlines())
    assert said.pop("uid") == str(uid), result.stderr
    assert alive and said.pop("bystander") == "PermissionError"
    assert not sandbox._running_as(uid), "a process outlived it"
    for place in ("/tmp", "/var/tmp", "/dev/shm"):
        assert not os.path.exists(f"{place}/leftover-{uid}"), place
    if landlock.abi():
        assert said["classmate"] == "PermissionError" and said["write /tmp"] == "PermissionError"
    if landlock.abi() >= 4:
        assert said["loopback"] == "PermissionError" and not reached


def test_every_report_says_what_its_level_does_not_hold():
    from course.grading import reports
    from course.grading.grade import SubmissionResult
    from course.grading.runner import LabResult

    for level in ("namespaces", "uid", "none"):
        submission = SubmissionResult("alice", Path("alice"), [LabResult("lab1", isolation=level)])
        gaps = sandbox.unkept(level)
        for text in (
            reports.text_report(submission),
            reports.summary_text(submission),
            json.dumps(reports.gradescope(submission)),
        ):
            for gap in gaps:
                assert gap in text, (level, gap)
        assert reports.gradescope(submission)["extra_data"]["isolation_gaps"] == gaps
    assert sandbox.unkept("uid") and sandbox.unkept("none")
