"""Starting TensorFlow without its start-up log lines.

TensorFlow's C++ core writes lines such as `I0000 ... cudart_stub.cc:31] Could not find cuda
drivers` and `E0000 ... failed call to cuInit` straight to file descriptor 2 while it loads,
before its logging settings are read: no environment variable silences them. They say nothing a
student can act on, so every command that uses TensorFlow starts it through `start_tensorflow`,
which sets them aside and shows them only if the start fails.
"""

from __future__ import annotations

import os
import sys
import tempfile
from typing import Callable, TypeVar

T = TypeVar("T")


def quietly(action: Callable[[], T]) -> T:
    """Runs `action` with file descriptors 1 and 2 set aside; replays them if `action` fails."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile() as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        failed = True
        try:
            result = action()
            failed = False
            return result
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            if failed:
                log.seek(0)
                os.write(2, log.read()[-20000:])


def _import():
    import keras  # noqa: F401
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    return tf


def _first_operation():
    import tensorflow as tf

    # TensorFlow looks for devices, and logs about it, on its first operation.
    tf.constant(0.0) + 1.0
    return tf


def start_tensorflow():
    """Imports TensorFlow and Keras and runs a first operation, quietly; returns `tensorflow`."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    quietly(_import)
    return quietly(_first_operation)


def import_tensorflow():
    """Imports TensorFlow and Keras quietly, without running an operation: a process that will
    fork must not have started TensorFlow's thread pools (a child forked after the first
    operation hangs on its own first one). Returns `tensorflow`."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return quietly(_import)


def first_operation():
    """Runs TensorFlow's first operation quietly (after `import_tensorflow`, in a forked child)."""
    return quietly(_first_operation)
