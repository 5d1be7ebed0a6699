import json
import os
import re
import subprocess
import sys

import pytest

from course import ROOT, registry
from course.release import ReleaseError, expected_labs, strip_solutions


def committed(name: str) -> str | None:
    """labs/NAME as committed (git's HEAD), whatever the working copy holds; None outside git."""
    shown = subprocess.run(
        ["git", "show", f"HEAD:labs/{name}"], cwd=ROOT, capture_output=True, text=True
    )
    return shown.stdout if shown.returncode == 0 else None


def test_committed_labs_are_what_the_generator_writes():
    """The committed labs, not the working copy: someone may be solving them in this checkout."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    stale = [name for name, text in expected_labs().items() if committed(name) != text]
    assert not stale, (
        f"labs/ as committed is not what solutions/ generates: {stale}; run course release"
    )


def test_public_checks_data_is_what_the_hidden_checks_compute():
    from course.grading import expected

    assert expected.stale() == [], "run course release: the public checks' data is stale"
    for lab in registry.LABS:
        if expected.hidden_module(lab) is not None:
            assert len(expected.load(lab)) > 0


def test_release_keeps_work_that_replaced_a_stub(tmp_path):
    from course.release import stale_labs, write_labs

    labs = tmp_path / "labs"
    write_labs(ROOT / "solutions", labs)
    lab = labs / "lab2_rotation.py"
    lab.write_text(
        lab.read_text().replace(
            "raise NotImplementedError("
            '"lab2.rotate: not written yet; `course hint lab2.rotate` helps")',
            "return images  # my attempt",
        )
    )
    with pytest.raises(ReleaseError, match=r"lab2_rotation.py: rotate\(\).*--force"):
        write_labs(ROOT / "solutions", labs)
    assert "my attempt" in lab.read_text()
    assert stale_labs(ROOT / "solutions", labs) == ["lab2_rotation.py"]
    write_labs(ROOT / "solutions", labs, force=True)
    assert "my attempt" not in lab.read_text() and stale_labs(ROOT / "solutions", labs) == []


def test_a_block_becomes_a_short_stub_and_three_hint_levels():
    source = (
        "def f(x):\n"
        '    """Doubles x."""\n'
        "    # BEGIN SOLUTION\n"
        "    # HINT 1: twice as much.\n"
        "    # HINT 2: the operator *.\n"
        "    # HINT 3: multiply by two,\n"
        "    # HINT 3: or add x to itself.\n"
        "    return 2 * x\n"
        "    # END SOLUTION\n"
    )
    stub, hints = strip_solutions(source, "lab9_demo.py")
    assert "2 * x" not in stub and "HINT" not in stub and '"""Doubles x."""' in stub
    assert hints == {
        "lab9_demo.f": [
            "twice as much.",
            "the operator *.",
            "multiply by two, or add x to itself.",
        ]
    }
    namespace = {}
    exec(stub, namespace)
    with pytest.raises(
        NotImplementedError, match="lab9_demo.f: not written yet; `course hint lab9_demo.f` helps"
    ):
        namespace["f"](1)


def test_the_labs_students_read_are_short_and_point_to_the_hints():
    files = expected_labs()
    hints = json.loads(files["hints.json"])
    for lab in registry.LABS.values():
        text = files[lab.file]
        assert max(len(line) for line in text.splitlines()) <= 99, lab.file
        assert "# HINT" not in text and "BEGIN SOLUTION" not in text
        for exercise in lab.exercises:
            assert f'"{exercise.key}: not written yet; "' in text or (
                f'"{exercise.key}: not written yet; `course hint {exercise.key}` helps"' in text
            ), exercise.key
            notes = text.replace("\n# ", " ")
            assert f"({exercise.points} points): {exercise.teaches}." in notes, exercise.key
            assert len(hints[exercise.key]) == 3 and all(hints[exercise.key]), exercise.key


def test_course_hint_gives_each_level_and_names_unknown_exercises():
    def hint(*args):
        return subprocess.run(
            [sys.executable, "-m", "course", "hint", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )

    levels = json.loads((ROOT / "labs" / "hints.json").read_text())["lab2.rotate"]
    for level in (1, 2, 3):
        result = hint("lab2.rotate", "--level", str(level))
        assert (
            result.returncode == 0
            and " ".join(result.stdout.split()).find(" ".join(levels[level - 1].split())[:60]) > 0
        ), result.stdout
        assert ("--level" in result.stdout) == (level < 3)
    wrong = hint("lab2.rotat")
    assert wrong.returncode == 2 and "its exercises are rotate, rotation_batch" in wrong.stderr


def test_the_readme_table_is_the_registry():
    assert registry.readme_table() in (ROOT / "README.md").read_text()


def test_generated_files_follow_the_umask(tmp_path):
    from course.files import atomic_write

    old = os.umask(0o022)
    try:
        mode = atomic_write(tmp_path / "report.json", "{}").stat().st_mode & 0o777
    finally:
        os.umask(old)
    assert mode == 0o644 and [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_lint_passes():
    ruff = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "course", "solutions", "tests", "benchmarks"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert ruff.returncode == 0, ruff.stdout[-3000:]


@pytest.mark.parametrize(
    "source, problem",
    [
        ("def f():\n    # BEGIN SOLUTION\n    # HINT 1: h\n    pass\n", "never closed"),
        ("def f():\n    # BEGIN SOLUTION\n    pass\n    # END SOLUTION\n", "needs '# HINT 1:'"),
        ("# BEGIN SOLUTION\n# HINT 1: h\nx = 1\n# END SOLUTION\n", "inside a function"),
        ("def f():\n    pass\n    # END SOLUTION\n", "without a '# BEGIN SOLUTION'"),
    ],
)
def test_malformed_blocks_are_named(source, problem):
    with pytest.raises(ReleaseError, match=problem):
        strip_solutions(source, "lab.py")


def test_check_names_stale_files(tmp_path):
    from course.release import stale_labs, write_labs

    solutions, labs = tmp_path / "solutions", tmp_path / "labs"
    solutions.mkdir()
    (solutions / "lab9_demo.py").write_text(
        "def f():\n    # BEGIN SOLUTION\n    # HINT 1: h\n    # HINT 2: h\n    # HINT 3: h\n   "
        " return 1\n    # END SOLUTION\n"
    )
    assert stale_labs(solutions, labs) == ["hints.json", "lab9_demo.py"]
    write_labs(solutions, labs)
    assert stale_labs(solutions, labs) == []
    (labs / "lab9_demo.py").write_text("edited by hand\n")
    assert stale_labs(solutions, labs) == ["lab9_demo.py"]


# The class's grading workflow is checked with its shell expansions in tests/test_classroom.py.
@pytest.mark.parametrize("workflow", ["release/student/check.yml"])
def test_workflow_commands_are_the_course_command_lines(workflow):
    """Every `course ...` line of the class's workflows is accepted by `course`'s own parser."""
    import shlex

    from course.cli import parser

    lines = [
        line.strip()
        for line in (ROOT / workflow).read_text().splitlines()
        if re.match(r"\s*course ", line)
    ]
    assert lines, f"{workflow} runs no course command"
    for line in lines:
        words = shlex.split(re.sub(r"\$\{\{[^}]*\}\}", "X", line.split("|")[0]))
        parser().parse_args(words[1:])  # SystemExit on an unknown option
