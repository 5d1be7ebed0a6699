"""cgroup v1 groups for the benchmarks that measure or limit a whole process tree (as root)."""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

CGROUPS = Path("/sys/fs/cgroup")


def available(*controllers: str) -> bool:
    """Whether this process may make groups in each of `controllers` ("memory", "cpu", ...)."""
    return all(os.access(CGROUPS / controller, os.W_OK) for controller in controllers)


@contextmanager
def groups(name: str, *controllers: str) -> Iterator[dict[str, Path]]:
    """A new group `name` in each controller, {controller: its folder}; removed afterwards, once
    its killed processes have left it (they take a moment)."""
    made: dict[str, Path] = {}
    try:
        for controller in controllers:
            made[controller] = CGROUPS / controller / name
            made[controller].mkdir()
        yield made
    finally:
        for group in made.values():
            for _ in range(50):
                try:
                    group.rmdir()
                    break
                except OSError:
                    time.sleep(0.2)


def enter(made: dict[str, Path]) -> str:
    """The shell words that move the shell into every group of `made`, to run before `exec`."""
    return "".join(f"echo $$ > {group}/cgroup.procs && " for group in made.values())
