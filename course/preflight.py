"""What this machine lacks for the course, and the exact command that fixes each thing.

`install.py` runs it at the end of an install, `course doctor` prints it, and `course grade`
calls it when no sandbox is available, so that a newcomer reads "bubblewrap is not installed:
sudo apt-get install -y bubblewrap" instead of a failed grading run. It uses the standard library
only and imports nothing of TensorFlow (packages are found, not imported): it answers in well
under a second, before anything slow starts.

The facts it reads (the system, root or not, which programs exist, the distribution, the kernel's
user-namespace settings) are gathered in a `Machine`, which the tests build by hand to see what
each kind of machine is told.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from course import ROOT

# Modules the course imports (setup.cfg's install_requires), and the dev extras the tests use.
PACKAGES = {
    "tensorflow": "tensorflow",
    "keras": "keras",
    "tensorflow_datasets": "tensorflow-datasets",
    "matplotlib": "matplotlib",
    "numpy": "numpy",
    "PIL": "pillow",
    "pytest": "pytest",
    "pytest_timeout": "pytest-timeout",
}
DEV_PACKAGES = {
    "xdist": "pytest-xdist",
    "ruff": "ruff",
    "nbformat": "nbformat",
    "nbclient": "nbclient",
}
# The package managers that carry bubblewrap, and their non-interactive install commands.
MANAGERS = (
    ("apt-get", ["apt-get", "install", "-y", "bubblewrap"]),
    ("dnf", ["dnf", "install", "-y", "bubblewrap"]),
    ("yum", ["yum", "install", "-y", "bubblewrap"]),
    ("zypper", ["zypper", "--non-interactive", "install", "bubblewrap"]),
    ("pacman", ["pacman", "-S", "--noconfirm", "bubblewrap"]),
    ("apk", ["apk", "add", "bubblewrap"]),
)
# Kernel settings that refuse unprivileged user namespaces: (file under /proc/sys, the value that
# refuses, the sysctl that allows them).
USERNS_SETTINGS = (
    (
        "kernel/apparmor_restrict_unprivileged_userns",
        "1",
        "kernel.apparmor_restrict_unprivileged_userns=0",
    ),
    ("kernel/unprivileged_userns_clone", "0", "kernel.unprivileged_userns_clone=1"),
    ("user/max_user_namespaces", "0", "user.max_user_namespaces=15000"),
)


@dataclass(frozen=True)
class Finding:
    """One thing missing: what, in words, and the exact command (or step) that fixes it."""

    what: str
    fix: str
    needed: bool = True  # False: recommended only (a student's `course check` runs without it)

    def line(self) -> str:
        return f"{'missing' if self.needed else 'advised'}: {self.what}; fix: {self.fix}"


@dataclass
class Machine:
    """The facts the preflight reads; `Machine.here()` reads them off this machine."""

    system: str = "Linux"
    root: bool = False
    programs: Callable[[str], str | None] = shutil.which
    sysctl: Callable[[str], str | None] = lambda name: None
    # Whether bubblewrap starts a process in new namespaces here (None: not tried).
    namespaces: Callable[[], bool] = lambda: False
    # Whether the grader's uid fallback can run student code here (root, a Python all can run).
    uid: Callable[[], bool] = lambda: False
    extra: dict = field(default_factory=dict)

    @classmethod
    def here(cls) -> Machine:
        return cls(
            system=platform.system(),
            root=hasattr(os, "geteuid") and os.geteuid() == 0,
            programs=shutil.which,
            sysctl=_read_sysctl,
            namespaces=_bwrap_starts,
            uid=_uid_level,
        )


def _read_sysctl(name: str) -> str | None:
    try:
        return Path("/proc/sys", name).read_text().strip()
    except OSError:
        return None


def _bwrap_starts() -> bool:
    """bubblewrap's smallest run: new namespaces, the root read-only, `true`."""
    bwrap = shutil.which("bwrap")
    if not bwrap:
        return False
    try:
        done = subprocess.run(
            [bwrap, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "true"],
            capture_output=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _uid_level() -> bool:
    try:
        from course.grading.sandbox import available
    except ImportError:  # the grader's own layout changed: no fallback is assumed
        return False
    return "uid" in available()


def as_root(machine: Machine, command: list[str]) -> list[str] | None:
    """`command` run as root: itself for root, behind sudo otherwise, None without sudo."""
    if machine.root:
        return command
    return ["sudo", *command] if machine.programs("sudo") else None


def bubblewrap_command(machine: Machine) -> list[str] | None:
    """The package manager's command that installs bubblewrap here, or None."""
    for manager, command in MANAGERS:
        if machine.programs(manager):
            return command
    return None


def sandbox_findings(machine: Machine, needed: bool = True) -> list[Finding]:
    """What keeps bubblewrap (the grader's sandbox, `--isolation namespaces`) from running."""
    if machine.system != "Linux":
        return [
            Finding(
                f"bubblewrap, the grader's sandbox for student code, exists only on Linux (this is"
                f" {machine.system})",
                "grade on Linux (a machine, a VM or WSL 2); `course check` runs your own code"
                " without a sandbox",
                needed,
            )
        ]
    if not machine.programs("bwrap"):
        command = bubblewrap_command(machine)
        if command is None:
            fix = (
                "install the package bubblewrap with this system's package manager (none of"
                f" {', '.join(m for m, _ in MANAGERS)} is here)"
            )
        else:
            elevated = as_root(machine, command)
            fix = (
                " ".join(elevated)
                if elevated
                else f"ask an administrator to run: {' '.join(command)} (no sudo here)"
            )
        return [Finding("bubblewrap (bwrap), the grader's sandbox for student code", fix, needed)]
    if machine.namespaces():
        return []
    for name, refuses, allow in USERNS_SETTINGS:
        if machine.sysctl(name) == refuses:
            command = as_root(machine, ["sysctl", "-w", allow])
            return [
                Finding(
                    "user namespaces for bubblewrap (the kernel refuses them:"
                    f" {name.replace('/', '.')} = {refuses})",
                    " ".join(command) if command else f"ask an administrator: sysctl -w {allow}",
                    needed,
                )
            ]
    return [
        Finding(
            "user namespaces for bubblewrap (refused here, as in many containers)",
            "run the grader as root in a Python every user can run (the uid fallback), or on a"
            " machine or VM that allows user namespaces",
            needed,
        )
    ]


def package_findings(dev: bool, install: str) -> list[Finding]:
    """The course's packages (and with `dev`, the test tools) that cannot be found. Found by
    `importlib.util.find_spec`, which locates a package without importing it."""
    wanted = {**PACKAGES, **(DEV_PACKAGES if dev else {})}
    missing = [pip for module, pip in wanted.items() if importlib.util.find_spec(module) is None]
    if not missing:
        return []
    return [Finding(f"Python packages {', '.join(missing)} (in {sys.executable})", install)]


def instructor_checkout(root: Path = ROOT) -> bool:
    """The staff's checkout (it holds the solutions), not the students' copy."""
    return (root / "solutions").is_dir()


def install_command(root: Path = ROOT) -> str:
    return (
        f"python3 {root / 'install.py'}"
        if (root / "install.py").is_file()
        else (f"pip install -e {root}" + ("[dev]" if instructor_checkout(root) else ""))
    )


def uid_fallback(root: Path = ROOT) -> list[Finding]:
    """What the grader's uid fallback (student code as uid 65534, where namespaces are refused)
    says and still needs: the reference files private."""
    from course.grading.sandbox import exposed

    readable = exposed([root / "solutions", root / "tests", root / ".git"])
    found = [
        Finding(
            "user namespaces: until then the grader runs student code as uid 65534, which hides"
            " only what others cannot read",
            "allow them where you can (the line above); the fallback grades meanwhile",
            needed=False,
        )
    ]
    if readable:
        found.append(
            Finding(
                f"{', '.join(readable)} readable by others (the uid fallback refuses to grade)",
                "chmod -R go-rwx " + " ".join(readable),
            )
        )
    return found


def findings(machine: Machine | None = None, root: Path = ROOT) -> list[Finding]:
    """Everything missing for this checkout: the packages (and the test tools, where the
    project's tests are), and the grader's sandbox (needed where the grader runs, beside the
    solutions; advised in the students' copy, whose `course check` runs without one)."""
    machine = machine or Machine.here()
    grader = instructor_checkout(root)
    tests = any((root / "tests").glob("test_*.py"))
    found = package_findings(dev=tests, install=install_command(root))
    sandbox = sandbox_findings(machine, needed=grader)
    if sandbox and grader and machine.uid():  # graded with the uid level: weaker, but graded
        sandbox = [Finding(f.what, f.fix, needed=False) for f in sandbox] + uid_fallback(root)
    return found + sandbox


def explain(error: str, machine: Machine | None = None) -> str:
    """`course grade`'s message when no sandbox is available: the error, then what is missing
    and the command that fixes it."""
    found = sandbox_findings(machine or Machine.here())
    if not found:
        return error
    return (
        "no sandbox is available for student code, so it cannot be graded safely: "
        + "; ".join(f"{f.what} is missing; fix: {f.fix}" for f in found)
        + " (--isolation none grades without a sandbox: only code you trust)"
    )


def report(found: list[Finding]) -> str:
    if not found:
        return (
            "course doctor: nothing is missing: the tests, `course check` and the grader can run"
        )
    return "\n".join(f"course doctor: {finding.line()}" for finding in found)


def main(argv: list[str] | None = None) -> int:
    """`course doctor`: prints what is missing and the fix; exit 1 if something needed is."""
    found = findings()
    print(report(found))
    return 1 if any(finding.needed for finding in found) else 0
