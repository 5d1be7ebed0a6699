"""`course grade REPO --commit SHA`: one commit of a git repository, graded as it was.

What counts at a deadline is what the student's repository held at the due time (the class
workflow's snapshot, `course.classroom`), not what it holds when the staff grade, and not a
commit date (the student writes those). So the grader takes the commit the snapshot recorded and
writes that commit's files into a private temporary folder with `git archive`: git only reads
objects there, so the repository's working tree, index and `.git` stay exactly as they were
(nothing is checked out, no lock is taken, no hook runs). The folder is named like the
repository's, so the reports name the student as they would without `--commit`.

Every report then records the commit and how many commits came after it on the repository's
HEAD (`Commit.commits_after`): pushed after the snapshot, they are what the student did late.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

# A commit's name as the contract gives it: hexadecimal, abbreviated (at least 4 digits, as git
# allows) or whole (SHA-1's 40, SHA-256's 64). Never an option or a revision expression: the
# text reaches git's command line.
SHA = re.compile(r"[0-9a-fA-F]{4,64}")
# A student's repository is small; these bound a hostile one (a zip bomb of a commit).
ARCHIVE_BYTES = 512 << 20
ARCHIVE_FILES = 20_000
GIT_TIMEOUT = 120.0


class CommitError(Exception):
    """The commit cannot be graded; the message names the problem and the fix."""


@dataclass(frozen=True)
class Commit:
    """The commit graded, and where it stands in the repository's history."""

    repository: Path  # the folder given to `course grade`
    sha: str  # the whole commit id
    head: str  # the repository's HEAD when it was graded
    commits_after: int  # commits in HEAD's history that are not in the graded commit's
    on_head: bool  # the graded commit is in HEAD's history (False: history was rewritten)

    def note(self) -> str:
        """One line for the reports."""
        after = (
            "no commit came after it"
            if not self.commits_after
            else f"{self.commits_after} commit{'s' if self.commits_after > 1 else ''} came after"
            " it"
        )
        if not self.on_head:
            after += " (it is no longer in HEAD's history: the history was rewritten since)"
        return f"graded commit {self.sha[:12]} of {self.repository.name}; {after}"

    def fields(self) -> dict[str, object]:
        """What results.json's `extra_data` records."""
        return {
            "sha": self.sha,
            "commits_after": self.commits_after,
            "head": self.head,
            "on_head": self.on_head,
        }


def _git(repository: Path, *args: str, binary: bool = False) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            ["git", "-C", str(repository), *args],
            capture_output=True,
            text=not binary,
            timeout=GIT_TIMEOUT,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"},
        )
    except FileNotFoundError:
        raise CommitError(
            "--commit needs git, which is not installed: install it (apt-get install -y git)"
        ) from None
    except subprocess.TimeoutExpired:
        raise CommitError(f"git took over {GIT_TIMEOUT:g} s on {repository}") from None


def _error(result: subprocess.CompletedProcess) -> str:
    text = result.stderr if isinstance(result.stderr, str) else result.stderr.decode("replace")
    return " ".join(text.split())[:300]


