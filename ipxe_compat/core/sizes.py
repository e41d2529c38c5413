"""QEMU's ROM bucket rule and the ``SIZE`` option syntax.

QEMU allocates a ROM's RAM block as ``pow2ceil(file size)`` (hw/pci/pci.c, pci_add_option_rom);
live migration refuses a block of another size. A file of exactly 2**n bytes is in the 2**n
bucket. A 0-byte ROM has no bucket: QEMU refuses it, and so do we.
"""

from __future__ import annotations

import re

from ..errors import UsageError
from .fields import excerpt

__all__ = ["bucket", "human", "parse_block_size", "parse_size", "size_label", "size_text"]

_SIZE_RE = re.compile(
    r"(?P<number>[0-9]{1,12})(?P<unit>[kKmMgG]?)"
)  # bounded: int() of it is cheap
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def bucket(size: int) -> int:
    """Return the RAM block size QEMU gives a ROM file of ``size`` bytes (pow2ceil)."""
    if size <= 0:
        raise ValueError(f"a ROM of {size} bytes has no QEMU bucket")
    return 1 << (size - 1).bit_length()


def parse_block_size(text: str) -> int:
    """Parse ``256k``, ``256K``, ``262144``, ``1M`` or ``3568k``: any positive size, as a
    -bios or pflash image's block is exactly its file's size (option ROMs: :func:`parse_size`)."""
    match = _SIZE_RE.fullmatch(text.strip())
    if not match:
        shown = excerpt(text)
        raise UsageError(f"size {shown} is not a number of up to 12 digits with an optional k/M/G "
                         "unit (e.g. 256k)")
    value = int(match["number"]) * _UNITS[match["unit"].lower()]
    if value <= 0:
        raise UsageError(f"size {text!r} is 0 bytes: no file has a block of that size")
    return value


def parse_size(text: str) -> int:
    """Parse ``256k``, ``256K``, ``262144`` or ``1M``; only powers of two are buckets."""
    value = parse_block_size(text)
    if value & (value - 1):
        raise UsageError(
            f"size {text!r} ({value} bytes) is not a power of two, so not a QEMU ROM bucket"
        )
    return value


def size_label(size: int) -> str:
    """The short name of a bucket, as used in package names and prefixes: 262144 -> ``256k``."""
    for unit, factor in (("g", 1 << 30), ("M", 1 << 20), ("k", 1 << 10)):
        if size >= factor and size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)


def size_text(size: int) -> str:
    """A size for a message, its unit always shown: ``256k``, but ``256 bytes``, as a SIZE
    without k/M/G means bytes (``--expect 'efi-*.rom=256'`` must not read as 256k)."""
    label = size_label(size)
    if label != str(size):
        return label
    return "1 byte" if size == 1 else f"{size} bytes"


def human(size: int) -> str:
    """Bytes as KiB for tables: 249344 -> ``243.5 KiB``. Never rounded onto a whole KiB, so a
    size just past a bucket does not look like the bucket: 262145 -> ``256.001 KiB``."""
    if size % 1024 == 0:
        return f"{size // 1024} KiB"
    if size % 512 == 0:
        return f"{size / 1024:.1f} KiB"
    return f"{size / 1024:.3f}".rstrip("0") + " KiB"  # 1..1023 extra bytes: .001 to .999
