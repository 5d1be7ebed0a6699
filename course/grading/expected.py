"""The expected values of the public checks, shipped as data: `tests/autograder/expected/*.json`.

A public check carries no reference code, so that the students' copy of the course holds none:
what it compares with (the standardized value of each pixel level, where each pixel of an 8 x 8
image goes under each quarter turn, NT-Xent of a few fixed embeddings, ...) was computed once by
the lab's hidden check module, `expected_values()`, from the references it keeps. `course release`
writes these files again and `course release --check` says when they are stale.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType

import numpy as np

from course import ROOT, registry
from course.files import atomic_write

AUTOGRADER = ROOT / "tests" / "autograder"
EXPECTED = AUTOGRADER / "expected"


class ExpectedValuesError(RuntimeError):
    """The expected values of a lab's public checks are missing or damaged."""


def path(lab: str, autograder: Path = AUTOGRADER) -> Path:
    return autograder / "expected" / f"{lab}.json"


class ExpectedValues(Mapping):
    """{name: array} of the public checks of a lab, read from its file when first used: the
    hidden module that computes the file imports the public one before the file exists."""

    def __init__(self, lab: str) -> None:
        self.lab = lab
        self._values: dict[str, np.ndarray] | None = None

    def _load(self) -> dict[str, np.ndarray]:
        if self._values is None:
            file = path(self.lab)
            try:
                values = json.loads(file.read_text())
            except (OSError, ValueError) as error:
                raise ExpectedValuesError(
                    f"the expected values of {self.lab}'s public checks ({file}) cannot be read"
                    f" ({error}); it comes with the course: restore it from the course's"
                    " repository (instructors: `course release` writes it)"
                ) from None
            self._values = {name: np.asarray(value) for name, value in values.items()}
        return self._values

    def __getitem__(self, name: str) -> np.ndarray:
        return self._load()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())


def load(lab: str) -> ExpectedValues:
    """The expected values of the public checks of `lab` ("lab2")."""
    return ExpectedValues(lab)


def hidden_module(lab: str, autograder: Path = AUTOGRADER) -> ModuleType | None:
    """The hidden check module of `lab` (`test_<lab module>_hidden.py`), None where there is none
    (the students' copy)."""
    file = autograder / f"test_{registry.LABS[lab].module}_hidden.py"
    if not file.is_file():
        return None
    from course.grading.worker import load_module  # the judge's loader: the same module there

    return load_module(str(file), f"_hidden_checks_{lab}")


def _rounded(value: object) -> object:
    """Floats to 10 significant digits: far finer than any check's tolerance, and short to read
    (`_same` compares within a tolerance, so the last digits may differ between machines)."""
    if isinstance(value, list):
        return [_rounded(item) for item in value]
    return float(f"{value:.10g}") if isinstance(value, float) else value


def _as_json(values: dict[str, np.ndarray]) -> str:
    # One line per value: the files stay readable and their diffs small.
    lines = [
        f" {json.dumps(name)}: {json.dumps(_rounded(np.asarray(value).tolist()))}"
        for name, value in values.items()
    ]
    return "{\n" + ",\n".join(lines) + "\n}\n"


def expected_files(autograder: Path = AUTOGRADER) -> dict[Path, str]:
    """Path -> content of every lab's expected values, computed by its hidden module."""
    files = {}
    for lab in registry.LABS:
        module = hidden_module(lab, autograder)
        if module is not None:
            files[path(lab, autograder)] = _as_json(module.expected_values())
    return files


def _same(file: Path, text: str) -> bool:
    """Whether `file` holds the values of `text`, to far within any check's tolerance: another
    machine's arithmetic may change the last digits of a finite-difference gradient."""
    try:
        old, new = json.loads(file.read_text()), json.loads(text)
    except (OSError, ValueError):
        return False
    if old.keys() != new.keys():
        return False
    for name in new:
        a, b = np.asarray(old[name]), np.asarray(new[name])
        if a.shape != b.shape or a.dtype.kind != b.dtype.kind:
            return False
        if a.dtype.kind in "fiu" and not np.allclose(a, b, rtol=1e-7, atol=1e-12):
            return False
        if a.dtype.kind not in "fiu" and not np.array_equal(a, b):
            return False
    return True


def stale(autograder: Path = AUTOGRADER) -> list[str]:
    """The expected-value files that differ from what the hidden modules compute."""
    return [
        str(file.relative_to(ROOT)) if file.is_relative_to(ROOT) else str(file)
        for file, text in expected_files(autograder).items()
        if not _same(file, text)
    ]


def write(autograder: Path = AUTOGRADER) -> list[Path]:
    """Writes the files whose values changed."""
    return [
        atomic_write(file, text)
        for file, text in expected_files(autograder).items()
        if not _same(file, text)
    ]
