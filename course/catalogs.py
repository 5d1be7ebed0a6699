"""The translators' side of `course.i18n`: what each catalog must translate, found in the sources
(so that text added anywhere shows up as missing from the catalogs), the .po files kept in step
with it (`course translate`), and the labs' text replaced by its translation (`course release`).

Nothing is marked by hand in the checks or the labs:

- `course`: every `_("...")` and `ngettext("...", "...", n)` of `course/`, and the registry's
  words (lab titles, what each exercise teaches);
- `checks`: every check's name (its test's docstring, first paragraph) and every message of
  `tests/autograder/` and of the grader's problems: each f-string or string with words, as a
  template whose placeholders are the expressions it formats; string concatenations are one
  template;
- `labs`: the text of `solutions/`: the module's and functions' docstrings, the comments outside
  solution blocks (a run of comment lines is one text) and each hint level;
- `experiments`: the figures' and results.md's words: every text of `course/plots.py` and of the
  experiment's report and rows, and every `title=`, `xlabel=`, `ylabel=`, `label=` an experiment
  or a notebook passes to a figure.

Text that the course's code writes without `_()` (a new notebook cell, say) is not found here:
mark it, and `course translate` adds it.
"""

from __future__ import annotations

import ast
import io
import re
import textwrap
import tokenize
from collections.abc import Callable, Iterable
from pathlib import Path

from course import ROOT, i18n, registry

AUTOGRADER = ROOT / "tests" / "autograder"
GRADER_MESSAGES = (
    "grading/submission.py",
    "grading/runner.py",
    "grading/grade.py",
    "grading/cli.py",
    "grading/results.py",
    "grading/discovery.py",
    "grading/plugin.py",
    "grading/sandbox.py",
    "registry.py",
)
"""The grader's modules whose messages reach a report (a lab's problem, a check's output)."""
REPORTED_FUNCTIONS = ("describe", "_exit_reason", "_printed", "_where")
"""The grader's functions whose words go into a message."""
MESSAGE_NAMES = r"problem|message|note|output|CHECKED|helps|stub|forbidden"
"""What the grader's modules call the variables that hold a report's words."""


# --- what each catalog must translate ------------------------------------------------------------


def _escape(literal: str) -> str:
    return literal.replace("{", "{{").replace("}", "}}")


def template(node: ast.expr) -> str | None:
    """The message `node` makes, as a template ("got {out.shape}"), or None when it makes no
    string: an f-string, a string, or strings joined with `+`. A placeholder is named by its
    expression where that is short ("out.shape", "result['type']"), else by its position ("{2}"),
    so that the translator copies names, not code."""
    parts = _parts(node)
    if parts is None:
        return None
    out = []
    for position, part in enumerate(parts, 1):
        if isinstance(part, str):
            out.append(_escape(part))
        else:
            name = ast.unparse(part)
            short = len(name) <= 30 and not set(name) & set("{}:!") and "\n" not in name
            out.append("{" + (name if short else str(position)) + "}")
    return "".join(out)


def _parts(node: ast.expr) -> list[str | ast.expr] | None:
    """The literal strings and the formatted expressions of a message, in order."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return [v.value if isinstance(v, ast.Constant) else v.value for v in node.values]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _parts(node.left), _parts(node.right)
        if left is None and right is None:
            return None
        return (left if left is not None else [node.left]) + (
            right if right is not None else [node.right]
        )
    return None


def _has_words(text: str) -> bool:
    """Words for a reader: a letter pair and a space in its literal text (not a name, a key or
    a flag such as "--isolation={level}")."""
    literal = "".join(i18n.split_template(text)[0]).strip()
    return bool(re.search(r"[A-Za-z]{2,}", literal)) and " " in literal


def _has_a_word(text: str) -> bool:
    """Words for a figure's or a table's reader: words and a space, or a word and a value
    ("neighbour: {name}")."""
    pieces, names = i18n.split_template(text)
    literal = "".join(pieces).strip()
    return _has_words(text) or bool(names and re.search(r"[a-z]{3,}", literal))


def _listed_words(source: str) -> set[str]:
    """The single words listed in a figure's code (a legend's labels, the titles of a row of
    images, the context task's positions): strings with a word in a list or a tuple."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.List, ast.Tuple)):
            for element in node.elts:
                if isinstance(element, ast.Constant) and isinstance(element.value, str):
                    if re.fullmatch(r"[a-z][a-z -]+[0-9]?", element.value) and not (
                        element.value in FIGURE_SETTINGS
                    ):
                        found.add(element.value)
    return found


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the strings that stand as statements: docstrings, a constant's included."""
    return {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }


