"""What a Jupyter or Colab kernel gives a notebook's code, for a notebook graded in the worker.

A notebook may call `display(...)` or, through the lines IPython turns its magics into,
`get_ipython()`: a kernel provides both, so a graded notebook has them too (the contract,
"Notebook submissions"). The shell does nothing: magics and shell escapes are not run while a
notebook is graded (line magics and escapes are dropped before, `course.grading.notebooks`); the
cell magics whose body is Python (`%%time`, `%%capture`, ...) run their body, as a kernel does.
"""

from __future__ import annotations

import sys
from typing import Any

from course.grading.notebooks import PYTHON_CELL_MAGICS


def display(*objects: Any, **options: Any) -> None:
    """IPython's `display`, which prints each object's text form where no kernel shows it."""
    try:
        from IPython.display import display as ipython_display
    except ImportError:  # IPython is installed with the course; without it, print as it would
        for value in objects:
            print(repr(value))
        return
    ipython_display(*objects, **options)


class Shell:
    """`get_ipython()` of a graded notebook: a shell that runs no command and no magic."""

    user_ns: dict[str, Any] = {}

    def run_line_magic(self, name: str, line: str, *args: Any, **kwargs: Any) -> None:
        return None

    def run_cell_magic(self, name: str, line: str, cell: str) -> None:
        if name in PYTHON_CELL_MAGICS:
            caller = sys._getframe(1).f_globals
            exec(compile(cell, caller.get("__file__", "<cell>"), "exec"), caller)  # noqa: S102

    def system(self, command: str, *args: Any, **kwargs: Any) -> None:
        return None

    def getoutput(self, command: str, *args: Any, **kwargs: Any) -> list[str]:
        return []

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


_SHELL = Shell()


def get_ipython() -> Shell:
    return _SHELL


def names() -> dict[str, Any]:
    """The names a kernel adds to a notebook's namespace."""
    return {"display": display, "get_ipython": get_ipython}
