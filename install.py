"""Installs the course on this machine, in one command: `python3 install.py` (README, "Install").

1. A virtual environment, `.venv` beside this file, made with the Python that runs this script
   where it does not exist yet (a system Python may refuse `pip install`: PEP 668).
2. The course into it, editable, with the tools its tests use in the staff's checkout
   (`pip install -e ".[dev]"`; the students' copy: `pip install -e .`).
3. bubblewrap, the grader's sandbox for student code, from the system's package manager (with
   sudo when not root; `apt-get update` first where the package lists are missing). Where there
   is no package manager, or no Linux, one line says what to do. Kernel settings (user
   namespaces) are never changed here: the preflight prints the exact command, for whoever owns
   the machine to decide.
4. In the staff's checkout, the folders `solutions/`, `tests/` and `.git` closed to others: the
   grader's uid fallback (student code as uid 65534, where namespaces are refused) refuses to
   grade while others can read them, and a fresh clone's can.
5. The preflight (`course doctor`): what is still missing and the command that fixes it. Exit 1
   when the tests or the grader still lack something.

`COURSE_NO_APT=1` skips step 3 (a machine whose packages someone else manages).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent

if sys.version_info < (3, 10):
    sys.exit(
        f"install.py: the course needs Python 3.10 or newer and this is {sys.version.split()[0]}:"
        " run it with a newer one (python3.11 install.py)"
    )

sys.path.insert(0, str(HERE))  # the preflight, before the course is installed
from course import preflight  # noqa: E402  (standard library only: nothing to install first)

Run = Callable[[list[str]], int]


def _run(command: list[str]) -> int:
    print("install.py: " + " ".join(command), flush=True)
    return subprocess.call(command)


def environment(python: str = sys.executable, root: Path = HERE, run: Run = _run) -> Path:
    """The Python of `.venv` beside this file, made from `python` where it does not exist yet
    (always that one, so that the README's next command finds it)."""
    venv = root / ".venv"
    interpreter = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    if not interpreter.exists() and run([python, "-m", "venv", str(venv)]) != 0:
        sys.exit(
            f"install.py: could not make {venv}: install Python's venv module (on Debian or"
            f" Ubuntu: apt-get install -y python3-venv), then run {' '.join(sys.argv)} again"
        )
    return interpreter


def bubblewrap(machine: preflight.Machine, run: Run = _run) -> str:
    """Installs bubblewrap where it is missing and can be installed; returns a line to show
    when it could not be (empty when there is nothing to say)."""
    if machine.system != "Linux" or machine.programs("bwrap"):
        return ""
    command = preflight.bubblewrap_command(machine)
    elevated = preflight.as_root(machine, command) if command else None
    if elevated is None:
        return ""  # the preflight's line says what to run
    if run(elevated) == 0:
        return ""
    if command[0] == "apt-get":  # a fresh image has no package lists yet
        update = preflight.as_root(machine, ["apt-get", "update", "-q"])
        if run(update) == 0 and run(elevated) == 0:
            return ""
    return f"could not install bubblewrap ({' '.join(elevated)} failed)"


def private(root: Path = HERE) -> list[Path]:
    """Makes the reference solutions, the checks and .git private to their owner (what the
    grader's uid fallback requires); returns the paths changed. Only the three folders
    themselves: a folder others cannot enter hides everything in it, and the files keep their
    modes (a copy of a solution handed to a sandbox, or a file rewritten by `course release`,
    stays readable as before)."""
    changed = []
    for top in (root / "solutions", root / "tests", root / ".git"):
        if top.exists() and not top.is_symlink() and top.stat().st_mode & 0o077:
            top.chmod(top.stat().st_mode & ~0o077)
            changed.append(top)
    return changed


def main(run: Run = _run, machine: preflight.Machine | None = None) -> int:
    machine = machine or preflight.Machine.here()
    staff = preflight.instructor_checkout(HERE)
    python = environment(run=run)
    target = f"{HERE}[dev]" if staff else str(HERE)
    if run([str(python), "-m", "pip", "install", "-e", target]) != 0:
        print(
            "install.py: pip could not install the course (its messages are above); fix that,"
            " then run install.py again",
            file=sys.stderr,
        )
        return 1
    if not os.environ.get("COURSE_NO_APT"):
        trouble = bubblewrap(machine, run)
        if trouble:
            print(f"install.py: {trouble}", file=sys.stderr)
    if staff and os.name == "posix":
        if private():
            print("install.py: solutions/, tests/ and .git are now closed to other users")
    # The preflight in the installed environment: what it finds is what the tests will meet.
    status = run([str(python), "-m", "course", "doctor"])
    if status == 0:
        activate = python.parent / ("activate.bat" if os.name == "nt" else "activate")
        print(f"install.py: done; enter the environment with: . {activate}")
    return status


if __name__ == "__main__":
    sys.exit(main())
