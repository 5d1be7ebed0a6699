"""Where an implementation of the labs lives: `solutions`, `labs` or a student's folder."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from course import ROOT, registry


class ImplementationError(ValueError):
    """An `--impl` that names no folder, or a folder without the lab file asked for."""


def impl_dir(impl: str) -> Path:
    """The folder of an implementation: a path, or `solutions` and `labs`, the course's own
    folders, where no folder of that name is in the current directory."""
    folder = Path(impl).expanduser()
    if impl in ("solutions", "labs") and not folder.is_dir():
        folder = ROOT / impl
    if not folder.is_dir():
        raise ImplementationError(
            f"--impl {impl!r}: no such folder; use 'solutions', 'labs' or the path of a folder"
            " holding lab files"
        )
    return folder.resolve()


def lab_module_name(lab: str) -> str:
    """'lab2' or 'lab2_rotation' -> 'lab2_rotation'."""
    try:
        return registry.lab(lab).module
    except registry.RegistryError as error:
        raise ImplementationError(str(error)) from None


def load_lab(impl: str, lab: str) -> ModuleType:
    """Imports one lab file of an implementation as a fresh module."""
    name = lab_module_name(lab)
    path = impl_dir(impl) / f"{name}.py"
    if not path.is_file():
        raise ImplementationError(f"{path} does not exist: --impl {impl!r} has no {name}.py")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
