"""The implementation's labs, as the experiments call them: `--impl solutions`, `labs` or a folder.

A missing function, or a stub (a function that raises `NotImplementedError`), fails in one line
that names the file and the function to write, and it fails before any long training: every
function the rows need is called on a few tiny images first (`preflight` here and in each
pretext).
"""

from __future__ import annotations

import contextlib
import functools
import traceback
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import ModuleType

import numpy as np

from course import registry
from course.data import CLASS_NAMES
from course.impl import ImplementationError, load_lab


class Lab:
    """A lab module whose functions raise `ImplementationError` naming the function to write.

    A missing function, or one that raises `NotImplementedError` (a stub), becomes a one-line
    `ImplementationError` that says which function of which file to implement.
    """

    def __init__(self, impl: str, lab: str):
        self.lab = lab
        self.module: ModuleType = load_lab(impl, lab)
        self.path = Path(self.module.__file__)

    def __getattr__(self, name: str) -> Callable:
        if name.startswith("_"):
            raise AttributeError(name)
        registry.LABS[self.lab].exercise(name)  # the course's own typo, not the student's
        function = getattr(self.module, name, None)
        if not callable(function):
            raise ImplementationError(
                f"{self.path} has no function {name}(); write it (see the course spec, "
                f"{self.lab}), then run `course check {self.lab}`"
            )

        @functools.wraps(function)
        def call(*args, **kwargs):
            with self.calling(name):
                return function(*args, **kwargs)

        return call

    def raw(self, name: str) -> Callable:
        """The lab's own function, unwrapped, for tf.function and tf.data to trace.

        (AutoGraph caches converted functions by their code, so the wrappers that `__getattr__`
        makes, all with the same code, must not be traced; wrap the traced call in `calling`.)
        """
        getattr(self, name)  # ImplementationError when missing
        return getattr(self.module, name)

    @contextlib.contextmanager
    def calling(self, name: str):
        """Turns a NotImplementedError raised inside into an ImplementationError naming the
        stub."""
        try:
            yield
        except NotImplementedError as error:
            raise self.not_implemented(self._stub_name(error) or name) from None

    def not_implemented(self, name: str) -> ImplementationError:
        return ImplementationError(
            f"{self.path.name}: {name}() is not implemented yet (it raises "
            f"NotImplementedError); implement it in {self.path}, then run "
            f"`course check {self.lab}`"
        )

    def _stub_name(self, error: BaseException) -> str | None:
        """The innermost function of this lab in the error's traceback: the stub itself."""
        found = None
        for frame, _ in traceback.walk_tb(error.__traceback__):
            converted = frame.f_code.co_name.startswith("tf__")  # autograph's copy of a function
            name = frame.f_code.co_name.removeprefix("tf__")
            function = getattr(self.module, name, None)
            code = getattr(function, "__code__", None)
            if code is not None and (frame.f_code is code or converted):
                found = name
        return found


@contextlib.contextmanager
def in_pipeline(*calls: tuple[Lab, str]):
    """`Lab.calling` for functions of several labs traced together by a `tf.data` map or a
    `tf.function` (`fit`), `calls` being (lab, the function it is called for). A stub names the
    function that raised, whichever lab it is in; an error raised inside a lab's code while
    tracing (NumPy on a symbolic tensor, a Python `if` on a tensor's value) becomes an
    ImplementationError that says where the experiment calls the function and what graph mode
    asks of it."""
    import keras
    import tensorflow as tf

    # Keras and TensorFlow cut their own frames out of tracebacks: the frames that tell a stub
    # (raised by the lab's function) from NumPy on a symbolic tensor (raised under it) must stay.
    filtering = keras.config.is_traceback_filtering_enabled()
    keras.config.disable_traceback_filtering()
    tf_filtering = tf.debugging.is_traceback_filtering_enabled()
    tf.debugging.disable_traceback_filtering()
    try:
        yield
    except ImplementationError:
        raise
    except Exception as error:
        if isinstance(error, NotImplementedError) and _raised_directly(calls, error):
            lab, name = _raised_by(calls, error) or calls[0]
            raise lab.not_implemented(name) from None
        found = _raised_by(calls, error)
        if found is None:  # not the labs' code: the course's own error
            raise
        lab, name = found
        checked = " (`course check lab3` calls it the same way)" if lab.lab == "lab3" else ""
        raise ImplementationError(
            f"{lab.path.name}: {name}() failed where the experiment calls it, in a tf.data"
            " pipeline or a training step, where its inputs are symbolic tensors (graph mode),"
            f" not arrays: {type(error).__name__}: {error_cause(error)}. Use TensorFlow ops"
            " (tf.*) on its inputs, not NumPy, and no Python `if` or loop over their"
            f" values{checked}"
        ) from None
    finally:
        if filtering:
            keras.config.enable_traceback_filtering()
        if tf_filtering:
            tf.debugging.enable_traceback_filtering()


def error_cause(error: BaseException) -> str:
    """The line of an error that says what went wrong: AutoGraph's errors from traced code start
    with "in user code:" and a stack, their cause comes last."""
    metadata = getattr(error, "ag_error_metadata", None)
    text = getattr(metadata, "cause_message", None) or str(error)
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def _raised_directly(calls, error: BaseException) -> bool:
    """Whether a lab function raised `error` itself (a stub), rather than TensorFlow under it
    (which raises NotImplementedError too, for NumPy on a symbolic tensor)."""
    frames = [frame for frame, _ in traceback.walk_tb(error.__traceback__)]
    if not frames:
        return True
    name = frames[-1].f_code.co_name.removeprefix("tf__")
    return any(callable(getattr(lab.module, name, None)) for lab, _ in calls)


def _raised_by(calls, error: BaseException) -> tuple[Lab, str] | None:
    """The lab and function, among `calls`' labs, whose code raised `error`."""
    for lab, _ in calls:
        name = lab._stub_name(error)
        if name is not None:
            return lab, name
    return None


def load_labs(impl: str, labs: Iterable[str]) -> dict[str, Lab]:
    """The labs `labs` of `impl`, each checked to define every exercise of the registry."""
    loaded = {lab: Lab(impl, lab) for lab in sorted(set(labs))}
    for lab, module in loaded.items():
        for exercise in registry.LABS[lab].exercises:
            getattr(module, exercise.name)  # raises ImplementationError when missing
    return loaded


def preflight(labs: Mapping[str, Lab]) -> None:
    """Calls lab 1's functions, and lab 2's `transfer`, which every pretrained row uses, on a
    few tiny images."""
    images = np.zeros((4, 32, 32, 3), np.uint8)
    lab1 = labs["lab1"]
    lab1.standardize(images)
    labels = np.arange(4, dtype=np.int64)
    next(iter(lab1.make_pipeline(images, labels, batch_size=2, training=True, seed=0)))
    lab1.build_classifier(lab1.build_backbone(), len(CLASS_NAMES))
    if "lab2" in labs:
        labs["lab2"].transfer(lab1.build_backbone(), len(CLASS_NAMES), freeze_backbone=True)
