"""`course experiment`: the workshop's table, trained with an implementation of the labs.

One module a job: `options` (budgets, options, the command line's choices), `rows` (each row
declared once, and the experiments), `labs` (the `--impl`'s lab functions), `pretexts` (one
module a pretext task), `runner` (training the rows) and `report` (results.json, results.md and
the table's figures). Budgets fix the sizes and epochs: `full` is the workshop's protocol,
`quick` a few-minute version with every row and file, for CI.
"""

from __future__ import annotations

from course.experiments.options import (
    BUDGETS,
    TEST_BUDGET,
    Budget,
    ExperimentError,
    Options,
    experiment_command,
)
from course.experiments.rows import EXPERIMENTS, ROWS, WORKSHOP

_HEAVY = {  # imported when first used: the command line's parser needs only the options
    "run_experiment": "runner",
    "Runner": "runner",
    "Lab": "labs",
    "machine_description": "report",
    "results_markdown": "report",
    "write_results": "report",
}


def __getattr__(name: str):
    if name in _HEAVY:
        import importlib

        return getattr(importlib.import_module(f"course.experiments.{_HEAVY[name]}"), name)
    raise AttributeError(f"module 'course.experiments' has no attribute {name!r}")


__all__ = [
    "BUDGETS",
    "EXPERIMENTS",
    "ROWS",
    "TEST_BUDGET",
    "WORKSHOP",
    "Budget",
    "ExperimentError",
    "Options",
    "experiment_command",
    *_HEAVY,
]
