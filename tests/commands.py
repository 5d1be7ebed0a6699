"""Helpers the project's tests share: the `course` command in a child process, and the
command lines of live processes (to prove nothing a grading run started survives it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from course import ROOT

# Small limits keep the tests fast; a call of the solutions takes well under 2 s even on a busy
# machine.
LIMITS = ["--call-timeout", "15", "--import-timeout", "20", "--wall-limit", "240"]


def course(
    *args: str, cwd: Path = ROOT, env: dict | None = None, timeout: float = 1200
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "course", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def live_commands(*markers: str) -> list[str]:
    """Command lines of live processes that mention every one of `markers`."""
    found = []
    for pid in os.listdir("/proc"):
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        command = raw.replace(b"\0", b" ").decode(errors="replace")
        if all(marker in command for marker in markers):
            found.append(command)
    return found
