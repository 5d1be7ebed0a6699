"""The reports of `course grade` and `course check`: the terminal table, Gradescope's results.json,
a CSV row per submission and JUnit XML. Every file is written atomically (a temporary file in the
same folder, then `os.replace`), so a reader never sees half a report.

A check that could not run here ("skipped": it needs the reference solutions, which students do
not have) earns nothing but is not a failure: the terminal says so, Gradescope gets no `status`
for it (Gradescope has no "skipped"; without a status it shows the score, 0 of its points, and the
output saying why), JUnit marks it <skipped/>.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

from course.files import atomic_write
from course.grading.protocol import ErrorKind
from course.grading.results import LabResult, TestResult, lab_problems
from course.grading.text import printable
from course.i18n import _, ngettext

WIDTH = 100  # terminal lines
MESSAGE_LINES = 10  # lines of one failure message in the terminal
PRINTED_LINES = 20  # lines of what the code printed, in the terminal (--verbose, course check)
XML_INVALID = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def points(value: float) -> str:
    return f"{value:g}"


def clean(text: str) -> str:
    """Text safe to show in a terminal or write to a file: student output may hold escape
    sequences, NULs, bidirectional overrides and lone surrogates (`grade.printable`)."""
    return printable(text.replace("\r\n", "\n").replace("\t", "    "), keep="\n")


def title(test: TestResult) -> str:
    """The check's words, without the `labN.exercise: ` prefix of its name."""
    prefix = f"{test.lab}.{test.exercise}: "
    return test.name[len(prefix) :] if test.name.startswith(prefix) else test.name


def plural(count: float, word: str) -> str:
    """ "3 points", "1 check" (`word`: "point", "check", "submission"), in the language chosen."""
    forms = {
        "point": ngettext("{count} point", "{count} points", count),
        "check": ngettext("{count} check", "{count} checks", count),
        "submission": ngettext("{count} submission", "{count} submissions", count),
    }
    return forms[word].format(count=points(count))


def _wrap(text: str, indent: int, max_lines: int = MESSAGE_LINES) -> list[str]:
    lines = []
    for paragraph in clean(text).strip().splitlines() or [""]:
        lines += textwrap.wrap(
            paragraph, WIDTH - indent, subsequent_indent="  ", break_on_hyphens=False
        ) or [""]
    if len(lines) > max_lines:
        lines = lines[: max_lines - 1] + [
            lines[max_lines - 1][: WIDTH - indent - 40]
            + _(" ... (cut: --json FILE has all of it)")
        ]
    return [" " * indent + line for line in lines]


def _messages(tests: list[TestResult], indent: int, student: bool) -> list[str]:
    """The failures among `tests`, grouped where several checks failed with the same message."""
    groups: dict[str, list[TestResult]] = {}
    for test in tests:
        if test.status == "failed" or (test.status == "skipped" and not student):
            groups.setdefault(test.output or _("failed"), []).append(test)
    lines = []
    for output, group in groups.items():
        if len(group) == 1:
            lines += _wrap(f"{group[0].number} {title(group[0])}", indent, 2)
            lines += _wrap(output, indent + 4)
        else:
            lines += _wrap(", ".join(test.number for test in group) + ":", indent, 2)
            lines += _wrap(output, indent + 4)
    return lines


