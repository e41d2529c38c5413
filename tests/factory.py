"""Build option ROMs and .deb packages in memory, byte by byte, for tests.

The layouts follow the PCI Firmware spec and EFI 1.10 section 12.4 as ipxe_compat.core.rom documents
them; building them here independently of the parser lets the tests catch a parser that agrees
with itself but not with the format.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import struct
import subprocess
import tarfile

PCIR_AT = 0x1C


def _pcir(vendor: int, device: int, units: int, code_type: int, last: bool) -> bytes:
    return struct.pack("<4sHHHHB3sHHBB2x", b"PCIR", vendor, device, 0, 0x18, 0,
                       (0x020000).to_bytes(3, "little"), units, 1, code_type,
                       0x80 if last else 0)


def legacy_image(
    length: int = 1024,
    *,
    vendor: int = 0x1AF4,
    device: int = 0x1000,
    last: bool = False,
    init_units: int | None = None,
    good_checksum: bool = True,
) -> bytes:
    """A legacy x86 image of ``length`` bytes whose init area sums to 0 mod 256."""
    units = length // 512
    image = bytearray(length)
    image[0:2] = b"\x55\xaa"
    image[2] = units if init_units is None else init_units
    image[3:6] = b"\xe9\x00\x00"  # jmp: never executed here, but real ROMs have one
    struct.pack_into("<H", image, 0x18, PCIR_AT)
    image[PCIR_AT:PCIR_AT + 0x18] = _pcir(vendor, device, units, 0, last)
    for i in range(0x40, min(length, 0x200)):
        image[i] = i & 0xFF  # some content, so the checksum byte has work to do
    init = image[2] * 512
    image[6] = (-sum(image[:init])) % 256 if good_checksum else ((-sum(image[:init])) + 1) % 256
    return bytes(image)


def efi_image(length: int = 1024, *, vendor: int = 0x1AF4, device: int = 0x1000, last: bool = True,
              machine: int = 0x8664, subsystem: int = 0x0B, compression: int = 0,
              signature: int = 0x0EF1, image_offset: int = 0x40) -> bytes:
    units = length // 512
    image = bytearray(length)
    image[0:2] = b"\x55\xaa"
    struct.pack_into("<HIHHH", image, 2, units, signature, subsystem, machine, compression)
    struct.pack_into("<H", image, 0x16, image_offset)
    struct.pack_into("<H", image, 0x18, PCIR_AT)
    image[PCIR_AT:PCIR_AT + 0x18] = _pcir(vendor, device, units, 3, last)
    image[0x40:0x42] = b"MZ"
    return bytes(image)


def efi_rom(legacy_len: int = 1024, efi_len: int = 1024, padding: bytes = b"", **ids: int) -> bytes:
    """A Debian-style efi-*.rom: a legacy image, then an EFI image with the last bit."""
    return legacy_image(legacy_len, **ids) + efi_image(efi_len, **ids) + padding


# --- .deb packages -------------------------------------------------------------------------

def ar_archive(members: list[tuple[str, bytes]]) -> bytes:
    """A common-format ar archive, as dpkg writes for .deb (deb(5))."""
    out = bytearray(b"!<arch>\n")
    for name, data in members:
        out += f"{name:<16}{0:<12}{0:<6}{0:<6}{0o100644:<8o}{len(data):<10}`\n".encode()
        out += data + (b"\n" if len(data) % 2 else b"")
    return bytes(out)


def tar_bytes(files: dict[str, bytes], symlinks: dict[str, str] | None = None,
              mtime: int = 1600000000) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        dirs = sorted({"/".join(p.split("/")[:i]) for p in [*files, *(symlinks or {})]
                       for i in range(1, p.count("/") + 1)})
        for d in ["."] + [f"./{d}" for d in dirs]:
            info = tarfile.TarInfo(d)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, mtime
            tar.addfile(info)
        for path, data in files.items():
            info = tarfile.TarInfo(f"./{path}")
            info.size, info.mode, info.mtime = len(data), 0o644, mtime
            tar.addfile(info, io.BytesIO(data))
        for path, target in (symlinks or {}).items():
            info = tarfile.TarInfo(f"./{path}")
            info.type, info.linkname, info.mtime = tarfile.SYMTYPE, target, mtime
            tar.addfile(info)
    return raw.getvalue()


def compress(data: bytes, kind: str) -> bytes:
    if kind == "gz":
        # The header's OS byte is 3 from Python 3.11 and 255 from 3.13 (which lets zlib write
        # the header): pin it, so a test package, and its sha256 in a golden recipe, has the
        # same bytes whichever Python builds it (the Debian package runs the tests on several).
        compressed = gzip.compress(data, mtime=0)
        return compressed[:9] + b"\x03" + compressed[10:]
    if kind == "bz2":
        return bz2.compress(data)
    if kind == "xz":
        return lzma.compress(data, format=lzma.FORMAT_XZ)
    if kind == "zst":
        return subprocess.run(["zstd", "-q", "-c"], input=data, capture_output=True,
                              check=True).stdout
    if kind == "":
        return data
    raise ValueError(kind)


def deb(files: dict[str, bytes], *, symlinks: dict[str, str] | None = None,
        compression: str = "xz", package: str = "ipxe-qemu", version: str = "1.0-1",
        source: str | None = "ipxe", depends: str | None = None) -> bytes:
    """A binary package with the given data files, like dpkg-deb would build it."""
    control = f"Package: {package}\nVersion: {version}\nArchitecture: all\n"
    if source:
        control += f"Source: {source}\n"
    if depends:
        control += f"Depends: {depends}\n"
    control += "Maintainer: Test <test@example.org>\nDescription: test package\n"
    control_tar = compress(tar_bytes({"control": control.encode()}), "gz")
    data_name = "data.tar" + (f".{compression}" if compression else "")
    return ar_archive([
        ("debian-binary", b"2.0\n"),
        ("control.tar.gz", control_tar),
        (data_name, compress(tar_bytes(files, symlinks), compression)),
    ])


COPYRIGHT = """\
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: ipxe
Source: https://ipxe.org/

