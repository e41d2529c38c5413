"""The one exception family of ipxe-compat.

Every error the library raises on purpose is an :class:`IpxeCompatError`. Each carries the exit
status the command-line contract gives it (``../shared/docs/cli.md``: 1 = the command ran and found
a problem, 2 = unusable input or bad usage) and the file (and, for a ROM, the byte offset) it is
about, so the CLI can print one line and exit in one place.
"""

from __future__ import annotations


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
    """An option value is malformed or the options contradict each other (exit 2)."""


class SourceError(IpxeCompatError):
    """A ROM set source cannot be read: missing, not a package, no ROMs, clashing ROMs (exit 2)."""


class RomFormatError(IpxeCompatError):
    """A ROM file is not a well-formed PCI option ROM image chain (exit 1); carries the offset."""

    exit_code = 1


class RomTooLargeError(IpxeCompatError):
    """A selected ROM does not fit the target bucket; it is refused, never truncated (exit 1)."""

    exit_code = 1


class OutputExistsError(IpxeCompatError):
    """An output path already exists and ``--force`` was not given (exit 2)."""


class ToolError(IpxeCompatError):
    """An external Debian tool (dpkg-source, dpkg-genchanges) failed or is missing (exit 1)."""

    exit_code = 1
