"""Where a submission's lab files are: at its top, in the one subfolder that holds them (a zip of
a folder), or under a name that is nearly right (`Lab2_Rotation.py`, `lab2_rotation (1).py`)."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from course.grading.text import printable

SEARCH_DEPTH = 3  # how deep to look for a lab file that is not at the top of a submission


def _holds(folder: Path, module: str) -> Path | None:
    """`module`.py in `folder`, else `module`.ipynb (a notebook submission), else None."""
    for name in (f"{module}.py", f"{module}.ipynb"):
        if (folder / name).is_file():
            return folder / name
    return None


def locate(folder: Path, module: str) -> tuple[Path | None, str]:
    """The folder that holds `module`.py (or its notebook, `module`.ipynb) in a submission: its
    top level, or else the one subfolder (a few levels down) that holds it, as when a student
    uploads a zip of a folder. And a note."""
    if _holds(folder, module):
        return folder, ""
    found, level = [], [folder]
    for _ in range(SEARCH_DEPTH):
        level = [sub for parent in level[:200] for sub in _subfolders(parent)]
        found += [path for path in map(lambda sub: _holds(sub, module), level) if path]
    if len(found) == 1:
        return (
            found[0].parent,
            f"{found[0].name} was graded from"
            f" {printable(str(found[0].parent.relative_to(folder)))}/",
        )
    if len(found) > 1:
        where = ", ".join(printable(str(path.relative_to(folder))) for path in found[:4])
        return None, f"{module}.py is in several folders ({where}); hand in exactly one"
    near = near_misses(folder, module)
    if near:
        return (
            None,
            (
                f"{module}.py is not in the submission, but {printable(near[0])} is: "
                f"name the file exactly {module}.py"
            ),
        )
    return None, ""


COPY_SUFFIX = re.compile(r"(\s*\(\d+\)|\s*-\s*copy|\s*copy|_\d+|-\d+)$", re.IGNORECASE)


def near_misses(folder: Path, module: str) -> list[str]:
    """Files of the submission (a few levels down) named like `module`.py up to case, a copy suffix
    such as " (1)" or "-copy", or a .txt or .py.txt ending: the names of an honest slip."""
    found, level = [], [folder]
    for _ in range(SEARCH_DEPTH + 1):
        for parent in level[:200]:
            try:
                files = sorted(path for path in parent.iterdir() if path.is_file())
            except OSError:
                continue
            for path in files[:500]:
                stem = path.name
                for ending in (".py.txt", ".txt", ".py"):
                    if stem.lower().endswith(ending):
                        stem = stem[: -len(ending)]
                        break
                if COPY_SUFFIX.sub("", stem).strip().lower() == module:
                    found.append(str(path.relative_to(folder)))
        level = [sub for parent in level[:200] for sub in _subfolders(parent)]
    return found


def lone_misnamed(folder: Path, module: str) -> Path | None:
    """The one file of the submission named like `module`.py (or its notebook) up to case or a
    copy suffix (`Lab2_Rotation.py`, `lab2_rotation (1).py`: what a case-insensitive laptop or a
    browser's second download makes), where it is the only candidate: a regular file, not a
    link (the grader reads it). None where there is none, or more than one."""
    if locate(folder, module)[0] is not None:
        return None
    found = [
        folder / name
        for name in near_misses(folder, module)
        if name.lower().endswith((".py", ".ipynb")) and not name.lower().endswith(".txt")
    ]
    if len(near_misses(folder, module)) != 1 or len(found) != 1:
        return None
    return found[0] if found[0].is_file() and not found[0].is_symlink() else None


def stage_renamed(path: Path, module: str, staging: Path) -> Path:
    """A folder of its own in `staging` holding a copy of `path` under the lab's exact name
    (`module`.py or .ipynb), read without following a link; returns the folder."""
    folder = Path(tempfile.mkdtemp(prefix="renamed-", dir=staging))
    folder.chmod(0o711)  # the sandbox's uid reads the file by name, never lists the folder
    suffix = ".ipynb" if path.name.lower().endswith(".ipynb") else ".py"
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as source:
        data = source.read(64 << 20)
    target = folder / f"{module}{suffix}"
    target.write_bytes(data)
    target.chmod(0o644)
    return folder


def _subfolders(parent: Path) -> list[Path]:
    try:
        return [
            sub
            for sub in sorted(parent.iterdir())
            if sub.is_dir() and not sub.is_symlink() and not sub.name.startswith((".", "__"))
        ]
    except OSError:
        return []