Files: *
Copyright: 2004-2025 Michael Brown <mbrown@fensystems.co.uk>
License: GPL-2+

Files: src/drivers/net/example.c
Copyright: 2009 Example Person <person@example.org>
License: BSD-2-clause

License: GPL-2+
 This program is free software; you can redistribute it and/or modify
 it under the terms of the GNU General Public License as published by
 the Free Software Foundation; either version 2 of the License, or
 (at your option) any later version.
 .
 On Debian systems, the complete text of the GNU General Public License
 version 2 can be found in "/usr/share/common-licenses/GPL-2".

License: BSD-2-clause
 Redistribution and use in source and binary forms, with or without
 modification, are permitted provided that the conditions are met.
"""


def ipxe_qemu_deb(roms: dict[str, bytes], *, rom_dir: str = "usr/lib/ipxe/qemu",
                  compression: str = "xz", version: str = "1.0-1") -> bytes:
    """An ipxe-qemu-like package with ``roms`` in ``rom_dir`` and a DEP-5 copyright."""
    files = {f"{rom_dir}/{name}": data for name, data in roms.items()}
    files["usr/share/doc/ipxe-qemu/copyright"] = COPYRIGHT.encode()
    return deb(files, compression=compression, version=version)


# --- tar and ar written header by header, for hostile packages ---------------------------------

def tar_header(name: str, size: int = 0, kind: bytes = b"0", *, linkname: str = "",
               mtime: int = 1600000000, size_field: bytes | None = None) -> bytes:
    """One 512-byte ustar header with a correct checksum; ``size_field`` overrides the 12 size
    bytes (GNU base-256, a lie), so a header can declare what its data is not."""
    header = bytearray(512)
    header[0:100] = name.encode()[:100].ljust(100, b"\0")
    header[100:108] = b"0000644\0"
    header[108:116] = header[116:124] = b"0000000\0"
    header[124:136] = size_field if size_field is not None else f"{size:011o}\0".encode()
    header[136:148] = f"{mtime:011o}\0".encode()
    header[148:156] = b" " * 8
    header[156:157] = kind
    header[157:257] = linkname.encode()[:100].ljust(100, b"\0")
    header[257:265] = b"ustar\x0000"
    header[148:156] = f"{sum(header):06o}\0 ".encode()
    return bytes(header)


def _padded(data: bytes) -> bytes:
    return data + bytes(-len(data) % 512)


def tar_file(name: str, data: bytes, kind: bytes = b"0", **header: object) -> bytes:
    """A header and its data, padded to the block size."""
    return tar_header(name, len(data), kind, **header) + _padded(data)  # type: ignore[arg-type]


def pax_records(records: list[tuple[str, str]]) -> bytes:
    """PAX ``LEN key=value\\n`` records, in the given order (keys may repeat)."""
    out = b""
    for key, value in records:
        body = f" {key}={value}\n".encode()
        length = len(body) + 1
        while len(str(length).encode()) + len(body) != length:
            length += 1
        out += str(length).encode() + body
    return out


def pax_header(records: list[tuple[str, str]], kind: bytes = b"x") -> bytes:
    """A PAX extended ('x') or global ('g') header for the member that follows."""
    return tar_file("./PaxHeaders/x", pax_records(records), kind)


TAR_END = bytes(1024)


def control_tar(control: str | None = None, compression: str = "gz") -> bytes:
    text = control or ("Package: ipxe-qemu\nVersion: 1.0-1\nSource: ipxe\nArchitecture: all\n"
                       "Maintainer: Test <test@example.org>\nDescription: test package\n")
    return compress(tar_file("./control", text.encode()) + TAR_END, compression)


def raw_deb(data_tar: bytes, compression: str = "xz", *, control: bytes | None = None,
            extra: list[tuple[str, bytes]] | None = None) -> bytes:
    """debian-binary, control.tar.gz, data.tar.<compression> (given uncompressed), then extra."""
    name = "data.tar" + (f".{compression}" if compression else "")
    return ar_archive([("debian-binary", b"2.0\n"),
                       ("control.tar.gz", control if control is not None else control_tar()),
                       (name, compress(data_tar, compression)), *(extra or [])])
