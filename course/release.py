"""Generate the student labs from the reference solutions (`course release`).

`solutions/` is the one master copy, as in nbgrader and otter-grader. Each exercise body holds
one block

    # BEGIN SOLUTION
    # HINT 1: the idea (what and why; no API)
    # HINT 2: the API (which TensorFlow or Keras calls, their key arguments)
    # HINT 3: nearly the code (the steps, in prose)
    ...the reference code...
    # END SOLUTION

(a level may take several lines, each repeating its prefix). The student copy replaces the block
with a one-line stub that names the exercise and `course hint`, and the hints go to
`labs/hints.json`, where `course hint lab2.rotate --level N` reads them. Above each exercise the
copy states, from `course.registry`, what it teaches and what it builds on. Each lab is also a
notebook (`course.lab_notebook`): `labs/labN_<name>.ipynb` from the stub, and, for instructors,
`solutions/labN_<name>.ipynb` from the solution.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from course import ROOT, i18n, registry
from course.files import atomic_write
from course.i18n import _

BEGIN = re.compile(r"^(?P<indent>\s*)# BEGIN SOLUTION\s*$")
END = re.compile(r"^\s*# END SOLUTION\s*$")
HINT = re.compile(r"^\s*# HINT (?P<level>[123]):\s?(?P<text>.*)$")
DEF = re.compile(r"^def (?P<name>\w+)\(")
LEVELS = 3
HINTS = "hints.json"
WIDTH = 99


class ReleaseError(ValueError):
    """A solution file whose blocks the generator cannot turn into a stub."""


def stub(indent: str, exercise: str) -> list[str]:
    """The stub's lines: `raise NotImplementedError("lab2.rotate: not written yet; ...")`, in the
    language chosen (the Spanish labs' stubs speak Spanish)."""
    first = _("{exercise}: not written yet; ").format(exercise=exercise)
    second = _("`course hint {exercise}` helps").format(exercise=exercise)
    line = f"{indent}raise NotImplementedError({first + second!r})\n".replace("'", '"')
    if len(line) <= WIDTH + 1:
        return [line]
    opening = f"{indent}raise NotImplementedError("
    return [f'{opening}"{first}"\n', f'{" " * len(opening)}"{second}")\n']


def _exercise_note(lab: registry.Lab | None, name: str) -> list[str]:
    if lab is None or name not in {exercise.name for exercise in lab.exercises}:
        return []
    exercise = lab.exercise(name)
    number = [e.name for e in lab.exercises].index(name) + 1
    uses = (
        _(" Builds on {names}.").format(names=", ".join(f"`{u}`" for u in exercise.uses))
        if exercise.uses
        else ""
    )
    words = (
        "# "
        + _("Exercise {number} ({points} points): {teaches}.").format(
            number=f"{lab.key.removeprefix('lab')}.{number}",
            points=exercise.points,
            teaches=_(exercise.teaches),
        )
        + uses
    )
    lines, line = [], ""
    for word in words.split(" "):
        if line and len(line) + 1 + len(word) > WIDTH:
            lines.append(line + "\n")
            line = "#"
        line = f"{line} {word}" if line else word
    return lines + [line + "\n"]


def strip_solutions(source: str, filename: str = "<solution>") -> tuple[str, dict[str, list[str]]]:
    """The student version of one solution file (every block replaced by its stub) and the hints
    of each exercise: {"lab2.rotate": [level 1, level 2, level 3]}."""
    stem = Path(filename).stem
    try:
        lab: registry.Lab | None = registry.lab(stem)
    except registry.RegistryError:
        lab = None
    prefix = lab.key if lab else stem
    out: list[str] = []
    hints: dict[str, list[str]] = {}
    lines = source.splitlines(keepends=True)
    function, i = None, 0
    while i < len(lines):
        begin = BEGIN.match(lines[i])
        if not begin:
            if END.match(lines[i]):
                raise ReleaseError(
                    f"{filename}:{i + 1}: '# END SOLUTION' without a '# BEGIN SOLUTION'"
                )
            defined = DEF.match(lines[i])
            if defined:
                function = defined["name"]
                decorators = []
                while out and out[-1].startswith("@"):  # the note goes above the decorators
                    decorators.insert(0, out.pop())
                out += _exercise_note(lab, function) + decorators + [lines[i]]
            else:
                out.append(lines[i])
            i += 1
            continue
        indent, start = begin["indent"], i
        if not indent or function is None:
            raise ReleaseError(
                f"{filename}:{i + 1}: a solution block must sit inside a function body"
            )
        i += 1
        levels: dict[int, list[str]] = {}
        while i < len(lines) and HINT.match(lines[i]):
            hint = HINT.match(lines[i])
            levels.setdefault(int(hint["level"]), []).append(hint["text"].strip())
            i += 1
        while i < len(lines) and not END.match(lines[i]):
            if BEGIN.match(lines[i]):
                raise ReleaseError(f"{filename}:{i + 1}: solution blocks cannot be nested")
            i += 1
        if i == len(lines):
            raise ReleaseError(
                f"{filename}:{start + 1}: '# BEGIN SOLUTION' is never closed by '# END SOLUTION'"
            )
        if sorted(levels) != list(range(1, LEVELS + 1)):
            raise ReleaseError(
                f"{filename}:{start + 1}: a solution block needs '# HINT 1:', '# HINT 2:' and "
                "'# HINT 3:' lines (the idea, the API, nearly the code)"
            )
        exercise = f"{prefix}.{function}"
        hints[exercise] = [" ".join(levels[level]) for level in range(1, LEVELS + 1)]
        out.extend(stub(indent, exercise))
        i += 1
    return "".join(out), hints


def _lab_key(path: Path) -> str | None:
    try:
        return registry.lab(path.stem).key
    except registry.RegistryError:
        return None


TRANSLATED = ("es",)
"""The languages of `labs/<lang>/`, the labs generated with their text translated (English, the
master's language, is `labs/` itself)."""


def expected_labs(solutions: Path = ROOT / "solutions") -> dict[str, str]:
    """File name (relative to labs/) -> generated content of labs/: for every `lab*.py` in
    `solutions`, its stub and the stub's notebook; `hints.json`; and the same labs with their text
    in each translated language, `es/lab2_rotation.py` and `es/lab2_rotation.ipynb` (the code is
    the English labs', the text the `labs` catalog's: `course.catalogs.translate_source`)."""
    from course.catalogs import translate_source
    from course.lab_notebook import lab_notebook

    files, hints = {}, {}
    for lang in (i18n.DEFAULT, *TRANSLATED):
        folder = "" if lang == i18n.DEFAULT else f"{lang}/"
        with i18n.speaking(lang):  # the stubs' and notebooks' own words too
            for path in sorted(solutions.glob("lab*.py")):
                if lang != i18n.DEFAULT and not _lab_key(path):
                    continue  # a lab the course does not list yet has no translation
                source = translate_source(path.read_text(), lang, str(path), strict=False)
                name = f"{folder}{path.name}"
                files[name], found = strip_solutions(source, str(path))
                if lang == i18n.DEFAULT:
                    hints.update(found)
                if _lab_key(path):
                    notebook = f"{folder}{path.with_suffix('.ipynb').name}"
                    files[notebook] = lab_notebook(files[name], _lab_key(path), f"labs/{notebook}")
    files[HINTS] = json.dumps(hints, indent=1, ensure_ascii=False) + "\n"
    return files


def solution_notebooks(solutions: Path = ROOT / "solutions") -> dict[str, str]:
    """File name -> the notebook of each solution, for instructors (in `solutions`)."""
    from course.lab_notebook import lab_notebook

    with i18n.speaking(i18n.DEFAULT):
        return {
            path.with_suffix(".ipynb").name: lab_notebook(
                path.read_text(), _lab_key(path), f"solutions/{path.with_suffix('.ipynb').name}"
            )
            for path in sorted(solutions.glob("lab*.py"))
            if _lab_key(path)
        }


def _lab_files(folder: Path) -> list[Path]:
    """The lab files in `folder` and in its language folders (labs/es/)."""
    folders = [folder, *(folder / lang for lang in TRANSLATED)]
    return sorted(
        path
        for where in folders
        for pattern in ("lab*.py", "lab*.ipynb")
        for path in where.glob(pattern)
    )


def _stale(expected: dict[str, str], folder: Path) -> list[str]:
    present = {str(path.relative_to(folder)) for path in _lab_files(folder)}
    stale = [
        name
        for name, text in expected.items()
        if not (folder / name).exists() or (folder / name).read_text() != text
    ]
    return sorted(stale + sorted(present - expected.keys()))


def stale_labs(solutions: Path = ROOT / "solutions", labs: Path = ROOT / "labs") -> list[str]:
    """Names of the generated files (labs/, and the solution notebooks, "solutions/NAME") that
    differ from, are missing from, or are extra to what is generated."""
    notebooks = solution_notebooks(solutions)
    solution_stale = [
        f"solutions/{name}"
        for name, text in notebooks.items()
        if not (solutions / name).exists() or (solutions / name).read_text() != text
    ]
    return _stale(expected_labs(solutions), labs) + solution_stale


def _bodies(source: str) -> dict[str, str]:
    """Each top-level function's body without its docstring, as normalised source."""
    import ast

    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    bodies = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                body = body[1:]
            bodies[node.name] = "\n".join(ast.unparse(statement) for statement in body)
    return bodies


def _is_stub(body: str) -> bool:
    """A body that only raises NotImplementedError: a stub, from this release or an older one."""
    return body.startswith("raise NotImplementedError(") and "\n" not in body


def worked_on(solutions: Path = ROOT / "solutions", labs: Path = ROOT / "labs") -> list[str]:
    """The lab files in `labs` where code replaced a stub (a student's work), "file: function"."""
    from course.grading.notebooks import NotebookError, notebook_source

    found = []
    expected = expected_labs(solutions)
    for name, text in expected.items():
        path = labs / name
        if name == HINTS or not path.exists() or path.read_text(errors="replace") == text:
            continue
        stub = expected[str(Path(name).with_suffix(".py"))]
        try:
            is_notebook = name.endswith(".ipynb")
            code = notebook_source(path) if is_notebook else path.read_text(errors="replace")
        except NotebookError:
            code = ""
        stubs, present = _bodies(stub), _bodies(code)
        if not present:
            found.append(f"{name}: (does not parse)")
            continue
        changed = [
            function
            for function, body in stubs.items()
            if "NotImplementedError" in body
            and present.get(function, body) != body
            and not _is_stub(present.get(function, body))
        ]
        found += [f"{name}: {function}()" for function in changed]
    return found


def write_labs(
    solutions: Path = ROOT / "solutions", labs: Path = ROOT / "labs", force: bool = False
) -> list[Path]:
    """Writes the generated labs atomically; removes lab files that no longer have a solution.
    Refuses (`ReleaseError`, naming them) to overwrite labs where code replaced a stub, unless
    `force`: that code is someone's work."""
    work = [] if force else worked_on(solutions, labs)
    if work:
        raise ReleaseError(
            f"labs/ holds work that replaced stubs ({', '.join(work[:6])}"
            + (f" and {len(work) - 6} more" if len(work) > 6 else "")
            + "); save it elsewhere, or run `course release --force` to overwrite it"
        )
    expected = expected_labs(solutions)
    extra = [path for path in _lab_files(labs) if str(path.relative_to(labs)) not in expected]
    if extra and not force:
        names = ", ".join(str(path.relative_to(labs)) for path in extra)
        raise ReleaseError(
            f"labs/ holds lab files that no solution generates ({names}); "
            "move them away, or run `course release --force` to delete them"
        )
    written = [atomic_write(labs / name, text) for name, text in expected.items()]
    notebooks = solution_notebooks(solutions)
    written += [atomic_write(solutions / name, text) for name, text in notebooks.items()]
    for path in extra:
        path.unlink()
    return written


def hints(exercise: str, labs: Path = ROOT / "labs") -> list[str]:
    """The three hint levels of `exercise` ("lab2.rotate"), from the released `labs/hints.json`."""
    registry.exercise(exercise)  # raises RegistryError naming the exercises of the lab
    path = labs / HINTS
    try:
        levels = json.loads(path.read_text())[exercise]
        if not isinstance(levels, list) or len(levels) != LEVELS:
            raise ValueError(f"{exercise} should have {LEVELS} levels")
        return [str(level) for level in levels]
    except ValueError as error:
        raise ReleaseError(
            f"{path} is damaged ({error}); `course release` writes it again"
        ) from None
    except FileNotFoundError:
        raise ReleaseError(
            f"{path} is missing: it comes with the labs (`course release` writes it)"
        ) from None
    except KeyError:
        raise ReleaseError(f"{path} has no hints for {exercise}; run `course release`") from None


# --- the students' copy and the Gradescope bundle (`course release student|gradescope`) ----------

TEMPLATES = ROOT / "release"


def _library_files() -> list[Path]:
    """The files of `course/`: those git tracks, in a checkout (an instructor's stray file stays
    out of the class's copies), else every file but bytecode."""
    import subprocess

    listed = subprocess.run(
        ["git", "ls-files", "-z", "course"], cwd=ROOT, capture_output=True, text=True
    )
    if listed.returncode == 0 and listed.stdout:
        names = sorted(name for name in listed.stdout.split("\0") if name)
        return [ROOT / name for name in names if (ROOT / name).is_file()]
    return [
        path
        for path in sorted((ROOT / "course").rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    ]


def _public_files() -> dict[str, bytes]:
    """Relative path -> content of what every copy of the course holds: the library, the stubs
    and their hints, the public checks and their data, and what installs it."""
    files = {
        f"labs/{name}": text.encode() for name, text in expected_labs(ROOT / "solutions").items()
    }
    for path in _library_files():
        files[str(path.relative_to(ROOT))] = path.read_bytes()
    from course.grading import expected
    from course.grading.runner import check_files, graded_labs

    for lab in graded_labs():
        for path in check_files(lab, public_only=True):
            files[str(path.relative_to(ROOT))] = path.read_bytes()
    for path, text in expected.expected_files().items():
        files[str(path.relative_to(ROOT))] = text.encode()
    for name in ("setup.cfg", "pyproject.toml", ".gitignore", "install.py"):
        files[name] = (ROOT / name).read_bytes()
    return files


def _write_tree(dest: Path, files: dict[str, bytes], executable: set[str] = frozenset()) -> Path:
    """Writes `files` into a new folder `dest`, whole or not at all (a temporary folder beside it,
    renamed when complete)."""
    import shutil
    import tempfile

    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ReleaseError(f"{dest} exists and is not empty: give a new folder")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        for name, data in files.items():
            path = tmp / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            path.chmod(0o755 if name in executable else 0o644)
        tmp.chmod(0o755)
        if dest.exists():
            dest.rmdir()
        tmp.rename(dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def student_copy(dest: Path) -> Path:
    """The students' copy in the new folder `dest`, ready to be the class's template repository:
    labs, course library, public checks, a README with the students' commands and a GitHub
    workflow that runs the public checks on every push. No solution, no hidden check, no
    fixture."""
    files = _public_files()
    readme = (TEMPLATES / "student" / "README.md").read_text()
    files["README.md"] = readme.replace("{labs}", registry.readme_table()).encode()
    files[".github/workflows/check.yml"] = (TEMPLATES / "student" / "check.yml").read_bytes()
    return _write_tree(Path(dest), files)


def gradescope_bundle(zip_path: Path, labs: list[str] = ()) -> Path:
    """Gradescope's autograder zip: `setup.sh` and `run_autograder` at its top, the course with its
    solutions and hidden checks beside them (Gradescope unpacks it into /autograder/source).
    `labs` are the assignment's (its maximum score is theirs, whatever a student hands in); none:
    every lab a submission holds."""
    import io
    import stat
    import zipfile

    from course.grading.runner import check_files, graded_labs

    zip_path = Path(zip_path)
    if zip_path.suffix != ".zip":
        raise ReleaseError(f"{zip_path}: Gradescope's autograder bundle is a .zip file")
    files = _public_files()
    for path in sorted((ROOT / "solutions").glob("lab*.py")):
        files[f"solutions/{path.name}"] = path.read_bytes()
    for lab in graded_labs():
        for path in check_files(lab):
            files[str(path.relative_to(ROOT))] = path.read_bytes()
    files["README.md"] = (ROOT / "README.md").read_bytes()  # setup.cfg's long description
    for name in ("setup.sh", "run_autograder"):
        files[name] = (TEMPLATES / "gradescope" / name).read_bytes()
    options = " ".join(f"--lab {registry.lab(name).key}" for name in labs)  # or RegistryError
    script = files["run_autograder"].decode()
    files["run_autograder"] = script.replace("LABS=()", f"LABS=({options})").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, data in sorted(files.items()):
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            mode = 0o755 if name in ("setup.sh", "run_autograder") else 0o644
            info.external_attr = (stat.S_IFREG | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            bundle.writestr(info, data)
    return atomic_write(zip_path, buffer.getvalue())
