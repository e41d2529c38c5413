"""Hostile and malformed input, table-driven: every case must end in a clean refusal.

Each case builds its input by hand in a private directory, runs the real command line, and
asserts: the exit code, exactly one ``ipxe-compat: error:`` line naming the problem, no
traceback, no partial output, and nothing written outside the case's directory.
"""

from __future__ import annotations

import io
import json
import lzma
import os
import random
import re
import subprocess
import sys
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import factory
from tests.cli_run import run_cli

ROM = factory.efi_rom()
#: Incompressible member content, the same in every run (a failure must reproduce).
NOISE = random.Random(881263).randbytes(8192)
ENV = {"DEBFULLNAME": "Test Maintainer", "DEBEMAIL": "test@example.org",
       "SOURCE_DATE_EPOCH": "1700000000"}
DOC = {"usr/share/doc/ipxe-qemu/copyright": factory.COPYRIGHT.encode()}
TWO_GIB = 2 << 30


def tar_with(entries: list[tarfile.TarInfo], payloads: dict[str, bytes] | None = None) -> bytes:
    """A tar written member by member, so names, types and sizes can be anything."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for info in entries:
            data = (payloads or {}).get(info.name)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return raw.getvalue()


def member(name: str, data: bytes | None = None, kind: bytes = tarfile.REGTYPE,
           link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mtime = kind, link, 1600000000
    info.size = len(data) if data is not None and kind == tarfile.REGTYPE else 0
    return info


def deb_with_data(data_tar: bytes, compression: str = "xz", control: str | None = None) -> bytes:
    control = control or "Package: ipxe-qemu\nVersion: 1.0-1\nSource: ipxe\nArchitecture: all\n"
    control_tar = factory.compress(factory.tar_bytes({"control": control.encode()}), "gz")
    name = "data.tar" + (f".{compression}" if compression else "")
    return factory.ar_archive([("debian-binary", b"2.0\n"), ("control.tar.gz", control_tar),
                               (name, factory.compress(data_tar, compression))])


def deb_files(files: dict[str, bytes], links: dict[str, str] | None = None, **kw: str) -> bytes:
    entries = [member(f"./{p}", d) for p, d in files.items()]
    entries += [member(f"./{p}", kind=tarfile.SYMTYPE, link=t) for p, t in (links or {}).items()]
    return deb_with_data(tar_with(entries, {f"./{p}": d for p, d in files.items()}), **kw)


@dataclass(frozen=True)
class Case:
    id: str
    build: Callable[[Path], list[str]]  # writes inputs into the directory, returns the argv
    code: int
    fragment: str
    env: dict[str, str] | None = None


def write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return path.name


def gen(*extra: str) -> Callable[[Callable[[Path], str]], Callable[[Path], list[str]]]:
    """argv for generate on the input a builder writes, with extra options."""
    def wrap(builder: Callable[[Path], str]) -> Callable[[Path], list[str]]:
        return lambda d: ["generate", builder(d), "-o", "out", *extra]
    return wrap


def good_deb(d: Path) -> str:
    return write(d / "good.deb", deb_files({"usr/share/qemu/efi-virtio.rom": ROM, **DOC}))


def rom_file(data: bytes) -> Callable[[Path], list[str]]:
    return lambda d: ["generate", write(d / "efi-x.rom", data), "-o", "out", "--origin-source",
                      "ipxe", "--origin-version", "1.0-1"]


def corrupt(data: bytes, at: float) -> bytes:
    cut = int(len(data) * at)
    return data[:cut] + bytes(b ^ 0x5A for b in data[cut:cut + 64]) + data[cut + 64:]


def _existing(d: Path) -> list[str]:
    out = d / "out"
    out.mkdir()
    (out / "ipxe-qemu-256k-compat-1.0").mkdir()
    (out / "ipxe-qemu-256k-compat-1.0" / "mine").write_text("keep\n")
    return ["generate", good_deb(d), "-o", "out"]


def _out_is_file(d: Path) -> list[str]:
    (d / "out").write_text("mine\n")
    return ["generate", good_deb(d), "-o", "out"]


def _changelog_garbage(d: Path) -> list[str]:
    (d / "changelog").write_text("this is not a changelog\n")
    return ["generate", good_deb(d), "-o", "out", "--changelog-from", "changelog"]


BIG_ZERO_ROM = factory.efi_rom(padding=bytes(20 << 20))

CASES = [
    # --- package input
    Case(
        "traversal-only-rom",
        gen()(
            lambda d: write(
                d / "t.deb",
                deb_with_data(
                    tar_with(
                        [member("./../../evil/efi-a.rom", ROM)], {"./../../evil/efi-a.rom": ROM}
                    )
                ),
            )
        ),
        2,
        "no firmware files",
    ),
    Case(
        "traversal-dotdot-inside",
        gen()(
            lambda d: write(
                d / "t.deb",
                deb_with_data(
                    tar_with(
                        [member("./usr/share/qemu/../../../../../efi-b.rom", ROM)],
                        {"./usr/share/qemu/../../../../../efi-b.rom": ROM},
                    )
                ),
            )
        ),
        2,
        "no firmware files",
    ),
    Case(
        "symlink-relative-escape",
        gen()(
            lambda d: write(
                d / "s.deb",
                deb_files(
                    {"usr/share/qemu/efi-virtio.rom": ROM, **DOC},
                    {"usr/share/qemu/efi-e1000.rom": "../../../../../etc/shadow"},
                ),
            )
        ),
        2,
        "efi-e1000.rom points outside the package",
    ),
    Case(
        "symlink-absolute-host-file",
        gen()(
            lambda d: write(
                d / "s.deb",
                deb_files(
                    {"usr/share/qemu/efi-virtio.rom": ROM, **DOC},
                    {"usr/share/qemu/efi-e1000.rom": "/etc/shadow"},
                ),
            )
        ),
        2,
        "does not resolve",
    ),
    Case(
        "symlink-loop",
        gen()(
            lambda d: write(
                d / "s.deb",
                deb_files(
                    {**DOC},
                    {
                        "usr/share/qemu/efi-a.rom": "efi-b.rom",
                        "usr/share/qemu/efi-b.rom": "efi-a.rom",
                    },
                ),
            )
        ),
        2,
        "too many levels",
    ),
    Case(
        "symlink-dir-escape",
        gen()(
            lambda d: write(
                d / "s.deb",
                deb_files(
                    {**DOC},
                    {"usr/share/qemu/efi-a.rom": "../x/efi-a.rom", "usr/share/x": "../../../.."},
                ),
            )
        ),
        2,
        "points outside the package",
    ),
    Case(
        "hardlink-to-host-file",
        gen()(
            lambda d: write(
                d / "h.deb",
                deb_with_data(
                    tar_with(
                        [
                            member(
                                "./usr/share/qemu/efi-a.rom",
                                kind=tarfile.LNKTYPE,
                                link="/etc/shadow",
                            )
                        ]
                    )
                ),
            )
        ),
        2,
        "no member of that name comes before it",
    ),
    Case(
        "fifo-and-device",
        gen()(
            lambda d: write(
                d / "f.deb",
                deb_with_data(
                    tar_with(
                        [
                            member("./usr/share/qemu/efi-a.rom", kind=tarfile.FIFOTYPE),
                            member("./usr/share/qemu/efi-b.rom", kind=tarfile.CHRTYPE),
                        ]
                    )
                ),
            )
        ),
        2,
        "no firmware files",
    ),
    Case(
        "rom-over-16mib",
        gen()(
            lambda d: write(
                d / "b.deb", deb_files({"usr/share/qemu/efi-a.rom": BIG_ZERO_ROM, **DOC})
            )
        ),
        2,
        "no firmware file is that large",
    ),
    Case(
        "text-as-deb",
        gen()(lambda d: write(d / "t.deb", b"Package: ipxe-qemu\nhello\n")),
        2,
        "not a readable Debian binary package",
    ),
    Case(
        "empty-deb",
        gen()(lambda d: write(d / "e.deb", b"")),
        2,
        "not a readable Debian binary package",
    ),
    Case(
        "ar-without-data",
        gen()(
            lambda d: write(
                d / "a.deb",
                factory.ar_archive([("debian-binary", b"2.0\n"), ("control.tar.gz", b"")]),
            )
        ),
        2,
        "not a readable Debian binary package",
    ),
    Case(
        "ar-without-control",
        gen()(
            lambda d: write(
                d / "a.deb",
                factory.ar_archive(
                    [("debian-binary", b"2.0\n"), ("data.tar.xz", factory.compress(b"", "xz"))]
                ),
            )
        ),
        2,
        "not a readable Debian binary package",
    ),
    Case(
        "corrupt-xz",
        gen()(
            lambda d: write(
                d / "c.deb",
                corrupt(deb_files({"usr/share/qemu/efi-a.rom": NOISE[:4096], **DOC}), 0.6),
            )
        ),
        2,
        "corrupt data member",
    ),
    Case(
        "corrupt-gz",
        gen()(
            lambda d: write(
                d / "c.deb",
                corrupt(
                    deb_files({"usr/share/qemu/efi-a.rom": NOISE[:4096], **DOC}, compression="gz"),
                    0.6,
                ),
            )
        ),
        2,
        "corrupt data member",
    ),
    Case(
        "corrupt-zst",
        gen()(
            lambda d: write(
                d / "c.deb",
                corrupt(
                    deb_files({"usr/share/qemu/efi-a.rom": NOISE[:4096], **DOC}, compression="zst"),
                    0.6,
                ),
            )
        ),
        2,
        "corrupt data member",
    ),
    Case(
        "truncated-deb",
        gen()(
            lambda d: write(
                d / "t.deb", deb_files({"usr/share/qemu/efi-a.rom": NOISE, **DOC})[:-3000]
            )
        ),
        2,
        "corrupt data member data.tar.xz: ar member data.tar.xz claims",
    ),
    Case(
        "control-version-injection",
        gen()(
            lambda d: write(
                d / "v.deb",
                deb_files(
                    {"usr/share/qemu/efi-a.rom": ROM, **DOC},
                    control="Package: ipxe-qemu\nVersion: 1.0-1 ) evil\nArchitecture: all\n",
                ),
            )
        ),
        2,
        "Version field",
    ),
    Case(
        "control-bad-package-name",
        gen()(
            lambda d: write(
                d / "p.deb",
                deb_files(
                    {"usr/share/qemu/efi-a.rom": ROM, **DOC},
                    control="Package: Evil_Name\nVersion: 1.0-1\nArchitecture: all\n",
                ),
            )
        ),
        2,
        "Package field",
    ),
    Case(
        "rom-name-with-space",
        gen()(lambda d: write(d / "n.deb", deb_files({"usr/share/qemu/efi-a b.rom": ROM, **DOC}))),
        2,
        "ROM file name 'efi-a b.rom'",
    ),
    # --- ROM input
    Case(
        "rom-zero-image-length",
        rom_file(ROM[: factory.PCIR_AT + 0x10] + b"\0\0" + ROM[factory.PCIR_AT + 0x12 :]),
        1,
        "image length is 0",
    ),
    Case(
        "rom-pcir-outside", rom_file(ROM[:0x18] + b"\xf0\xff" + ROM[0x1A:]), 1, "outside the file"
    ),
    Case("rom-truncated", rom_file(ROM[:1500]), 1, "runs past the end"),
    Case(
        "rom-no-last-image",
        rom_file(factory.legacy_image() + factory.efi_image(last=False)),
        1,
        "chain does not end",
    ),
    Case("rom-no-signature", rom_file(b"MZ" + ROM[2:]), 1, "no option ROM signature"),
    Case(
        "rom-random-bytes", rom_file(bytes((i * 7919) % 251 for i in range(4096))), 1, "offset 0x0"
    ),
    Case("rom-empty", rom_file(b""), 2, "empty file"),
    # --- field input
    Case(
        "maintainer-newline",
        gen("--maintainer", "A <a@b.org>\nDepends: evil")(good_deb),
        2,
        "maintainer",
    ),
    Case(
        "maintainer-two-people",
        gen("--maintainer", "A <a@b.org>, B <c@d.org>")(good_deb),
        2,
        "maintainer",
    ),
    Case(
        "distribution-field",
        gen("--distribution", "unstable\nUrgency: high")(good_deb),
        2,
        "distribution",
    ),
    Case("urgency-unknown", gen("--urgency", "now")(good_deb), 2, "urgency"),
    Case("source-name-uppercase", gen("--source-name", "Evil")(good_deb), 2, "source name"),
    Case("package-name-newline", gen("--package-name", "a\nb")(good_deb), 2, "package name"),
    Case("prefix-slash", gen("--prefix", "../")(good_deb), 2, "prefix"),
    Case("prefix-space", gen("--prefix", "a b-")(good_deb), 2, "prefix"),
    Case(
        "install-dir-dotdot",
        gen("--install-dir", "/usr/share/../../etc")(good_deb),
        2,
        "install dir",
    ),
    Case("message-newline", gen("--message", "ok\nDepends: evil")(good_deb), 2, "changelog entry"),
    Case("version-space", gen("--newversion", "1:2.0 -1")(good_deb), 2, "version"),
    Case(
        "origin-version-injection",
        lambda d: [
            "generate",
            write(d / "efi-x.rom", ROM),
            "-o",
            "out",
            "--origin-source",
            "ipxe",
            "--origin-version",
            "1.0-1)\nX: y",
        ],
        2,
        "origin version",
    ),
    Case("size-not-pow2", gen("--size", "300k")(good_deb), 2, "not a power of two"),
    Case("size-too-large", gen("--size", "32M")(good_deb), 2, "larger than"),
    Case("date-bogus", gen("--date", "yesterday")(good_deb), 2, "date"),
    # --- output
    Case("output-is-a-file", _out_is_file, 2, "not a directory"),
    Case("output-exists", _existing, 2, "--force"),
    Case("changelog-garbage", _changelog_garbage, 2, "changelog"),
]


# --- round two (issue 14): bounded work, one reading of a package -------------------------------

F = factory
QEMU_DIR = "./usr/share/qemu"
ROM_ENTRY = F.tar_file(f"{QEMU_DIR}/efi-virtio.rom", ROM)


def inspect_deb(data: Callable[[], bytes], name: str = "h.deb") -> Callable[[Path], list[str]]:
    return lambda d: ["inspect", write(d / name, data())]


def _zero_roms(count: int, size: int, where: str) -> bytes:
    """``count`` zero-filled ROM members, xz-compressed as they are produced (small on disk)."""
    import lzma as _lzma
    compressor = _lzma.LZMACompressor(format=_lzma.FORMAT_XZ, preset=0)
    chunks = [compressor.compress(ROM_ENTRY)]
    zeros = bytes(size)
    for i in range(count):
        chunks.append(compressor.compress(F.tar_header(f"{where}/efi-{i}.rom", size)))
        chunks.append(compressor.compress(zeros))
    chunks += [compressor.compress(F.TAR_END), compressor.flush()]
    return _ar(("debian-binary", b"2.0\n"), ("control.tar.gz", F.control_tar()),
               ("data.tar.xz", b"".join(chunks)))


def _control_bomb() -> bytes:
    """A control member of a few KB that unpacks to 64 MiB of zeros after ./control."""
    import lzma as _lzma
    compressor = _lzma.LZMACompressor(format=_lzma.FORMAT_XZ, preset=0)
    chunks = [compressor.compress(F.tar_file("./control", b"Package: ipxe-qemu\nVersion: 1\n"))]
    zeros = bytes(1 << 20)
    chunks += [compressor.compress(zeros) for _ in range(64)] + [compressor.flush()]
    control = b"".join(chunks)
    return F.ar_archive([("debian-binary", b"2.0\n"), ("control.tar.xz", control),
                         ("data.tar.xz", F.compress(ROM_ENTRY + F.TAR_END, "xz"))])


def _sparse(segments: int) -> bytes:
    records = [("GNU.sparse.numblocks", str(segments))]
    for i in range(segments):
        records += [("GNU.sparse.offset", str(i * 1024)), ("GNU.sparse.numbytes", "512")]
    header = F.tar_file("./PaxHeaders/x", F.pax_records(records[:3]) + b"".join(
        F.pax_records([r]) for r in records[3:]), b"x")
    return F.raw_deb(header + F.tar_file(f"{QEMU_DIR}/efi-virtio.rom", ROM) + F.TAR_END)


def _ar(*members: tuple[str, bytes]) -> bytes:
    return F.ar_archive(list(members))


DATA_XZ = F.compress(ROM_ENTRY + F.TAR_END, "xz")
OTHER_XZ = F.compress(F.tar_file(f"{QEMU_DIR}/efi-virtio.rom", F.efi_rom(1024, 2048)) + F.TAR_END,
                      "xz")

ROUND_TWO = [
    # 1. a declared size is not a reason to work: the bytes end where they end
    Case(
        "pax-size-1e20",
        inspect_deb(
            lambda: F.raw_deb(
                F.pax_header([("size", "1" + "0" * 20)])
                + F.tar_header("./usr/share/ipxe/big.bin")
                + bytes(4096)
                + ROM_ENTRY
                + F.TAR_END
            )
        ),
        2,
        "ends inside a tar member",
    ),
    Case(
        "base256-size-2e60",
        inspect_deb(
            lambda: F.raw_deb(
                F.tar_header(
                    "./usr/share/ipxe/big.bin", size_field=b"\x80" + (1 << 60).to_bytes(11, "big")
                )
                + bytes(4096)
                + ROM_ENTRY
                + F.TAR_END
            )
        ),
        2,
        "ends inside a tar member",
    ),
    Case(
        "rom-declared-2e60",
        inspect_deb(
            lambda: F.raw_deb(
                F.tar_header(
                    f"{QEMU_DIR}/efi-a.rom", size_field=b"\x80" + (1 << 60).to_bytes(11, "big")
                )
                + ROM
                + F.TAR_END
            )
        ),
        2,
        "no firmware file is that large",
    ),
    Case(
        "pax-size-not-a-number",
        inspect_deb(lambda: F.raw_deb(F.pax_header([("size", "1e20")]) + ROM_ENTRY + F.TAR_END)),
        2,
        "PAX size",
    ),
    # 2. sparse members are refused, however many segments (dpkg does not unpack them)
    Case("pax-sparse-1000", inspect_deb(lambda: _sparse(1000)), 2, "sparse"),
    Case("pax-sparse-16000", inspect_deb(lambda: _sparse(16000)), 2, "extended header of"),
    Case(
        "gnu-sparse-type-S",
        inspect_deb(lambda: F.raw_deb(F.tar_file(f"{QEMU_DIR}/efi-a.rom", ROM, b"S") + F.TAR_END)),
        2,
        "sparse",
    ),
    # 3. only what is used is kept, within a budget and a ROM count
    # ten 16 MiB ROMs (160 MiB) would pass the 128 MiB unpack limit: the budget stops it first
    Case(
        "ten-16mib-roms-elsewhere",
        inspect_deb(lambda: _zero_roms(10, 16 << 20, "./usr/share/x")),
        2,
        "together exceed 64 MiB",
    ),
    Case(
        "five-thousand-tiny-roms",
        inspect_deb(
            lambda: F.raw_deb(
                ROM_ENTRY
                + b"".join(F.tar_file(f"{QEMU_DIR}/efi-{i}.rom", ROM) for i in range(5000))
                + F.TAR_END
            )
        ),
        2,
        "more than 256 firmware files",
    ),
    Case(
        "doc-files-not-kept",
        inspect_deb(
            lambda: F.raw_deb(
                ROM_ENTRY
                + b"".join(
                    F.tar_file(f"./usr/share/doc/x/file{i}", bytes(1 << 20)) for i in range(100)
                )
                + F.TAR_END
            )
        ),
        0,
        "",
    ),
    Case(
        "fifty-thousand-entries",
        inspect_deb(
            lambda: F.raw_deb(
                ROM_ENTRY
                + b"".join(F.tar_header(f"./usr/share/x/d{i}", 0, b"5") for i in range(50_001))
                + F.TAR_END,
                "gz",
            )
        ),
        2,
        "more than 50000 members",
    ),
    # 4. a compression bomb in the control member stops at the limit
    Case("control-bomb", inspect_deb(_control_bomb), 2, "unpacks to more than 16 MiB"),
    # 7. a hard-linked ROM is the ROM it links to
    Case(
        "hardlink-rom-is-read",
        inspect_deb(
            lambda: F.raw_deb(
                ROM_ENTRY
                + F.tar_header(
                    f"{QEMU_DIR}/efi-e1000.rom", 0, b"1", linkname=f"{QEMU_DIR}/efi-virtio.rom"
                )
                + F.TAR_END
            )
        ),
        0,
        "",
    ),
    Case(
        "hardlink-before-target",
        inspect_deb(
            lambda: F.raw_deb(
                F.tar_header(
                    f"{QEMU_DIR}/efi-e1000.rom", 0, b"1", linkname=f"{QEMU_DIR}/efi-virtio.rom"
                )
                + ROM_ENTRY
                + F.TAR_END
            )
        ),
        2,
        "no member of that name comes before it",
    ),
    # 8. one reading: what dpkg refuses, and what two readers could read two ways
    Case(
        "two-data-members",
        inspect_deb(
            lambda: _ar(
                ("debian-binary", b"2.0\n"),
                ("control.tar.gz", F.control_tar()),
                ("data.tar.xz", DATA_XZ),
                ("data.tar.xz", OTHER_XZ),
            )
        ),
        2,
        "a second data member",
    ),
    Case(
        "two-control-members",
        inspect_deb(
            lambda: _ar(
                ("debian-binary", b"2.0\n"),
                ("control.tar.gz", F.control_tar()),
                ("control.tar.xz", F.control_tar(compression="xz")),
                ("data.tar.xz", DATA_XZ),
            )
        ),
        2,
        "a second control member",
    ),
    Case(
        "two-control-files",
        inspect_deb(
            lambda: F.raw_deb(
                ROM_ENTRY + F.TAR_END,
                control=F.compress(
                    F.tar_file("./control", b"Package: ipxe-qemu\nVersion: 1.0-1\n")
                    + F.tar_file("./control", b"Package: evil\nVersion: 1.0-1\n")
                    + F.TAR_END,
                    "gz",
                ),
            )
        ),
        2,
        "two control files",
    ),
    Case(
        "duplicate-rom-path",
        inspect_deb(
            lambda: F.raw_deb(
                ROM_ENTRY
                + F.tar_file(f"{QEMU_DIR}/efi-virtio.rom", F.efi_rom(1024, 2048))
                + F.TAR_END
            )
        ),
        2,
        "given twice, with different content",
    ),
    Case(
        "duplicate-other-path",
        inspect_deb(
            lambda: F.raw_deb(
                ROM_ENTRY
                + F.tar_file("./usr/bin/x", b"a")
                + F.tar_file("./usr/bin/x", b"b")
                + F.TAR_END
            )
        ),
        2,
        "given twice",
    ),
    Case(
        "debian-binary-3",
        inspect_deb(
            lambda: _ar(
                ("debian-binary", b"3.0\n"),
                ("control.tar.gz", F.control_tar()),
                ("data.tar.xz", DATA_XZ),
            )
        ),
        2,
        "format 2.x only",
    ),
    Case(
        "data-before-control",
        inspect_deb(
            lambda: _ar(
                ("debian-binary", b"2.0\n"),
                ("data.tar.xz", DATA_XZ),
                ("control.tar.gz", F.control_tar()),
            )
        ),
        2,
        "comes before the control member",
    ),
    Case(
        "ar-size-past-end",
        inspect_deb(lambda: F.raw_deb(ROM_ENTRY + F.TAR_END)[:-100]),
        2,
        "but the file ends after",
    ),
    Case(
        "xz-trailing-garbage",
        inspect_deb(
            lambda: _ar(
                ("debian-binary", b"2.0\n"),
                ("control.tar.gz", F.control_tar()),
                ("data.tar.xz", DATA_XZ + b"garbage!"),
            )
        ),
        2,
        "trailing data after the compressed stream",
    ),
    Case(
        "gz-trailing-garbage",
        inspect_deb(
            lambda: _ar(
                ("debian-binary", b"2.0\n"),
                ("control.tar.gz", F.control_tar()),
                ("data.tar.gz", F.compress(ROM_ENTRY + F.TAR_END, "gz") + b"garbage!"),
            )
        ),
        2,
        "trailing data after the compressed stream",
    ),
    Case(
        "unknown-member",
        inspect_deb(
            lambda: _ar(
                ("debian-binary", b"2.0\n"),
                ("control.tar.gz", F.control_tar()),
                ("data.tar.xz", DATA_XZ),
                ("evil", b"x"),
            )
        ),
        2,
        "unexpected member",
    ),
    Case(
        "underscore-member-skipped",
        inspect_deb(
            lambda: _ar(
                ("debian-binary", b"2.0\n"),
                ("_gpgorigin", b"sig"),
                ("control.tar.gz", F.control_tar()),
                ("data.tar.xz", DATA_XZ),
            )
        ),
        0,
        "",
    ),
    Case(
        "tar-checksum-wrong",
        inspect_deb(
            lambda: F.raw_deb(ROM_ENTRY[:148] + b"0000000\0" + ROM_ENTRY[156:] + F.TAR_END)
        ),
        2,
        "checksum mismatch",
    ),
    Case(
        "two-pax-headers-one-member",
        inspect_deb(
            lambda: F.raw_deb(
                F.pax_header([("path", "./a")])
                + F.pax_header([("path", "./b")])
                + ROM_ENTRY
                + F.TAR_END
            )
        ),
        2,
        "two extended headers",
    ),
    Case(
        "pax-record-malformed",
        inspect_deb(
            lambda: F.raw_deb(
                F.tar_file("./PaxHeaders/x", b"99999 path=x\n", b"x") + ROM_ENTRY + F.TAR_END
            )
        ),
        2,
        "malformed PAX record",
    ),
    Case(
        "pax-mtime-1e30",
        inspect_deb(
            lambda: F.raw_deb(F.pax_header([("mtime", "1" + "0" * 30)]) + ROM_ENTRY + F.TAR_END)
        ),
        2,
        "PAX mtime",
    ),
    Case(
        "pax-mtime-huge",
        inspect_deb(lambda: F.raw_deb(F.pax_header([("mtime", "9" * 20)]) + ROM_ENTRY + F.TAR_END)),
        2,
        "mtime",
    ),
    Case(
        "global-pax-path",
        inspect_deb(
            lambda: F.raw_deb(F.pax_header([("path", "./x")], b"g") + ROM_ENTRY + F.TAR_END)
        ),
        2,
        "global PAX header",
    ),
    Case(
        "unknown-tar-type",
        inspect_deb(
            lambda: F.raw_deb(
                F.tar_file(f"{QEMU_DIR}/efi-a.rom", ROM, b"V") + ROM_ENTRY + F.TAR_END
            )
        ),
        2,
        "unknown tar member type",
    ),
    # 11. a FIFO is refused, never opened for a blocking read
    Case(
        "fifo-rom",
        lambda d: (os.mkfifo(d / "f.rom"), ["inspect", "f.rom"])[1],
        2,
        "not a regular file",
    ),
    Case(
        "fifo-deb",
        lambda d: (os.mkfifo(d / "f.deb"), ["inspect", "f.deb"])[1],
        2,
        "not a regular file",
    ),
    Case(
        "fifo-in-dir",
        lambda d: (os.mkdir(d / "roms"), os.mkfifo(d / "roms" / "efi-a.rom"), ["inspect", "roms"])[
            2
        ],
        2,
        "no firmware files",
    ),
]


def _rom_dir(d: Path, name: str, roms: dict[str, bytes]) -> str:
    (d / name).mkdir()
    for rom_name, data in roms.items():
        (d / name / rom_name).write_bytes(data)
    return name


PAD = 262144
BROKEN = {  # each exactly 256 KiB, so only validation can catch it
    "no-last-image": factory.legacy_image() + factory.efi_image(last=False),
    "pcir-outside": ROM[:0x18] + b"\xf0\xff" + ROM[0x1A:],
    "zero-length": ROM[:factory.PCIR_AT + 0x10] + b"\0\0" + ROM[factory.PCIR_AT + 0x12:],
}
GOOD_256K = ROM + b"\xff" * (PAD - len(ROM))
for kind, broken in BROKEN.items():
    padded = broken + b"\xff" * (PAD - len(broken))
    ROUND_TWO += [
        Case(f"guard-{kind}", lambda d, p=padded: ["check", "--expect", "efi-*.rom=256k", _rom_dir(
            d, "new", {"efi-virtio.rom": p})], 1, "efi-virtio.rom: offset"),
        Case(f"compare-{kind}", lambda d, p=padded: [
            "check", _rom_dir(d, "old", {"efi-virtio.rom": GOOD_256K}),
            _rom_dir(d, "new", {"efi-virtio.rom": p})], 1, "new/efi-virtio.rom: offset"),
    ]
ROUND_TWO += [
    # 9. no internal errors: an empty ROM in a set is unusable input
    Case("inspect-set-with-empty-rom", lambda d: ["inspect", _rom_dir(
        d, "set", {"efi-a.rom": ROM, "efi-b.rom": b""})], 2, "empty file"),
    Case("check-empty-rom", lambda d: ["check", _rom_dir(d, "old", {"efi-a.rom": ROM}), _rom_dir(
        d, "new", {"efi-a.rom": b""})], 2, "empty file"),
]
def _fake_qemu(answer: str) -> Callable[[Path], list[str]]:
    """qemu-config --qemu with a "QEMU" whose QMP answers ``answer`` (Python literal)."""
    def build(d: Path) -> list[str]:
        script = d / "fakeqemu"
        script.write_text(f"""#!/usr/bin/env python3
