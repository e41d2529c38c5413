"""Small input files read whole (a ROM, a changelog, a copyright, a recipe), safely. A leaf.

A FIFO, a device or ``/dev/zero`` is refused before it is read (opened non-blocking, so a FIFO
cannot wait for a writer), and a larger file without reading more than the limit: memory is
bounded by the limit, never by what the file would give.
"""

from __future__ import annotations

import os
import stat

from ..errors import SourceError

__all__ = ["read_regular_file"]


def read_regular_file(path: str, limit: int, what: str) -> tuple[bytes, os.stat_result]:
    """A regular file's bytes, at most ``limit`` of them, and its stat."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise SourceError("not a regular file", path=path)
            data = handle.read(limit + 1)
    except OSError as error:
        raise SourceError(f"cannot read: {error.strerror}", path=path) from error
    if len(data) > limit:
        raise SourceError(f"larger than {limit} bytes: too large for {what}", path=path)
    return data, info
