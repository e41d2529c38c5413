"""The ar layer of a ``.deb`` (deb(5)), read once, front to back, with every byte hashed.

A package is read one way only, the way dpkg reads it (dpkg-deb's extract.c); :mod:`.debpkg`
enforces the member order. Work and memory are bounded by the bytes really present, never by a
size a header declares: skipping a member reads its bytes, so a declared size past the end is
found where the bytes end. python-debian's ``ArFile`` seeks and trusts ar sizes, so it cannot
give these bounds. Every refusal is a :class:`~ipxe_compat.errors.DebFormatError` without a path;
the caller names the file.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from typing import IO

from ..errors import CorruptError, DebFormatError

__all__ = ["CHUNK", "MAX_DEB_FILE", "ArMember", "HashingReader", "ar_members"]

#: The largest .deb read: ipxe-qemu's is about 1 MB; Debian's largest packages are a few hundred MB.
MAX_DEB_FILE = 512 << 20
CHUNK = 1 << 20
_AR_MAGIC = b"!<arch>\n"
_AR_HEADER = 60


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

    def hexdigest(self) -> str:
        """The sha256 of the whole file: what is left is read (and hashed) first."""
        while self.read(CHUNK):
            pass
        return self._digest.hexdigest()


class ArMember:
    """The bytes of one ar member, read from the file as they come; never past its end."""

    def __init__(self, reader: HashingReader, name: str, size: int):
        self._reader = reader
        self.name = name
        self.size = size
        self.left = size

    def read(self, size: int = CHUNK) -> bytes:
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
        while self.read(CHUNK):
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
            raise DebFormatError(
                f"malformed ar member header at offset {reader.offset - len(header):#x}"
            )
        size_field = header[48:58]
        if not _AR_SIZE.fullmatch(size_field):
            raise DebFormatError(f"ar member size {size_field!r} is not a decimal number")
        name = header[:16].decode("ascii", "replace").rstrip(" ").removesuffix("/")
        member = ArMember(reader, name, int(size_field))
        yield member
        member.skip()
