"""The ar, compression and tar layers of a ``.deb``, read once, streaming, with fixed bounds.

A package is read exactly one way, the way dpkg reads it (deb(5), dpkg-deb's extract.c; tar as
GNU tar, which ``dpkg-deb -x`` runs, reads it): ``debian-binary`` (``2.x``) first, then optional
``_*`` members, one ``control.tar*``, one ``data.tar*``; ``_*`` members may follow. Anything a
second reader could read another way is refused: a second control or data member, a member out of
order, an ar size past the end of the file, trailing bytes after a compressed stream, a second
extended header for one member, sparse members (dpkg does not unpack them), a path twice with
different content.

Work and memory are bounded by the bytes really present and by the limits below, never by a size
a header declares: skipping a member reads its bytes (so a declared size past the end is found
where the bytes end), every decompressed stream is cut off at a fixed limit (a compression bomb
costs that much and no more), and only bounded headers are ever held in memory. Every refusal is
a :class:`DebFormatError` naming what is wrong; the caller adds the file name.

python-debian's ``DebFile``/``ArFile`` seek and re-open, trust ar sizes and hold members in
memory, and :mod:`tarfile` skips members by their declared size and parses sparse maps in
quadratic time, so neither can give these bounds; python-debian still parses the control file.
"""

from __future__ import annotations

import bz2
import hashlib
import lzma
import re
import subprocess
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Protocol

from ..core.tools import install_hint

#: The largest .deb read: ipxe-qemu's is about 1 MB; Debian's largest packages are a few hundred MB.
MAX_DEB_FILE = 512 << 20
#: Bytes a data member may unpack to: ipxe-qemu's data.tar is about 3 MB. This bounds the time a
#: compression bomb can cost (0.8 s for xz-compressed zeros on this 2-core machine).
MAX_DATA_UNPACKED = 128 << 20
#: Bytes a control member may unpack to: control, md5sums and maintainer scripts.
MAX_CONTROL_UNPACKED = 16 << 20
#: Tar entries in one member: ipxe-qemu has about 40. Bounds the work to about a second.
MAX_ENTRIES = 50_000
#: A PAX extended header (path, linkpath, size, mtime records) or a GNU long name.
MAX_EXTENDED_HEADER = 64 << 10
#: Latest member mtime accepted: what ustar's 11 octal digits hold (year 2242).
MAX_MTIME = 8**11 - 1

BLOCK = 512
_ZERO_BLOCK = bytes(BLOCK)
_CHUNK = 1 << 20
_READ_AHEAD = 1 << 16
_AR_MAGIC = b"!<arch>\n"
_AR_HEADER = 60
#: Compressions dpkg 1.21 (bookworm) accepts per member (deb(5)).
CONTROL_SUFFIXES = ("", ".gz", ".xz", ".zst")
DATA_SUFFIXES = ("", ".gz", ".xz", ".bz2", ".lzma", ".zst")
_ZSTD_TIMEOUT = 60


class DebFormatError(Exception):
    """The package is not one dpkg reads, or reads in a way ipxe-compat would not (exit 2)."""


class CorruptError(DebFormatError):
    """The bytes are damaged or cut short: a checksum fails, a stream or member ends early."""


class HashingReader:
    """The one open of a .deb: every byte read is hashed, so the hash is of the bytes parsed."""

    def __init__(self, handle: IO[bytes]):
        self._handle = handle
        self._digest = hashlib.sha256()
        self.offset = 0

    def read(self, size: int) -> bytes:
        data = self._handle.read(size)
        self._digest.update(data)
        self.offset += len(data)
        return data

    def read_exact(self, size: int, what: str) -> bytes:
        data = self.read(size)
        if len(data) != size:
            raise CorruptError(f"file ends inside {what} (offset {self.offset:#x})")
        return data

    def hexdigest(self) -> str:
        """The sha256 of the whole file: what is left is read (and hashed) first."""
        while self.read(_CHUNK):
            pass
        return self._digest.hexdigest()


class ArMember:
    """The bytes of one ar member, read from the file as they come; never past its end."""

    def __init__(self, reader: HashingReader, name: str, size: int):
        self._reader = reader
        self.name = name
        self.size = size
        self.left = size

    def read(self, size: int = _CHUNK) -> bytes:
        size = min(size, self.left)
        if size <= 0:
            return b""
        data = self._reader.read(size)
        if not data:
            raise CorruptError(f"ar member {self.name} claims {self.size} bytes, but the file "
                                 f"ends after {self.size - self.left}")
        self.left -= len(data)
        return data

    def skip(self) -> None:
        while self.read(_CHUNK):
            pass
        if self.size % 2:
            self._reader.read(1)  # ar pads members to an even offset