import sys, time
if sys.argv[-2:] == ["-device", "help"]:  # the model list is fine; QMP is what misbehaves
    print('Network devices:\\nname "virtio-net-pci", bus PCI, alias "virtio-net"\\n')
    sys.exit(0)
sys.stdout.buffer.write({answer})  # QMP is on stdio (-chardev stdio)
sys.stdout.buffer.flush()
time.sleep(30)
""")
        script.chmod(0o755)
        return ["qemu-config", _rom_dir(d, "compat", {"256k-efi-virtio.rom": GOOD_256K}),
                "--qemu", str(script)]
    return build


NINES = "9" * 5000


def gen_dir(*extra: str, copyright_text: str = factory.COPYRIGHT,
            out: str = "out") -> Callable[[Path], list[str]]:
    """generate from a directory source with its origin options, and extra options."""
    def build(d: Path) -> list[str]:
        _rom_dir(d, "src", {"efi-virtio.rom": GOOD_256K})
        (d / "cr").write_text(copyright_text)
        return ["generate", "src", "-o", out, "--origin-source", "ipxe", "--origin-version",
                "1.0-1", "--origin-copyright", "cr", *extra]
    return build


def _with(build: Callable[[Path], list[str]], prepare: Callable[[Path], object]
          ) -> Callable[[Path], list[str]]:
    return lambda d: (prepare(d), build(d))[1]


def _recipe(edit: Callable[[str], str]) -> Callable[[Path], list[str]]:
    """generate --recipe with a recipe made by generate itself, then edited."""
    def build(d: Path) -> list[str]:
        made = run_cli(gen_dir(out="first")(d), d, {**os.environ, **ENV})
        assert made.returncode == 0, made.stderr
        recipe = next(d.glob("first/*/debian/ipxe-compat.recipe"))
        edited = edit(recipe.read_text())
        assert edited != recipe.read_text()
        recipe.write_text(edited)
        return ["generate", "--recipe", str(recipe.relative_to(d)), "src", "-o", "out",
                "--origin-copyright", "cr"]
    return build


GPL2_ONLY = """\
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: ipxe

