"""Text from untrusted sources (folder names, what student code printed or raised) made safe for a
terminal, a CSV or an XML report, and the names that the reports of a batch go by."""

from __future__ import annotations

import unicodedata
from collections import Counter
from pathlib import Path


def first_line(text: str, width: int = 160) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 3] + "..."


def printable(text: str, keep: str = "") -> str:
    """`text` with every character that a terminal or a reader could act on replaced by '?':
    control and format characters (escape codes, bidirectional overrides), lone surrogates (the
    bytes of an undecodable file name), private and unassigned code points. `keep`: characters
    to leave, such as a newline."""
    if text.isascii() and text.isprintable():
        return text
    return "".join(c if c in keep or unicodedata.category(c)[0] != "C" else "?" for c in text)


def unique_names(folders: list[Path]) -> list[str]:
    """Display names, which also name the report files: each folder's name (control characters
    replaced), with its parent's name where two folders share a name, and a number where that is
    not enough. No two names are alike even up to case (a report file per submission on any
    disk), and a number never turns a name into another folder's: `a/x`, `b/x`, `c/a-x` and
    `d/a-x-1` are `a-x-2`, `b-x`, `a-x-3` and `a-x-1`."""
    plain = [printable(folder.name or str(folder)) for folder in folders]
    folded = Counter(name.casefold() for name in plain)
    names = [
        (
            f"{printable(folder.parent.name)}-{name}"
            if folded[name.casefold()] > 1 and folder.parent.name
            else name
        )
        for name, folder in zip(plain, folders, strict=True)
    ]
    counts = Counter(name.casefold() for name in names)
    # A name held by one folder alone is its own; the numbered ones avoid all of those.
    taken = {name.casefold() for name in names if counts[name.casefold()] == 1}
    unique = []
    for name in names:
        if counts[name.casefold()] == 1:
            unique.append(name)
            continue
        number = 1
        while f"{name}-{number}".casefold() in taken:
            number += 1
        taken.add(f"{name}-{number}".casefold())
        unique.append(f"{name}-{number}")
    return unique
