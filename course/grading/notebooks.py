"""Notebook submissions: a lab handed in as `labN_<name>.ipynb` instead of the `.py`.

It is graded from its code cells in order (the contract, "Notebook submissions"), each turned into
Python as IPython turns it (`IPython.core.inputtransformer2.TransformerManager`, the kernel's own:
a line inside brackets that starts with `%` or `!=` is code), its magics and shell escapes then
dropped; cells tagged `demo` (cell metadata `tags`) are skipped, so that a notebook grades exactly
as the same code in a `.py`. The worker runs the cells one by one (`cell_plan`), with the names a
kernel provides (`course.grading.kernel`): a cell that defines no exercise and fails costs
nothing, as in Jupyter. The notebook is read as untrusted JSON, in a child process bounded in
time and memory (`notebook_cells`): parsing a crafted file, or IPython's transformer on a cell of
thousands of magics, could otherwise hold the grader itself; nothing of it runs. Where a
lab's folder holds both forms (the students' labs/ does, as released) the one holding the
student's work is graded (`graded_form`).
"""

from __future__ import annotations

import ast
import json
import re
import resource
import subprocess
import sys
from pathlib import Path
from typing import Sequence

from course.grading.protocol import LIMITS

MAX_BYTES = 20 << 20  # a lab's notebook with its outputs; far more than any honest one


class NotebookError(ValueError):
    """A notebook that cannot be graded; the message names the problem and the fix."""


def notebook_source(path: Path) -> str:
    """The Python source of the notebook at `path`: its code cells, in order, joined (a blank line
    between two cells)."""
    return join_cells(notebook_cells(path))


def join_cells(cells: list[str]) -> str:
    return "\n\n".join(cells) + "\n"


# Cell magics whose body is Python that a kernel runs in the notebook's namespace; the body of any
# other (%%bash, %%html, %%writefile, ...) is not Python, and the cell is dropped.
PYTHON_CELL_MAGICS = {"time", "timeit", "capture", "prun", "debug"}
# A line that IPython turned into a call of its shell (a statement of its own): dropped.
_MAGIC_CALL = re.compile(r"get_ipython\(\)\.(run_line_magic|system|getoutput)\(.*\)\s*")


def python_of_cell(text: str) -> str:
    """A code cell's text as the Python a kernel runs, its magics and shell escapes dropped."""
    lines = text.splitlines()
    if lines and lines[0].startswith("%%"):
        magic = lines[0][2:].split(maxsplit=1)[0] if lines[0][2:].strip() else ""
        if magic not in PYTHON_CELL_MAGICS:
            return ""
        text = "\n".join(lines[1:])
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        python = TransformerManager().transform_cell(text)
    except Exception:  # noqa: BLE001  (IPython's own failure: the cell is graded as written)
        python = text
    kept = []
    for line in python.splitlines():
        if _MAGIC_CALL.fullmatch(line):
            continue  # a magic or a shell escape at the top level of the cell
        if _MAGIC_CALL.fullmatch(line.strip()):
            line = line[: len(line) - len(line.lstrip())] + "pass"  # inside a block
        kept.append(line)
    return "\n".join(kept)


def notebook_cells(path: Path) -> list[str]:
    """The Python of each graded code cell of the notebook at `path`, in order, read by a child
    process that may take `LIMITS.notebook_seconds` and `LIMITS.notebook_memory` bytes."""
    name = path.name
    if path.is_symlink():  # it is read by the grader, which may read other students' files
        raise NotebookError(f"{name} is a symbolic link: hand in the notebook itself")
    try:
        if path.stat().st_size > MAX_BYTES:
            raise NotebookError(f"{name} is larger than {MAX_BYTES >> 20} MB: clear its outputs")
    except OSError as error:
        raise NotebookError(f"{name} cannot be read ({error})") from None
    seconds = LIMITS.notebook_seconds
    try:
        child = subprocess.run(
            [sys.executable, "-m", "course.grading.notebooks", str(path)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=seconds,
            preexec_fn=_bounded,
        )
    except subprocess.TimeoutExpired:
        raise NotebookError(
            f"{name} took longer than {seconds:g} s to read: save it again from Jupyter or Colab,"
            " with fewer % and ! lines"
        ) from None
    if child.returncode == 0:
        return json.loads(child.stdout)
    if child.returncode == _REFUSED:
        raise NotebookError(child.stdout.decode(errors="replace"))
    raise NotebookError(
        f"{name} is too large or too deeply nested to read within"
        f" {LIMITS.notebook_memory >> 20} MB: save it again from Jupyter or Colab, outputs cleared"
    )


_REFUSED = 3  # the child's exit status for a notebook it read and refused (its message on stdout)


def _bounded() -> None:
    """In the reading child, before it starts: its limits."""
    resource.setrlimit(resource.RLIMIT_AS, (LIMITS.notebook_memory,) * 2)
    cpu = int(LIMITS.notebook_seconds) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))


def _read_cells(path: Path) -> list[str]:
    """What `notebook_cells` reads, in the bounded child."""
    name = path.name
    try:
        notebook = json.loads(path.read_bytes())
    except (OSError, UnicodeDecodeError) as error:
        raise NotebookError(f"{name} cannot be read ({error})") from None
    except (ValueError, RecursionError) as error:
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
        text = "".join(map(str, source)) if isinstance(source, list) else str(source)
        sources.append(python_of_cell(text))
    if not any(source.strip() for source in sources):
        raise NotebookError(f"{name} has no code cells: write the lab's functions in code cells")
    return sources


def cell_plan(cells: list[str], exercises: Sequence[str]) -> list[tuple[int, int, bool]]:
    """Where each cell is in `join_cells(cells)`: (first line, last line, whether it may fail).
    A cell may fail, at no cost, when it defines no exercise (as in Jupyter, where a failing
    demo or plot cell leaves the functions defined above it)."""
    plan, line = [], 1
    for cell in cells:
        count = cell.count("\n") + 1
        plan.append((line, line + count - 1, not _defines(cell, exercises)))
        line += count + 1  # the blank line between two cells
    return plan


def _defines(cell: str, exercises: Sequence[str]) -> bool:
    """Whether the cell binds an exercise's name at its top level (or, where it is not valid
    Python, mentions defining one)."""
    try:
        tree = ast.parse(cell)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return any(re.search(rf"\b(def|class)\s+{re.escape(name)}\b", cell) for name in exercises)
    bound = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            bound |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
        else:  # a statement that holds definitions (if, try, with, for): count what it binds
            bound |= {
                n.name
                for n in ast.walk(node)
                if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            }
            bound |= {
                n.id
                for n in ast.walk(node)
                if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
            }
    return bool(bound & set(exercises))


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


def _main(path: str) -> int:
    """The reading child: the cells as JSON on stdout, or a refusal's message."""
    try:
        cells = _read_cells(Path(path))
    except NotebookError as error:
        sys.stdout.write(str(error))
        return _REFUSED
    sys.stdout.write(json.dumps(cells))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1]))