Files: *
Copyright: 2004 Someone
License: GPL-2

License: GPL-2
 This program is free software; version 2 only.
"""
BIG_300K = ROM + b"\xff" * (300000 - len(ROM))

ROUND_TWO += [
    # 9. every one of these was an "internal error"
    Case(
        "dep5-gpl2-without-gpl2plus",
        gen_dir(copyright_text=GPL2_ONLY),
        2,
        "cr: origin copyright has no license text for GPL-2+",
    ),
    Case(
        "sde-year-10000",
        gen_dir(),
        2,
        "SOURCE_DATE_EPOCH",
        env={"SOURCE_DATE_EPOCH": "253402300800"},
    ),
    Case("sde-superscript-two", gen_dir(), 2, "SOURCE_DATE_EPOCH", env={"SOURCE_DATE_EPOCH": "²"}),
    Case("sde-5000-digits", gen_dir(), 2, "characters", env={"SOURCE_DATE_EPOCH": NINES}),
    Case("date-5000-digits", gen_dir("--date", "@" + NINES), 2, "date"),
    Case("date-year-10000", gen_dir("--date", "@253402300800"), 2, "year 9999"),
    Case("date-superscript", gen_dir("--date", "@²"), 2, "date"),
    Case("size-5000-digits", gen_dir("--size", NINES), 2, "size"),
    Case(
        "romsize-5000-digits",
        lambda d: ["check", _rom_dir(d, "a", {"efi-a.rom": ROM}), "a", "--romsize", NINES],
        2,
        "size",
    ),
    Case(
        "expect-5000-digits",
        lambda d: ["check", "--expect", f"efi-*={NINES}", _rom_dir(d, "a", {"efi-a.rom": ROM})],
        2,
        "size",
    ),
    Case("pad-byte-5000-digits", gen_dir("--pad-byte", NINES), 2, "pad byte"),
    Case("roms-newline", gen_dir("--roms", "efi-*\nX"), 2, "--roms"),
    Case("roms-empty", gen_dir("--roms", ""), 2, "--roms"),
    Case("message-cr", gen_dir("--message", "a\rb"), 2, "changelog entry"),
    Case("message-u2028", gen_dir("--message", "a\u2028b"), 2, "changelog entry"),
    Case("message-nel", gen_dir("--message", "a\x85b"), 2, "changelog entry"),
    Case("maintainer-u2028", gen_dir("--maintainer", "A\u2028B <a@b.org>"), 2, "maintainer"),
    Case("maintainer-nel", gen_dir("--maintainer", "A\x85B <a@b.org>"), 2, "maintainer"),
    Case(
        "recipe-pad-byte-0x1ff",
        _recipe(lambda t: t.replace("Pad-Byte: 0xff", "Pad-Byte: 0x1ff")),
        2,
        "ipxe-compat.recipe: pad byte '0x1ff'",
    ),
    Case(
        "recipe-empty-roms",
        _recipe(lambda t: t.replace("Roms:\n efi-*.rom", "Roms:")),
        2,
        "ipxe-compat.recipe: no --roms",
    ),
    Case(
        "recipe-mode-banana",
        _recipe(lambda t: t.replace("Mode: pad", "Mode: banana")),
        2,
        "ipxe-compat.recipe: mode 'banana'",
    ),
    Case(
        "recipe-date-huge",
        _recipe(lambda t: t.replace("Date: @1700000000", f"Date: @{NINES}")),
        2,
        "ipxe-compat.recipe: date",
    ),
    Case(
        "timeout-negative",
        lambda d: [
            "verify-migration",
            _rom_dir(d, "a", {"efi-a.rom": ROM}),
            "a",
            "--timeout",
            "-1",
        ],
        2,
        "--timeout",
    ),
    Case(
        "timeout-nan",
        lambda d: [
            "verify-migration",
            _rom_dir(d, "a", {"efi-a.rom": ROM}),
            "a",
            "--timeout",
            "nan",
        ],
        2,
        "--timeout",
    ),
    Case(
        "timeout-inf",
        lambda d: [
            "verify-migration",
            _rom_dir(d, "a", {"efi-a.rom": ROM}),
            "a",
            "--timeout",
            "inf",
        ],
        2,
        "--timeout",
    ),
    Case("qmp-garbage", _fake_qemu('b"this is not json\\n"'), 2, "not JSON"),
    Case("qmp-not-an-object", _fake_qemu('b"[1, 2]\\n"'), 2, "not a JSON object"),
    Case("qmp-flood", _fake_qemu('b"x" * (8 << 20)'), 2, "longer than"),
    Case(
        "qmp-garbage-fallback",
        lambda d: [*_fake_qemu('b"garbage\\n"')(d), "--fallback-builtin"],
        0,
        "",
    ),
    # 10. files are read with a limit, and an error quotes an excerpt, naming the file given
    Case("changelog-dev-zero", gen_dir("--changelog-from", "/dev/zero"), 2, "not a regular file"),
    Case(
        "copyright-dev-zero", lambda d: [*gen_dir()(d)[:-1], "/dev/zero"], 2, "not a regular file"
    ),
    Case(
        "recipe-dev-zero",
        lambda d: ["generate", "--recipe", "/dev/zero", "-o", "out"],
        2,
        "not a regular file",
    ),
    Case(
        "changelog-fifo",
        _with(gen_dir("--changelog-from", "cl"), lambda d: os.mkfifo(d / "cl")),
        2,
        "not a regular file",
    ),
    Case(
        "changelog-20mb",
        _with(
            gen_dir("--changelog-from", "big.changelog"),
            lambda d: (d / "big.changelog").write_bytes(b"x" * (20 << 20)),
        ),
        2,
        "too large",
    ),
    Case(
        "changelog-10mb-one-line",
        _with(
            gen_dir("--changelog-from", "long.changelog"),
            lambda d: (d / "long.changelog").write_bytes(b"x" * (10 << 20)),
        ),
        2,
        "long.changelog: not a Debian",
    ),
    Case(
        "changelog-of-another-package",
        _with(
            gen_dir("--changelog-from", "other"),
            lambda d: (d / "other").write_text(
                "hello (1.0-1) unstable; urgency=medium\n\n  * x\n\n"
                " -- A <a@b.org>  Mon, 01 Jan 2024 00:00:00 +0000\n"
            ),
        ),
        2,
        "hello's",
    ),
    # 13. what the recipe cannot hold, the command line refuses
    Case(
        "date-before-1970", gen_dir("--date", "Wed, 31 Dec 1969 00:00:00 +0000"), 2, "before 1970"
    ),
    # 14. a version whose upstream part holds a colon
    Case(
        "origin-version-colon-upstream",
        lambda d: [
            "generate",
            _rom_dir(d, "s", {"efi-virtio.rom": GOOD_256K}),
            "-o",
            "out",
            "--origin-source",
            "ipxe",
            "--origin-version",
            "1:2:3-1",
            "--origin-copyright",
            write(d / "cr", factory.COPYRIGHT.encode()),
        ],
        2,
        "colon",
    ),
    Case("newversion-colon-upstream", gen_dir("--newversion", "1:2:3-1"), 2, "colon"),
    # 16. small ones
    Case(
        "romsize-empty",
        lambda d: ["check", _rom_dir(d, "a", {"efi-a.rom": ROM}), "a", "--romsize="],
        2,
        "size",
    ),
    Case("output-empty", gen_dir(out=""), 2, "-o names no directory"),
    Case("maintainer-blank-name", gen_dir("--maintainer", " <a@b.org>"), 2, "maintainer"),
    Case(
        "machine-compat-arabic-digits",
        lambda d: [
            "qemu-config",
            _rom_dir(d, "c", {"256k-efi-virtio.rom": GOOD_256K}),
            "--format",
            "c",
            "--machine-compat",
            "\u0667_\u0662",
        ],
        2,
        "--machine-compat",
    ),
    Case(
        "machine-compat-leading-underscore",
        lambda d: [
            "qemu-config",
            _rom_dir(d, "c", {"256k-efi-virtio.rom": GOOD_256K}),
            "--format",
            "c",
            "--machine-compat",
            "_7",
        ],
        2,
        "--machine-compat",
    ),
    # 5 and 6. pairing: exact names first, never by set order, an ambiguity named
    Case(
        "pairing-exact-beats-prefixed",
        lambda d: [
            "check",
            _rom_dir(d, "old", {"efi-virtio.rom": BIG_300K, "256k-efi-virtio.rom": GOOD_256K}),
            # NEW keeps the compat ROM (dropping it would be a second problem: removed)
            _rom_dir(d, "new", {"efi-virtio.rom": GOOD_256K, "256k-efi-virtio.rom": GOOD_256K}),
        ],
        1,
        "efi-virtio.rom: QEMU bucket changes from 512k to 256k",
    ),
    Case(
        "pairing-ambiguous",
        lambda d: [
            "check",
            _rom_dir(d, "old", {"efi-virtio.rom": GOOD_256K}),
            _rom_dir(d, "new", {"256k-efi-virtio.rom": GOOD_256K, "512k-efi-virtio.rom": BIG_300K}),
        ],
        2,
        "efi-virtio.rom pairs ambiguously with 256k-efi-virtio.rom and 512k-efi-virtio.rom",
    ),
]

CASES += ROUND_TWO


# --- issue 18: every refusal is exit 2, bounds for every source, one line ----------------------

def _qmp_fake(overrides: dict[str, object] | None = None, help_text: bytes | None = None,
              fallback: bool = False) -> Callable[[Path], list[str]]:
    """qemu-config --qemu with a "QEMU" that speaks QMP: a real session (greeting, one answer per
    command) whose answers are QEMU's, but for ``overrides`` (command -> the raw answer line,
    JSON text) and the ``-device help`` bytes."""
    def build(d: Path) -> list[str]:
        answers = {
            "qmp_capabilities": '{"return": {}}',
            "query-version": '{"return": {"qemu": {"major": 7, "minor": 2, "micro": 22}}}',
            "query-machines": '{"return": [{"name": "pc-i440fx-7.2", "alias": "pc", '
                              '"is-default": true}]}',
            "qom-list-types": '{"return": [{"name": "virtio-net-pci", "parent": '
                              '"virtio-net-pci-base"}, {"name": "virtio-net-pci-base", '
                              '"parent": "virtio-pci", "abstract": true}]}',
            "device_add": '{"return": {}}',
            "qom-get": '{"return": "efi-virtio.rom"}',
            "quit": '{"return": {}}',
            **(overrides or {}),
        }
        listing = help_text or b'Network devices:\nname "virtio-net-pci", bus PCI\n\n'
        (d / "answers.json").write_text(json.dumps(answers))
        (d / "help.bin").write_bytes(listing)
        script = d / "fakeqemu"
        script.write_text(f"""#!{sys.executable}
