"""The one exception family of ipxe-compat, by kind; signals as an exception; names in messages.

Every error the library raises on purpose is an :class:`IpxeCompatError`. Each kind carries the
exit status the command-line contract gives it (docs/cli.md: 1 = the command ran and found a
problem, 2 = bad usage or unusable input) and the file (and, for a ROM, the byte offset) it
is about, so the CLI prints one line and exits in one place. Any other exception is a bug: the CLI
exits 3 (an internal error) for it.

A message is one line whatever the names in it: :func:`shown` is the one function that puts a
path or name into a message, and the CLI passes every line it prints through it too.
SIGINT, SIGTERM and SIGHUP become :class:`Interrupted`, so cleanup runs on each alike (and click,
which prints a blank line on a KeyboardInterrupt, stays quiet: Ctrl-C prints one line); inside
:func:`deferred_signals` they wait until a step that must not be cut short is done.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = [
    "CorruptError",
    "DebFormatError",
    "Interrupted",
    "IpxeCompatError",
    "OutputError",
    "OutputExistsError",
    "OutputLeftError",
    "OutputRestoreError",
    "RomFormatError",
    "RomTooLargeError",
    "SourceError",
    "ToolError",
    "UsageError",
    "deferred_signals",
    "shown",
    "signals_as_exceptions",
]

#: The signals that end a run: Ctrl-C, kill's default, a closed terminal.
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_NAMED_ESCAPES = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\t": "\\t", "\r": "\\r",
                  "\x1b": "\\e"}
#: os.fsdecode maps each byte of a file name that is not UTF-8 to U+DC80..U+DCFF.
_SURROGATE_BYTES = (0xDC80, 0xDCFF)
_ASCII = 0x80
_BMP = 0x10000


def shown(text: str) -> str:
    """``text`` (a path, a file or model name) for a message line: as it is when every character
    is printable, else in bash's ``$'...'`` quoting, which a shell reads back to the same name
    and which cannot be mistaken for the plain name: ``$'a\\nb.rom'``. Bytes a file name holds
    that are not UTF-8 (surrogate escapes) are written as ``\\xHH``."""
    if text.isprintable():
        return text
    return "$'" + "".join(_escape(char) for char in text) + "'"


def _escape(char: str) -> str:
    if char in _NAMED_ESCAPES:
        return _NAMED_ESCAPES[char]
    code = ord(char)
    if _SURROGATE_BYTES[0] <= code <= _SURROGATE_BYTES[1]:  # os.fsdecode's undecodable byte
        return f"\\x{code - 0xDC00:02x}"
    if char.isprintable():
        return char
    if code < _ASCII:  # bash reads \xHH as a byte: only ASCII is the same character
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < _BMP else f"\\U{code:08x}"


class Interrupted(BaseException):
    """SIGINT, SIGTERM or SIGHUP arrived. A BaseException, like KeyboardInterrupt: no ``except
    Exception`` swallows it, and cleanup runs as it unwinds; the CLI exits 130."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"signal {signum}")
        self.signum = signum


class IpxeCompatError(Exception):
    """Base of every deliberate ipxe-compat error; ``str()`` is the one-line message."""

    exit_code: int = 2

    def __init__(self, message: str, *, path: str | None = None, offset: int | None = None):
        super().__init__(message)
        self.message = message
        self.path = path
        self.offset = offset

    def __str__(self) -> str:
        where = shown(self.path) if self.path else ""
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


class OutputLeftError(OutputError):
    """The new output is complete in OUTDIR, but something of the run could not be removed (a
    staging directory, a replaced output): exit 4, which says just that."""

    exit_code = 4


class OutputRestoreError(OutputError):
    """Neither output is complete in OUTDIR: a move back failed; the message says where the
    previous output is, and the next run restores it (exit 5)."""

    exit_code = 5


class RomFormatError(IpxeCompatError):
    """A ROM file is not a well-formed PCI option ROM image chain (exit 1); carries the offset."""

    exit_code = 1


class RomTooLargeError(IpxeCompatError):
    """A selected ROM does not fit the target bucket; it is refused, never truncated (exit 1)."""

    exit_code = 1


class ToolError(IpxeCompatError):
    """An external tool (dpkg-source, dpkg-genchanges, QEMU) failed or is missing (exit 1)."""

    exit_code = 1


_Handler = Callable[[int, FrameType | None], object] | int | None


@contextmanager
def _handlers(handler: Callable[[int, FrameType | None], None]) -> Iterator[bool]:
    """``handler`` for SIGNALS inside the block, the previous ones after it. Yields False (and
    changes nothing) outside the main thread, where Python cannot set handlers."""
    previous: dict[signal.Signals, _Handler] = {}
    try:
        for signum in SIGNALS:
            previous[signum] = signal.signal(signum, handler)
    except ValueError:  # not the main thread
        pass
    try:
        yield bool(previous)
    finally:
        for restored, old in previous.items():
            if old is not None:
                signal.signal(restored, old)
            else:
                signal.signal(restored, signal.SIG_DFL)


@contextmanager
def signals_as_exceptions() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP raise :class:`Interrupted` inside the block, so cleanup runs
    alike for each (a closed terminal must not end a run that has children or a staging
    directory without cleanup)."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise Interrupted(signum)

    with _handlers(interrupt):
        yield


@contextmanager
def deferred_signals(*, reraise: bool = True) -> Iterator[list[int]]:
    """SIGINT, SIGTERM and SIGHUP only noted inside the block (the list it yields holds them):
    for steps that must finish once begun (moving outputs into place, a rollback, a recovery).
    After the block, one that came raises :class:`Interrupted` if ``reraise`` and the block
    ended normally; with ``reraise=False`` the caller decides (the output is complete: not an
    interruption)."""
    arrived: list[int] = []

    def note(signum: int, frame: FrameType | None) -> None:
        arrived.append(signum)

    with _handlers(note):
        yield arrived
    if arrived and reraise:
        raise Interrupted(arrived[0])