TEXT_KEYWORDS = ("title", "xlabel", "ylabel", "label", "msg", "message", "problem", "reason")
"""Keyword arguments whose strings are words for a reader; any other keyword's are settings."""


def _subscript_keys(tree: ast.AST) -> set[int]:
    """ids of the strings that index (`result["type"]`), are a dict key or a setting passed by
    keyword (`loc="upper left"`): data, not words."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg not in TEXT_KEYWORDS:
            found.update(id(n) for n in ast.walk(node.value) if isinstance(n, ast.Constant))
        if isinstance(node, ast.Subscript):
            found.add(id(node.slice))
        elif isinstance(node, ast.Dict):  # a key of words names a case in a message
            found.update(
                id(key)
                for key in node.keys
                if key is not None
                and not (isinstance(key, ast.Constant) and " " in str(key.value))
            )
        elif isinstance(node, ast.Compare):
            found.update(id(c) for c in [node.left, *node.comparators])
    return found


def messages_of(
    source: str, filename: str = "<source>", words: Callable[[str], bool] | None = None
) -> dict[str, str]:
    """Template -> "file:line" of every message in `source`: the f-strings and strings with
    words, outermost first (a `+` of strings is one template; a string inside an f-string's
    expression is one of its own)."""
    tree = ast.parse(source, filename)
    skip = _docstrings(tree) | _subscript_keys(tree)
    found: dict[str, str] = {}
    inner: set[int] = set()  # the parts of a `+` or an f-string already taken whole
    for node in ast.walk(tree):
        if id(node) in skip or id(node) in inner:
            continue
        if isinstance(node, ast.BinOp) or isinstance(node, (ast.JoinedStr, ast.Constant)):
            text = template(node)
            if text is None:
                continue
            if isinstance(node, ast.BinOp):
                inner.update(_operands(node))
            if isinstance(node, ast.JoinedStr):
                inner.update(id(v) for v in node.values if isinstance(v, ast.Constant))
            if (words or _has_words)(text):
                found.setdefault(text, f"{filename}:{node.lineno}")
    return found


def _operands(node: ast.expr) -> set[int]:
    """ids of the nodes a `+` of strings is made of (not those inside their placeholders)."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return {id(node)} | _operands(node.left) | _operands(node.right)
    if isinstance(node, ast.JoinedStr):
        return {id(node)} | {id(v) for v in node.values if isinstance(v, ast.Constant)}
    return {id(node)}


def check_titles(source: str) -> list[str]:
    """The names of a check module's checks: each graded test's docstring, first paragraph, as
    the grader's plugin reads it."""
    titles = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            doc = ast.get_docstring(node, clean=False) or node.name
            titles.append(" ".join(doc.strip().split("\n\n")[0].split()))
    return titles


