"""A class graded at its deadlines (course.classroom, .github/workflows/grade-class.yml): the
roster and its extension column, the snapshot job's command on local git repositories standing
for GitHub, the grade job's matrix and its grading of the recorded commit, and every `course`
command of the workflow and of docs/running-the-course.md accepted by the course's parser."""

from __future__ import annotations

import csv
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from commands import LIMITS

from course import ROOT
from course.classroom import ClassroomError, parse_time, read_assignments, read_roster

WORKFLOW = ROOT / ".github" / "workflows" / "grade-class.yml"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "student",
    "GIT_AUTHOR_EMAIL": "student@example.org",
    "GIT_COMMITTER_NAME": "student",
    "GIT_COMMITTER_EMAIL": "student@example.org",
    "GIT_CONFIG_GLOBAL": os.devnull,
}


def git(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, env={**os.environ, **GIT_ENV}
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def run_block(marker: str) -> str:
    """The shell script (`run: |` block) of the workflow step whose first line is `marker`
    (`- name: ...` or `- id: ...`)."""
    lines = WORKFLOW.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == marker)
    at = next(i for i in range(start, len(lines)) if lines[i].strip() == "run: |")
    indent = len(lines[at + 1]) - len(lines[at + 1].lstrip())
    block = []
    for line in lines[at + 1 :]:
        if line.strip() and len(line) - len(line.lstrip()) < indent:
            break
        block.append(line[indent:])
    return "\n".join(block)


def bash(script: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """A step's script as the runner runs it (bash -e), `python` being a bare Python (-S: only
    the standard library, as actions/setup-python gives before any install)."""
    script = script.replace("python -m course", f"{sys.executable} -S -m course")
    return subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, **env},
        timeout=900,
    )


def course_commands(text: str, markdown: bool = False) -> list[str]:
    """Every `course ...` (or `python -m course ...`) command of a workflow's shell lines, or of
    a Markdown page's code (indented blocks and `inline` spans); comments left out, a `${{ ... }}`
    expression taken as one word."""
    found = []
    for line in text.splitlines():
        if markdown:
            pieces = [line] if line.startswith("    ") else re.findall(r"`(course [^`]*)`", line)
        else:
            pieces = [] if line.lstrip().startswith("#") else [line]
        for piece in pieces:
            for match in re.finditer(
                r"(?:python3? -m course|(?:^|(?<=[\s(]))course) ([^|)]*)", piece
            ):
                words = re.sub(r"\$\{\{[^}]*\}\}", "X", match.group(1))
                # The grade step's array of `--lab LAB` options, as the shell expands it.
                words = words.replace('"${labs[@]}"', "--lab lab2")
                found.append(words.strip())
    return found


def parses(words: str) -> None:
    from course.cli import parser

    try:
        parser().parse_args(shlex.split(words))
    except SystemExit as exit_:
        pytest.fail(f"`course {words}` does not parse (exit {exit_.code})")


def test_every_course_command_of_the_workflow_parses():
    commands = course_commands(WORKFLOW.read_text())
    assert any(c.startswith("classroom snapshot") for c in commands), commands
    assert any(c.startswith("classroom matrix") for c in commands), commands
    assert any(c.startswith("grade ") and "--commit" in c for c in commands), commands
    for words in commands:
        parses(words)


def test_every_course_command_of_the_instructors_page_parses():
    page = (ROOT / "docs" / "running-the-course.md").read_text()
    commands = course_commands(page, markdown=True)
    for needed in (
        "release student",
        "classroom snapshot",
        "classroom matrix",
        "grade ",
        "doctor",
    ):
        assert any(c.startswith(needed) for c in commands), needed
    for words in commands:
        parses(words)
    assert "gh workflow run grade-class.yml" in page  # the regrade of one student