_AR_SIZE = re.compile(rb"[0-9]{1,10} *")


def ar_members(reader: HashingReader) -> Iterator[ArMember]:
    """Each member of the ar archive in order; the caller reads it (the rest is skipped)."""
    if reader.read(len(_AR_MAGIC)) != _AR_MAGIC:
        raise DebFormatError("not a Debian binary package (no ar archive signature)")
    while True:
        header = reader.read(_AR_HEADER)
        if not header:
            return
        if len(header) != _AR_HEADER or header[58:60] != b"`\n":
            raise DebFormatError(f"malformed ar member header at offset {reader.offset - len(header):#x}")
        size_field = header[48:58]
        if not _AR_SIZE.fullmatch(size_field):
            raise DebFormatError(f"ar member size {size_field!r} is not a decimal number")
        name = header[:16].decode("ascii", "replace").rstrip(" ").removesuffix("/")
        member = ArMember(reader, name, int(size_field))
        yield member
        member.skip()


# --- decompression -----------------------------------------------------------------------------

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
            raise DebFormatError(f"{self._member.name} unpacks to more than {self._limit >> 20} MiB "
                                 "(a compression bomb?)")
        return data

    def _read(self, size: int) -> bytes:
        if self._zstd is not None:
            return self._zstd.read(size)
        decoder = self._decoder
        if decoder is None:
            return self._member.read(size)
        while not decoder.eof:
            data = self._member.read(_CHUNK) if decoder.needs_input else b""
            if decoder.needs_input and not data:
                raise CorruptError(f"{self._member.name}: compressed data is truncated")
            out = decoder.decompress(data, size)
            if out:
                return out
        return b""

    def finish(self) -> None:
        """Read to the end (bounded by the limit) so checksums are verified; no trailing bytes."""
        while self.read(_CHUNK):
            pass
        if self._zstd is not None:
            self._zstd.close()
        elif self._decoder is not None and (self._decoder.unused_data or self._member.read(1)):
            raise CorruptError(f"{self._member.name}: trailing data after the compressed stream")

    def close(self) -> None:
        if self._zstd is not None:
            self._zstd.kill()


