"""Tests of the autograder: it must give the solutions full marks, the stubs none (with their
hints), take points from every realistic bug on the exercise it breaks, and keep full marks for
correct implementations that differ from the solution."""
import pytest

from course.grading.runner import grade_lab, graded_labs
from mutation import variants, write_submission


def failures(result) -> str:
    return "\n".join(f"{t.name}: {t.output}" for t in result.tests if t.status != "passed") or result.problem


@pytest.mark.parametrize("lab", graded_labs())
def test_solutions_get_full_marks(lab):
    result = grade_lab("solutions", lab)
    assert result.tests and result.score == result.max_score, failures(result)


@pytest.mark.parametrize("lab", graded_labs())
def test_stubs_get_zero_with_their_hints(lab):
    result = grade_lab("labs", lab)
    assert result.tests and result.score == 0, [t.name for t in result.tests if t.score]
    for test in result.tests:
        assert "is not implemented yet. Hint: " in test.output, f"{test.name}: {test.output}"


@pytest.mark.parametrize("lab, name, exercise, code", variants("mutants"), ids=lambda v: v if isinstance(v, str) and " " in v else None)
def test_mutant_loses_points_on_its_exercise(lab, name, exercise, code, tmp_path):
    result = grade_lab(write_submission(tmp_path, lab, exercise, code), lab, exercises=[exercise])
    assert result.tests, f"no checks for {exercise}"
    assert result.score < result.max_score, f"mutant {name!r} kept full marks on {lab}.{exercise}"


@pytest.mark.parametrize("lab, name, exercise, code", variants("alternatives"), ids=lambda v: v if isinstance(v, str) and " " in v else None)
def test_alternative_keeps_full_marks(lab, name, exercise, code, tmp_path):
    result = grade_lab(write_submission(tmp_path, lab, exercise, code), lab, exercises=[exercise])
    assert result.tests and result.score == result.max_score, failures(result)
