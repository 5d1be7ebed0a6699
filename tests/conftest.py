import os

import pytest

# The tests read the course's English words; those of another language choose it themselves
# (COURSE_LANG, --lang), whatever the machine's locale.
os.environ["COURSE_LANG"] = "en"

# The autograder's own tests grade an implementation; they run through `course grade` (see
# test_autograder_*.py), never directly in the project's test run.
collect_ignore = ["autograder", "fixtures"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-slow", action="store_true", help="also run the slow tests (training, benchmarks)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def stubs(tmp_path_factory):
    """The students' labs as `course release` generates them, in a temporary folder: the tests
    never require that the checkout's own labs/ be stubs (someone may be working in them)."""
    from course import ROOT
    from course.release import write_labs

    folder = tmp_path_factory.mktemp("stubs")
    write_labs(ROOT / "solutions", folder)
    return folder


def pytest_report_header(config: pytest.Config) -> str | None:
    """A run that will fail for want of the grader's sandbox says so first, with the fix (the
    checks that grade code then fail with the same words)."""
    from course.preflight import findings, report

    missing = [finding for finding in findings() if finding.needed]
    return report(missing) if missing else None
