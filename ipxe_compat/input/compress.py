"""The compression layer of a ``.deb`` member: one compressed stream, cut off at a limit.

dpkg 1.21 (bookworm) reads control members as none, gz, xz or zst and data members also as bz2
and lzma (deb(5)). Every decompressed stream is cut off at a fixed limit, so a compression bomb
costs that much and no more, and trailing bytes after the stream are refused (another reader might
read them). The stdlib has no zstd: the ``zstd`` tool decompresses as a pipe.
"""

from __future__ import annotations

import bz2
import contextlib
import lzma
import signal
import threading
import zlib
from typing import Protocol

from ..errors import CorruptError, DebFormatError
from ..runner import PIPE, Child, RunError
from .ar import CHUNK, ArMember

__all__ = ["CONTROL_SUFFIXES", "DATA_SUFFIXES", "MAX_CONTROL_UNPACKED", "MAX_DATA_UNPACKED",
           "Unpacked"]

#: Bytes a data member may unpack to: ipxe-qemu's data.tar is about 3 MB. This bounds the time a
#: compression bomb can cost (under a second for xz-compressed zeros).
MAX_DATA_UNPACKED = 128 << 20
#: Bytes a control member may unpack to: control, md5sums and maintainer scripts.
MAX_CONTROL_UNPACKED = 16 << 20
#: Compressions dpkg 1.21 (bookworm) accepts per member (deb(5)).
CONTROL_SUFFIXES = ("", ".gz", ".xz", ".zst")
DATA_SUFFIXES = ("", ".gz", ".xz", ".bz2", ".lzma", ".zst")
_ZSTD_TIMEOUT = 60


class _Decompressor(Protocol):
    @property
    def eof(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...

    @property
    def needs_input(self) -> bool: ...

    def decompress(self, data: bytes, max_length: int) -> bytes: ...


class _Gzip:
    """zlib's gzip decoder with the ``needs_input`` protocol of lzma's and bz2's decoders."""

    def __init__(self) -> None:
        self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._full = False

    @property
    def eof(self) -> bool:
        return self._z.eof

    @property
    def unused_data(self) -> bytes:
        return self._z.unused_data

    @property
    def needs_input(self) -> bool:
        return not self._z.unconsumed_tail and not self._full

    def decompress(self, data: bytes, max_length: int) -> bytes:
        out = self._z.decompress(self._z.unconsumed_tail + data, max_length)
        self._full = len(out) == max_length
        return out


def _decompressor(suffix: str) -> _Decompressor | None:
    if suffix == ".gz":
        return _Gzip()
    if suffix == ".xz":
        return lzma.LZMADecompressor(lzma.FORMAT_XZ)
    if suffix == ".lzma":
        return lzma.LZMADecompressor(lzma.FORMAT_ALONE)
    if suffix == ".bz2":
        return bz2.BZ2Decompressor()
    return None


class Unpacked:
    """The uncompressed bytes of a member, cut off at ``limit``; one compressed stream only."""

    def __init__(self, member: ArMember, suffix: str, limit: int):
        self._member = member
        self._limit = limit
        self.total = 0
        self._decoder = _decompressor(suffix)
        self._zstd: _Zstd | None = _Zstd(member) if suffix == ".zst" else None

    def read(self, size: int) -> bytes:
        data = self._read(min(size, self._limit + 1 - self.total))
        self.total += len(data)
        if self.total > self._limit:
            raise DebFormatError(
                f"{self._member.name} unpacks to more than {self._limit >> 20} MiB "
                "(a compression bomb?)"
            )
        return data

    def _read(self, size: int) -> bytes:
        if self._zstd is not None:
            return self._zstd.read(size)
        decoder = self._decoder
        if decoder is None:
            return self._member.read(size)
        while not decoder.eof:
            data = self._member.read(CHUNK) if decoder.needs_input else b""
            if decoder.needs_input and not data:
                raise CorruptError(f"{self._member.name}: compressed data is truncated")
            out = decoder.decompress(data, size)
            if out:
                return out
        return b""

    def finish(self) -> None:
        """Read to the end (bounded by the limit) so checksums are verified; no trailing bytes."""
        while self.read(CHUNK):
            pass
        if self._zstd is not None:
            self._zstd.close()
        elif self._decoder is not None and (self._decoder.unused_data or self._member.read(1)):
            raise CorruptError(f"{self._member.name}: trailing data after the compressed stream")

    def close(self) -> None:
        if self._zstd is not None:
            self._zstd.kill()


class _Zstd:
    """The zstd tool as a decompressing pipe (the stdlib has no zstd), fed by a thread; started,
    read and ended through the runner, so a hung or lingering one is killed with its group."""

    def __init__(self, member: ArMember):
        self._name = member.name
        try:
            self._child = Child(["zstd", "-q", "-d", "-c"], stdin=PIPE, stdout=PIPE)
        except RunError as error:
            raise DebFormatError(f"cannot run zstd to read {member.name}: {error}") from error
        self._error: DebFormatError | None = None
        stdin = self._child.stdin
        assert stdin is not None

        def feed() -> None:
            try:
                while chunk := member.read(1 << 16):
                    stdin.write(chunk)
            except DebFormatError as error:
                self._error = error
            except (OSError, ValueError):  # zstd stopped reading: its exit status tells why
                pass
            finally:
                with contextlib.suppress(OSError):
                    stdin.close()

        self._feeder = threading.Thread(target=feed, daemon=True)
        self._feeder.start()

    def read(self, size: int) -> bytes:
        try:
            return self._child.read(size, _ZSTD_TIMEOUT)
        except RunError as error:
            self.kill()
            raise CorruptError(f"zstd did not finish {self._name}: {error}") from error

    def close(self) -> None:
        self._feeder.join(_ZSTD_TIMEOUT)
        code = self._child.exited(_ZSTD_TIMEOUT)
        self.kill()
        if code is None:
            raise CorruptError(f"zstd did not finish {self._name} within {_ZSTD_TIMEOUT} s")
        if self._error is not None:
            raise self._error
        if code != 0:
            raise CorruptError(f"zstd could not decompress {self._name} (exit {code})")

    def kill(self) -> None:
        self._child.signal(signal.SIGKILL)  # the feeder's write fails, and it closes stdin
        self._feeder.join(_ZSTD_TIMEOUT)
        self._child.kill(grace=0)
