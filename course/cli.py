"""The `course` command: release, grade, check, experiment.

Each subcommand imports what it needs when it runs, so `course grade` never loads TensorFlow in
the parent process.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

from course.i18n import _


def release(args: argparse.Namespace) -> int:
    from course.grading import expected
    from course.release import ReleaseError, stale_labs, write_labs

    if args.kind:
        return _release_copy(args)
    try:
        if args.check:
            stale = stale_labs() + expected.stale()
            if stale:
                print(
                    f"labs/ and the public checks' data are not what solutions/ and the hidden"
                    f" checks generate: {', '.join(stale)}; run 'course release' to regenerate"
                    " them."
                )
                return 1
            print("labs/ and the public checks' data are up to date.")
            return 0
        for path in write_labs(force=args.force) + expected.write():
            print(f"wrote {path}")
        return 0
    except ReleaseError as error:
        print(f"course release: {error}", file=sys.stderr)
        return 2


def _release_copy(args: argparse.Namespace) -> int:
    from course.registry import RegistryError
    from course.release import ReleaseError, gradescope_bundle, student_copy

    if not args.path:
        where = "DIR" if args.kind == "student" else "FILE.zip"
        print(f"course release {args.kind}: give the {where} to write", file=sys.stderr)
        return 2
    try:
        if args.kind == "student":
            written = student_copy(Path(args.path))
            print(
                f"wrote the students' copy to {written}: push it as the class's template"
                " repository (its README has the students' commands)"
            )
        else:
            written = gradescope_bundle(Path(args.path), args.lab or [])
            print(f"wrote {written}: upload it as the assignment's autograder (docs/grading.md)")
    except (ReleaseError, RegistryError) as error:
        print(f"course release: {error}", file=sys.stderr)
        return 2
    return 0


# --- course experiment ---------------------------------------------------------------------------


def experiment(args: argparse.Namespace) -> int:
    from course.data import DataError, check_tfds_source
    from course.experiments.options import ExperimentError, experiment_command, from_arguments
    from course.impl import ImplementationError
    from course.quiet import start_tensorflow

    def failed(error: Exception) -> int:
        message = " ".join(str(error).split())  # one line, whatever the message holds
        print(f"course experiment: {message}", file=sys.stderr)
        return 2

    try:  # the options and the data source in a second, before TensorFlow takes its seconds
        options = from_arguments(args)
        if args.data == "tfds":
            check_tfds_source()
    except (ExperimentError, DataError) as error:
        return failed(error)
    start_tensorflow()  # before anything imports it: its start-up log lines are noise here
    from course.experiments import run_experiment

    command = experiment_command(args.name, args.data, args.budget, args.impl, args.out, options)
    try:
        run_experiment(
            args.name,
            data=args.data,
            budget=args.budget,
            impl=args.impl,
            out=Path(args.out),
            options=options,
            command=command,
        )
    except (DataError, ImplementationError, ExperimentError) as error:
        return failed(error)
    return 0


def _add_experiment_parser(commands) -> None:
    from course.experiments.options import BUDGETS, add_arguments
    from course.experiments.rows import EXPERIMENTS

    exp = commands.add_parser(
        "experiment",
        help="train and evaluate the workshop's table with an implementation of the labs",
    )
    exp.add_argument(
        "name",
        choices=EXPERIMENTS,
        help="which rows: one pretext task's and their baselines, or all of them",
    )
    exp.add_argument(
        "--data",
        default="tfds",
        help=(
            "'tfds' (download CIFAR-10) or a folder with train/<class>/*.jpg|png and"
            " test/<class>/*.jpg|png"
        ),
    )
    exp.add_argument(
        "--budget",
        choices=tuple(BUDGETS),
        default="quick",
        help=(
            "quick: a few minutes on a 2-core CPU (CI); full: the workshop's protocol (default:"
            " quick)"
        ),
    )
    exp.add_argument(
        "--impl",
        default="solutions",
        help=(
            "whose lab functions: 'solutions', 'labs' or a folder of lab files (default:"
            " solutions)"
        ),
    )
    exp.add_argument(
        "--out",
        default="runs/experiment",
        help="folder for results.md, results.json and the figures (default: runs/experiment)",
    )
    add_arguments(exp)
    exp.set_defaults(run=experiment)


def grade(args: argparse.Namespace) -> int:
    from course.grading.cli import run

    return run(args)


def check(args: argparse.Namespace) -> int:
    from course.grading.cli import run

    return run(args, check=True)


def hint(args: argparse.Namespace) -> int:
    from course.i18n import lab_text, message
    from course.registry import RegistryError
    from course.release import LEVELS, ReleaseError, hints

    try:
        levels = hints(args.exercise)
    except (RegistryError, ReleaseError) as error:
        print(f"course hint: {message(str(error))}", file=sys.stderr)
        return 2
    level = args.level
    names = {1: _("the idea"), 2: _("the API"), 3: _("nearly the code")}
    print(
        _("{exercise}, hint {level} of {levels} ({name}):").format(
            exercise=args.exercise, level=level, levels=LEVELS, name=names[level]
        )
    )
    text = lab_text(levels[level - 1]) or levels[level - 1]  # English until it is translated
    print(textwrap.fill(text, width=99, initial_indent="  ", subsequent_indent="  "))
    if level < LEVELS:
        print(
            _("More: course hint {exercise} --level {level}").format(
                exercise=args.exercise, level=level + 1
            )
        )
    return 0


def translate(args: argparse.Namespace) -> int:
    from course import catalogs

    if args.check:
        untranslated = {domain: catalogs.missing(domain, args.to) for domain in catalogs.CATALOGS}
        for domain, texts in untranslated.items():
            for text, where in list(texts.items())[:20]:
                print(f"{domain}: {where}: {text[:90]!r}")
            if len(texts) > 20:
                print(f"{domain}: ... and {len(texts) - 20} more")
        total = sum(len(texts) for texts in untranslated.values())
        print(
            f"{total} texts without a translation ({args.to}); 'course translate' adds them to"
            " the catalogs"
            if total
            else f"every text has a translation ({args.to})"
        )
        return 1 if total else 0
    for domain in catalogs.CATALOGS:
        entries, untranslated = catalogs.update(domain, args.to, prune=args.prune)
        path = catalogs.i18n.po_path(domain, args.to)
        print(f"wrote {path}: {entries} texts, {untranslated} to translate")
    return 0


def _add_translate_parser(commands) -> None:
    tra = commands.add_parser(
        "translate",
        help="keep the translation catalogs (course/locale/) in step with the sources",
        description=(
            "Adds every text of the labs, the checks and the command line that a catalog lacks"
            " to course/locale/LANG/LC_MESSAGES/*.po, with an empty translation for the"
            " translator; --check lists them and exits 1 if there are any."
        ),
    )
    tra.add_argument("--to", default="es", choices=("es",), help="the language (default: es)")
    tra.add_argument("--check", action="store_true", help="list the untranslated texts")
    tra.add_argument(
        "--prune", action="store_true", help="drop the entries that no source holds any more"
    )
    tra.set_defaults(run=translate)


def _add_hint_parser(commands) -> None:
    hin = commands.add_parser(
        "hint",
        help=(
            "hints for an exercise, from the idea (level 1) to the API (2) to nearly the code (3)"
        ),
    )
    hin.add_argument(
        "exercise", metavar="EXERCISE", help="the exercise, as LAB.FUNCTION: lab2.rotate"
    )
    hin.add_argument(
        "--level", type=int, default=1, choices=(1, 2, 3), help="1, 2 or 3 (default 1)"
    )
    hin.set_defaults(run=hint)


def _add_grading_parsers(commands) -> None:
    from course.grading.cli import add_arguments  # argparse only: no TensorFlow, no student code

    gra = commands.add_parser(
        "grade",
        help="grade submissions (folders of lab files) against the reference solutions",
        description=(
            "Grades each lab of each submission in its own child process and prints a report. "
            "Exit status 0 whenever grading completed, whatever the scores; 2 if it could not run."
        ),
    )
    add_arguments(gra)
    gra.set_defaults(run=grade)
    che = commands.add_parser(
        "check",
        help="grade your own labs/ (checks that need the reference solutions run when you submit)",
        description=(
            "Grades labs/ as 'course grade' does; checks that need the reference solutions are "
            "listed as checked at submission."
        ),
    )
    add_arguments(che, check=True)
    che.set_defaults(run=check)


def doctor(args: argparse.Namespace) -> int:
    from course.preflight import main as preflight

    return preflight()


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="course",
        description="An Introduction to Self-Supervised Learning: labs, grading and experiments.",
    )
    main.add_argument(
        "--lang",
        choices=("en", "es"),
        help=(
            "the language of what the course prints and writes: en or es (default: COURSE_LANG,"
            " else a Spanish locale gives es, else en)"
        ),
    )
    commands = main.add_subparsers(dest="command", required=True)

    rel = commands.add_parser(
        "release",
        help="generate labs/ from solutions/; or the students' copy, or the Gradescope bundle",
        description=(
            "course release: labs/ and the public checks' data, from solutions/ and the hidden"
            " checks. course release student DIR: the students' copy (no solution, no hidden"
            " check). course release gradescope FILE.zip: Gradescope's autograder bundle."
        ),
    )
    rel.add_argument(
        "kind",
        nargs="?",
        choices=("student", "gradescope"),
        help="student: the students' copy in DIR; gradescope: the autograder bundle FILE.zip",
    )
    rel.add_argument("path", nargs="?", metavar="DIR|FILE.zip", help="where to write it")
    rel.add_argument(
        "--lab",
        action="append",
        help=(
            "gradescope: the assignment's lab (repeatable); default: every lab a submission holds"
        ),
    )
    rel.add_argument(
        "--check",
        action="store_true",
        help="exit 1, naming the files, if labs/ differ from what would be generated",
    )
    rel.add_argument(
        "--force", action="store_true", help="overwrite lab files even where code replaced a stub"
    )
    rel.set_defaults(run=release)
    _add_grading_parsers(commands)
    _add_hint_parser(commands)
    doc = commands.add_parser(
        "doctor",
        help="what this machine lacks for the tests and the grader, and the command that fixes it",
        description=(
            "Checks the course's packages and the grader's sandbox (bubblewrap) in under a second,"
            " without starting TensorFlow; exit 1 when something needed is missing."
        ),
    )
    doc.set_defaults(run=doctor)
    from course.classroom import add_arguments as classroom_arguments  # standard library only

    classroom_arguments(
        commands.add_parser(
            "classroom",
            help="a class graded at its deadlines: snapshot the roster's repositories, then grade",
            description=(
                "course classroom snapshot: record each roster repository's HEAD once its"
                " deadline has passed; course classroom matrix: the commits to grade"
                " (docs/running-the-course.md)."
            ),
        )
    )
    _add_experiment_parser(commands)
    _add_translate_parser(commands)
    return main


def main(argv: list[str] | None = None) -> int:
    from course import i18n

    args = parser().parse_args(argv)
    if args.lang:
        i18n.use(args.lang)  # and COURSE_LANG, for the grader's processes
    return args.run(args)
