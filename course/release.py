"""Generate the student labs from the reference solutions (`course release`).

`solutions/` is the one master copy, as in nbgrader and otter-grader. Each exercise body holds
one block

    # BEGIN SOLUTION
    # HINT: what to do, and which TensorFlow ops help
    ...the reference code...
    # END SOLUTION

which the student copy replaces with the hint and a stub that raises `NotImplementedError`.
"""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from course import ROOT

BEGIN = re.compile(r"^(?P<indent>\s*)# BEGIN SOLUTION\s*$")
END = re.compile(r"^\s*# END SOLUTION\s*$")
HINT = re.compile(r"^\s*# HINT:\s?(?P<text>.*)$")


class ReleaseError(ValueError):
    """A solution file whose blocks the generator cannot turn into a stub."""


def strip_solutions(source: str, filename: str = "<solution>") -> str:
    """The student version of one solution file: every block replaced by its hint and a stub."""
    out: list[str] = []
    lines = source.splitlines(keepends=True)
    i = 0
    while i < len(lines):
        begin = BEGIN.match(lines[i])
        if not begin:
            if END.match(lines[i]):
                raise ReleaseError(f"{filename}:{i + 1}: '# END SOLUTION' without a '# BEGIN SOLUTION'")
            out.append(lines[i])
            i += 1
            continue
        indent, start = begin["indent"], i
        if not indent:
            raise ReleaseError(f"{filename}:{i + 1}: a solution block must sit inside a function body")
        i += 1
        hints = []
        while i < len(lines) and HINT.match(lines[i]):
            hints.append(HINT.match(lines[i])["text"].strip())
            i += 1
        while i < len(lines) and not END.match(lines[i]):
            if BEGIN.match(lines[i]):
                raise ReleaseError(f"{filename}:{i + 1}: solution blocks cannot be nested")
            i += 1
        if i == len(lines):
            raise ReleaseError(f"{filename}:{start + 1}: '# BEGIN SOLUTION' is never closed by '# END SOLUTION'")
        if not hints:
            raise ReleaseError(f"{filename}:{start + 1}: a solution block needs a '# HINT:' line for the student")
        out.extend(f"{indent}# HINT: {hint}\n" for hint in hints)
        message = " ".join(hints)
        out.append(f"{indent}raise NotImplementedError({message!r})\n")
        i += 1
    return "".join(out)


def expected_labs(solutions: Path = ROOT / "solutions") -> dict[str, str]:
    """File name -> generated student source, for every `lab*.py` in `solutions`."""
    return {path.name: strip_solutions(path.read_text(), str(path)) for path in sorted(solutions.glob("lab*.py"))}


def stale_labs(solutions: Path = ROOT / "solutions", labs: Path = ROOT / "labs") -> list[str]:
    """Names of the lab files that differ from, are missing from, or are extra to what is generated."""
    expected = expected_labs(solutions)
    present = {path.name for path in labs.glob("lab*.py")}
    stale = [name for name, text in expected.items() if not (labs / name).exists() or (labs / name).read_text() != text]
    return sorted(stale + sorted(present - expected.keys()))


def write_labs(solutions: Path = ROOT / "solutions", labs: Path = ROOT / "labs") -> list[Path]:
    """Writes the generated labs atomically; removes lab files that no longer have a solution."""
    labs.mkdir(parents=True, exist_ok=True)
    expected = expected_labs(solutions)
    written = []
    for name, text in expected.items():
        target = labs / name
        fd, tmp = tempfile.mkstemp(dir=labs, prefix=f".{name}.", suffix=".tmp")
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, target)
        written.append(target)
    for path in labs.glob("lab*.py"):
        if path.name not in expected:
            path.unlink()
    return written