def test_the_roster_and_its_extension_column(tmp_path):
    roster = tmp_path / "students.txt"
    roster.write_text(
        "# comment\n\norg/alice\norg/bob   lab2=2026-10-16T23:59Z lab3=2026-11-01T12:00+02:00\n"
    )
    alice, bob = read_roster(roster)
    assert alice.repository == "org/alice" and alice.extensions == {} and alice.name == "alice"
    assert bob.extensions == {
        "lab2": parse_time("2026-10-16T23:59Z", "x"),
        "lab3": parse_time("2026-11-01T10:00Z", "x"),
    }
    for text, problem in (
        ("alice\n", "not a repository: write owner/name"),
        ("org/a\norg/A\n", "listed twice"),
        ("org/a lab2\n", "ASSIGNMENT=DUE"),
        ("org/a lab2=2026-10-16T23:59\n", "no time zone"),
        ("org/a lab2=tuesday\n", "not a time"),
    ):
        roster.write_text(text)
        with pytest.raises(ClassroomError, match=problem):
            read_roster(roster)
    assignments = tmp_path / "assignments.txt"
    assignments.write_text("lab2 2026-10-14T23:59Z\nfinal 2026-12-01T00:00Z lab3 lab4\n")
    found = read_assignments(assignments)
    assert found["lab2"].labs == ("lab2",) and found["final"].labs == ("lab3", "lab4")
    assignments.write_text("lab9 2026-10-14T23:59Z\n")
    with pytest.raises(ClassroomError, match="unknown lab"):
        read_assignments(assignments)
    # The class's own files parse.
    read_roster(ROOT / "classroom" / "students.txt")
    read_assignments(ROOT / "classroom" / "assignments.txt")


@pytest.fixture
def klass(tmp_path, stubs):
    """The staff's repository (roster, assignments) and four students' repositories on a local
    'GitHub': alice solved lab 1 before the deadline; bob has an extension; carol pushed
    nothing; dave's repository does not exist."""
    hub, staff = tmp_path / "github", tmp_path / "staff"
    (staff / "classroom").mkdir(parents=True)
    (staff / "course").symlink_to(ROOT / "course")  # the staff's repository is the course's
    (staff / "classroom" / "students.txt").write_text(
        "org/alice\norg/bob lab1=2026-10-16T23:59Z\norg/carol\norg/dave\n"
    )
    (staff / "classroom" / "assignments.txt").write_text("lab1 2026-10-14T23:59Z\n")
    work = tmp_path / "work"
    for name in ("alice", "bob"):
        git("init", "-q", "--bare", str(hub / "org" / name))
        git("clone", "-q", str(hub / "org" / name), str(work / name))
        (work / name / "labs").mkdir()
        lab = work / name / "labs" / "lab1_supervised.py"
        lab.write_text((ROOT / "solutions" / "lab1_supervised.py").read_text())
        git("add", "-A", cwd=work / name)
        git("commit", "-q", "-m", "lab 1", cwd=work / name)
        git("push", "-q", "origin", "HEAD", cwd=work / name)
    git("init", "-q", "--bare", str(hub / "org" / "carol"))
    return staff, hub, work


def snapshot_command(staff: Path, hub: Path, now: str) -> subprocess.CompletedProcess:
    """The workflow's snapshot step, with a local 'GitHub' and the time given."""
    script = run_block("- name: Read the roster's HEADs whose deadline has passed")
    assert "python -m course classroom snapshot\n" in script + "\n"
    local = f"classroom snapshot --url '{hub}/{{repository}}' --now {now}"
    return bash(script.replace("classroom snapshot", local), staff)


def read_csv(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="") as handle:
        return {row["repository"]: row for row in csv.DictReader(handle)}


def test_the_snapshot_records_each_head_once_its_deadline_has_passed(klass):
    staff, hub, work = klass
    alice_head = git("rev-parse", "HEAD", cwd=work / "alice")
    before = snapshot_command(staff, hub, "2026-10-14T23:00Z")
    assert before.returncode == 0 and "nothing to record" in before.stdout, before.stderr
    assert not (staff / "classroom" / "snapshots").exists()

    taken = snapshot_command(staff, hub, "2026-10-15T00:05Z")
    assert taken.returncode == 1  # dave's repository could not be read: tried again next run
    assert "could not read lab1: org/dave" in taken.stderr, taken.stderr
    rows = read_csv(staff / "classroom" / "snapshots" / "lab1.csv")
    assert set(rows) == {"org/alice", "org/carol"}  # bob's own deadline has not passed
    assert rows["org/alice"]["commit"] == alice_head
    assert rows["org/alice"]["due"] == "2026-10-14T23:59+00:00" and rows["org/alice"]["read_at"]
    assert rows["org/carol"]["commit"] == "" and rows["org/carol"]["note"] == "nothing pushed"

    # A push after the deadline changes nothing: the first read stays.
    (work / "alice" / "late.txt").write_text("after the deadline\n")
    git("add", "-A", cwd=work / "alice")
    git("commit", "-q", "-m", "late", cwd=work / "alice")
    git("push", "-q", "origin", "HEAD", cwd=work / "alice")
    again = snapshot_command(staff, hub, "2026-10-17T00:00Z")  # and bob's extension is over
    rows = read_csv(staff / "classroom" / "snapshots" / "lab1.csv")
    assert rows["org/alice"]["commit"] == alice_head, again.stdout
    assert rows["org/bob"]["commit"] == git("rev-parse", "HEAD", cwd=work / "bob")
    assert rows["org/bob"]["due"] == "2026-10-16T23:59+00:00"
    assert "recorded lab1: org/bob" in again.stdout and "org/alice" not in again.stdout


