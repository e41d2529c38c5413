"""The tar layer of a ``.deb`` member, as GNU tar (which ``dpkg-deb -x`` runs) reads it.

Entries are read from a stream, never by seeking: a member skipped is read (a declared size is
never trusted to exist), only bounded headers are held in memory, extended headers (PAX, GNU long
names) are applied as GNU tar applies them, and what another reader could read otherwise is
refused: a second extended header for one member, sparse members (dpkg does not unpack them),
global headers that set a path or size. :mod:`tarfile` skips members by their declared size and
parses sparse maps in quadratic time, so it cannot give these bounds.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from ..errors import CorruptError, DebFormatError
from .ar import CHUNK
from .compress import Unpacked

__all__ = ["MAX_ENTRIES", "TarEntry", "TarReader"]

#: Tar entries in one member: ipxe-qemu has about 40. Bounds the work to about a second.
MAX_ENTRIES = 50_000
#: A PAX extended header (path, linkpath, size, mtime records) or a GNU long name.
MAX_EXTENDED_HEADER = 64 << 10
#: Latest member mtime accepted: what ustar's 11 octal digits hold (year 2242).
MAX_MTIME = 8**11 - 1
BLOCK = 512
_ZERO_BLOCK = bytes(BLOCK)
_READ_AHEAD = 1 << 16


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
            chunk = self._stream.read(min(size, CHUNK))
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
            if stored != plain - 256 * sum(b >= 0x80 for b in rest):  # noqa: PLR2004 (sign bit)
                raise CorruptError(f"tar header checksum mismatch at tar offset "
                                   f"{self.offset - BLOCK:#x}")
        return block

    # one branch per header kind, as GNU tar reads them, reads best as one function
    def _next(self) -> TarEntry | None:  # noqa: PLR0912
        pax: dict[str, str] | None = None
        long_name = long_link = None
        while True:
            at = self.offset
            block = self._header()
            if block is None:
                if pax is not None or long_name is not None or long_link is not None:
                    raise DebFormatError(
                        f"extended header at tar offset {at:#x} describes no member"
                    )
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
                    raise DebFormatError(
                        f"two extended headers for one member at tar offset {at:#x}"
                    )
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
