"""A class graded at its deadlines, without GitHub Classroom (shut down on 2026-08-28).

Three plain files in the staff's repository replace it (docs/running-the-course.md):

- `classroom/students.txt`, the roster: one student repository per line (`owner/name`), then
  optional extensions, `ASSIGNMENT=DUE` (`lab2=2026-10-16T23:59Z`): that student's own deadline.
- `classroom/assignments.txt`: one assignment per line, `NAME DUE [LAB ...]` (the labs default
  to the assignment's name: `lab2 2026-10-14T23:59Z`).
- `classroom/snapshots/NAME.csv`, written by `course classroom snapshot`: for each student whose
  deadline has passed, the commit their repository's HEAD held when it was read, and the time
  it was read. What counts is what GitHub held at the deadline, read from GitHub (`git
  ls-remote`), never a commit date, which the student writes. A student is read once: the
  first read after their deadline stays. A repository that could not be read (a network
  failure, a wrong name) is not recorded and is tried again on the next run; one with nothing
  pushed is recorded with no commit.

`course classroom matrix` turns a snapshot into the grade job's matrix (`course grade REPO
--commit SHA`); its `--missing-csv` gives every roster student without a commit a row, so the
class's table has a line for everyone.
"""

from __future__ import annotations

import argparse
import base64
import csv
import io
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from course.files import atomic_write

ROSTER = "classroom/students.txt"
ASSIGNMENTS = "classroom/assignments.txt"
SNAPSHOTS = "classroom/snapshots"
GITHUB = "https://github.com/{repository}.git"
REPOSITORY = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}")
COLUMNS = ["repository", "commit", "read_at", "due", "note"]
LS_REMOTE_TIMEOUT = 60.0


class ClassroomError(Exception):
    """A roster, an assignment list or a snapshot that cannot be used: the message says where
    and how to fix it."""


@dataclass(frozen=True)
class Student:
    repository: str  # owner/name on GitHub
    extensions: dict[str, datetime] = field(default_factory=dict)  # assignment -> own deadline

    @property
    def name(self) -> str:
        """The submission's name in the reports: the folder `course grade` is given."""
        return self.repository.split("/", 1)[1]


@dataclass(frozen=True)
class Assignment:
    name: str
    due: datetime
    labs: tuple[str, ...]

    def due_for(self, student: Student) -> datetime:
        return student.extensions.get(self.name, self.due)


def parse_time(text: str, where: str) -> datetime:
    """An ISO 8601 time with its zone (`2026-10-14T23:59Z`, `...+02:00`), as UTC."""
    try:
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        raise ClassroomError(f"{where}: {text!r} is not a time: write 2026-10-14T23:59Z") from None
    if moment.tzinfo is None:
        raise ClassroomError(f"{where}: {text!r} has no time zone: write {text}Z for UTC")
    return moment.astimezone(timezone.utc)


def _lines(path: Path) -> list[tuple[int, list[str]]]:
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise ClassroomError(f"cannot read {path}: {error.strerror}") from None
    return [
        (number, line.split("#", 1)[0].split())
        for number, line in enumerate(text.splitlines(), start=1)
        if line.split("#", 1)[0].strip()
    ]


def read_roster(path: Path | str = ROSTER) -> list[Student]:
    """The roster: `owner/name [ASSIGNMENT=DUE ...]` per line; # starts a comment."""
    students, seen = [], set()
    for number, words in _lines(Path(path)):
        where = f"{path}:{number}"
        repository, *extras = words
        if not REPOSITORY.fullmatch(repository):
            raise ClassroomError(f"{where}: {repository!r} is not a repository: write owner/name")
        if repository.lower() in seen:
            raise ClassroomError(f"{where}: {repository} is listed twice")
        seen.add(repository.lower())
        extensions = {}
        for extra in extras:
            assignment, equals, due = extra.partition("=")
            if not equals or not assignment:
                raise ClassroomError(
                    f"{where}: {extra!r} is not an extension: write ASSIGNMENT=DUE, as"
                    " lab2=2026-10-16T23:59Z"
                )
            extensions[assignment] = parse_time(due, where)
        students.append(Student(repository, extensions))
    return students