def matrix_command(staff: Path, student: str = "") -> subprocess.CompletedProcess:
    """The workflow's roster step; `.students` is the matrix it hands the grade job."""
    output = staff / "github_output"
    done = bash(
        run_block("- id: list"),
        staff,
        ASSIGNMENT="lab1",
        STUDENT=student,
        GITHUB_OUTPUT=str(output),
    )
    done.students = json.loads(output.read_text().split("=", 1)[1]) if output.exists() else None
    output.unlink(missing_ok=True)
    return done


def test_grading_reads_the_snapshot_and_grades_its_commit(klass, tmp_path):
    """The whole chain: snapshot, matrix, the grade step's own script on a full clone, and the
    class's table with a row for every student."""
    staff, hub, work = klass
    assert snapshot_command(staff, hub, "2026-10-15T00:05Z").returncode == 1  # dave
    alice_head = git("rev-parse", "HEAD", cwd=work / "alice")
    lab = work / "alice" / "labs" / "lab1_supervised.py"
    lab.write_text("def broken(:\n")  # pushed after the snapshot: not graded
    git("commit", "-q", "-am", "late", cwd=work / "alice")
    git("push", "-q", "origin", "HEAD", cwd=work / "alice")

    one = matrix_command(staff, student="org/alice")  # a regrade: one student's job
    assert [s["name"] for s in one.students] == ["alice"]
    unknown = matrix_command(staff, student="org/nobody")
    assert unknown.returncode == 2 and "org/nobody is not in the roster" in unknown.stderr

    listed = matrix_command(staff)
    assert listed.returncode == 0, listed.stderr
    assert listed.students == [
        {"repository": "org/alice", "name": "alice", "commit": alice_head, "labs": "lab1"}
    ]
    assert "not graded: org/carol: nothing pushed" in listed.stderr
    assert "not graded: org/bob: no snapshot yet (deadline 2026-10-16T23:59" in listed.stderr
    missing = list(csv.DictReader((staff / "reports" / "not-graded.csv").open()))
    assert [row["submission"] for row in missing] == ["bob", "carol", "dave"]
    assert missing[1]["problems"] == "nothing pushed" and missing[1]["max_total"] == "20"


    # actions/checkout with fetch-depth: 0, then the grade step's script.
    git("clone", "-q", str(hub / "org" / "alice"), str(staff / "students" / "alice"))
    (staff / ".venv" / "bin").mkdir(parents=True)
    (staff / ".venv" / "bin" / "activate").write_text(
        f'PATH="{Path(sys.executable).parent}:$PATH"\n'
    )
    script = run_block("- name: Grade the snapshot's commit")
    script = script.replace(" --json ", f" {' '.join(LIMITS)} --json ")  # the tests' short limits
    entry = listed.students[0]
    graded = bash(script, staff, NAME=entry["name"], COMMIT=entry["commit"], LABS=entry["labs"])
    assert graded.returncode == 0, graded.stderr[-3000:]
    (row,) = csv.DictReader((staff / "reports" / "alice.csv").open())
    assert row["total"] == row["max_total"] == "20", row
    assert row["commit"] == alice_head and row["commits_after"] == "1"
    data = json.loads((staff / "reports" / "alice.json").read_text())
    assert data["extra_data"]["commit"]["commits_after"] == 1

    # The table job's line: one header, a row per roster student.
    table = subprocess.run(
        ["bash", "-c", "awk 'FNR > 1 || NR == 1' reports/*.csv"],
        cwd=staff,
        capture_output=True,
        text=True,
    )
    rows = list(csv.DictReader(table.stdout.splitlines()))
    assert sorted(row["submission"] for row in rows) == ["alice", "bob", "carol", "dave"]
