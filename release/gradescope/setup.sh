#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image (Ubuntu): the course
# lies in $AUTOGRADER_ROOT/source (Gradescope's /autograder/source), and goes into a virtual
# environment of its own, with bubblewrap for the sandbox of student code (docs/grading.md).
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
cd "$ROOT/source"

if [ -z "${COURSE_NO_APT:-}" ] && command -v apt-get >/dev/null; then
    apt-get update -q
    apt-get install -y -q python3 python3-venv python3-pip bubblewrap
fi
[ -x "$ROOT/venv/bin/python" ] || python3 -m venv "$ROOT/venv"
"$ROOT/venv/bin/python" -m pip install -q --upgrade pip
"$ROOT/venv/bin/python" -m pip install -q -e .
# Where the container refuses user namespaces the grader runs student code as another uid, which
# must not read the solutions and the checks: they are root's alone.
chmod -R go-rwx solutions tests
# The preflight, in the image's build log: the sandbox the grader will use, or what is missing
# and the command that fixes it (a container that refuses user namespaces grades with the uid
# fallback, which needs root: Gradescope's runs are).
"$ROOT/venv/bin/python" -m course doctor || true
# Start TensorFlow once, so that the first submission does not pay for its bytecode.
"$ROOT/venv/bin/python" -c "import tensorflow" 2>/dev/null
