"""The RAM blocks of a guest, from QEMU's ``info ramblock`` or from a libvirt save image, and
the verdict: which blocks a file fixes differ between two ends. Pure.

``info ramblock`` (HMP; QEMU 7.2 prints Block Name, PSize, Offset, Used, Total; 10.0 adds HVA
and RO) gives each block's used length, which is what migration sends and the destination
compares ("Size mismatch: BLOCK: 0xSOURCE != 0xDESTINATION"). A libvirt save image (``virsh
save``, managed save) holds the XML and then QEMU's migration stream, whose RAM section lists
every block with its used length: the sizes the guest was saved with, whatever the firmware
files on disk say today.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass

from ..core.firmware import block_class
from ..errors import SourceError

__all__ = ["BlockDiff", "SaveImage", "differing", "parse_ramblock", "parse_save_image"]

_ROW = re.compile(r"^\s*(?P<name>\S+)\s+\d+ [KMG]?i?B\s+0x[0-9a-fA-F]+\s+0x(?P<used>[0-9a-fA-F]+)"
                  r"\s+0x[0-9a-fA-F]+", re.MULTILINE)

SAVE_MAGIC = b"LibvirtQemudSave"
SAVE_PARTIAL = b"LibvirtQemudPart"  # a save that never finished
#: magic, version, data_len, was_running, compressed, cookieOffset, 14 unused (libvirt's
#: virQEMUSaveHeader, the same in 9.0 and 11.3)
_SAVE_HEADER = struct.Struct("<16s5I56x")
_STREAM_MAGIC = b"QEVM\x00\x00\x00\x03"
_SECTION_START, _CONFIGURATION = 0x01, 0x07
_MEM_SIZE_FLAG = 0x04
#: The RAM section is the first one and lists blocks first: this much of the stream holds it.
_STREAM_HEAD = 1 << 20


@dataclass(frozen=True)
class BlockDiff:
    """A block a file fixes whose size differs (None: the end has no such block)."""

    block: str
    source: int | None
    destination: int | None


@dataclass(frozen=True)
class SaveImage:
    """What a libvirt save image holds that preflight needs."""

    xml: str
    machine: str | None
    blocks: dict[str, int] | None  # None: a format this parser does not read (compressed, ...)


def parse_ramblock(text: str) -> dict[str, int]:
    """Block name -> used length from ``info ramblock``; exit 2 if it lists no block."""
    found = {m["name"]: int(m["used"], 16) for m in _ROW.finditer(text)}
    if not found:
        raise SourceError(f"QEMU's info ramblock lists no block: {text.strip()[:120]!r}")
    return found


def differing(source: Mapping[str, int], destination: Mapping[str, int]) -> list[BlockDiff]:
    """Every block a file fixes (:func:`~ipxe_compat.core.firmware.block_class`) whose size at
    the two ends differs, or that only one end has: migration refuses each of them."""
    names = {n for n in (*source, *destination) if block_class(n) is not None}
    return [BlockDiff(n, source.get(n), destination.get(n)) for n in sorted(names)
            if source.get(n) != destination.get(n)]


def parse_save_image(head: bytes, what: str) -> SaveImage:
    """The XML and RAM blocks of a libvirt save image, from its first bytes (the header, the XML
    and the start of QEMU's stream). Exit 2 if it is no save image."""
    if len(head) < _SAVE_HEADER.size or head[:16] not in (SAVE_MAGIC, SAVE_PARTIAL):
        raise SourceError(f"{what}: not a libvirt save image (no LibvirtQemudSave header)")
    if head[:16] == SAVE_PARTIAL:
        raise SourceError(f"{what}: an unfinished libvirt save image")
    _, _version, data_len, _running, compressed, _cookie = _SAVE_HEADER.unpack_from(head)
    start = _SAVE_HEADER.size
    if start + data_len > len(head):
        raise SourceError(f"{what}: its XML ({data_len} bytes) goes past the end of the file")
    xml = head[start:start + data_len].split(b"\0", 1)[0].decode("utf-8", errors="replace")
    if compressed:
        return SaveImage(xml, None, None)
    machine, blocks = _ram_section(head[start + data_len:])
    return SaveImage(xml, machine, blocks)


class _NotThisFormat(Exception):
    """The stream is not the uncompressed QEMU stream this parser reads."""


def _ram_section(stream: bytes) -> tuple[str | None, dict[str, int] | None]:
    """QEMU's migration stream (migration/savevm.c, ram.c): magic and version 3, an optional
    configuration section (the machine type), then the RAM section's start: its total size
    with the MEM_SIZE flag, then per block a length-prefixed name and a be64 used length, until
    the lengths add up to the total. Anything else: no blocks (not this format)."""
    machine = None
    try:
        if not stream.startswith(_STREAM_MAGIC):
            raise _NotThisFormat
        at = len(_STREAM_MAGIC)
        if stream[at] == _CONFIGURATION:
            (length,) = struct.unpack_from(">I", stream, at + 1)
            machine = stream[at + 5:at + 5 + length].decode("ascii", errors="replace")
            at += 5 + length
        at += 5  # section type (start), section id
        if stream[at - 5] != _SECTION_START or stream[at + 1:at + 1 + stream[at]] != b"ram":
            raise _NotThisFormat
        at += 1 + stream[at] + 8  # name, instance id, version id
        (total,) = struct.unpack_from(">Q", stream, at)
        if not total & _MEM_SIZE_FLAG:
            raise _NotThisFormat
        return machine, _block_list(stream, at + 8, total & ~0xFFF)
    except (_NotThisFormat, IndexError, struct.error, UnicodeDecodeError):
        return machine, None


def _block_list(stream: bytes, at: int, total: int) -> dict[str, int]:
    blocks: dict[str, int] = {}
    seen = 0
    while seen < total:
        length = stream[at]
        name = stream[at + 1:at + 1 + length].decode("ascii")
        (used,) = struct.unpack_from(">Q", stream, at + 1 + length)
        at += 1 + length + 8
        if used == 0 or name in blocks:
            raise _NotThisFormat
        blocks[name] = used
        seen += used
    if seen != total:
        raise _NotThisFormat
    return blocks