class _Zstd:
    """The zstd tool as a decompressing pipe (the stdlib has no zstd), fed by a thread."""

    def __init__(self, member: ArMember):
        hint = install_hint("zstd")
        try:
            self._proc = subprocess.Popen(["zstd", "-q", "-d", "-c"], stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        except OSError as error:
            raise DebFormatError(f"cannot run zstd to read {member.name} ({hint}): "
                                 f"{error.strerror}") from error
        self._name = member.name
        self._error: DebFormatError | None = None
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._stdout = self._proc.stdout
        stdin = self._proc.stdin

        def feed() -> None:
            try:
                while chunk := member.read(1 << 16):
                    stdin.write(chunk)
            except DebFormatError as error:
                self._error = error
            except OSError:  # zstd stopped reading: its exit status tells why
                pass
            finally:
                try:
                    stdin.close()
                except OSError:
                    pass

        self._feeder = threading.Thread(target=feed, daemon=True)
        self._feeder.start()

    def read(self, size: int) -> bytes:
        return self._stdout.read(size)

    def close(self) -> None:
        self._stdout.close()
        self._feeder.join(_ZSTD_TIMEOUT)
        try:
            code = self._proc.wait(_ZSTD_TIMEOUT)
        except subprocess.TimeoutExpired as error:
            self.kill()
            raise CorruptError(f"zstd did not finish {self._name}") from error
        if self._error is not None:
            raise self._error
        if code != 0:
            raise CorruptError(f"zstd could not decompress {self._name} (exit {code})")

    def kill(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        self._stdout.close()
        self._feeder.join(_ZSTD_TIMEOUT)


# --- tar ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TarEntry:
    """One tar member as GNU tar would extract it: extended headers already applied."""

    path: str  # as stored, e.g. ./usr/share/qemu/efi-virtio.rom
    type: str  # "file", "hardlink", "symlink", "dir" or "other" (devices, FIFOs)
    size: int
    linkname: str
    mtime: int
    offset: int  # of its header in the unpacked tar


_REGULAR = {b"0": "file", b"\0": "file", b"7": "file", b"1": "hardlink", b"2": "symlink",
            b"5": "dir", b"3": "other", b"4": "other", b"6": "other"}
_PAX_RECORD = re.compile(rb"([1-9][0-9]{0,9}) ")
_PAX_NUMBER = re.compile(r"[0-9]{1,30}")  # past any real size; bounded for int()
_PAX_TIME = re.compile(r"(-?[0-9]{1,20})(?:\.[0-9]{0,9})?")


def _number(field: bytes, what: str) -> int:
    """An octal (NUL/space padded) or GNU base-256 header number; never negative."""
    if field[:1] == b"\x80":  # base-256, positive
        return int.from_bytes(field[1:], "big")
    if field[:1] == b"\xff":
        raise DebFormatError(f"negative {what} in a tar header")
    text = field.split(b"\0", 1)[0].strip(b" ")
    if not text:
        return 0
    if not re.fullmatch(rb"[0-7]+", text):
        raise CorruptError(f"tar header {what} {field!r} is not an octal number")
    return int(text, 8)


def _text(field: bytes) -> str:
    return field.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _pax_records(data: bytes, where: int) -> dict[str, str]:
    """Parse ``LEN key=value\\n`` records in one linear pass; a malformed record is refused."""
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        if data[pos:].strip(b"\0") == b"":
            break  # padding
        match = _PAX_RECORD.match(data, pos)
        end = pos + int(match[1]) if match else 0
        if not match or end > len(data) or data[end - 1:end] != b"\n":
            raise DebFormatError(f"malformed PAX record at tar offset {where:#x}")
        key, sep, value = data[match.end():end - 1].partition(b"=")
        if not sep or not key:
            raise DebFormatError(f"malformed PAX record at tar offset {where:#x}")
        name = key.decode("utf-8", "surrogateescape")
        if name in records:
            raise DebFormatError(f"PAX record {name} given twice at tar offset {where:#x}")
        records[name] = value.decode("utf-8", "surrogateescape")
        pos = end
    for name in records:
        if name.startswith("GNU.sparse."):
            raise DebFormatError(f"sparse member at tar offset {where:#x}: dpkg does not unpack "
                                 "sparse files")
    return records


class TarReader:
    """Entries of a tar stream; a caller that wants an entry's bytes calls :meth:`content`."""

    def __init__(self, stream: Unpacked, what: str):
        self._stream = stream
        self._what = what
        self.offset = 0
        self._left = 0  # bytes of the current entry's data (with padding) not yet read
        self._buf = b""  # read ahead in 64 KiB steps: one decompress call serves many headers
        self._pos = 0

    def _fill(self, size: int) -> None:
        """Have ``size`` bytes buffered, unless the stream ends first."""
        if len(self._buf) - self._pos >= size:
            return
        parts = [self._buf[self._pos:]]
        have = len(parts[0])
        while have < size:
            chunk = self._stream.read(max(size - have, _READ_AHEAD))
            if not chunk:
                break
            parts.append(chunk)
            have += len(chunk)
        self._buf, self._pos = b"".join(parts), 0

    def _read(self, size: int) -> bytes:
        self._fill(size)
        if len(self._buf) - self._pos < size:
            raise CorruptError(f"{self._what} ends inside a tar member (tar offset "
                               f"{self.offset + len(self._buf) - self._pos:#x})")
        data = self._buf[self._pos:self._pos + size]
        self._pos += size
        self.offset += size
        return data

    def _skip(self, size: int) -> None:
        """Skip by reading (a declared size is never trusted to exist)."""
        step = min(size, len(self._buf) - self._pos)
        self._pos += step
        self.offset += step
        size -= step
        while size > 0:
            chunk = self._stream.read(min(size, _CHUNK))
            if not chunk:
                raise CorruptError(f"{self._what} ends inside a tar member (tar offset "
                                   f"{self.offset:#x})")
            size -= len(chunk)
            self.offset += len(chunk)

    def content(self, entry: TarEntry) -> bytes:
        """The entry's bytes; its size was checked by the caller against what it may hold."""
        data = self._read(entry.size)
        self._left -= entry.size
        return data

    def _data(self, size: int) -> bytes:
        data = self._read(size)
        self._skip(-size % BLOCK)
        return data

    def entries(self) -> Iterator[TarEntry]:
        count = 0
        while True:
            self._skip(self._left)
            self._left = 0
            entry = self._next()
            if entry is None:
                return
            count += 1
            if count > MAX_ENTRIES:
                raise DebFormatError(f"{self._what} has more than {MAX_ENTRIES} members")
            self._left = entry.size + (-entry.size % BLOCK)
            yield entry

    def _header(self) -> bytes | None:
        self._fill(BLOCK)
        available = len(self._buf) - self._pos
        if available == 0:
            return None  # no end-of-archive blocks: GNU tar accepts that too
        if available < BLOCK:
            raise CorruptError(f"{self._what} ends inside a tar header (tar offset "
                               f"{self.offset:#x})")
        block = self._read(BLOCK)
        if block == _ZERO_BLOCK:
            return None  # end of archive; what follows is drained by Unpacked.finish
        stored = _number(block[148:156], "checksum")
        plain = sum(block) - sum(block[148:156]) + 8 * 32
        if stored != plain:  # old tars summed signed chars
            rest = block[:148] + block[156:]
            if stored != plain - 256 * sum(b >= 128 for b in rest):
                raise CorruptError(f"tar header checksum mismatch at tar offset "
                                   f"{self.offset - BLOCK:#x}")
        return block

    def _next(self) -> TarEntry | None:
        pax: dict[str, str] | None = None
        long_name = long_link = None
        while True:
            at = self.offset
            block = self._header()
            if block is None:
                if pax is not None or long_name is not None or long_link is not None:
                    raise DebFormatError(f"extended header at tar offset {at:#x} describes no member")
                return None
            kind = block[156:157]
            size = _number(block[124:136], "size")
            if kind in (b"x", b"g", b"L", b"K"):
                if size > MAX_EXTENDED_HEADER:
                    raise DebFormatError(f"extended header of {size} bytes at tar offset {at:#x}")
                data = self._data(size)
                if kind == b"g":
                    records = _pax_records(data, at)
                    if {"path", "linkpath", "size"} & set(records):
                        raise DebFormatError(f"global PAX header at tar offset {at:#x} sets a "
                                             "path or size for every member")
                    continue
                if (kind == b"x" and pax is not None) or (kind == b"L" and long_name is not None) \
                        or (kind == b"K" and long_link is not None):
                    raise DebFormatError(f"two extended headers for one member at tar offset {at:#x}")
                if kind == b"x":
                    pax = _pax_records(data, at)
                elif kind == b"L":
                    long_name = _text(data)
                else:
                    long_link = _text(data)
                continue
            if kind == b"S":
                raise DebFormatError(f"sparse member at tar offset {at:#x}: dpkg does not unpack "
                                     "sparse files")
            if kind not in _REGULAR:
                raise DebFormatError(f"unknown tar member type {kind!r} at tar offset {at:#x}")
            return self._entry(block, _REGULAR[kind], size, pax or {}, long_name, long_link, at)

    def _entry(self, block: bytes, kind: str, size: int, pax: dict[str, str],
               long_name: str | None, long_link: str | None, at: int) -> TarEntry:
        name = _text(block[0:100])
        if block[257:263] == b"ustar\x00" and block[345:346] != b"\0":
            name = f"{_text(block[345:500])}/{name}"  # POSIX ustar prefix field
        name = pax.get("path", long_name or name)
        linkname = pax.get("linkpath", long_link or _text(block[157:257]))
        mtime = _number(block[136:148], "mtime")
        if "size" in pax:
            if not _PAX_NUMBER.fullmatch(pax["size"]):
                raise DebFormatError(f"PAX size {pax['size'][:30]!r} at tar offset {at:#x}")
            size = int(pax["size"])
        if "mtime" in pax:
            match = _PAX_TIME.fullmatch(pax["mtime"])
            if not match:
                raise DebFormatError(f"PAX mtime {pax['mtime'][:30]!r} at tar offset {at:#x}")
            mtime = int(match[1])
        if not 0 <= mtime <= MAX_MTIME:
            raise DebFormatError(f"member {name[:200]!r} has mtime {str(mtime)[:30]}, outside "
                                 f"0..{MAX_MTIME}")
        if kind != "file" and size != 0:
            raise DebFormatError(f"{kind} member {name[:200]!r} has data ({size} bytes)")
        return TarEntry(name, kind, size, linkname, mtime, at)
