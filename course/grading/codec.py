"""A wire format for plain data that, unlike pickle, cannot execute code when it is read.

A message is a JSON document plus NumPy arrays saved with `allow_pickle=False`. It carries None,
bools, numbers, strings, lists, tuples, dicts with string keys, NumPy arrays and scalars, and
`AsTensor` (an array the worker turns into a `tf.Tensor` before calling student code) and
`ModelFile` (a Keras model saved as a `.keras` file: the worker sends models this way, and only a
process that never ran student code loads them).
"""

from __future__ import annotations

import io
import json
import os
import select
import struct
import time
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class AsTensor:
    """An argument the student's function receives as a `tf.Tensor` rather than a NumPy array."""

    array: np.ndarray
    dtype: str | None = None


@dataclass(frozen=True)
class ModelFile:
    """A Keras model as the bytes of its `.keras` file."""

    data: bytes

    def __repr__(self) -> str:
        return f"ModelFile({len(self.data):,} bytes)"


class CodecError(ValueError):
    """A message that is not in the wire format (for instance, bytes the student's code wrote)."""


def encode(obj: Any) -> bytes:
    """Serialises `obj`: 8-byte JSON length, JSON, then each array as length + .npy bytes."""
    arrays: list[bytes] = []

    def walk(value: Any) -> Any:
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, (int, float)):
            return value
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray):
            buffer = io.BytesIO()
            np.save(buffer, value, allow_pickle=False)
            arrays.append(buffer.getvalue())
            return {"__array__": len(arrays) - 1}
        if isinstance(value, AsTensor):
            return {"__tensor__": walk(np.asarray(value.array)), "dtype": value.dtype}
        if isinstance(value, ModelFile):
            return {"__model__": walk(np.frombuffer(value.data, dtype=np.uint8))}
        if isinstance(value, tuple):
            return {"__tuple__": [walk(item) for item in value]}
        if isinstance(value, list):
            return [walk(item) for item in value]
        if isinstance(value, dict):
            if not all(isinstance(key, str) for key in value):
                raise CodecError("only dicts with string keys can be sent")
            return {"__dict__": {key: walk(item) for key, item in value.items()}}
        raise CodecError(f"cannot send a {type(value).__name__}")

    header = json.dumps(walk(obj)).encode()
    parts = [struct.pack("<Q", len(header)), header]
    for blob in arrays:
        parts += [struct.pack("<Q", len(blob)), blob]
    return b"".join(parts)


def decode(data: bytes, tensor=None) -> Any:
    """The inverse of `encode`. `tensor(array, dtype)` builds `AsTensor` values (the worker's
    hook)."""
    try:
        (length,) = struct.unpack_from("<Q", data, 0)
        document = json.loads(data[8 : 8 + length])
        arrays, offset = [], 8 + length
        while offset < len(data):
            (size,) = struct.unpack_from("<Q", data, offset)
            segment = data[offset + 8 : offset + 8 + size]
            if not segment.startswith(b"\x93NUMPY"):  # .npy only: not .npz, not a pickle
                raise ValueError("an array segment is not in the .npy format")
            arrays.append(np.load(io.BytesIO(segment), allow_pickle=False))
            offset += 8 + size
    except Exception as error:  # noqa: BLE001  (whatever the bytes hold, they are not a message)
        raise CodecError(f"malformed message: {type(error).__name__}") from None

    def walk(value: Any) -> Any:
        if isinstance(value, list):
            return [walk(item) for item in value]
        if not isinstance(value, dict):
            return value
        if "__array__" in value:
            index = value["__array__"]
            if type(index) is not int or not 0 <= index < len(arrays):  # True is an int too
                raise CodecError("an array index that names no array")
            return arrays[index]
        if "__tensor__" in value:
            array = walk(value["__tensor__"])
            return tensor(array, value["dtype"]) if tensor else AsTensor(array, value["dtype"])
        if "__model__" in value:
            data = walk(value["__model__"])
            if not isinstance(data, np.ndarray) or data.dtype != np.uint8:
                raise CodecError("a model file must be bytes")
            return ModelFile(data.tobytes())
        if "__tuple__" in value:
            return tuple(walk(item) for item in value["__tuple__"])
        if "__dict__" in value:
            return {key: walk(item) for key, item in value["__dict__"].items()}
        raise CodecError(f"unknown value {value!r}")

    try:
        return walk(document)
    except CodecError:
        raise
    except Exception as error:  # noqa: BLE001
        raise CodecError(f"malformed message: {type(error).__name__}") from None


def write_message(fd: int, obj: Any) -> None:
    """Writes one length-prefixed message to a file descriptor."""
    payload = encode(obj)
    view = memoryview(struct.pack("<Q", len(payload)) + payload)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _read_exactly(fd: int, size: int, deadline: float | None, abort: int | None = None) -> bytes:
    chunks, remaining = [], size
    while remaining:
        if deadline is not None or abort is not None:
            left = None if deadline is None else deadline - time.monotonic()
            watched = [fd] if abort is None else [fd, abort]
            expired = left is not None and left <= 0
            ready = [] if expired else select.select(watched, [], [], left)[0]
            if not ready:
                raise TimeoutError
            if fd not in ready:  # `abort` has something to say first: the writer has ended
                raise EOFError
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_message(
    fd: int,
    deadline: float | None = None,
    limit: int = 1 << 30,
    tensor=None,
    abort: int | None = None,
) -> Any:
    """Reads one message; `TimeoutError` past `deadline` (monotonic), `EOFError` if the writer
    died, or if the descriptor `abort` becomes readable first (the writer's parent says it
    ended)."""
    (size,) = struct.unpack("<Q", _read_exactly(fd, 8, deadline, abort))
    if size > limit:
        raise CodecError(f"a message of {size} bytes is larger than the limit of {limit}")
    return decode(_read_exactly(fd, size, deadline, abort), tensor)
