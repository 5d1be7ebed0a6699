"""The course's languages: English (the default) and Spanish, the workshop's own.

One switch chooses the language of everything a student or a TA reads: `course --lang es` for one
command (it sets `COURSE_LANG` for the processes it starts), else `COURSE_LANG=es`, else a Spanish
locale (`LANGUAGE`, `LC_ALL`, `LC_MESSAGES`, `LANG` starting with `es`), else English. Code, file
names, exercise names and machine-readable fields never change with it, and neither does a grade.

Translations live in gettext catalogs, `course/locale/es/LC_MESSAGES/<domain>.po`, that a
translator edits without touching code; they are read here with a small parser (no compile step,
no dependency) into the standard library's `gettext.GNUTranslations`. Four domains:

- `course`: the command line's and the reports' words, marked in the code with `_()`/`ngettext()`;
  their placeholders are named, `_("got {shape}").format(shape=...)`.
- `checks`: the autograder's check names (test docstrings) and messages. Those are f-strings in
  `tests/autograder/` and in the grader; `course.catalogs` extracts each one as a template whose
  placeholders are its expressions (`"got {out.shape}"`), and `message()` translates a finished
  message by matching it against the templates, translating what filled each placeholder in turn.
  The checks themselves are never touched, so a check's verdict cannot depend on the language.
- `labs`: the labs' text (docstrings, comments, hints), applied by `course release` to generate
  the Spanish labs from the one master, `solutions/` (`course.catalogs.translate_source`).
- `experiments`: the words of `course experiment`'s figures and results.md, templates as the
  checks' are, applied as a figure or the table is written (`experiment_text`).
"""

from __future__ import annotations

import contextlib
import gettext as gnu_gettext
import io
import os
import re
import struct
from collections.abc import Iterator
from functools import cache
from pathlib import Path

LOCALE = Path(__file__).resolve().parent / "locale"
LANGUAGES = ("en", "es")
DEFAULT = "en"
DOMAINS = ("course", "checks", "labs", "experiments")

_chosen: str | None = None  # set by `use()`, e.g. `course --lang es`; else the environment decides


def language() -> str:
    """The language chosen: "es" or "en". `COURSE_LANG` first (any value starting with a known
    code), then the locale variables in gettext's order, then English."""
    if _chosen:
        return _chosen
    for variable in ("COURSE_LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(variable, "").strip().lower()
        if not value:
            continue
        if value.startswith("es"):
            return "es"
        if variable == "COURSE_LANG" or value.split(":")[0] not in ("c", "posix", "c.utf-8"):
            # An explicit choice of another language, or another locale: English.
            return DEFAULT
    return DEFAULT


def use(lang: str | None) -> None:
    """Chooses the language for this process and the processes it starts (`COURSE_LANG`); None
    goes back to the environment's choice."""
    global _chosen
    if lang is not None and lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}: choose one of {', '.join(LANGUAGES)}")
    _chosen = lang
    if lang is not None:
        os.environ["COURSE_LANG"] = lang


@contextlib.contextmanager
def speaking(lang: str) -> Iterator[None]:
    """Within the block, the language is `lang` (the release writes each language's labs)."""
    global _chosen
    before, _chosen = _chosen, lang
    try:
        yield
    finally:
        _chosen = before


# --- reading .po catalogs ------------------------------------------------------------------------

_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}


def _unquote(text: str) -> str:
    body = text.strip()
    if len(body) < 2 or body[0] != '"' or body[-1] != '"':
        raise ValueError(f"not a quoted string: {text!r}")
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m[1], "\\" + m[1]), body[1:-1])


def read_po(path: Path) -> dict[str, str]:
    """msgid -> msgstr of a .po file: translated entries only (an empty or fuzzy msgstr is
    missing), the header (msgid "") kept as gettext keeps it."""
    entries: dict[str, str] = {}
    msgid = msgstr = None
    field, fuzzy, fuzzy_entry = None, False, False

    def finish() -> None:
        if msgid is not None and msgstr and not fuzzy_entry:
            entries[msgid] = msgstr

    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        stripped = line.strip()
        try:
            if stripped.startswith("#,") and "fuzzy" in stripped:
                fuzzy = True
            elif not stripped or stripped.startswith("#"):
                continue
            elif stripped.startswith("msgid "):
                finish()
                msgid, msgstr, field = _unquote(stripped[6:]), None, "msgid"
                fuzzy_entry, fuzzy = fuzzy, False
            elif stripped.startswith("msgstr "):
                msgstr, field = _unquote(stripped[7:]), "msgstr"
            elif stripped.startswith('"') and field == "msgid":
                msgid += _unquote(stripped)
            elif stripped.startswith('"') and field == "msgstr":
                msgstr += _unquote(stripped)
            else:
                raise ValueError(f"unexpected line {stripped[:40]!r}")
        except ValueError as error:
            raise ValueError(f"{path}:{number}: {error}") from None
    finish()
    return entries