import json, sys
if sys.argv[-2:] == ["-device", "help"]:
    sys.stdout.buffer.write(open({str(d / "help.bin")!r}, "rb").read())
    sys.exit(0)
answers = json.load(open({str(d / "answers.json")!r}))
out = sys.stdout.buffer  # QMP is on stdio (-chardev stdio)
out.write(b'{{"QMP": {{"version": {{}}, "capabilities": []}}}}\\n')
out.flush()
for line in sys.stdin.buffer:
    out.write(answers[json.loads(line)["execute"]].encode() + b"\\n")
    out.flush()
""")
        script.chmod(0o755)
        return ["qemu-config", _rom_dir(d, "compat", {"256k-efi-virtio.rom": GOOD_256K}),
                "--qemu", str(script), *(["--fallback-builtin"] if fallback else [])]
    return build


def _sparse_roms(count: int, size: int, as_files: bool = False) -> Callable[[Path], list[str]]:
    """``count`` ROMs of ``size`` bytes that take a few KB on disk each (sparse)."""
    def build(d: Path) -> list[str]:
        (d / "set").mkdir()
        for i in range(count):
            with open(d / "set" / f"efi-{i}.rom", "wb") as rom:
                rom.write(ROM)
                rom.truncate(size)
        if as_files:
            return ["inspect", *(f"set/efi-{i}.rom" for i in range(count))]
        return ["inspect", "set"]
    return build


BANG_CHANGELOG = ("ipxe-qemu-256k-compat (!!!) unstable; urgency=medium\n\n  * x\n\n"
                  " -- A B <a@b.org>  Mon, 01 Jan 2024 00:00:00 +0000\n")

ISSUE_18 = [
    # 8. whatever a QEMU command prints is checked at one boundary: exit 2, or a said fallback
    Case("device-help-not-utf8-in-a-model", _qmp_fake(help_text=(
        b'Network devices:\nname "virtio-net-pci\xff", bus PCI\n\n')), 2, "not a name QEMU gives"),
    Case("device-help-not-utf8-elsewhere", _qmp_fake(help_text=(
        b'Network devices:\nname "virtio-net-pci", bus PCI, desc "\xff\xfe"\n\n')), 0, ""),
    Case("device-help-model-with-a-comma", _qmp_fake(help_text=(
        b'Network devices:\nname "virtio-net-pci,romfile=x", bus PCI\n\n')), 2,
        "not a name QEMU gives"),
    Case("qmp-version-a-list", _qmp_fake({"query-version": '{"return": []}'}), 2,
         "query-version answered [], not a JSON object"),
    Case("qmp-version-null", _qmp_fake({"query-version": '{"return": null}'}), 2,
         "query-version answered null"),
    Case("qmp-version-a-string", _qmp_fake({"query-version": '{"return": {"qemu": {"major": "7",'
                                                             ' "minor": 2, "micro": 0}}}'}), 2,
         "not three version numbers"),
    Case("qmp-no-return", _qmp_fake({"query-version": '{"id": 1}'}), 2,
         "an answer with neither return nor error"),
    Case("qmp-machines-an-object", _qmp_fake({"query-machines": '{"return": {"a": 1}}'}), 2,
         "query-machines answered {\"a\": 1}, not a JSON list"),
    Case("qmp-machines-numbers", _qmp_fake({"query-machines": '{"return": [1, 2]}'}), 2,
         "not a JSON object"),
    Case("qmp-types-strings", _qmp_fake({"qom-list-types": '{"return": ["virtio-net-pci"]}'}), 2,
         "qom-list-types (an element)"),
    Case("qmp-romfile-a-list", _qmp_fake({"qom-get": '{"return": [1]}'}), 2,
         "virtio-net-pci's romfile is [1]"),
    Case("qmp-romfile-null", _qmp_fake({"qom-get": '{"return": null}'}), 2,
         "virtio-net-pci's romfile is null"),
    Case("qmp-romfile-xml", _qmp_fake({"qom-get": '{"return": "a.rom\' --><evil/>"}'}), 2,
         "not a name QEMU gives"),
    Case("qmp-version-a-list-fallback", _qmp_fake({"query-version": '{"return": []}'},
                                                  fallback=True), 0,
         "query-version answered [], not a JSON object; using the built-in table"),
    Case("qmp-romfile-null-fallback", _qmp_fake({"qom-get": '{"return": null}'}, fallback=True),
         0, "using the built-in table"),
    # 9. a changelog's versions are checked where it is parsed
    Case("changelog-version-bang", _with(gen_dir("--changelog-from", "bang"), lambda d: (
        d / "bang").write_text(BANG_CHANGELOG)), 2, "bang: not a Debian changelog"),
    # 11. a directory and .rom files are bounded as a .deb is, by their sizes before reading
    Case("dir-of-64-sparse-16mib-roms", _sparse_roms(64, 16 << 20), 2,
         "set: this directory: the firmware files together exceed 64 MiB"),
    Case("five-sparse-16mib-rom-files", _sparse_roms(5, 16 << 20, as_files=True), 2,
         "the files given: the firmware files together exceed 64 MiB"),
    Case("dir-of-257-roms", _sparse_roms(257, len(ROM)), 2, "more than 256 firmware files"),
    # 12. names the build could not make are refused by generate
    Case("rom-name-255-bytes-with-prefix", lambda d: [
        "generate", _rom_dir(d, "s", {"e" * 251 + ".rom": GOOD_256K}), "-o", "out", "--roms",
        "*", "--origin-source", "ipxe", "--origin-version", "1.0-1", "--origin-copyright",
        write(d / "cr", factory.COPYRIGHT.encode())], 2,
        "(260 characters): 260 bytes, more than a file name may have (255)"),
    Case("package-name-too-long-for-its-deb", gen_dir("--package-name", "p" * 245), 2,
         "the binary package would be named"),
    Case("install-dir-part-of-256", gen_dir("--install-dir", "/" + "d" * 256), 2,
         "a part of --install-dir would be named"),
    # 13. a name with a line break is one line, quoted so a shell reads it back
    Case("path-with-a-newline", lambda d: ["inspect", "no\nsuch.rom"], 2,
         "ipxe-compat: error: $'no\\nsuch.rom': cannot read: No such file or directory"),
    Case("dir-name-with-escape-codes", lambda d: ["inspect", _rom_dir(
        d, "a\x1b[2Jb", {"efi-a.rom": b""})], 2, "$'a\\e[2Jb/efi-a.rom'"),
]

CASES += ISSUE_18


def run_case(case: Case, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    work = tmp_path / "work"
    work.mkdir()
    argv = case.build(work)
    result = run_cli(argv, work, {**os.environ, **ENV, "TMPDIR": str(work), **(case.env or {})})
    return result, work


#: The cases that build or read tens of megabytes or tens of thousands of entries (a second or
#: more each): they run with the slow tests (CI runs them), the rest in the fast loop.
HEAVY = frozenset({"fifty-thousand-entries", "doc-files-not-kept", "changelog-10mb-one-line",
                   "ten-16mib-roms-elsewhere"})


@pytest.mark.parametrize("case", [
    pytest.param(case, id=case.id, marks=[pytest.mark.slow] if case.id in HEAVY else [])
    for case in CASES])
def test_hostile_input_is_refused_cleanly(case: Case, tmp_path: Path) -> None:
    before = {p.name for p in tmp_path.parent.iterdir()}
    result, work = run_case(case, tmp_path)
    assert result.returncode == case.code, result.stderr
    lines = result.stderr.splitlines()
    if case.code == 0:
        assert not [line for line in lines if not line.startswith("ipxe-compat: warning: ")], \
            result.stderr
        assert case.fragment in result.stderr
    else:
        assert len(lines) == 1 and lines[0].startswith("ipxe-compat: error: "), result.stderr
        assert case.fragment in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    out = work / "out"
    if case.id == "output-exists":  # left as it was: no partial output, no staging directory
        left = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
        assert left == ["ipxe-qemu-256k-compat-1.0", "ipxe-qemu-256k-compat-1.0/mine"]
    elif case.code != 0:  # a refusal creates nothing, not even OUTDIR
        assert not out.is_dir()
    assert {p.name for p in tmp_path.parent.iterdir()} == before  # nothing beside our dir
    assert not (tmp_path / "evil").exists() and not (tmp_path.parent / "efi-b.rom").exists()


def test_cases_are_distinct_and_the_docs_count_them() -> None:
    """docs/hostile-input.md tells users how many hostile cases run: this table's number."""
    assert len({case.id for case in CASES}) == len(CASES)
    assert {case.id for case in CASES} >= HEAVY  # a renamed heavy case stays out of the fast loop
    readme = (Path(__file__).resolve().parent.parent / "docs" / "hostile-input.md").read_text()
    claimed = re.search(r"`tests/test_hostile.py` runs (\d+) hostile cases", readme)
    assert claimed is not None and int(claimed[1]) == len(CASES)


