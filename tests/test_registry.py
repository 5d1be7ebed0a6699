"""course.registry: the one list of labs and exercises, and what reads it."""

from __future__ import annotations

import pytest

from course import registry
from course.grading.reports import fix_first
from course.grading.runner import LabResult
from course.grading.runner import TestResult as Check
from course.grading.submission import GraderError, Submission
from course.impl import ImplementationError, lab_module_name


def test_names_resolve_both_ways_and_unknown_ones_are_named():
    assert (
        registry.lab("lab2").module == "lab2_rotation"
        and registry.lab("lab2_rotation").key == "lab2"
    )
    assert registry.exercise("lab2.rotate").points == 6
    with pytest.raises(registry.RegistryError, match="its exercises are rotate, rotation_batch"):
        registry.exercise("lab2.rotat")
    with pytest.raises(
        ImplementationError, match="unknown lab 'lab9'; the labs are lab1, lab2, lab3, lab4"
    ):
        lab_module_name("lab9")


def test_every_exercise_builds_only_on_earlier_exercises_of_its_lab():
    for lab in registry.LABS.values():
        seen = set()
        for exercise in lab.exercises:
            assert set(exercise.uses) <= seen, exercise.key
            seen.add(exercise.name)


def test_a_typo_in_an_autograder_test_is_the_graders_error_not_the_students():
    lab = Submission(None, exercises=("rotate", "transfer"))
    with pytest.raises(GraderError, match="rotat\\(\\), which is not an exercise"):
        lab.rotat(1)


def test_reports_say_which_failure_to_fix_first():
    def check(exercise, status):
        return Check(f"lab2.{exercise}: x", "2.1", "lab2", exercise, 1.0, status=status)

    result = LabResult(
        "lab2",
        [
            check("rotate", "failed"),
            check("rotation_batch", "failed"),
            check("random_rotation", "failed"),
            check("transfer", "passed"),
        ],
    )
    (advice,) = fix_first(result)
    assert advice.startswith(
        "fix rotate() first: rotation_batch() and random_rotation() build on it"
    )
    assert fix_first(LabResult("lab2", [check("rotation_batch", "failed")])) == []
