"""An Introduction to Self-Supervised Learning: the course's shared library.

Importing `course` is cheap: TensorFlow is imported only by the modules that need it
(`course.data`, `course.models`, `course.train`, ...), so the grader's parent process and the
command line start in milliseconds.
"""
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
"""The course checkout: `solutions/`, `labs/` and `tests/` live here."""

LABS = {
    "lab1": "lab1_supervised",
    "lab2": "lab2_rotation",
    "lab3": "lab3_context",
    "lab4": "lab4_simclr",
}
"""Short lab names (as in the grader's test names) to lab module names."""