def _mo_bytes(entries: dict[str, str]) -> bytes:
    """The entries as a GNU .mo file, so that the standard library's gettext reads them."""
    keys = sorted(entries)
    ids = b"".join(key.encode() + b"\0" for key in keys)
    strs = b"".join(entries[key].encode() + b"\0" for key in keys)
    start = 7 * 4 + 16 * len(keys)
    id_table, str_table, offset = [], [], 0
    for key in keys:
        id_table += [len(key.encode()), start + offset]
        offset += len(key.encode()) + 1
    offset = 0
    for key in keys:
        str_table += [len(entries[key].encode()), start + len(ids) + offset]
        offset += len(entries[key].encode()) + 1
    header = struct.pack("Iiiiiii", 0x950412DE, 0, len(keys), 7 * 4, 7 * 4 + 8 * len(keys), 0, 0)
    tables = struct.pack(f"{len(id_table)}i", *id_table) + struct.pack(
        f"{len(str_table)}i", *str_table
    )
    return header + tables + ids + strs


def po_path(domain: str, lang: str = "es") -> Path:
    return LOCALE / lang / "LC_MESSAGES" / f"{domain}.po"


@cache
def translations(domain: str, lang: str) -> gnu_gettext.NullTranslations:
    """The catalog of `domain` in `lang`; English (and a catalog that is missing) translates
    nothing."""
    path = po_path(domain, lang)
    if lang == DEFAULT or not path.is_file():
        return gnu_gettext.NullTranslations()
    return gnu_gettext.GNUTranslations(io.BytesIO(_mo_bytes(read_po(path))))


def _catalog(domain: str) -> gnu_gettext.NullTranslations:
    return translations(domain, language())


def _(text: str) -> str:
    """`text` (a message of the course's code) in the chosen language."""
    return _catalog("course").gettext(text)


gettext = _  # for modules where `_` names a throwaway variable


def ngettext(singular: str, plural: str, count: float) -> str:
    """The singular or plural message for `count`, in the chosen language."""
    # Spanish, like English, uses the singular for one and the plural otherwise: each form is an
    # entry of its own, which keeps the catalogs to plain msgid/msgstr pairs.
    return _catalog("course").gettext(singular if count == 1 else plural)


def lab_text(text: str, lang: str | None = None) -> str | None:
    """A lab's text (docstring, comment, hint) in `lang` (default: the chosen language); None
    when the catalog has no translation of it."""
    lang = lang or language()
    return text if lang == DEFAULT else read_po_cached("labs", lang).get(text)


@cache
def read_po_cached(domain: str, lang: str) -> dict[str, str]:
    path = po_path(domain, lang)
    return read_po(path) if path.is_file() else {}


# --- check names and messages, translated from their templates -----------------------------------

_FIELD = re.compile(r"\{\{|\}\}|\{([^{}]+)\}")


def split_template(template: str) -> tuple[list[str], list[str]]:
    """The literal pieces and the placeholders of a template in `str.format`'s syntax (braces
    doubled in literal text): "got {out.shape}, {{0, 1}}" -> (["got ", ", {0, 1}"],
    ["out.shape"]). There is one more piece than placeholders."""
    pieces, names, piece, last = [], [], "", 0
    for found in _FIELD.finditer(template):
        piece += template[last : found.start()]
        if found[1] is None:
            piece += found[0][0]
        else:
            pieces.append(piece)
            names.append(found[1])
            piece = ""
        last = found.end()
    pieces.append(piece + template[last:])
    return pieces, names


def fill(template: str, values: dict[str, str]) -> str:
    """`template` with each placeholder replaced by its value (a placeholder without one stays)."""
    pieces, names = split_template(template)
    return "".join(
        piece + (values.get(name, "{" + name + "}") if i < len(names) else "")
        for i, (piece, name) in enumerate(zip(pieces, [*names, ""], strict=True))
    )


@cache
def _template_catalog(lang: str, domain: str = "checks") -> tuple[dict[str, str], tuple]:
    """A template catalog (`checks`, `experiments`) in `lang`: the texts without placeholders,
    literal -> translation; and the templates as (pattern, literal pieces, placeholders,
    translation), the most specific first (the most literal text)."""
    exact, templates = {}, []
    for msgid, msgstr in read_po_cached(domain, lang).items():
        if not msgid:
            continue
        pieces, names = split_template(msgid)
        if not names:
            exact[pieces[0]] = fill(msgstr, {})
            continue
        pattern = re.compile("(.*?)".join(re.escape(piece) for piece in pieces), re.DOTALL)
        templates.append((len("".join(pieces)), pattern, tuple(pieces), tuple(names), msgstr))
    templates.sort(key=lambda entry: -entry[0])
    return exact, tuple(entry[1:] for entry in templates)