def course_messages() -> dict[str, str]:
    """msgid -> where, of the `course` catalog."""
    found: dict[str, str] = {}
    for path in sorted((ROOT / "course").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            if node.func.id in ("_", "gettext", "ngettext"):
                strings = node.args[:2] if node.func.id == "ngettext" else node.args[:1]
                for arg in strings:
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        where = f"{path.relative_to(ROOT)}:{node.lineno}"
                        found.setdefault(arg.value, where)
    for lab in registry.LABS.values():
        found.setdefault(lab.title, f"course/registry.py ({lab.key})")
        for exercise in lab.exercises:
            found.setdefault(exercise.teaches, f"course/registry.py ({exercise.key})")
    return found


def check_messages() -> dict[str, str]:
    """msgid -> where, of the `checks` catalog: the checks' names and messages, and the grader's
    messages that reach a report."""
    found: dict[str, str] = {}
    for path in sorted(AUTOGRADER.glob("test_*.py")):
        source, name = path.read_text(), str(path.relative_to(ROOT))
        for title in check_titles(source):
            found.setdefault(_escape(title), name)
        for text, where in messages_of(source, name, _has_a_word).items():
            found.setdefault(text, where)
    for module in GRADER_MESSAGES:
        path = ROOT / "course" / module
        source, name = path.read_text(), str(path.relative_to(ROOT))
        for text, where in _grader_messages(source, name).items():
            found.setdefault(text, where)
    return found


def _grader_messages(source: str, filename: str) -> dict[str, str]:
    """The messages of a grader module that a report shows: those a `StudentCodeError` carries,
    and a lab's problems (assigned to `problem`, or given to `missing_lab`/`not_run`)."""
    tree = ast.parse(source, filename)
    roots: list[ast.expr] = []
    doing: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            callee = (
                node.func.attr
                if isinstance(node.func, ast.Attribute)
                else getattr(node.func, "id", "")
            )
            if callee == "RegistryError":  # `course hint lab2.rotat`: a student reads it
                roots += node.args
            if callee in ("StudentCodeError", "missing_lab", "not_run", "_run_problem"):
                roots += node.args[1:]
                roots += [k.value for k in node.keywords if k.arg in ("message", "problem")]
            roots += [k.value for k in node.keywords if k.arg == "problem"]
            if callee == "append" and ast.unparse(node.func).endswith("notes.append"):
                roots += node.args
            if callee == "_receive":  # what the worker was doing: "importing {self.name}"
                doing += node.args[1:]
        elif isinstance(node, ast.FunctionDef) and node.name in REPORTED_FUNCTIONS:
            roots += [n.value for n in ast.walk(node) if isinstance(n, ast.Return) and n.value]
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [ast.unparse(t) for t in targets]
            if any(re.search(MESSAGE_NAMES, name) for name in names):
                roots.append(node.value)
    found: dict[str, str] = {
        text: f"{filename}:{node.lineno}" for node in doing if (text := template(node))
    }
    for root in roots:
        if root is None:
            continue
        text = template(root)
        parts = {
            id(value)
            for node in ast.walk(root)
            if isinstance(node, ast.JoinedStr)
            for value in node.values
            if isinstance(value, ast.Constant)
        }
        candidates = [root] if text is not None else []
        candidates += [
            n
            for n in ast.walk(root)
            if n is not root and id(n) not in parts and template(n) is not None
        ]
        for node in candidates:
            text = template(node)
            if text and _has_a_word(text) and not text.startswith("--"):  # not a flag
                found.setdefault(text, f"{filename}:{node.lineno}")
    return found


# --- the labs' text ------------------------------------------------------------------------------

BEGIN, END = "# BEGIN SOLUTION", "# END SOLUTION"
HINT = re.compile(r"^(?P<indent>\s*)# HINT (?P<level>[123]):\s?(?P<text>.*)$")


def _comment_runs(lines: list[str]) -> list[tuple[int, int, str, str]]:
    """(first line, end line, indent, text) of each run of whole-line comments outside solution
    blocks (hints excepted: they are texts of their own), 0-based and end-exclusive."""
    runs, i, inside = [], 0, False
    while i < len(lines):
        stripped = lines[i].strip()
        if stripped.startswith(BEGIN):
            inside = True
        if inside or not stripped.startswith("#") or HINT.match(lines[i]):
            inside = inside and not stripped.startswith(END)
            i += 1
            continue
        start, indent = i, lines[i][: len(lines[i]) - len(lines[i].lstrip())]
        words = []
        while (
            i < len(lines)
            and lines[i].strip().startswith("#")
            and not HINT.match(lines[i])
            and not lines[i].strip().startswith(BEGIN)
            and lines[i][: len(lines[i]) - len(lines[i].lstrip())] == indent
        ):
            words.append(lines[i].strip()[1:].strip())
            i += 1
        runs.append((start, i, indent, " ".join(w for w in words if w)))
    return runs


def _hint_runs(lines: list[str]) -> list[tuple[int, int, str, str, str]]:
    """(first line, end line, indent, level, text) of each hint level."""
    runs, i = [], 0
    while i < len(lines):
        hint = HINT.match(lines[i])
        if not hint:
            i += 1
            continue
        start, level, words = i, hint["level"], []
        while i < len(lines) and (h := HINT.match(lines[i])) and h["level"] == level:
            words.append(h["text"].strip())
            i += 1
        runs.append((start, i, hint["indent"], level, " ".join(words)))
    return runs


def _inline_comments(source: str) -> list[tuple[int, int, str]]:
    """(line, column, text) of each comment that follows code on its line, 0-based line."""
    found = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            line = token.line
            if line[: token.start[1]].strip():
                found.append((token.start[0] - 1, token.start[1], token.string[1:].strip()))
    return found


def _docstring_nodes(source: str) -> list[tuple[ast.Constant, int]]:
    """Each docstring of the module and its top-level functions, with its indent."""
    tree = ast.parse(source)
    found = []
    for node in [tree, *tree.body]:
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                if isinstance(body[0].value.value, str):
                    indent = 0 if isinstance(node, ast.Module) else body[0].col_offset
                    found.append((body[0].value, indent))
    # Module-level docstrings of constants ("NUM_ROTATIONS = 4" then a string) read as text too.
    for previous, node in zip(tree.body, tree.body[1:], strict=False):
        if (
            isinstance(previous, (ast.Assign, ast.AnnAssign))
            and isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            found.append((node.value, 0))
    return found


def lab_texts(source: str) -> list[str]:
    """The texts of one lab's solution that the `labs` catalog translates, in order."""
    lines = source.splitlines(keepends=True)
    texts = [_clean_doc(node.value) for node, _ in _docstring_nodes(source)]
    texts += [text for *_, text in _comment_runs(lines) if text]
    texts += [text for *_, text in _hint_runs(lines)]
    inside = _inside_solutions(lines)
    texts += [text for line, _, text in _inline_comments(source) if line not in inside and text]
    return list(dict.fromkeys(texts))


def _clean_doc(text: str) -> str:
    lines = text.expandtabs().splitlines()
    head, rest = lines[0].strip() if lines else "", textwrap.dedent("\n".join(lines[1:]))
    return (head + ("\n" + rest if rest else "")).strip()


def _inside_solutions(lines: list[str]) -> set[int]:
    inside, found = False, set()
    for number, line in enumerate(lines):
        if line.strip().startswith(BEGIN):
            inside = True
        if inside:
            found.add(number)
        if line.strip().startswith(END):
            inside = False
    return found


def labs_messages() -> dict[str, str]:
    """msgid -> where, of the `labs` catalog: the texts of every solution, and the words the
    release writes around them (exercise notes, stubs, notebook cells)."""
    found: dict[str, str] = {}
    for path in sorted((ROOT / "solutions").glob("lab*.py")):
        for text in lab_texts(path.read_text()):
            found.setdefault(text, str(path.relative_to(ROOT)))
    return found


EXPERIMENT_TEXTS = (
    "course/plots.py",
    "course/experiments/report.py",
    "course/experiments/rows.py",
)
"""Modules whose every text with words is a figure's or results.md's (their docstrings aside)."""
FIGURE_KEYWORDS = ("title", "xlabel", "ylabel", "label")
FIGURE_SETTINGS = {"black", "white", "center", "right", "left", "bottom", "top"}
"""Strings of the figures' code that are settings, not words."""
"""The keyword arguments that name a figure's words, wherever an experiment draws one."""


NOT_WORDS = ("machine_description",)
"""Functions of those modules whose strings are data (a machine's description), not words."""


def _without(source: str, functions: tuple[str, ...]) -> str:
    """`source` with the bodies of the top-level `functions` blanked (lines kept, for their
    numbers)."""
    lines = source.splitlines(keepends=True)
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and node.name in functions:
            for number in range(node.body[0].lineno - 1, node.end_lineno):
                lines[number] = "\n"
            lines[node.body[0].lineno - 1] = " " * node.col_offset + "    pass\n"
    return "".join(lines)


def experiment_messages() -> dict[str, str]:
    """msgid -> where, of the `experiments` catalog: the figures' and results.md's words, as
    templates."""
    found: dict[str, str] = {}
    for name in EXPERIMENT_TEXTS:
        source = (ROOT / name).read_text()
        found.update(messages_of(_without(source, NOT_WORDS), name, _has_a_word))
        if name.endswith("plots.py"):
            found.update((word, name) for word in sorted(_listed_words(source)))
    for path in sorted(
        [
            *(ROOT / "course" / "experiments").rglob("*.py"),
            ROOT / "course" / "in_notebook.py",
            ROOT / "course" / "plots.py",
        ]
    ):
        name = str(path.relative_to(ROOT))
        for node in ast.walk(ast.parse(path.read_text(), name)):
            if isinstance(node, ast.Call):
                for keyword in node.keywords:
                    text = template(keyword.value) if keyword.arg in FIGURE_KEYWORDS else None
                    if text and re.search("[a-z]{3,}", "".join(i18n.split_template(text)[0])):
                        found.setdefault(text, f"{name}:{node.lineno}")
    from course.experiments.rows import ROWS

    for row in ROWS.values():
        found.setdefault(_escape(row.description), "course/experiments/rows.py")
    words: dict[str, str] = {}
    for text, where in found.items():
        if text.startswith("|"):  # a table's header: translated cell by cell, `method` kept
            for cell in text.strip("|").split("|")[1:]:
                if re.search("[a-z]{3,}", cell):
                    words.setdefault(cell.strip(), where)
        elif text not in ROWS and not re.fullmatch(r"[\w{}]+-linear", text):  # method names
            words[text] = where
    for row in ROWS.values():  # a row's description, even where it is its method's name
        words.setdefault(_escape(row.description), "course/experiments/rows.py")
    return words


CATALOGS = {
    "course": course_messages,
    "checks": check_messages,
    "labs": labs_messages,
    "experiments": experiment_messages,
}


class TranslationMissing(LookupError):
    """A text of a lab that the catalog does not translate."""


def _wrap_comment(indent: str, prefix: str, text: str, width: int = 99) -> list[str]:
    room = max(20, width - len(indent) - len(prefix))
    wrapped = textwrap.wrap(text, room, break_long_words=False, break_on_hyphens=False) or [""]
    return [f"{indent}{prefix}{line}".rstrip() + "\n" for line in wrapped]


def translate_source(source: str, lang: str, filename: str = "<lab>", strict: bool = True) -> str:
    """`source` (a solution) with its text in `lang`: docstrings, comments outside solution
    blocks, hints and inline comments replaced by the `labs` catalog's translation, the code left
    as it is. A text without one raises `TranslationMissing` naming it, or with `strict=False`
    stays as it is (the release keeps working while a new text waits for its translator; the
    tests fail on it)."""

    def translated(text: str) -> str:
        found = i18n.lab_text(text, lang)
        if found is None and strict:
            raise TranslationMissing(f"{filename}: no {lang} translation of {text[:70]!r}")
        return text if found is None else found

    if lang == i18n.DEFAULT:
        return source
    lines = source.splitlines(keepends=True)
    replace: dict[int, tuple[int, list[str]]] = {}  # first line -> (end line, new lines)
    for node, indent in _docstring_nodes(source):
        text = translated(_clean_doc(node.value))
        pad = " " * indent
        body = text.splitlines()
        new = [f'{pad}"""{body[0]}' if body else f'{pad}"""']
        new += [f"{pad}{line}".rstrip() if line.strip() else "" for line in body[1:]]
        single = len(body) == 1 and len(new[0]) + 3 <= 99
        new = [new[0] + '"""\n'] if single else [line + "\n" for line in new] + [f'{pad}"""\n']
        replace[node.lineno - 1] = (node.end_lineno, new)
    for start, end, indent, text in _comment_runs(lines):
        if text:
            replace[start] = (end, _wrap_comment(indent, "# ", translated(text)))
    for start, end, indent, level, text in _hint_runs(lines):
        replace[start] = (end, _wrap_comment(indent, f"# HINT {level}: ", translated(text)))
    inline = {line: (column, text) for line, column, text in _inline_comments(source)}
    inside = _inside_solutions(lines)
    out, i = [], 0
    while i < len(lines):
        if i in replace:
            end, new = replace[i]
            out += new
            i = end
            continue
        line = lines[i]
        if i in inline and i not in inside and inline[i][1]:
            column, text = inline[i]
            line = line[:column] + "# " + translated(text) + "\n"
        out.append(line)
        i += 1
    return "".join(out)


# --- keeping the .po files in step ---------------------------------------------------------------


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t")
    lines = escaped.split("\n")
    if len(lines) == 1:
        return f'"{escaped}"'
    parts = [line + "\\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else [])
    return '""\n' + "\n".join(f'"{part}"' for part in parts)


def write_po(path: Path, header: str, entries: Iterable[tuple[str, str, str]]) -> None:
    """A .po file: `header` (comment lines, the translator's notes), then (where, msgid, msgstr)
    entries."""
    out = [header.rstrip("\n"), 'msgid ""', 'msgstr ""']
    out += ['"Content-Type: text/plain; charset=UTF-8\\n"', f'"Language: {path.parts[-3]}\\n"', ""]
    for where, msgid, msgstr in entries:
        out += [f"#: {where}", f"msgid {_quote(msgid)}", f"msgstr {_quote(msgstr)}", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out), encoding="utf-8")


def po_header(path: Path) -> str:
    """The comment lines at the top of a .po file (the translator's notes)."""
    if not path.is_file():
        return "# Translations of the course.\n"
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    return "\n".join(lines) + "\n"


def missing(domain: str, lang: str = "es") -> dict[str, str]:
    """msgid -> where, of the texts of `domain` that the catalog of `lang` does not translate."""
    have = i18n.read_po(i18n.po_path(domain, lang)) if i18n.po_path(domain, lang).is_file() else {}
    return {msgid: where for msgid, where in CATALOGS[domain]().items() if msgid not in have}


def update(domain: str, lang: str = "es", prune: bool = False) -> tuple[int, int]:
    """Rewrites the catalog of `domain` in `lang`: its translations kept, every text the sources
    now hold and it lacks added with an empty msgstr (for the translator), and with `prune` the
    entries no source holds any more dropped. Returns (entries, untranslated)."""
    path = i18n.po_path(domain, lang)
    have = i18n.read_po(path) if path.is_file() else {}
    have.pop("", None)
    wanted = CATALOGS[domain]()
    entries = [(where, msgid, have.get(msgid, "")) for msgid, where in wanted.items()]
    if not prune:
        entries += [("(no source holds it now)", m, s) for m, s in have.items() if m not in wanted]
    write_po(path, po_header(path), entries)
    i18n.translations.cache_clear()
    i18n.read_po_cached.cache_clear()
    i18n._template_catalog.cache_clear()  # every template catalog
    return len(entries), sum(1 for *_, msgstr in entries if not msgstr)
