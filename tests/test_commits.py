"""`course grade REPO --commit SHA` (course.grading.commits): a commit graded as it was, the
repository untouched, and every report saying which commit and how many came after it."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from commands import LIMITS, course

from course import ROOT
from course.grading import commits
from course.grading.commits import CommitError

GIT_ENV = {
    "GIT_AUTHOR_NAME": "student",
    "GIT_AUTHOR_EMAIL": "student@example.org",
    "GIT_COMMITTER_NAME": "student",
    "GIT_COMMITTER_EMAIL": "student@example.org",
    "GIT_CONFIG_GLOBAL": os.devnull,  # the machine's own settings (a signing key) stay out
}


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **GIT_ENV},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def state(folder: Path) -> dict[str, str]:
    """Every path under `folder` (.git included) with its mode, size, modification time and
    bytes: equal states mean nothing was touched."""
    found = {}
    for path in sorted(folder.rglob("*")):
        info = path.lstat()
        digest = hashlib.sha256(f"{info.st_mode} {info.st_size} {info.st_mtime_ns}".encode())
        if path.is_file() and not path.is_symlink():
            digest.update(path.read_bytes())
        found[str(path.relative_to(folder))] = digest.hexdigest()
    return found


@pytest.fixture
def repo(tmp_path: Path, stubs: Path) -> tuple[Path, str, str]:
    """A student's repository: the solved lab 1 committed (the snapshot's commit), then the stub
    committed after it (a late push), then a broken file left uncommitted in the working tree."""
    repo = tmp_path / "alice"
    (repo / "labs").mkdir(parents=True)
    git(repo, "init", "-q")
    lab = repo / "labs" / "lab1_supervised.py"
    lab.write_text((ROOT / "solutions" / "lab1_supervised.py").read_text())
    solved = commit_all(repo, "lab 1 done")
    lab.write_text((stubs / "lab1_supervised.py").read_text())
    late = commit_all(repo, "after the deadline")
    lab.write_text("def broken(:\n")  # the working tree: neither commit
    return repo, solved, late


def test_a_commit_is_graded_as_it_was_and_the_repository_is_untouched(repo, tmp_path):
    folder, solved, late = repo
    before = state(folder)
    out = tmp_path / "reports"
    out.mkdir()
    result = course(
        "grade",
        str(folder),
        "--commit",
        solved[:10],
        "--lab",
        "lab1",
        "--json",
        str(out / "alice.json"),
        "--csv",
        str(out / "alice.csv"),
        "--junit",
        str(out / "alice.xml"),
        *LIMITS,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert state(folder) == before  # working tree, index and .git: not a byte, not a time

    data = json.loads((out / "alice.json").read_text())
    assert data["score"] == data["max_score"] > 0, data["output"]  # the solved commit, not HEAD
    assert data["extra_data"]["submission"] == "alice"
    assert data["extra_data"]["commit"] == {
        "sha": solved,
        "commits_after": 1,
        "head": late,
        "on_head": True,
    }
    assert f"graded commit {solved[:12]} of alice; 1 commit came after it" in data["output"]

    (row,) = csv.DictReader((out / "alice.csv").open())
    assert row["submission"] == "alice" and row["commit"] == solved
    assert row["commits_after"] == "1" and row["total"] == row["max_total"]

    properties = {
        prop.get("name"): prop.get("value")
        for prop in ET.parse(out / "alice.xml").getroot().iter("property")
    }
    assert properties["commit"] == solved and properties["commits_after"] == "1"
    assert f"alice ({folder})" in result.stdout and "1 commit came after it" in result.stdout


def test_the_late_commit_grades_as_the_late_commit(repo, tmp_path):
    """The other way round: the test above can fail (HEAD holds the stub)."""
    folder, _, late = repo
    result = course(
        "grade",
        str(folder),
        "--commit",
        late,
        "--lab",
        "lab1",
        "--csv",
        str(tmp_path / "g.csv"),
        *LIMITS,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (row,) = csv.DictReader((tmp_path / "g.csv").open())
    assert row["total"] == "0" and row["commit"] == late and row["commits_after"] == "0"


def test_commit_errors_name_the_fix(repo, tmp_path):
    folder, solved, _ = repo
    for text in ("--help", "HEAD~1", "main", "abc", "g" * 40):
        with pytest.raises(CommitError, match="not a commit id"):
            commits.resolve(folder, text)
    with pytest.raises(CommitError, match="not in .*fetch it"):
        commits.resolve(folder, "0123456789abcdef0123456789abcdef01234567")
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(CommitError, match="not a git repository.*git clone"):
        commits.resolve(plain, solved)

    shallow = tmp_path / "shallow"
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", f"file://{folder}", str(shallow)],
        check=True,
        env={**os.environ, **GIT_ENV},
    )
    with pytest.raises(CommitError, match="shallow.*fetch-depth: 0"):
        commits.resolve(shallow, solved)

    result = course("grade", str(folder), str(plain), "--commit", solved)
    assert result.returncode == 2 and "exactly one SUBMISSION" in result.stderr
    result = course("grade", str(folder), "--commit", "0" * 40)
    assert result.returncode == 2 and "is not in" in result.stderr, result.stderr


def test_a_rewritten_history_is_said(repo):
    folder, solved, late = repo
    git(folder, "checkout", "-q", "--", ".")
    git(folder, "reset", "-q", "--hard", f"{solved}~0")
    (folder / "other.txt").write_text("a force-push replaced the snapshot's commit\n")
    git(folder, "commit", "-q", "--amend", "-a", "-m", "rewritten")
    git(folder, "add", "other.txt")
    git(folder, "commit", "-q", "-m", "more")
    commit = commits.resolve(folder, solved)
    assert not commit.on_head and commit.commits_after == 2
    assert "history was rewritten" in commit.note()


def test_a_subfolder_of_a_repository_is_graded_from_that_folder(repo, tmp_path):
    folder, solved, _ = repo
    with commits.checked_out(folder / "labs", solved) as (copy, commit):
        assert copy.name == "labs" and (copy / "lab1_supervised.py").is_file()
        assert commit.sha == solved
        parent = copy.parent
        assert parent.stat().st_mode & 0o777 == 0o711
    assert not parent.exists()


def test_the_copy_holds_the_commit_only(repo, tmp_path):
    """No .git, no working-tree edits, no link out of the copy; a hostile size is refused."""
    folder, _, _ = repo
    (folder / "escape").symlink_to("/etc/passwd")
    (folder / "inside").symlink_to("labs/lab1_supervised.py")
    sha = commit_all(folder, "links")
    with commits.checked_out(folder, sha) as (copy, _):
        names = sorted(str(p.relative_to(copy)) for p in copy.rglob("*"))
        assert ".git" not in names and "labs/lab1_supervised.py" in names
        assert (copy / "labs" / "lab1_supervised.py").read_text() == "def broken(:\n"
        assert not os.path.lexists(copy / "escape")  # the link out of the copy is left out
        assert (copy / "inside").read_text() == "def broken(:\n"
    old = commits.ARCHIVE_FILES
    commits.ARCHIVE_FILES = 2
    try:
        with pytest.raises(CommitError, match="more than 2 files"):
            with commits.checked_out(folder, sha):
                pass
    finally:
        commits.ARCHIVE_FILES = old