def read_assignments(path: Path | str = ASSIGNMENTS) -> dict[str, Assignment]:
    """The assignments: `NAME DUE [LAB ...]` per line (the labs default to NAME)."""
    from course import registry

    found = {}
    for number, words in _lines(Path(path)):
        where = f"{path}:{number}"
        if len(words) < 2:
            raise ClassroomError(f"{where}: write NAME DUE [LAB ...], as lab2 2026-10-14T23:59Z")
        name, due, *labs = words
        try:
            keys = tuple(registry.lab(lab).key for lab in labs or [name])
        except registry.RegistryError as error:
            raise ClassroomError(f"{where}: {error}") from None
        found[name] = Assignment(name, parse_time(due, where), keys)
    return found


def _assignment(assignments: dict[str, Assignment], name: str) -> Assignment:
    if name not in assignments:
        raise ClassroomError(
            f"no assignment {name!r} in {ASSIGNMENTS} (there: {', '.join(assignments) or 'none'})"
        )
    return assignments[name]


def read_snapshot(path: Path) -> dict[str, dict[str, str]]:
    """repository -> its row (COLUMNS), or nothing where no snapshot was taken yet."""
    if not Path(path).is_file():
        return {}
    with Path(path).open(newline="") as handle:
        return {row["repository"]: row for row in csv.DictReader(handle)}