_MAX_SPLITS = 64  # ways of cutting one message into a template's placeholders, at most
_WORDS = re.compile(r"[A-Za-z]{2,} [A-Za-z]{2,}")


def _splits(text: str, pieces: tuple[str, ...]) -> Iterator[list[str]]:
    """Every way `text` is `pieces[0] + value + pieces[1] + ... + pieces[-1]`: the values."""
    if len(pieces) == 1:
        if text == pieces[0]:
            yield []
        return
    if not text.startswith(pieces[0]):
        return
    rest, following = text[len(pieces[0]) :], pieces[1]
    if following:
        ends = [m.start() for m in re.finditer(f"(?={re.escape(following)})", rest)]
    elif len(pieces) == 2:
        ends = [len(rest)]
    else:  # two placeholders side by side: an appended part starts at a space or a mark
        ends = [0, *(m.start() for m in re.finditer(r"[\s;:.,(]", rest)), len(rest)]
    for end in ends:
        for values in _splits(rest[end:], pieces[1:]):
            yield [rest[:end], *values]


def message(text: str, lang: str | None = None, _depth: int = 0, domain: str = "checks") -> str:
    """A check's or the grader's message in `lang` (default: the chosen language), translated
    by the `checks` catalog: the whole text, else the template it was made from with each
    placeholder's value translated in turn (where a message can be cut into a template's
    placeholders in several ways, the way whose values read as translated words or as plain
    values wins), else each of its lines; what no entry matches stays as it is (a value, a name,
    the student's own text)."""
    lang = lang or language()
    if lang == DEFAULT or not text or _depth > 6:
        return text
    exact, templates = _template_catalog(lang, domain)
    if text in exact:
        return exact[text]
    stripped = text.strip()
    if stripped in exact:
        return text.replace(stripped, exact[stripped]) if stripped else text
    best, best_score = None, -1.0
    for pattern, pieces, names, translation in templates:
        if pattern.fullmatch(text) is None:
            continue
        for count, values in enumerate(_splits(text, pieces)):
            if count == _MAX_SPLITS:
                break
            translated = [message(value, lang, _depth + 1, domain) for value in values]
            # A value is read well when it was translated or holds no English words.
            score = sum(
                new != old or not _WORDS.search(old)
                for old, new in zip(values, translated, strict=True)
            ) / len(values)
            if score > best_score:
                best_score = score
                best = fill(translation, dict(zip(names, translated, strict=True)))
        if best_score == 1:
            return best
    if best is not None and (best_score > 0 or "\n" not in text):
        return best
    if "\n" in text:
        return "\n".join(message(line, lang, _depth + 1, domain) for line in text.split("\n"))
    # A part appended to a message ("; it matches ...") is a message after its separator.
    separator = re.match(r"[;:,.]? +|\(", text)
    if separator and separator.end() < len(text):
        rest = message(text[separator.end() :], lang, _depth + 1, domain)
        if rest != text[separator.end() :]:
            return separator[0] + rest
    return text


def experiment_text(text: str, lang: str | None = None) -> str:
    """A text of an experiment's figures or results.md in `lang` (default: the chosen language),
    from the `experiments` catalog's templates; a markdown table's row cell by cell."""
    if (lang or language()) == DEFAULT:
        return text
    lines = []
    for line in text.split("\n"):
        if line.startswith("|") and line.endswith("|"):
            # The first column is the row's `method`, a name that never changes.
            method, *cells = line[1:-1].split("|")
            line = "|" + "|".join([method, *(_cell(cell, lang) for cell in cells)]) + "|"
        else:
            line = message(line, lang, domain="experiments")
        lines.append(line)
    return "\n".join(lines)


def _cell(cell: str, lang: str | None) -> str:
    stripped = cell.strip()
    return (
        cell.replace(stripped, message(stripped, lang, domain="experiments")) if stripped else cell
    )


def check_name(name: str, lang: str | None = None) -> str:
    """A check's name, `labN.exercise: what it checks`, with its words translated."""
    lab_exercise, separator, title = name.partition(": ")
    if not separator or not re.fullmatch(r"lab\d+\.\w+", lab_exercise):
        return message(name, lang)
    return f"{lab_exercise}: {message(title, lang)}"


def translate_report(submission) -> None:
    """Puts a graded submission's words into the chosen language, in place and once: its checks'
    names and messages, its labs' problems and its notes (`course grade` and `course check` call
    it before any report is made, so every report speaks the grader's language). Scores and
    statuses are untouched."""
    if language() == DEFAULT or getattr(submission, "translated", False):
        return
    submission.notes[:] = [message(note) for note in submission.notes]
    for lab in submission.labs:
        lab.problem = message(lab.problem)
        for test in lab.tests:
            test.name, test.output = check_name(test.name), message(test.output)
    submission.translated = True
