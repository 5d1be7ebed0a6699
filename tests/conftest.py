import pytest

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
