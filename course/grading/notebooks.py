"""Notebook submissions: a lab handed in as `labN_<name>.ipynb` instead of the `.py`.

It is graded from its code cells in order (the contract, "Notebook submissions"): lines that start
with `%` or `!` (IPython magics, shell escapes) are dropped, and cells tagged `demo` (cell
metadata `tags`) are skipped, so that a notebook grades exactly as the same code in a `.py`. The
notebook is read as untrusted JSON; nothing of it runs here. Where a lab's folder holds both forms
(the students' labs/ does, as released) the one holding the student's work is graded
(`graded_form`).
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Sequence

MAX_BYTES = 50 << 20  # a lab's notebook with its outputs; far more than any honest one


class NotebookError(ValueError):
    """A notebook that cannot be graded; the message names the problem and the fix."""


def notebook_source(path: Path) -> str:
    """The Python source of the notebook at `path`: its code cells, in order, joined."""
    name = path.name
    if path.is_symlink():  # it is read by the grader, which may read other students' files
        raise NotebookError(f"{name} is a symbolic link: hand in the notebook itself")
    try:
        if path.stat().st_size > MAX_BYTES:
            raise NotebookError(f"{name} is larger than {MAX_BYTES >> 20} MB: clear its outputs")
        notebook = json.loads(path.read_bytes())
    except (OSError, UnicodeDecodeError) as error:
        raise NotebookError(f"{name} cannot be read ({error})") from None
    except ValueError as error:
        raise NotebookError(
            f"{name} is not a valid notebook ({error}): save it again from Jupyter or Colab"
        ) from None
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list):
        raise NotebookError(f"{name} is not a notebook: it has no list of cells")
    sources = []
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        metadata = cell.get("metadata")
        tags = metadata.get("tags", []) if isinstance(metadata, dict) else []
        if isinstance(tags, list) and "demo" in tags:
            continue
        source = cell.get("source", "")
        text = "".join(source) if isinstance(source, list) else str(source)
        kept = [line for line in text.splitlines() if not line.lstrip().startswith(("%", "!"))]
        sources.append("\n".join(kept))
    if not any(source.strip() for source in sources):
        raise NotebookError(f"{name} has no code cells: write the lab's functions in code cells")
    return "\n\n".join(sources) + "\n"


def _program(source: str) -> str | None:
    """The code of `source` without its module docstring, as an AST dump (None: no Python)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    if tree.body and isinstance(tree.body[0], ast.Expr):
        if isinstance(tree.body[0].value, ast.Constant):
            tree.body = tree.body[1:]
    return ast.dump(tree)


def untouched(source: str, exercises: Sequence[str]) -> bool:
    """Whether every exercise is in `source` as a stub, as released: a `def` whose body ends by
    raising NotImplementedError (after the lines a stub may give) and returns nothing."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    stubs = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in exercises and node.body:
            last = node.body[-1]
            returns = any(isinstance(s, ast.Return) for s in ast.walk(node))
            if (
                isinstance(last, ast.Raise)
                and last.exc is not None
                and "NotImplementedError" in ast.unparse(last.exc)
                and not returns
            ):
                stubs.add(node.name)
    return stubs == set(exercises)


def graded_form(python: str, notebook: str, exercises: Sequence[str]) -> str | None:
    """Which of a lab's two forms to grade when both are there (labs/ holds both, as released):
    "py" if they are the same code or the notebook is still the stubs, "ipynb" if only the
    notebook holds work, None if both do (the student must choose)."""
    if _program(python) == _program(notebook) or untouched(notebook, exercises):
        return "py"
    if untouched(python, exercises):
        return "ipynb"
    return None
