"""Writing files so that a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from pathlib import Path
from typing import BinaryIO, Callable, Iterator


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[BinaryIO]:
    """Yields a binary file that replaces `path` when the block ends without an error.

    The file is written in the same folder (so `os.replace` is atomic), created with the mode
    `open` gives any new file (0666 less the umask: a report or a lab is readable like the files
    beside it, unlike `tempfile`'s private 0600), flushed to disk, then renamed over `path`. On an
    error `path` keeps its old contents and the temporary file is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write(path: str | Path, data: str | bytes) -> Path:
    """Writes `data` (text as UTF-8) to `path` atomically; returns `path`."""
    with atomic_file(path) as handle:
        handle.write(data.encode("utf-8") if isinstance(data, str) else data)
    return Path(path)


def atomic_save(path: str | Path, save: Callable[[BinaryIO], None]) -> Path:
    """Calls `save(file)` (e.g. `np.savez`, `figure.savefig`) on a file that replaces `path`."""
    with atomic_file(path) as handle:
        save(handle)
    return Path(path)


def empty_folder(folder: str, owner: int | None = None) -> None:
    """Removes every entry of `folder`, or only those whose owner is the uid `owner`; links are
    removed, never followed, and what cannot be removed stays."""
    try:
        entries = os.listdir(folder)
    except OSError:
        return
    for name in entries:
        path = os.path.join(folder, name)
        try:
            if owner is not None and os.lstat(path).st_uid != owner:
                continue
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.unlink(path)
        except OSError:
            pass
