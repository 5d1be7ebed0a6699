"""An Introduction to Self-Supervised Learning: the course's shared library.

Importing `course` is cheap: TensorFlow is imported only by the modules that need it
(`course.data`, `course.models`, `course.train`, ...), so the grader's parent process and the
command line start in milliseconds. The labs and their exercises are listed once, in
`course.registry`.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
"""The course checkout: `solutions/`, `labs/` and `tests/` live here."""