# --- the 2 GiB member -----------------------------------------------------------------------

def _sparse_deb(path: Path, member_name: str) -> None:
    """A .deb whose data member holds a 2 GiB member of zeros, xz-compressed to ~300 KB,
    streamed so that building it costs no memory either."""
    def entry(name: str, data: bytes) -> bytes:
        return member(name, data).tobuf(format=tarfile.GNU_FORMAT) + data + bytes(-len(data) % 512)

    compressor = lzma.LZMACompressor(format=lzma.FORMAT_XZ, preset=0)
    copyright_path = "usr/share/doc/ipxe-qemu/copyright"
    chunks = [compressor.compress(entry(f"./{copyright_path}", DOC[copyright_path]))]
    header = tarfile.TarInfo(member_name)
    header.size, header.mtime = TWO_GIB, 1600000000
    chunks.append(compressor.compress(header.tobuf(format=tarfile.GNU_FORMAT)))
    zeros = bytes(1 << 20)
    for _ in range(TWO_GIB >> 20):
        chunks.append(compressor.compress(zeros))
    chunks.append(compressor.compress(entry("./usr/share/qemu/efi-virtio.rom", ROM) + bytes(1024)))
    chunks.append(compressor.flush())
    control = factory.compress(factory.tar_bytes({"control": (
        b"Package: ipxe-qemu\nVersion: 1.0-1\nSource: ipxe\nArchitecture: all\n")}), "gz")
    path.write_bytes(factory.ar_archive([("debian-binary", b"2.0\n"), ("control.tar.gz", control),
                                         ("data.tar.xz", b"".join(chunks))]))