def text_report(submission, verbose: bool = False, student: bool = False) -> str:
    """The terminal report of one submission: a row per lab and exercise with its points, each
    failure's message below it, and a total line such as `solutions: 80/80`."""
    lines = [clean(f"{submission.name} ({submission.folder})")]
    lines += [_("  note: {note}").format(note=clean(note)) for note in submission.notes]
    lines.append(f"  {_('lab'):<5} {_('exercise'):<24} {_('points'):>9}")
    for lab in submission.labs:
        lines += _lab_rows(lab, verbose, student)
    skipped = submission.skipped
    total = f"{submission.name}: {points(submission.score)}/{points(submission.max_score)}"
    summary = ""
    if student:
        hidden = sum(sum(hidden_points(lab).values()) for lab in submission.labs)
        if hidden:
            lines.append(
                _("hidden checks worth {points} run when the staff grade").format(
                    points=plural(hidden, "point")
                )
            )
        ran = [test for test in submission.tests if test.status != "skipped"]
        passed = sum(test.status == "passed" for test in ran)
        total += _(" on the public checks")
        summary = _("public checks: {passed}/{ran} passed; hidden checks run at grading").format(
            passed=passed, ran=len(ran)
        )
    if skipped:
        total += _(
            " ({checks} worth {points} could not run: they need the reference solutions)"
        ).format(
            checks=plural(len(skipped), "check"),
            points=plural(sum(t.max_score for t in skipped), "point"),
        )
    lines.append(_("  isolation: {level}").format(level=isolation_words(submission.isolation)))
    lines += [
        _("    not held: {gap}").format(gap=gap) for gap in isolation_gaps(submission.isolation)
    ]
    lines.append(total)
    if summary:
        lines.append(summary)
    return "\n".join(lines)


