import subprocess
import sys

import pytest

from course import ROOT
from course.release import ReleaseError, strip_solutions


def test_committed_labs_are_what_the_generator_writes():
    check = subprocess.run([sys.executable, "-m", "course", "release", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_a_block_becomes_its_hint_and_a_stub():
    source = (
        "def f(x):\n"
        '    """Doubles x."""\n'
        "    # BEGIN SOLUTION\n"
        "    # HINT: multiply by two.\n"
        "    # HINT: Or add x to itself.\n"
        "    return 2 * x\n"
        "    # END SOLUTION\n"
    )
    stub = strip_solutions(source)
    assert "2 * x" not in stub
    assert "    # HINT: multiply by two.\n    # HINT: Or add x to itself.\n" in stub
    namespace = {}
    exec(stub, namespace)
    with pytest.raises(NotImplementedError, match="multiply by two. Or add x to itself."):
        namespace["f"](1)


@pytest.mark.parametrize(
    "source, problem",
    [
        ("def f():\n    # BEGIN SOLUTION\n    # HINT: h\n    pass\n", "never closed"),
        ("def f():\n    # BEGIN SOLUTION\n    pass\n    # END SOLUTION\n", "needs a '# HINT:'"),
        ("# BEGIN SOLUTION\n# HINT: h\nx = 1\n# END SOLUTION\n", "inside a function"),
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
    (solutions / "lab9_demo.py").write_text("def f():\n    # BEGIN SOLUTION\n    # HINT: h\n    return 1\n    # END SOLUTION\n")
    assert stale_labs(solutions, labs) == ["lab9_demo.py"]
    write_labs(solutions, labs)
    assert stale_labs(solutions, labs) == []
    (labs / "lab9_demo.py").write_text("edited by hand\n")
    assert stale_labs(solutions, labs) == ["lab9_demo.py"]


def test_readme_commands_are_the_ones_ci_runs():
    readme = (ROOT / "README.md").read_text().splitlines()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    install, test = (line.split("#")[0].strip() for line in readme[6:8])
    assert install.startswith("pip install") and install in ci
    assert test.startswith("python -m pytest") and test in ci
