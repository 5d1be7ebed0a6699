"""Tests of the autograder: it must give the solutions full marks, the stubs none (with their
hints), take points from every realistic bug on the exercise it breaks, and keep full marks for
correct implementations that differ from the solution.

The mutants and alternatives of a lab are graded in one run (`grade_variants`), sharing one
worker; the solutions and the stubs go through the full grader, as a student's lab does.
"""

import pytest
from mutation import variants, write_submission

from course.grading.runner import grade_lab, grade_variants, graded_labs

MUTANTS, ALTERNATIVES = variants("mutants"), variants("alternatives")


def failures(result) -> str:
    return (
        "\n".join(f"{t.name}: {t.output}" for t in result.tests if t.status != "passed")
        or result.problem
    )


@pytest.fixture(scope="module")
def graded_variants(tmp_path_factory):
    """Every mutant and alternative, graded on its own exercise: (lab, name) -> LabResult."""
    results = {}
    for lab in graded_labs():
        batch = {
            name: (
                write_submission(tmp_path_factory.mktemp("variant"), lab, exercise, code),
                [exercise],
            )
            for variant_lab, name, exercise, code in MUTANTS + ALTERNATIVES
            if variant_lab == lab
        }
        results.update(
            {(lab, name): result for name, result in grade_variants(lab, batch).items()}
        )
    return results


@pytest.mark.parametrize("lab", graded_labs())
def test_solutions_get_full_marks(lab):
    result = grade_lab("solutions", lab)
    assert result.tests and result.score == result.max_score, failures(result)


@pytest.mark.parametrize("lab", graded_labs())
def test_stubs_get_zero_with_their_hints(stubs, lab):
    result = grade_lab(stubs, lab)
    assert result.tests and result.score == 0, [t.name for t in result.tests if t.score]
    for test in result.tests:
        exercise = test.name.split(":")[0]
        assert f"is not implemented yet; `course hint {exercise}` helps" in test.output, (
            test.output
        )


@pytest.mark.parametrize(
    "lab, name, exercise", [v[:3] for v in MUTANTS], ids=[f"{v[0]}: {v[1]}" for v in MUTANTS]
)
def test_mutant_loses_points_on_its_exercise(graded_variants, lab, name, exercise):
    result = graded_variants[lab, name]
    assert result.tests, f"no checks ran for {lab}.{exercise}: {result.problem}"
    assert result.score < result.max_score, f"mutant {name!r} kept full marks on {lab}.{exercise}"


@pytest.mark.parametrize(
    "lab, name, exercise",
    [v[:3] for v in ALTERNATIVES],
    ids=[f"{v[0]}: {v[1]}" for v in ALTERNATIVES],
)
def test_alternative_keeps_full_marks(graded_variants, lab, name, exercise):
    result = graded_variants[lab, name]
    assert result.tests and result.score == result.max_score, failures(result)


def test_public_checks_alone_catch_most_mutants(graded_variants):
    """Students get real feedback before they submit: at least 60% of the mutants already lose
    points on the public checks, which `course check` runs."""
    caught = [
        name
        for lab, name, _, _ in MUTANTS
        if any(t.status != "passed" and not t.hidden for t in graded_variants[lab, name].tests)
    ]
    assert len(caught) >= 0.6 * len(MUTANTS), (
        f"only {len(caught)} of {len(MUTANTS)} mutants lose points on the public checks"
    )