def _lab_rows(lab: LabResult, verbose: bool, student: bool) -> list[str]:
    lines = []
    failed = [test for test in lab.tests if test.status == "failed"]
    outputs = {test.output for test in failed}
    exercises = list(dict.fromkeys(test.exercise for test in lab.tests))
    lab_wide = (
        len(failed) > 1 and len(outputs) == 1 and len({test.exercise for test in failed}) > 1
    )
    for exercise in exercises:
        tests = [test for test in lab.tests if test.exercise == exercise]
        score, top = sum(t.score for t in tests), sum(t.max_score for t in tests)
        ran_here = sum(t.max_score for t in tests if t.status != "skipped")
        shown = f"{points(score)}/{points(top)}"
        hidden = hidden_points(lab).get(exercise, 0) if student else 0
        lines.append(
            f"  {lab.lab:<5} {exercise:<24} {shown:>9}"
            + (
                _("   ({points} checked at submission)").format(points=points(top - ran_here))
                if top > ran_here
                else ""
            )
            + (
                _("   (+{points} in hidden checks)").format(points=points(hidden))
                if hidden
                else ""
            )
        )
        if not lab_wide:
            lines += _messages(tests, 8, student)
            wrong = [
                t for t in tests if t.status == "failed" and t.kind != ErrorKind.NOT_IMPLEMENTED
            ]
            if wrong and all(t.kind in ("", ErrorKind.EXCEPTION) for t in wrong):
                lines.append(
                    _("        hints: course hint {exercise}").format(
                        exercise=f"{lab.lab}.{exercise}"
                    )
                )
    shown = f"{points(lab.score)}/{points(lab.max_score)}"
    lines.append(f"  {lab.lab:<5} {_('total'):<24} {shown:>9}   {lab.seconds:.1f} s")
    lines += [f"        {advice}" for advice in fix_first(lab)]
    if lab_wide:
        lines += _wrap(
            _("all {count} checks: {output}").format(count=len(failed), output=failed[0].output), 8
        )
        lines += _messages([test for test in lab.tests if test.status == "skipped"], 8, student)
    if lab.problem and not any(test.kind == ErrorKind.FORBIDDEN for test in failed):
        lines += _wrap(_("problem: {problem}").format(problem=lab.problem), 8)
    if lab.printed_bytes:
        lines += _wrap(
            _("{lab}'s code printed {count} bytes").format(
                lab=lab.lab, count=f"{lab.printed_bytes:,}"
            )
            + (_("; the start and the end of it:") if verbose else _(" (--verbose shows it)")),
            8,
        )
        if verbose:
            printed = clean(lab.printed).splitlines()
            if len(printed) > PRINTED_LINES:
                printed = printed[: PRINTED_LINES // 2] + ["..."] + printed[-PRINTED_LINES // 2 :]
            lines += [" " * 10 + line[: WIDTH - 10] for line in printed]
    return lines


def hidden_points(lab: LabResult) -> dict[str, float]:
    """Exercise -> the points of its checks that did not run here: the hidden checks, which the
    students' copy does not have (the registry knows each exercise's points)."""
    from course.registry import LABS

    if lab.lab not in LABS:
        return {}
    missing = {}
    for exercise in dict.fromkeys(test.exercise for test in lab.tests):
        here = sum(test.max_score for test in lab.tests if test.exercise == exercise)
        if LABS[lab.lab].exercise(exercise).points > here:
            missing[exercise] = LABS[lab.lab].exercise(exercise).points - here
    return missing


def fix_first(lab: LabResult) -> list[str]:
    """ "fix rotate first: ..." for each failed exercise that other failed exercises build on."""
    from course.registry import LABS
    from course.registry import fix_first as order

    if lab.lab not in LABS:
        return []
    # Functions that failed: a lab missing, unimportable or forbidden has no order to fix.
    failed = {
        test.exercise
        for test in lab.tests
        if test.status == "failed"
        and test.kind
        not in (ErrorKind.MISSING_FILE, ErrorKind.IMPORT, ErrorKind.FORBIDDEN, ErrorKind.PROTOCOL)
    }
    advice = []
    for used, callers in order(lab.lab, failed).items():
        names = [f"{name}()" for name in callers]
        listed = (
            names[0]
            if len(names) == 1
            else _("{names} and {last}").format(names=", ".join(names[:-1]), last=names[-1])
        )
        advice.append(
            ngettext(
                "fix {used}() first: {listed} builds on it, so its checks may pass once it does",
                "fix {used}() first: {listed} build on it, so their checks may pass once it does",
                len(names),
            ).format(used=used, listed=listed)
        )
    return advice


def summary_table(results, labs: list[str], seconds: float) -> str:
    """The end of a batch: one row per submission, its points per lab, total and problems."""
    name_width = min(30, max([len(_("submission"))] + [len(r.name) for r in results]))
    header = (
        f"{_('submission'):<{name_width}} "
        + " ".join(f"{lab:>9}" for lab in labs)
        + f" {_('total'):>9}  {_('problems')}"
    )
    lines = ["", header, "-" * len(header)]
    for result in results:
        cells = []
        for lab in labs:
            graded = result.lab(lab)
            cells.append(f"{points(graded.score)}/{points(graded.max_score)}" if graded else "-")
        total = f"{points(result.score)}/{points(result.max_score)}"
        problems = "; ".join(result.problems())
        name = (
            result.name
            if len(result.name) <= name_width
            else result.name[: name_width - 3] + "..."
        )
        row = (
            f"{name:<{name_width}} "
            + " ".join(f"{cell:>9}" for cell in cells)
            + f" {total:>9}  {clean(problems)}"
        )
        lines.append(row if len(row) <= 2 * WIDTH else row[: 2 * WIDTH - 3] + "...")
    troubled = sum(1 for result in results if result.problems())
    lines.append(
        _("graded {submissions} in {seconds} s").format(
            submissions=plural(len(results), "submission"), seconds=f"{seconds:.1f}"
        )
        + (_("; {count} with problems").format(count=troubled) if troubled else "")
    )
    return "\n".join(lines)


# -- Gradescope ----------------------------------------------------------------------------------


def isolation_gaps(levels: str) -> list[str]:
    """What the isolation levels that graded a submission ("namespaces", or "uid, none") could
    not hold on this machine (`sandbox.unkept`): every report says it."""
    from course.grading.sandbox import LEVELS, unkept

    gaps: list[str] = []
    for level in levels.split(", "):
        if level in LEVELS:
            gaps += [gap for gap in unkept(level) if gap not in gaps]
    return gaps


def isolation_words(level: str) -> str:
    from course.grading.sandbox import LEVELS, describe
    from course.i18n import message

    return message(describe(level)) if level in LEVELS else level


def _shown(tests: list[TestResult]) -> str:
    """Points of the public checks, and of the hidden ones only as a maximum: Gradescope shows
    this text at once, the hidden checks' outcomes only once the grades are published."""
    public = [test for test in tests if not test.hidden]
    hidden = sum(test.max_score for test in tests if test.hidden)
    shown = f"{points(sum(t.score for t in public))}/{points(sum(t.max_score for t in public))}"
    if not hidden:
        return shown
    return _("{shown} on the public checks; hidden checks worth {points}, published later").format(
        shown=shown, points=points(hidden)
    )


def summary_text(submission) -> str:
    """Gradescope's top-level `output`: the total, each lab's points, problems and printed
    output."""
    lines = [_("Total: {points}").format(points=_shown(submission.tests))]
    lines += [_("Note: {note}").format(note=note) for note in submission.notes]
    lines.append(_("Isolation: {level}").format(level=isolation_words(submission.isolation)))
    lines += [
        _("  Not held: {gap}").format(gap=gap) for gap in isolation_gaps(submission.isolation)
    ]
    for lab in submission.labs:
        lines.append(f"{lab.lab}: {_shown(lab.tests)}")
        lines += [_("  Problem: {problem}").format(problem=problem) for problem in _problems(lab)]
        lines += [_("  Advice: {advice}").format(advice=advice) for advice in fix_first(lab)]
        if lab.printed_bytes:
            lines.append(
                _("  Your code printed {count} bytes; the start and the end of it:").format(
                    count=f"{lab.printed_bytes:,}"
                )
            )
            lines += ["    " + line for line in lab.printed.splitlines()]
    skipped = submission.skipped
    if skipped:
        lines.append(
            _("{checks} ({points}) could not run here: they need the reference solutions.").format(
                checks=plural(len(skipped), "check"),
                points=plural(sum(t.max_score for t in skipped), "point"),
            )
        )
    return "\n".join(lines)


def _problems(lab: LabResult) -> list[str]:
    return lab_problems(lab)


def gradescope(submission) -> dict:
    """The results.json Gradescope reads (`score`, `max_score`, `execution_time`, `output`,
    `tests`)."""
    tests = []
    for test in submission.tests:
        entry = {
            "name": test.name,
            "number": test.number,
            "score": float(test.score),
            "max_score": float(test.max_score),
        }
        entry["visibility"] = "after_published" if test.hidden else "visible"
        if test.status in ("passed", "failed"):
            entry["status"] = test.status
            entry["output"] = test.output
        else:  # no status: Gradescope has no "skipped", and this check did not fail
            entry["output"] = _(
                "Not checked here ({why}); this check runs when the course staff grade with the"
                " reference solutions."
            ).format(why=test.output)
        tests.append(entry)
    commit = getattr(submission, "commit", None)
    return {
        "score": float(submission.score),
        "max_score": float(submission.max_score),
        "execution_time": round(submission.seconds, 1),
        "output": summary_text(submission),
        "tests": tests,
        "extra_data": {
            "submission": submission.name,
            **({"commit": commit.fields()} if commit else {}),
            "isolation": submission.isolation,
            "isolation_gaps": isolation_gaps(submission.isolation),
            "labs": {
                lab.lab: {
                    "score": lab.score,
                    "max_score": lab.max_score,
                    "seconds": round(lab.seconds, 1),
                    "isolation": lab.isolation,
                    "problems": _problems(lab),
                    "printed_bytes": lab.printed_bytes,
                }
                for lab in submission.labs
            },
        },
    }


def json_paths(spec: str, names: list[str]) -> dict[str, Path]:
    """Where `--json FILE` puts each submission's results.json: FILE itself for one submission;
    FILE/NAME.json if FILE is a folder (it exists, or ends with a slash); otherwise NAME inserted
    before the suffix: results.json -> results.alice.json."""
    path = Path(spec).expanduser()
    if spec.endswith(("/", os.sep)) or path.is_dir():
        return {name: path / f"{name}.json" for name in names}
    if len(names) == 1:
        return {names[0]: path}
    return {name: path.with_name(f"{path.stem}.{name}{path.suffix or '.json'}") for name in names}


# -- files ----------------------------------------------------------------------------------------


def write_json(path: str | Path, submission) -> Path:
    return atomic_write(path, json.dumps(gradescope(submission), indent=1) + "\n")


def write_csv(path: str | Path, results, labs: list[str]) -> Path:
    """One row per submission: submission, points per lab, total, max_total, problems; and where
    a commit was graded (`--commit`), the commit and how many commits came after it."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    commits = any(getattr(result, "commit", None) for result in results)
    extra = ["commit", "commits_after"] if commits else []
    writer.writerow(["submission", *labs, "total", "max_total", "problems", *extra])
    for result in results:
        commit = getattr(result, "commit", None)
        recorded = [commit.sha, str(commit.commits_after)] if commit else ["", ""]
        row = [result.name]
        for lab in labs:
            graded = result.lab(lab)
            row.append(points(graded.score) if graded else "")
        problems = "; ".join(" ".join(problem.split()) for problem in result.problems())
        writer.writerow(
            [
                _cell(clean(text))
                for text in (*row, points(result.score), points(result.max_score), problems)
            ]
            + recorded[: len(extra)]
        )
    return atomic_write(path, buffer.getvalue())


def _cell(text: str) -> str:
    """A CSV cell that a spreadsheet will not read as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def _xml(text: str) -> str:
    return XML_INVALID.sub("?", text)


def write_junit(path: str | Path, results) -> Path:
    """JUnit XML: a <testsuite> per submission and lab, a <testcase> per check (classname
    labN.exercise), <failure message=...> for a failed check and <skipped/> for one not run here.
    """
    root = ET.Element("testsuites", name="course grade")
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for result in results:
        for lab in result.labs:
            failures = sum(1 for t in lab.tests if t.status == "failed")
            skipped = sum(1 for t in lab.tests if t.status == "skipped")
            suite = ET.SubElement(
                root,
                "testsuite",
                name=_xml(f"{result.name}.{lab.lab}"),
                tests=str(len(lab.tests)),
                failures=str(failures),
                errors="0",
                skipped=str(skipped),
                time=f"{lab.seconds:.3f}",
            )
            properties = ET.SubElement(suite, "properties")
            for key, value in (
                ("submission", result.name),
                ("folder", str(result.folder)),
                ("score", points(lab.score)),
                ("max_score", points(lab.max_score)),
                *(
                    (
                        ("commit", result.commit.sha),
                        ("commits_after", str(result.commit.commits_after)),
                    )
                    if getattr(result, "commit", None)
                    else ()
                ),
            ):
                ET.SubElement(properties, "property", name=key, value=_xml(value))
            for test in lab.tests:
                case = ET.SubElement(
                    suite,
                    "testcase",
                    classname=f"{test.lab}.{test.exercise}",
                    name=_xml(f"{test.number} {title(test)}"),
                    time="0",
                )
                if test.status == "failed":
                    failure = ET.SubElement(
                        case,
                        "failure",
                        message=_xml(test.output[:1000]),
                        type=test.kind or "failed",
                    )
                    failure.text = _xml(test.output)
                elif test.status == "skipped":
                    ET.SubElement(case, "skipped", message=_xml(test.output))
            if lab.printed_bytes:
                ET.SubElement(suite, "system-out").text = _xml(
                    f"[{lab.printed_bytes:,} bytes printed]\n{lab.printed}"
                )
            problems = _problems(lab)
            if problems:
                ET.SubElement(suite, "system-err").text = _xml("\n".join(problems))
            totals["tests"] += len(lab.tests)
            totals["failures"] += failures
            totals["skipped"] += skipped
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    return atomic_write(
        path,
        '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n",
    )
