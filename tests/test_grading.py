"""Tests of `course grade` and `course check`: the reports and the command line. The hostile
submissions are graded in tests/test_sandbox.py."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from course import ROOT, registry
from course.grading import reports
from course.grading.grade import SubmissionResult, lab_problems, locate, unique_names
from course.grading.runner import LabResult, grade_labs, graded_labs
from course.grading.runner import TestResult as Check

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "submissions"))
from commands import LIMITS, course, live_commands  # noqa: E402


def worker_processes(marker: str) -> list[str]:
    """Command lines of live workers that mention `marker` (a grading run's folder)."""
    return live_commands(marker, "course.grading.worker")


# -- reports, from made-up results (no grading) --------------------------------------------------


def made_up(name: str = "alice") -> SubmissionResult:
    tests = [
        Check("lab1.standardize: scales uint8", "1.1", "lab1", "standardize", 2.0, 2.0, "passed"),
        Check(
            "lab1.standardize: floats as they are",
            "1.2",
            "lab1",
            "standardize",
            1.0,
            0.0,
            "failed",
            "values differ by up to 0.5\x1b[31m\x00",
            "exception",
        ),
        Check(
            "lab1.make_pipeline: needs the solution",
            "1.3",
            "lab1",
            "make_pipeline",
            3.0,
            0.0,
            "skipped",
            "checked at submission: needs the reference solutions",
        ),
        Check(
            "lab1.build_backbone: shape",
            "1.4",
            "lab1",
            "build_backbone",
            2.0,
            0.0,
            "failed",
            "running build_backbone() did not finish within 5 s",
            "timeout",
        ),
    ]
    lab = LabResult("lab1", tests, seconds=3.25, printed_bytes=12, printed="hello\x07world\n")
    return SubmissionResult(name, Path("/submissions") / name, [lab], seconds=3.5)


def test_gradescope_json_shape(tmp_path):
    path = reports.write_json(tmp_path / "results.json", made_up())
    data = json.loads(path.read_text())
    assert data["score"] == 2.0 and data["max_score"] == 8.0 and data["execution_time"] == 3.5
    assert "Total: 2/8" in data["output"] and "printed 12 bytes" in data["output"]
    assert [t["number"] for t in data["tests"]] == ["1.1", "1.2", "1.3", "1.4"]
    for test in data["tests"]:
        assert test["name"].startswith(
            ("lab1.standardize: ", "lab1.make_pipeline: ", "lab1.build_backbone: ")
        )
        assert set(test) >= {"name", "number", "score", "max_score", "output"}
    assert [t.get("status") for t in data["tests"]] == ["passed", "failed", None, "failed"]
    skipped = data["tests"][2]
    assert (
        skipped["score"] == 0
        and skipped["max_score"] == 3
        and "Not checked here" in skipped["output"]
    )
    assert data["extra_data"]["labs"]["lab1"]["problems"] == ["1 check timed out"]


def test_csv_has_a_row_per_submission(tmp_path):
    path = reports.write_csv(
        tmp_path / "grades.csv", [made_up("alice"), made_up("bob")], ["lab1", "lab2"]
    )
    rows = list(csv.DictReader(path.open()))
    assert list(rows[0]) == ["submission", "lab1", "lab2", "total", "max_total", "problems"]
    assert rows[1] == {
        "submission": "bob",
        "lab1": "2",
        "lab2": "",
        "total": "2",
        "max_total": "8",
        "problems": "lab1: 1 check timed out",
    }


def test_junit_is_valid_xml_with_a_suite_per_submission_and_lab(tmp_path):
    path = reports.write_junit(tmp_path / "junit.xml", [made_up("alice"), made_up("bob")])
    root = ET.parse(path).getroot()  # the control characters of the student's output were replaced
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["alice.lab1", "bob.lab1"]
    assert root.get("tests") == "8" and root.get("failures") == "4" and root.get("skipped") == "2"
    cases = suites[0].findall("testcase")
    assert [c.get("classname") for c in cases] == [
        "lab1.standardize",
        "lab1.standardize",
        "lab1.make_pipeline",
        "lab1.build_backbone",
    ]
    assert cases[1].find("failure").get("message").startswith("values differ by up to 0.5")
    assert cases[2].find("skipped") is not None and cases[2].find("failure") is None
    assert "hello" in suites[0].find("system-out").text


def test_terminal_report_is_clean_and_never_claims_all_passed_when_checks_were_skipped():
    text = reports.text_report(made_up(), student=True)
    assert "\x1b" not in text and "\x00" not in text
    # The registry's points that no check here holds are the hidden checks': 1 + 4 + 3.
    assert "hidden checks worth 8 points run when the staff grade" in text
    assert "alice: 2/8 on the public checks (1 check worth 3 points could not run" in text
    assert "passed" not in text.split("public")[0]
    assert text.splitlines()[-1] == "public checks: 1/3 passed; hidden checks run at grading"
    lines = text.splitlines()
    assert any(
        line.split() == ["lab1", "standardize", "2/3", "(+1", "in", "hidden", "checks)"]
        for line in lines
    )
    assert any("(3 checked at submission)" in line for line in lines)
    graded = reports.text_report(made_up())
    assert graded.splitlines()[-1].startswith("alice: 2/8 (1 check worth 3 points could not run")


def test_json_paths_for_one_and_several_submissions(tmp_path):
    assert reports.json_paths(str(tmp_path / "r.json"), ["a"]) == {"a": tmp_path / "r.json"}
    assert reports.json_paths(str(tmp_path / "r.json"), ["a", "b"]) == {
        "a": tmp_path / "r.a.json",
        "b": tmp_path / "r.b.json",
    }
    assert reports.json_paths(str(tmp_path), ["a"]) == {"a": tmp_path / "a.json"}
    assert reports.json_paths(str(tmp_path / "new") + "/", ["a"]) == {
        "a": tmp_path / "new" / "a.json"
    }


def test_atomic_write_keeps_the_old_report_if_writing_fails(tmp_path, monkeypatch):
    path = reports.atomic_write(tmp_path / "r.json", "old")

    def broken(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError):
        reports.atomic_write(path, "new")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_lab_problems_name_what_stopped_the_checks():
    whole = LabResult(
        "lab1",
        [
            Check(
                "n",
                "1.1",
                "lab1",
                "f",
                1.0,
                output="importing x failed: SyntaxError",
                kind="import",
            ),
            Check(
                "n",
                "1.2",
                "lab1",
                "g",
                1.0,
                output="importing x failed: SyntaxError",
                kind="import",
            ),
        ],
    )
    assert lab_problems(whole) == ["importing x failed: SyntaxError"]
    wrong = LabResult(
        "lab1", [Check("n", "1.1", "lab1", "f", 1.0, output="values differ", kind="")]
    )
    assert lab_problems(wrong) == []  # a wrong answer is not a problem


def test_locate_finds_a_lab_file_in_one_subfolder(tmp_path):
    (tmp_path / "top" / "labs").mkdir(parents=True)
    (tmp_path / "top" / "labs" / "lab1_supervised.py").write_text("")
    assert locate(tmp_path / "top", "lab1_supervised") == (
        tmp_path / "top" / "labs",
        "lab1_supervised.py was graded from labs/",
    )
    (tmp_path / "top" / "copy").mkdir()
    (tmp_path / "top" / "copy" / "lab1_supervised.py").write_text("")
    folder, note = locate(tmp_path / "top", "lab1_supervised")
    assert folder is None and "several folders" in note
    assert locate(tmp_path / "top", "lab2_rotation") == (None, "")


def test_unique_names():
    assert unique_names([Path("a/sub"), Path("b/sub"), Path("c/other")]) == [
        "a-sub",
        "b-sub",
        "other",
    ]
    assert unique_names([Path("x/sub"), Path("x/sub")]) == ["x-sub-1", "x-sub-2"]


@pytest.mark.parametrize(
    "folders",
    [
        ["a/x", "b/x", "c/a-x", "d/a-x-1"],  # a made-unique name equal to another folder's
        ["x/sub", "x/sub", "y/x-sub-1"],
        ["p/Alice", "q/alice"],  # one report file on a case-insensitive disk
        ["a/x", "a/x", "b/a-x", "c/a-x-1", "d/a-x-2", "e/a-x-1-1"],
    ],
)
def test_unique_names_never_collide_whatever_the_folders_are_called(folders):
    """Every submission gets its own report file: no two names are alike, even up to case."""
    from course.grading.reports import json_paths

    names = unique_names([Path(folder) for folder in folders])
    assert len({name.casefold() for name in names}) == len(folders), names
    assert len(set(json_paths("out/", names).values())) == len(folders)
    assert len(set(json_paths("results.json", names).values())) == len(folders)


# -- the command line
# ------------------------------------------------------------------------------


def test_the_command_line_does_not_import_tensorflow():
    code = (
        "import sys, course.cli, course.grading.grade, course.grading.reports;"
        " course.cli.parser(); print(sorted(m for m in sys.modules if m.split('.')[0] in"
        " ('tensorflow', 'keras', 'numpy')))"
    )
    assert (
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.strip()
        == "[]"
    )


@pytest.mark.parametrize(
    "args, says",
    [
        (["grade", "/no/such/folder"], "no such folder: /no/such/folder"),
        (["grade", "solutions", "--lab", "lab9"], "unknown lab 'lab9'"),
        (
            ["grade", "solutions", "--json", "/no/such/folder/r.json"],
            "the folder /no/such/folder does not exist",
        ),
        (["grade", "solutions", "--jobs", "0"], "--jobs must be at least 1"),
        (["grade", "solutions", "--call-timeout", "0"], "--call-timeout must be positive"),
        (["check", "lab9"], "unknown lab 'lab9'"),
        (["grade"], "the following arguments are required: SUBMISSION"),
    ],
)
def test_bad_arguments_exit_2(args, says):
    result = course(*args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert says in result.stderr


def test_solutions_get_full_marks_and_stubs_zero_with_a_hint_per_exercise(tmp_path, stubs):
    result = course(
        "grade", "solutions", str(stubs), "--jobs", "2", "--json", str(tmp_path) + "/", *LIMITS
    )
    assert result.returncode == 0, result.stderr
    solutions = json.loads((tmp_path / "solutions.json").read_text())
    assert solutions["score"] == solutions["max_score"] > 0, [
        t for t in solutions["tests"] if t["status"] != "passed"
    ]
    assert {t["name"].split(".")[0] for t in solutions["tests"]} == set(graded_labs())
    assert (
        f"solutions: {solutions['score']:g}/{solutions['max_score']:g}"
        in result.stdout.splitlines()
    )
    labs = json.loads((tmp_path / f"{stubs.name}.json").read_text())
    assert labs["score"] == 0 and labs["max_score"] == solutions["max_score"]
    for test in labs["tests"]:
        exercise = test["name"].split(":")[0]
        assert f"is not implemented yet; `course hint {exercise}` helps" in test["output"]
    hints = [line for line in result.stdout.splitlines() if "is not implemented yet; " in line]
    exercises = {t["name"].split(":")[0] for t in labs["tests"]}
    assert len(hints) == len(exercises)  # one pointer per exercise, not one per check


# -- limits ---------------------------------------------------------------------------------------


def with_lab2(folder: Path, at_import: str) -> Path:
    """`folder` with lab 2's solution added, `at_import` run when it is imported."""
    source = (ROOT / "solutions" / registry.LABS["lab2"].file).read_text()
    (folder / registry.LABS["lab2"].file).write_text(f"{source}\n{at_import}\n")
    return folder


SEES_LAB1 = "import builtins\nprint('lab2 sees', getattr(builtins, 'LAB1_WAS_HERE', None))"


def with_lab1(folder: Path, at_import: str) -> Path:
    """`folder` with lab 1's solution, which leaves a mark in its process and then runs
    `at_import`."""
    folder.mkdir(parents=True, exist_ok=True)
    source = (ROOT / "solutions" / registry.LABS["lab1"].file).read_text()
    (folder / registry.LABS["lab1"].file).write_text(
        f"{source}\nimport builtins\nbuiltins.LAB1_WAS_HERE = 'lab1'\n{at_import}\n"
    )
    return folder


def test_wall_limit_stops_a_lab_and_the_next_is_graded(tmp_path):
    folder = with_lab2(with_lab1(tmp_path / "hangs", "while True:\n    pass"), SEES_LAB1)
    start = time.monotonic()
    results = grade_labs(
        folder, ["lab1", "lab2"], wall_limit=20, import_timeout=120, call_timeout=120
    )
    assert time.monotonic() - start < 60
    lab1, lab2 = results["lab1"], results["lab2"]
    assert lab1.score == 0 and "took longer than its limit of 20 s" in lab1.problem
    assert all(
        test.output.startswith("not run: grading this lab took longer") for test in lab1.tests
    )
    # The hung worker was killed: lab 2 ran in a fresh one, and earned its points.
    assert lab2.score == lab2.max_score and not lab2.problem
    assert "lab2 sees None" in lab2.printed
    time.sleep(1)
    assert worker_processes(str(folder)) == []


def test_one_worker_grades_a_submissions_labs_each_in_a_fresh_interpreter(tmp_path):
    """One worker per submission (TensorFlow imported once), each lab in a child forked from it:
    lab 2 sees nothing lab 1 left in its interpreter, and each lab gets its own output."""
    folder = with_lab2(with_lab1(tmp_path, "print('lab1 speaks')"), SEES_LAB1)
    results = grade_labs(folder, ["lab1", "lab2"])
    assert [r.score for r in results.values()] == [r.max_score for r in results.values()]
    assert "lab2 sees None" in results["lab2"].printed  # not lab 1's mark in builtins
    assert "lab1 speaks" in results["lab1"].printed
    assert "lab2 sees" not in results["lab1"].printed
    assert "lab1 speaks" not in results["lab2"].printed
    assert all(result.seconds > 0 for result in results.values())


def test_a_lab_that_breaks_its_worker_leaves_the_next_lab_a_fresh_one(tmp_path):
    folder = with_lab2(with_lab1(tmp_path, "import sys\nsys.exit(1)"), SEES_LAB1)
    results = grade_labs(folder, ["lab1", "lab2"])
    assert results["lab1"].score == 0
    assert all("SystemExit: 1" in test.output for test in results["lab1"].tests)
    assert results["lab2"].score == results["lab2"].max_score
    assert "lab2 sees None" in results["lab2"].printed


# -- the students' copy of the course: no solutions/
# ------------------------------------------------

def test_hidden_checks_are_published_later_and_course_check_leaves_them_out(tmp_path):
    (tmp_path / "labs").mkdir()
    shutil.copy(ROOT / "solutions" / "lab1_supervised.py", tmp_path / "labs")  # a finished lab
    staff = course(
        "grade", "labs", "--lab", "lab1", "--json", str(tmp_path / "staff.json"), *LIMITS,
        cwd=tmp_path,
    )
    assert staff.returncode == 0, staff.stderr
    graded = json.loads((tmp_path / "staff.json").read_text())
    assert graded["score"] == graded["max_score"] == registry.LABS["lab1"].points
    hidden = [t for t in graded["tests"] if t["visibility"] == "after_published"]
    assert 0 < len(hidden) < len(graded["tests"])
    assert {t["visibility"] for t in graded["tests"]} == {"visible", "after_published"}

    student = course(
        "check", "lab1", "--json", str(tmp_path / "student.json"), *LIMITS, cwd=tmp_path
    )
    assert student.returncode == 0, student.stderr
    checked = json.loads((tmp_path / "student.json").read_text())
    public = len(graded["tests"]) - len(hidden)
    assert [t["visibility"] for t in checked["tests"]] == ["visible"] * public
    hidden_points = sum(t["max_score"] for t in hidden)
    assert f"hidden checks worth {hidden_points:g} points run when the staff grade" in (
        student.stdout
    )
    assert f"public checks: {public}/{public} passed; hidden checks run at grading" in (
        student.stdout
    )
    assert "every check passed" not in student.stdout and "all tests passed" not in student.stdout


# -- teaching assistants' ergonomics --------------------------------------------------------------


def test_only_the_labs_a_submission_holds_are_graded_and_low_scores_can_fail_ci(tmp_path):
    submission = tmp_path / "alice"
    submission.mkdir()
    (submission / "lab2_rotation.py").write_text("def unfinished(:\n")  # fails fast: no TensorFlow
    report = tmp_path / "r.json"
    result = course("grade", str(submission), "--json", str(report), "--fail-under", "50", *LIMITS)
    assert result.returncode == 1, result.stderr
    assert "alice scored 0.0%, below --fail-under 50%" in result.stderr
    data = json.loads(report.read_text())  # written before the exit status says it failed
    assert {t["name"].split(".")[0] for t in data["tests"]} == {"lab2"}
    assert "graded the labs it holds: lab2 (--lab names others)" in result.stdout


def test_reports_come_in_the_order_given(monkeypatch):
    from course.grading import grade

    def fake_grade_labs(folder, labs, **kwargs):
        time.sleep(0.3 if folder.name == "slow" else 0.0)
        return {
            lab: LabResult(lab, [Check(f"{lab}.f: x", "1.1", lab, "f", 1.0, 1.0, "passed")])
            for lab in labs
        }

    monkeypatch.setattr(grade, "grade_labs", fake_grade_labs)
    monkeypatch.setattr(grade, "collect", lambda labs: {lab: LabResult(lab) for lab in labs})
    monkeypatch.setattr(grade, "locate", lambda folder, module: (folder, ""))
    order = []
    grade.grade_submissions(
        [Path("slow"), Path("fast")],
        ["lab1"],
        jobs=2,
        isolation="none",
        on_submission=lambda result: order.append(result.name),
    )
    assert order == ["slow", "fast"]


def test_labs_and_solutions_are_the_tas_own_folders_where_they_exist(tmp_path, monkeypatch):
    from course.impl import impl_dir

    assert impl_dir("labs") == ROOT / "labs"
    (tmp_path / "labs").mkdir()
    monkeypatch.chdir(tmp_path)
    assert impl_dir("labs") == tmp_path / "labs" and impl_dir("solutions") == ROOT / "solutions"


def test_the_grading_plugin_is_loaded_only_by_the_grader(tmp_path):
    """A pytest run in an environment where the course is installed gets none of the grader's
    options or fixtures (`lab`, `judge`, `reference`): only the grader's runs load the plugin."""
    import subprocess
    import sys

    (tmp_path / "test_mine.py").write_text("def test_lab(lab):\n    pass\n")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert "fixture 'lab' not found" in result.stdout, result.stdout[-2000:]
    helped = subprocess.run(
        [sys.executable, "-m", "pytest", "--help"], cwd=tmp_path, capture_output=True, text=True,
        timeout=120,
    )
    assert "--grade-results" not in helped.stdout
