"""Landlock (Linux 5.13 and later): an unprivileged process restricts itself, and everything it
starts, to the files it is allowed, no TCP (ABI 4), and no signal or abstract unix socket beyond
its own processes (ABI 6).

The `uid` isolation level, where no namespace can be made, applies it in the worker before the
worker's program starts: it then holds most of what a mount and network namespace hold (no
classmate's files, no reference solutions, no /tmp shared with others, no server on the
loopback), whatever the files' modes. Where the kernel has no Landlock, `abi()` is 0 and every
report says what the level does not hold (`course.grading.sandbox.unkept`).
"""

from __future__ import annotations

import ctypes
import functools
import os
import struct

_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446  # the same numbers on every arch
_VERSION = 1  # LANDLOCK_CREATE_RULESET_VERSION
_PATH_BENEATH = 1

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
READ = EXECUTE | READ_FILE | READ_DIR
DEVICES = READ_FILE | WRITE_FILE | READ_DIR  # /dev/null, /dev/urandom
# Every right on files an ABI knows (ABI 1: 13 rights; 2: REFER; 3: TRUNCATE; 5: IOCTL_DEV).
_FS_RIGHTS = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1}
_NET_TCP = (1 << 0) | (1 << 1)  # bind and connect: every TCP socket (ABI 4)
_SCOPES = (1 << 0) | (1 << 1)  # abstract unix sockets and signals (ABI 6)


class LandlockError(OSError):
    """The kernel refused a Landlock call."""


def _libc():
    return ctypes.CDLL(None, use_errno=True)


@functools.lru_cache(maxsize=None)
def abi() -> int:
    """The kernel's Landlock ABI version; 0 where Landlock is absent or disabled."""
    try:
        version = _libc().syscall(_CREATE_RULESET, None, 0, _VERSION)
    except (OSError, AttributeError):
        return 0
    return max(0, version)


def fs_rights(version: int) -> int:
    return _FS_RIGHTS.get(version, (1 << 16) - 1)


def restrict(read: list[str], write: list[str], devices: list[str]) -> None:
    """Restricts the calling process (and what it starts) to reading `read`, reading and writing
    `write`, and using the device files under `devices`; with ABI 4, no TCP; with ABI 6, no
    signal or abstract unix socket outside its own domain. It needs no_new_privs first. Paths
    that do not exist are left out."""
    version = abi()
    if not version:
        raise LandlockError("Landlock is not available")
    libc = _libc()
    handled = fs_rights(version)
    attr = struct.pack(
        "<QQQ",
        handled,
        _NET_TCP if version >= 4 else 0,
        _SCOPES if version >= 6 else 0,
    )
    size = 24 if version >= 6 else 16 if version >= 4 else 8
    ruleset = libc.syscall(_CREATE_RULESET, ctypes.c_char_p(attr), size, 0)
    if ruleset < 0:
        raise LandlockError(ctypes.get_errno(), "landlock_create_ruleset failed")
    try:
        for paths, rights in ((read, READ), (write, handled), (devices, DEVICES)):
            for path in paths:
                try:
                    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
                except OSError:
                    continue
                try:
                    allowed = rights if os.path.isdir(path) else rights & (
                        EXECUTE | READ_FILE | WRITE_FILE
                    )
                    rule = struct.pack("<Qi", allowed & handled, fd)
                    if libc.syscall(_ADD_RULE, ruleset, _PATH_BENEATH, ctypes.c_char_p(rule), 0):
                        raise LandlockError(ctypes.get_errno(), f"landlock_add_rule({path})")
                finally:
                    os.close(fd)
        if libc.syscall(_RESTRICT_SELF, ruleset, 0):
            raise LandlockError(ctypes.get_errno(), "landlock_restrict_self failed")
    finally:
        os.close(ruleset)