@pytest.fixture(scope="module")
def big_debs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    where = tmp_path_factory.mktemp("big")
    debs = {"rom": where / "big-rom.deb", "other": where / "big-other.deb"}
    _sparse_deb(debs["rom"], "./usr/share/qemu/efi-huge.rom")
    _sparse_deb(debs["other"], "./usr/share/ipxe/big.bin")
    return debs


MEASURE = """
import json, resource, subprocess, sys, time
start = time.monotonic()
result = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(json.dumps([result.returncode,
                  resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024,
                  round(time.monotonic() - start, 2), result.stderr]))
"""


def measured(argv: list[str], cwd: Path) -> tuple[int, int, float, str]:
    """Exit code, peak RSS in MiB and seconds of one ipxe-compat run, in a fresh process."""
    out = subprocess.run([sys.executable, "-c", MEASURE, sys.executable, "-m", "ipxe_compat",
                          *argv], cwd=cwd, capture_output=True, text=True, check=True,
                         env={**os.environ, **ENV}).stdout
    code, peak, seconds, stderr = json.loads(out)
    return code, peak, seconds, stderr


@pytest.mark.slow
def test_two_gib_rom_member_is_refused_before_it_is_read(big_debs: dict[str, Path],
                                                         tmp_path: Path) -> None:
    assert big_debs["rom"].stat().st_size < 1 << 20  # a few hundred KB on disk
    code, peak, seconds, stderr = measured(["generate", str(big_debs["rom"]), "-o", "out"],
                                           tmp_path)
    print(f"2 GiB ROM member: exit {code}, peak {peak} MiB, {seconds} s")
    assert code == 2 and "no firmware file is that large" in stderr
    assert peak < 300
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_two_gib_other_member_stops_at_the_unpack_limit(big_debs: dict[str, Path],
                                                        tmp_path: Path) -> None:
    """A 300 KB package that unpacks to 2 GiB is read up to the limit, in flat memory."""
    code, peak, seconds, stderr = measured(["inspect", str(big_debs["other"])], tmp_path)
    print(f"2 GiB non-ROM member: exit {code}, peak {peak} MiB, {seconds} s")
    assert code == 2 and "unpacks to more than 128 MiB" in stderr, stderr
    assert peak < 300


