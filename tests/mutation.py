"""Builds graded submissions from the solutions with one function replaced (a mutant or an
alternative implementation), so that the fixtures hold only the function they change."""

from __future__ import annotations

import ast
import importlib.util
import textwrap
from pathlib import Path

from course import ROOT, registry

FIXTURES = Path(__file__).parent / "fixtures"


def replace_function(source: str, name: str, replacement: str) -> str:
    """`source` with its top-level `def name` replaced by `replacement` (or appended if absent)."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            start = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
            return (
                "".join(lines[:start])
                + textwrap.dedent(replacement).strip()
                + "\n"
                + "".join(lines[node.end_lineno :])
            )
    return source + "\n\n" + textwrap.dedent(replacement).strip() + "\n"


def variants(kind: str) -> list[tuple[str, str, str, str]]:
    """(lab, variant name, exercise, source) for every fixture of `kind` ('mutants',
    'alternatives')."""
    found = []
    for path in sorted((FIXTURES / kind).glob("lab*.py")):
        spec = importlib.util.spec_from_file_location(f"_{kind}_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        lab = registry.lab(path.stem).key
        found += [
            (lab, name, exercise, code) for name, (exercise, code) in module.VARIANTS.items()
        ]
    return found


def write_submission(folder: Path, lab: str, exercise: str, code: str) -> Path:
    """A submission folder holding the lab's solution with `exercise` replaced by `code`.

    `code` may define helpers before the exercise; everything in it replaces the exercise's def.
    """
    source = (ROOT / "solutions" / registry.LABS[lab].file).read_text()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / registry.LABS[lab].file).write_text(replace_function(source, exercise, code))
    return folder