def resolve(repository: Path, sha: str) -> Commit:
    """The commit `sha` of the git repository at `repository`, with how many commits came after
    it on HEAD; raises `CommitError` naming what is wrong and how to fix it."""
    repository = Path(repository)
    if not SHA.fullmatch(sha):
        raise CommitError(
            f"--commit {sha!r} is not a commit id: give the hexadecimal SHA (at least 4 digits),"
            " as the class's snapshot records it"
        )
    inside = _git(repository, "rev-parse", "--is-inside-work-tree", "--show-prefix")
    if inside.returncode != 0:
        raise CommitError(
            f"{repository} is not a git repository ({_error(inside)}): --commit grades a commit"
            " of a clone of the student's repository (git clone URL, with its whole history)"
        )
    found = _git(repository, "rev-parse", "--verify", "--quiet", f"{sha}^{{commit}}")
    if found.returncode != 0:
        shallow = _git(repository, "rev-parse", "--is-shallow-repository").stdout.strip()
        fix = (
            "the clone is shallow: fetch its history (git -C REPO fetch --unshallow, or"
            " actions/checkout with fetch-depth: 0)"
            if shallow == "true"
            else f"fetch it (git -C REPO fetch origin {sha}) or check the snapshot's SHA"
        )
        raise CommitError(f"commit {sha} is not in {repository}: {fix}")
    full = found.stdout.strip()
    head = _git(repository, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    head_sha = head.stdout.strip() if head.returncode == 0 else ""
    after, on_head = 0, True
    if head_sha:
        counted = _git(repository, "rev-list", "--count", f"{full}..{head_sha}")
        if counted.returncode != 0:
            raise CommitError(f"cannot count the commits after {full} ({_error(counted)})")
        after = int(counted.stdout.strip() or 0)
        # 0: an ancestor of HEAD; 1: not (a force-push rewrote the history since the snapshot)
        on_head = _git(repository, "merge-base", "--is-ancestor", full, head_sha).returncode == 0
    return Commit(repository, full, head_sha, after, on_head)


def materialize(commit: Commit, into: Path) -> Path:
    """Writes the files of `commit` (of the folder given, where it is a subfolder of its
    repository) into the new folder `into/<the repository folder's name>` and returns it. Reads
    the repository only."""
    found = _git(commit.repository, "rev-parse", "--show-toplevel", "--show-prefix")
    top, _, prefix = found.stdout.strip().partition("\n")
    # Run at the top: in a subfolder, git archive reads paths relative to the working folder.
    tree = f"{commit.sha}:{prefix.strip()}" if prefix.strip() else commit.sha
    dest = Path(into) / (commit.repository.resolve().name or "repository")
    dest.mkdir(parents=True)
    process = subprocess.Popen(
        ["git", "-C", top or str(commit.repository), "archive", "--format=tar", tree],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"},
    )
    try:
        _extract(process.stdout, dest)
        # tarfile stops at the end-of-archive blocks; git may still write the record's padding,
        # and would die of a closed pipe.
        while process.stdout.read(1 << 16):
            pass
    except (CommitError, tarfile.TarError, OSError) as error:
        process.kill()
        if isinstance(error, CommitError):
            raise
        raise CommitError(
            f"cannot write commit {commit.sha[:12]}'s files ({type(error).__name__}: {error})"
        ) from None
    finally:
        process.stdout.close()
        status = process.wait()  # never a zombie, whatever happened
        said = " ".join(process.stderr.read().decode(errors="replace").split())[:300]
        process.stderr.close()
    if status != 0:
        raise CommitError(f"git archive of {commit.sha[:12]} failed: {said}")
    return dest


def _extract(stream, dest: Path) -> None:
    """Unpacks git archive's tar stream into `dest`: regular files, folders, and symbolic links
    that stay inside (tarfile's "data" filter, where this Python has it; otherwise no links),
    within `ARCHIVE_BYTES` and `ARCHIVE_FILES`. No group or other write bits."""
    total = 0
    safe = getattr(tarfile, "data_filter", None)
    with tarfile.open(fileobj=stream, mode="r|") as archive:
        for count, member in enumerate(archive, start=1):
            total += max(member.size, 0)
            if count > ARCHIVE_FILES or total > ARCHIVE_BYTES:
                raise CommitError(
                    f"the commit holds more than {ARCHIVE_FILES:,} files or"
                    f" {ARCHIVE_BYTES >> 20} MiB: grade it from a folder of its lab files"
                )
            if member.name == "pax_global_header" or member.type == tarfile.XGLTYPE:
                continue
            if safe is not None:
                try:
                    archive.extract(member, dest, filter="data")
                except tarfile.FilterError:
                    continue  # a link out of the copy: it could only point at the grader's files
            elif member.isfile() or member.isdir():
                member.mode &= 0o755
                archive.extract(member, dest, set_attrs=True)


@contextlib.contextmanager
def checked_out(repository: Path, sha: str) -> Iterator[tuple[Path, Commit]]:
    """The files of commit `sha` of `repository` in a temporary folder (removed afterwards), and
    the commit. The folder is traversable but not listable by others, so that a sandbox running
    the student's code as another uid can read what it is given."""
    commit = resolve(repository, sha)
    parent = Path(tempfile.mkdtemp(prefix="course-commit-"))
    try:
        parent.chmod(0o711)
        yield materialize(commit, parent), commit
    finally:
        shutil.rmtree(parent, ignore_errors=True)