# --- the real counterpart: dpkg-deb ---------------------------------------------------------------

def test_hard_linked_rom_built_by_dpkg_deb_is_read(tmp_path: Path) -> None:
    """dpkg-deb --build stores a second name of one file as a tar hard link; dpkg-deb -x installs
    both names, and ipxe-compat reads both."""
    from tests.conftest import _cannot, require_tool
    require_tool("dpkg-deb")
    root = tmp_path / "root"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        "Package: ipxe-qemu\nVersion: 1.0-1\nArchitecture: all\n"
        "Maintainer: Test <test@example.org>\nDescription: test\n")
    qemu = root / "usr" / "share" / "qemu"
    qemu.mkdir(parents=True)
    (qemu / "efi-virtio.rom").write_bytes(ROM)
    os.link(qemu / "efi-virtio.rom", qemu / "efi-e1000.rom")
    first, second = (qemu / "efi-virtio.rom").stat(), (qemu / "efi-e1000.rom").stat()
    if first.st_ino != second.st_ino or min(first.st_nlink, second.st_nlink) < 2:  # as tar sees it
        _cannot("this filesystem shows a hard link as two files (disorderfs under reprotest)")
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zxz", "--build", str(root),
                    str(tmp_path / "h.deb")], check=True, capture_output=True)
    # tar's listing is translated ("viide" under reprotest's et_EE locale): read it in C
    listing = subprocess.run(["dpkg-deb", "-c", str(tmp_path / "h.deb")], check=True,
                             capture_output=True, text=True,
                             env={**os.environ, "LC_ALL": "C"}).stdout
    assert " link to " in listing  # the package really holds a hard link
    result = subprocess.run([sys.executable, "-m", "ipxe_compat", "inspect", "--json",
                             str(tmp_path / "h.deb")], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert [rom["name"] for rom in json.loads(result.stdout)["roms"]] == ["efi-e1000.rom",
                                                                         "efi-virtio.rom"]


@pytest.mark.parametrize("case_id", ["debian-binary-3", "data-before-control", "ar-size-past-end"])
def test_dpkg_deb_refuses_these_too(case_id: str, tmp_path: Path) -> None:
    """What ipxe-compat refuses as dpkg would, dpkg-deb refuses as well."""
    from tests.conftest import require_tool
    require_tool("dpkg-deb")
    case = next(c for c in CASES if c.id == case_id)
    argv = case.build(tmp_path)
    result = subprocess.run(["dpkg-deb", "-x", str(tmp_path / argv[-1]), str(tmp_path / "x")],
                            capture_output=True, text=True, check=False)
    assert result.returncode != 0, result.stdout


# --- 12 and 15: nothing left behind by a refusal; --force replaces all outputs or none ---------

@pytest.mark.parametrize("bad", [["--distribution", "a/b"], ["--maintainer", "x"],
                                 ["--prefix", "../"], ["--install-dir", "rel"],
                                 ["--changelog-from", "garbage"], ["--size", "64k"]],
                         ids=lambda bad: bad[0])
def test_refusal_after_reading_sources_creates_no_directory(bad: list[str], tmp_path: Path) -> None:
    argv = gen_dir(out="a/b/c")(tmp_path)
    (tmp_path / "garbage").write_text("not a changelog\n")
    result = run_cli([*argv, *bad], tmp_path, {**os.environ, **ENV})
    assert result.returncode in (1, 2) and result.stderr.startswith("ipxe-compat: error: ")
    assert not (tmp_path / "a").exists()


def test_force_replaces_all_outputs_or_none(tmp_path: Path) -> None:
    """When the old orig tarball cannot be replaced (immutable), the old tree stays too."""
    from tests.conftest import _cannot, require_tool
    require_tool("chattr")
    argv = gen_dir()(tmp_path)
    run = [sys.executable, "-m", "ipxe_compat", *argv]
    env = {**os.environ, **ENV}
    subprocess.run(run, cwd=tmp_path, env=env, check=True, capture_output=True, timeout=120)
    out = tmp_path / "out"
    tree, tarball = out / "ipxe-qemu-256k-compat-1.0", out / "ipxe-qemu-256k-compat_1.0.orig.tar.xz"
    (tree / "mine").write_text("old tree\n")
    immutable = subprocess.run(["chattr", "+i", str(tarball)], capture_output=True, text=True,
                               check=False)
    if immutable.returncode != 0:  # in a user namespace (sbuild, autopkgtest) it is refused
        _cannot(f"chattr +i needs CAP_LINUX_IMMUTABLE: {immutable.stderr.strip()}")
    try:
        result = subprocess.run([*run, "--force", "--date", "@1800000000"], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=120, check=False)
    finally:
        subprocess.run(["chattr", "-i", str(tarball)], check=True)
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert (tree / "mine").read_text() == "old tree\n"  # the old tree, not the new one
    assert sorted(p.name for p in out.iterdir()) == [tree.name, tarball.name]


def test_a_full_disk_names_the_file() -> None:
    from ipxe_compat.errors import OutputError
    from ipxe_compat.package.output import write_file
    with pytest.raises(OutputError, match="/dev/full: cannot write") as caught:
        write_file(Path("/dev/full"), b"x" * 4096, 0o644, 0)
    assert str(caught.value) == "/dev/full: cannot write: No space left on device"


# --- one open: the hash is of the bytes parsed -------------------------------------------------

@pytest.mark.integration
def test_real_package_is_read_once_as_dpkg_reads_it(bookworm_deb: Path) -> None:
    """bookworm's ipxe-qemu: the streamed reader finds what dpkg-deb -x installs, and the
    sha256 it gives is the file's."""
    import hashlib

    from ipxe_compat.input.debpkg import read_deb
    from tests.dpkg import dpkg_roms
    contents = read_deb(str(bookworm_deb))
    assert contents.sha256 == hashlib.sha256(bookworm_deb.read_bytes()).hexdigest()
    installed = dpkg_roms(bookworm_deb)
    assert {m.path.rsplit("/", 1)[-1]: m.data for m in contents.roms} == installed


def test_bytes_that_do_not_hash_as_promised_are_refused(tmp_path: Path) -> None:
    """apt: verification happens on the bytes parsed; a mismatch is named as such, also when
    the bytes would not parse at all."""
    from ipxe_compat.input.debpkg import DigestMismatch, read_deb
    good = tmp_path / "good.deb"
    good.write_bytes(factory.raw_deb(ROM_ENTRY + F.TAR_END))
    with pytest.raises(DigestMismatch, match="apt's index says 0000"):
        read_deb(str(good), "0" * 64)
    bad = tmp_path / "bad.deb"
    bad.write_bytes(b"!<arch>\ngarbage")
    with pytest.raises(DigestMismatch, match=r"bad.deb: sha256 [0-9a-f]{64}, but apt's index"):
        read_deb(str(bad), "0" * 64)
    import hashlib
    assert read_deb(str(good), hashlib.sha256(good.read_bytes()).hexdigest()).roms


def test_a_one_letter_prefix_pairs_alike_in_check_and_qemu_config(tmp_path: Path) -> None:
    """generate --prefix a- makes a-efi-virtio.rom: check and qemu-config pair it by one rule;
    a name that merely ends in another's (aefi-virtio.rom) pairs in neither."""
    old = _rom_dir(tmp_path, "old", {"efi-virtio.rom": GOOD_256K})
    new = _rom_dir(tmp_path, "new", {"a-efi-virtio.rom": GOOD_256K})
    bare = _rom_dir(tmp_path, "bare", {"aefi-virtio.rom": GOOD_256K})

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return run_cli(argv, tmp_path)
    checked = run("check", old, new, "--json")
    assert checked.returncode == 0, checked.stderr
    assert [r["verdict"] for r in json.loads(checked.stdout)["roms"]] == ["ok"]
    mapped = run("qemu-config", new)
    assert "virtio-net-pci-base.romfile=a-efi-virtio.rom" in mapped.stdout, mapped.stderr
    unpaired = run("check", old, bare, "--json")
    assert sorted(r["verdict"] for r in json.loads(unpaired.stdout)["roms"]) == [
        "only-new", "removed"]
    assert run("qemu-config", bare).returncode == 2