def _git_environment() -> dict[str, str]:
    """git's environment: no prompt; the token, where there is one, as an HTTP header passed in
    the environment (not on the command line, where other processes could read it)."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    token = os.environ.get("CLASSROOM_TOKEN")
    if token:
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        env.update(
            GIT_CONFIG_COUNT="1",
            GIT_CONFIG_KEY_0="http.extraHeader",
            GIT_CONFIG_VALUE_0=f"Authorization: Basic {basic}",
        )
    return env


def read_head(url: str) -> tuple[str, str]:
    """(commit, "") for the repository at `url`'s HEAD; ("", note) for one with nothing pushed;
    raises ClassroomError where it cannot be read."""
    try:
        done = subprocess.run(
            ["git", "ls-remote", "--", url, "HEAD"],
            capture_output=True,
            text=True,
            timeout=LS_REMOTE_TIMEOUT,
            env=_git_environment(),
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ClassroomError(f"git ls-remote failed ({type(error).__name__})") from None
    if done.returncode != 0:
        raise ClassroomError(" ".join(done.stderr.split())[:300] or "git ls-remote failed")
    for line in done.stdout.splitlines():
        commit, _, ref = line.partition("\t")
        if ref == "HEAD" and re.fullmatch(r"[0-9a-f]{40,64}", commit):
            return commit, ""
    return "", "nothing pushed"


def snapshot(
    roster: list[Student],
    assignments: dict[str, Assignment],
    folder: Path,
    now: datetime,
    url: str = GITHUB,
    only: list[str] | None = None,
) -> tuple[list[str], list[str]]:
    """Records, in `folder/NAME.csv`, the HEAD of every student whose deadline for NAME has
    passed and who is not recorded yet. Returns (what was recorded, what could not be read),
    one line each."""
    recorded, failed = [], []
    for assignment in assignments.values():
        if only and assignment.name not in only:
            continue
        path = Path(folder) / f"{assignment.name}.csv"
        rows = read_snapshot(path)
        added = False
        for student in roster:
            due = assignment.due_for(student)
            if student.repository in rows or due > now:
                continue
            try:
                commit, note = read_head(url.format(repository=student.repository))
            except ClassroomError as error:
                failed.append(f"{assignment.name}: {student.repository}: {error}")
                continue
            rows[student.repository] = {
                "repository": student.repository,
                "commit": commit,
                "read_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "due": due.isoformat(timespec="minutes"),
                "note": note,
            }
            added = True
            recorded.append(
                f"{assignment.name}: {student.repository} at {commit[:12] or '(nothing pushed)'}"
            )
        if added:
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows[key] for key in sorted(rows, key=str.lower))
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, buffer.getvalue())
    return recorded, failed


def matrix(
    roster: list[Student],
    assignment: Assignment,
    rows: dict[str, dict[str, str]],
    student: str | None = None,
) -> tuple[list[dict[str, str]], list[tuple[Student, str]]]:
    """The grade job's matrix: one entry per student with a recorded commit (or only `student`,
    a regrade); and the students left out, each with why."""
    chosen = roster
    if student:
        chosen = [s for s in roster if s.repository.lower() == student.lower()]
        if not chosen:
            raise ClassroomError(f"{student} is not in the roster ({ROSTER})")
    entries, left_out = [], []
    for one in chosen:
        row = rows.get(one.repository)
        if row and row.get("commit"):
            entries.append(
                {
                    "repository": one.repository,
                    "name": one.name,
                    "commit": row["commit"],
                    "labs": " ".join(assignment.labs),
                }
            )
        elif row:
            left_out.append((one, row.get("note") or "no commit at the deadline"))
        else:
            due = assignment.due_for(one).isoformat(timespec="minutes")
            left_out.append((one, f"no snapshot yet (deadline {due}; course classroom snapshot)"))
    return entries, left_out


def missing_rows(assignment: Assignment, left_out: list[tuple[Student, str]]) -> str:
    """CSV rows, with `course grade --csv --commit`'s columns, for the students not graded: 0 of
    the assignment's points and why, so that the class's table has a row for everyone."""
    from course import registry

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    labs = list(assignment.labs)
    writer.writerow(
        ["submission", *labs, "total", "max_total", "problems", "commit", "commits_after"]
    )
    most = sum(registry.LABS[lab].points for lab in labs)
    for student, why in left_out:
        writer.writerow([student.name, *["0"] * len(labs), "0", str(most), why, "", ""])
    return buffer.getvalue()


# -- the command line: course classroom snapshot|matrix ------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    jobs = parser.add_subparsers(dest="job", required=True)
    snap = jobs.add_parser(
        "snapshot",
        help="record the HEAD commit of every roster repository whose deadline has passed",
        description=(
            "For each assignment (or the one named) and each student whose deadline (the"
            " assignment's, or their extension) has passed and who is not recorded yet: reads"
            " the repository's HEAD with git ls-remote and appends it, with the time it was"
            " read, to classroom/snapshots/NAME.csv. Exit 1 if a repository could not be read"
            " (it is tried again on the next run)."
        ),
    )
    snap.add_argument("--assignment", action="append", help="only this one (repeatable)")
    snap.add_argument(
        "--url",
        default=GITHUB,
        help="where a repository is, {repository} standing for owner/name (default: GitHub;"
        " the token, if any, is the CLASSROOM_TOKEN environment variable)",
    )
    snap.add_argument("--now", help="the time to judge deadlines by (default: now)")
    mat = jobs.add_parser(
        "matrix",
        help="the grade job's matrix (JSON) from an assignment's snapshot",
    )
    mat.add_argument("--assignment", required=True)
    mat.add_argument("--student", help="only this repository (owner/name): a regrade")
    mat.add_argument(
        "--missing-csv",
        metavar="FILE",
        help="a CSV row (0 points and why) for each student without a commit to grade",
    )
    for sub in (snap, mat):
        sub.add_argument("--roster", default=ROSTER, help=f"default {ROSTER}")
        sub.add_argument("--assignments", default=ASSIGNMENTS, help=f"default {ASSIGNMENTS}")
        sub.add_argument("--snapshots", default=SNAPSHOTS, help=f"default {SNAPSHOTS}/")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        roster = read_roster(args.roster)
        assignments = read_assignments(args.assignments)
        if args.job == "snapshot":
            for name in args.assignment or []:
                _assignment(assignments, name)
            now = parse_time(args.now, "--now") if args.now else datetime.now(timezone.utc)
            recorded, failed = snapshot(
                roster, assignments, Path(args.snapshots), now, args.url, args.assignment
            )
            for line in recorded:
                print(f"recorded {line}")
            for line in failed:
                print(f"course classroom snapshot: could not read {line}", file=sys.stderr)
            if not recorded and not failed:
                print("nothing to record: no deadline has passed for a student not recorded yet")
            return 1 if failed else 0
        assignment = _assignment(assignments, args.assignment)
        rows = read_snapshot(Path(args.snapshots) / f"{assignment.name}.csv")
        entries, left_out = matrix(roster, assignment, rows, args.student)
    except ClassroomError as error:
        print(f"course classroom {args.job}: {error}", file=sys.stderr)
        return 2
    for student, why in left_out:
        print(f"not graded: {student.repository}: {why}", file=sys.stderr)
    if args.missing_csv:
        atomic_write(args.missing_csv, missing_rows(assignment, left_out))
    print(json.dumps(entries))
    return 0
