"""A static look at a lab's source for references to the reference solutions.

The worker's audit hook stops any actual read at run time; this scan also catches code that
would read them only in a path the tests never reach.
"""

from __future__ import annotations

import ast
import re

# A path into the solutions folder: "solutions/...", ".../solutions". The bare word is no
# reference (an honest lab may name it in a list or a message); opening it is what matters.
SOLUTIONS_PATH = re.compile(r"(^|[/\\])solutions[/\\]|[/\\]solutions$")


def solution_references(source: str) -> list[str]:
    """'line N: ...' for each import of `solutions` or string naming the solutions folder."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        # Python cannot compile it either (a syntax error, a null byte, an expression nested too
        # deep for the parser): the worker's import fails the same way and reports it.
        return []
    docstrings = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [
                f"line {node.lineno}: import {a.name}"
                for a in node.names
                if a.name.split(".")[0] == "solutions"
            ]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "solutions":
            found.append(f"line {node.lineno}: from {node.module} import ...")
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
            and SOLUTIONS_PATH.search(node.value)
        ):
            found.append(f"line {node.lineno}: {node.value[:60]!r}")
    return found
