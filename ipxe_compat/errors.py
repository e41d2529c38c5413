"""The one exception family of ipxe-compat, by kind, and SIGTERM as an exception.

Every error the library raises on purpose is an :class:`IpxeCompatError`. Each kind carries the
exit status the command-line contract gives it (docs/cli.md: 1 = the command ran and found a
problem, 2 = bad usage or unusable input) and the file (and, for a ROM, the byte offset) it
is about, so the CLI prints one line and exits in one place. Any other exception is a bug: the CLI
exits 3 (an internal error) for it.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = [
    "CorruptError",
    "DebFormatError",
    "IpxeCompatError",
    "OutputError",
    "OutputExistsError",
    "RomFormatError",
    "RomTooLargeError",
    "SourceError",
    "ToolError",
    "UsageError",
    "signals_as_exceptions",
]


class IpxeCompatError(Exception):
    """Base of every deliberate ipxe-compat error; ``str()`` is the one-line message."""

    exit_code: int = 2

    def __init__(self, message: str, *, path: str | None = None, offset: int | None = None):
        super().__init__(message)
        self.message = message
        self.path = path
        self.offset = offset

    def __str__(self) -> str:
        where = self.path or ""
        if self.offset is not None:
            where = f"{where}: offset {self.offset:#x}" if where else f"offset {self.offset:#x}"
        return f"{where}: {self.message}" if where else self.message


class UsageError(IpxeCompatError):
    """An option value (given, or read from a recipe) is malformed, or options contradict each
    other (exit 2)."""


class SourceError(IpxeCompatError):
    """An input cannot be used: a ROM set source (missing, not a package, no ROMs, clashing or
    ambiguously paired ROMs), a recipe, an origin copyright or a changelog file (exit 2)."""


class DebFormatError(SourceError):
    """A .deb is not one dpkg reads, or reads in a way another reader would not (exit 2). Raised
    without a path by the format layers (input/ar.py, compress.py, tar.py); the package reader
    names the file."""


class CorruptError(DebFormatError):
    """The bytes of a .deb are damaged or cut short: a checksum fails, a stream ends early."""


class OutputError(IpxeCompatError):
    """The output directory cannot be used: not a directory, not creatable, not writable
    (exit 2)."""


class OutputExistsError(OutputError):
    """An output path already exists and ``--force`` was not given (exit 2)."""


class RomFormatError(IpxeCompatError):
    """A ROM file is not a well-formed PCI option ROM image chain (exit 1); carries the offset."""

    exit_code = 1


class RomTooLargeError(IpxeCompatError):
    """A selected ROM does not fit the target bucket; it is refused, never truncated (exit 1)."""

    exit_code = 1


class ToolError(IpxeCompatError):
    """An external tool (dpkg-source, dpkg-genchanges, QEMU) failed or is missing (exit 1)."""

    exit_code = 1


@contextmanager
def signals_as_exceptions() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt inside the block, so cleanup runs as on Ctrl-C."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous: Callable[[int, FrameType | None], object] | int | None = None
    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        previous = None
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
