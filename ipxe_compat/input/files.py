"""Opening input files safely, and small ones read whole (a ROM, a changelog, a recipe). A leaf.

A FIFO, a device or ``/dev/zero`` is refused before it is read (opened non-blocking, so a FIFO
cannot wait for a writer), and a larger file without reading more than the limit: memory is
bounded by the limit, never by what the file would give. Every reader of a named file opens it
through :func:`open_regular`.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

from ..errors import SourceError

__all__ = ["open_regular", "read_regular_file", "read_text_file"]


@contextmanager
def open_regular(path: str) -> Iterator[tuple[BinaryIO, os.stat_result]]:
    """The open file and its stat, if it is a regular file (never blocks on a FIFO)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as error:
        raise SourceError(f"cannot read: {error.strerror}", path=path) from error
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SourceError("not a regular file", path=path)
        yield handle, info


def read_regular_file(path: str, limit: int, what: str) -> tuple[bytes, os.stat_result]:
    """A regular file's bytes, at most ``limit`` of them, and its stat."""
    try:
        with open_regular(path) as (handle, info):
            data = handle.read(limit + 1)
    except OSError as error:
        raise SourceError(f"cannot read: {error.strerror}", path=path) from error
    if len(data) > limit:
        raise SourceError(f"larger than {limit} bytes: too large for {what}", path=path)
    return data, info


def read_text_file(path: str, limit: int, what: str) -> str:
    """A regular file of UTF-8 text, at most ``limit`` bytes: a changelog, a copyright, a
    recipe, a file an option names."""
    data, _ = read_regular_file(path, limit, what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SourceError(f"cannot read {what}: not UTF-8 at byte {error.start}",
                          path=path) from error
