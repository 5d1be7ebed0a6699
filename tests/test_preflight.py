"""A newcomer's path (README, "Install"): `python3 install.py`, then the tests. What the install
does on each kind of machine, and what the grader's preflight (`course.preflight`) tells a machine
that still lacks the sandbox: the thing missing and the exact command that fixes it, in under a
second, before TensorFlow starts."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import resource
import subprocess
import sys
import time

import pytest

from course import ROOT, preflight
from course.preflight import Machine


def machine(programs: tuple[str, ...] = (), **facts) -> Machine:
    """A machine with only `programs` installed."""
    return Machine(programs=lambda name: f"/usr/bin/{name}" if name in programs else None, **facts)


@pytest.mark.parametrize(
    "facts, fix",
    [
        ({"programs": ("apt-get",), "root": True}, "apt-get install -y bubblewrap"),
        ({"programs": ("apt-get", "sudo")}, "sudo apt-get install -y bubblewrap"),
        ({"programs": ("dnf", "sudo")}, "sudo dnf install -y bubblewrap"),
        ({"programs": ("pacman",), "root": True}, "pacman -S --noconfirm bubblewrap"),
        ({"programs": ("apk",), "root": True}, "apk add bubblewrap"),
        ({"programs": ("apt-get",)}, "ask an administrator to run: apt-get install -y bubblewrap"),
        ({"programs": (), "root": True}, "install the package bubblewrap with this system's"),
        ({"system": "Darwin"}, "grade on Linux"),
        (
            {
                "programs": ("bwrap", "sudo"),
                "sysctl": {"kernel/apparmor_restrict_unprivileged_userns": "1"}.get,
            },
            "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0",
        ),
        (
            {
                "programs": ("bwrap",),
                "root": True,
                "sysctl": {"user/max_user_namespaces": "0"}.get,
            },
            "sysctl -w user.max_user_namespaces=15000",
        ),
        ({"programs": ("bwrap",), "root": True}, "the uid fallback"),
    ],
)
def test_each_machine_is_told_the_command_that_fixes_it(facts, fix):
    programs = facts.pop("programs", ())
    (finding,) = preflight.sandbox_findings(machine(programs, **facts))
    assert finding.fix.startswith(fix) or fix in finding.fix, finding.fix
    assert finding.needed and "missing: " in finding.line()


def test_nothing_is_said_where_bubblewrap_runs():
    assert preflight.sandbox_findings(machine(("bwrap",), namespaces=lambda: True)) == []
    # The students' copy: the sandbox is advised, not needed (course check runs without one).
    (advice,) = preflight.sandbox_findings(machine(("apt-get", "sudo")), needed=False)
    assert not advice.needed and advice.line().startswith("advised: ")


def test_missing_packages_are_named_with_the_install_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name == "tensorflow" else real(name)
    )
    (finding,) = preflight.package_findings(dev=True, install="python3 install.py")
    assert "tensorflow" in finding.what and finding.fix == "python3 install.py"
    assert preflight.install_command() == f"python3 {ROOT / 'install.py'}"


NEWCOMER = """
import os, resource, sys, time
start = time.monotonic()
os.geteuid = lambda: 1000  # a newcomer's own account: no uid fallback, sudo for the fix
from course.cli import main
status = main(sys.argv[1:])
print(status, round(time.monotonic() - start, 3), "tensorflow" in sys.modules, file=sys.stderr)
"""


def test_the_grader_names_what_is_missing_in_under_a_second(tmp_path):
    """`course grade` on a Debian machine without bubblewrap, as a newcomer meets it: the real
    lookup on a PATH that has apt-get and sudo but no bwrap (stand-ins that are never run)."""
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    for name in ("apt-get", "sudo", "git"):
        (bin_ / name).symlink_to("/bin/true")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", NEWCOMER, "grade", "solutions", "--lab", "lab1"],
        cwd=tmp_path,
        env={"PATH": str(bin_), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    *message, last = done.stderr.strip().splitlines()
    status, seconds, tensorflow = last.split()
    assert status == "2" and tensorflow == "False", done.stderr
    message = " ".join(message)
    assert "bubblewrap (bwrap)" in message and "is missing" in message, message
    assert "fix: sudo apt-get install -y bubblewrap" in message, message
    # Under a second of work; the wall clock also counts a machine that others keep busy.
    assert cpu < 1.0 and float(seconds) < 1.0 + max(0.0, wall - cpu), (cpu, seconds, wall)


def test_course_doctor_passes_here_and_fails_with_the_fix(monkeypatch, capsys):
    """Here (the tests need it) nothing is missing; without bubblewrap it exits 1 with the line."""
    from course.cli import main

    assert main(["doctor"]) == 0, capsys.readouterr().out
    monkeypatch.setattr(Machine, "here", classmethod(lambda cls: machine(("apt-get",), root=True)))
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "course doctor: missing: bubblewrap (bwrap)" in out
    assert "fix: apt-get install -y bubblewrap" in out


def load_installer():
    spec = importlib.util.spec_from_file_location("course_installer", ROOT / "install.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_install_installs_bubblewrap_with_the_package_manager():
    installer = load_installer()
    ran = []

    def run(command, fails=()):
        ran.append(" ".join(command))
        return 1 if ran[-1] in fails else 0

    assert installer.bubblewrap(machine(("apt-get",), root=True), run) == ""
    assert ran == ["apt-get install -y bubblewrap"]
    # A fresh image has no package lists: update, then install again.
    ran.clear()
    first = {"n": 0}

    def stale(command):
        ran.append(" ".join(command))
        first["n"] += 1
        return 100 if first["n"] == 1 else 0

    assert installer.bubblewrap(machine(("apt-get", "sudo")), stale) == ""
    assert ran == [
        "sudo apt-get install -y bubblewrap",
        "sudo apt-get update -q",
        "sudo apt-get install -y bubblewrap",
    ]
    ran.clear()
    failed = installer.bubblewrap(machine(("dnf",), root=True), lambda c: ran.append(c) or 1)
    assert failed == "could not install bubblewrap (dnf install -y bubblewrap failed)"
    # Nothing to run: installed already, not Linux, or no way to become root (the preflight's
    # line then says what to ask for).
    for there in (machine(("bwrap", "apt-get")), machine(system="Darwin"), machine(("apt-get",))):
        assert installer.bubblewrap(there, lambda c: pytest.fail(f"ran {c}")) == ""


def test_the_install_makes_the_solutions_private(tmp_path):
    installer = load_installer()
    for name in ("solutions/lab1.py", "tests/autograder/x.py", "labs/lab1.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x\n")
        (tmp_path / name).chmod(0o644)
    (tmp_path / "solutions").chmod(0o755)
    (tmp_path / "tests").chmod(0o755)
    changed = installer.private(tmp_path)
    assert changed == [tmp_path / "solutions", tmp_path / "tests"]
    for name in ("solutions", "tests"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o700, name
    # The files keep their modes: a copy handed to a sandbox stays readable there.
    for name in ("solutions/lab1.py", "tests/autograder/x.py", "labs/lab1.py"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644, name
    assert installer.private(tmp_path) == []  # twice: nothing more to do

    from course.grading.sandbox import exposed

    assert exposed([tmp_path / "solutions", tmp_path / "tests"]) == []


def test_the_install_runs_pip_then_the_preflight(monkeypatch, tmp_path):
    """The order of a whole install with a stand-in for every command."""
    installer = load_installer()
    monkeypatch.setattr(installer, "private", lambda root=None: [])
    monkeypatch.delenv("COURSE_NO_APT", raising=False)
    ran = []
    status = installer.main(
        run=lambda command: ran.append(" ".join(map(str, command))) or 0,
        machine=machine(("apt-get",), root=True),
    )
    assert status == 0
    venv = ROOT / ".venv" / "bin" / "python"
    assert ran[-3:] == [
        f"{venv} -m pip install -e {ROOT}[dev]",
        "apt-get install -y bubblewrap",
        f"{venv} -m course doctor",
    ], ran


def test_ci_runs_the_readmes_words():
    """.ci/run reads the README's install and test commands and runs them, installing nothing of
    its own: CI meets what a newcomer meets."""
    readme = (ROOT / "README.md").read_text().splitlines()
    first = readme.index("```bash") + 1
    install, test = (line.split("#")[0].strip() for line in readme[first : first + 2])
    assert install == "python3 install.py" and test.endswith("-m pytest -n 2 --dist loadfile")
    ci = (ROOT / ".ci" / "run").read_text()
    assert "readme_command 1" in ci and "readme_command 2" in ci
    code = "\n".join(line for line in ci.splitlines() if not line.lstrip().startswith("#"))
    assert not re.search(r"apt-get|pip install|python3? -m venv", code), code
    extracted = subprocess.run(
        [
            "bash",
            "-c",
            'source <(sed -n "/^readme_command/,/^}/p" .ci/run); '
            "readme_command 1; readme_command 2",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert extracted.stdout.splitlines() == [install, test], extracted.stderr


def test_the_copies_install_the_same_way(tmp_path):
    """The students' copy ships install.py, and its README and workflow use it; the Gradescope
    bundle's setup runs the preflight, and its results.json carries the grader's last words."""
    from course.release import student_copy

    copy = student_copy(tmp_path / "copy")
    assert (copy / "install.py").read_bytes() == (ROOT / "install.py").read_bytes()
    assert "python3 install.py" in (copy / "README.md").read_text()
    assert "run: python install.py" in (copy / ".github/workflows/check.yml").read_text()
    assert "course doctor" in (ROOT / "release/gradescope/setup.sh").read_text()

    # run_autograder when the grader cannot run: the staff read why in results.json.
    root = tmp_path / "autograder"
    (root / "source").mkdir(parents=True)
    (root / "venv" / "bin").mkdir(parents=True)
    fake = root / "venv" / "bin" / "python"
    fake.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = "-m" ]; then echo "course grade: no sandbox ...; fix: apt-get install -y'
        f' bubblewrap" >&2; exit 2; fi\nexec {sys.executable} "$@"\n'
    )
    fake.chmod(0o755)
    script = ROOT / "release" / "gradescope" / "run_autograder"
    done = subprocess.run(
        ["bash", str(script)],
        env={**os.environ, "AUTOGRADER_ROOT": str(root)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    assert results["score"] == 0 and "could not run" in results["output"]
    assert "fix: apt-get install -y bubblewrap" in results["output"], results["output"]


def test_install_py_is_linted():
    ruff = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "install.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert ruff.returncode == 0, ruff.stdout


def test_where_only_the_uid_fallback_runs_it_needs_private_solutions():
    """A container that refuses user namespaces, as root: the grader falls back to uid 65534,
    which the preflight says, and which needs the solutions and checks private (a fresh clone's
    are not): the fix is the chmod the install makes."""
    import shutil
    import tempfile
    from pathlib import Path

    tmp_path = Path(tempfile.mkdtemp(dir="/tmp"))  # pytest's own temporary folders are private
    try:
        _uid_fallback_case(tmp_path)
    finally:
        shutil.rmtree(tmp_path)


def _uid_fallback_case(tmp_path):
    for name in ("solutions", "tests"):
        (tmp_path / name).mkdir(mode=0o755)
        (tmp_path / name).chmod(0o755)
    tmp_path.chmod(0o755)
    container = machine(("bwrap",), root=True, uid=lambda: True)
    found = preflight.findings(container, tmp_path)
    assert [f.needed for f in found] == [False, False, True], found
    assert found[-1].fix == f"chmod -R go-rwx {tmp_path / 'solutions'} {tmp_path / 'tests'}"
    load_installer().private(tmp_path)
    assert [f.needed for f in preflight.findings(container, tmp_path)] == [False, False]
    # The students' copy (no solutions): the sandbox is advice, whatever the machine.
    (tmp_path / "solutions").rmdir()
    assert not any(f.needed for f in preflight.findings(machine(root=True), tmp_path))
