"""Each firmware class's rule (ipxe_compat/core/firmware.py) proven by real QEMU: the RAM block a
file becomes (``info ramblock``) and whether a paused guest migrates when the destination's file
differs, on bookworm's QEMU 7.2 at both ends and from 7.2 to trixie's 10.0 (a cached root).

The expected outcome of every case is computed from core/firmware.py (block_size, migrates) and
held against QEMU's own verdict, so a wrong rule there fails here: an option ROM's pow2ceil
bucket (a PCI VGA ROM), a -bios image's exact size (3 x 64 KiB vs 256 KiB: a bucket rule would
call both 256k), a pflash image's exact size (code on unit 0, variables on unit 1), and a fw_cfg
ROM, a resizeable block on pc-i440fx-1.7 only (smaller into larger migrates, larger into smaller
fails with "Size too large"), fw_cfg data elsewhere (any size migrates). Files are Debian's own
(bookworm's and trixie's seabios, ovmf and qemu-system-data), grown or cut where a case needs it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from ipxe_compat.core.firmware import (
    OPTION_ROM_BLOCK,
    FileClass,
    block_class,
    block_rule,
    block_size,
    classify,
    flash_unit,
    migrates,
)
from tests import archive
from tests.conftest import _cannot, require_tool
from tests.qemu_run import Qemu, migrate_paused, version
from tests.roots import Root, RootSpec, ensure_root
from tests.tools import run

pytestmark = [pytest.mark.integration, pytest.mark.slow]

QEMU = ["qemu-system-x86_64"]
MODERN = "pc-i440fx-7.2"
LEGACY = "pc-i440fx-1.7"  # the one machine type with fw_cfg ROM blocks (QEMU <= 8.1)
_RAMBLOCK = re.compile(r"^\s*(\S+)\s+\d+ [KMG]iB\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)",
                       re.MULTILINE)
_REFUSED = re.compile(r"(Size mismatch|Size too large): (?P<block>\S+): 0x(?P<source>[0-9a-f]+) "
                      r"(?:!=|>) 0x(?P<destination>[0-9a-f]+)")


@dataclass(frozen=True)
class Load:
    """How a guest loads a file of a class, and the ``-device``/``-bios``/pflash arguments."""

    kind: FileClass
    path: Path
    filler: Path  # a 64 KiB pflash unit 0, the same at both ends, when path is a VARS image

    def args(self) -> list[str]:
        if self.kind is FileClass.OPTION_ROM:
            return ["-device", f"VGA,romfile={self.path}"]
        if self.kind is FileClass.BIOS:
            return ["-bios", str(self.path)]
        if self.kind is FileClass.GENROM:
            return ["-option-rom", str(self.path)]
        drive = "if=pflash,format=raw,readonly=on,unit={},file={}"
        if flash_unit(self.path.name) == 1:
            return ["-drive", drive.format(0, self.filler), "-drive", drive.format(1, self.path)]
        return ["-drive", drive.format(0, self.path)]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bookworm's and trixie's seabios, ovmf and qemu-system-data unpacked, plus the variants."""
    require_tool("dpkg-deb", "apt-get")
    root = tmp_path_factory.mktemp("firmware")
    for suite in ("bookworm", "trixie"):
        (root / suite).mkdir()
        for package in ("seabios", "ovmf", "qemu-system-data"):
            try:
                debs = archive.fetch_firmware(package, suite)
            except (RuntimeError, OSError) as error:
                _cannot(str(error))
            for deb in debs:
                run(["dpkg-deb", "-x", deb, root / suite])
    variants = root / "variants"
    for name in ("grown", "padded", "other"):
        (variants / name).mkdir(parents=True)
    bookworm = root / "bookworm" / "usr" / "share"
    vga = (bookworm / "seabios" / "vgabios-stdvga.bin").read_bytes()
    _write(variants / "grown" / "vgabios-stdvga.bin", vga, 70000)  # 64k -> 128k bucket
    _write(variants / "padded" / "vgabios-stdvga.bin", vga, 65536)  # same bucket
    bios = (bookworm / "seabios" / "bios-256k.bin").read_bytes()
    (variants / "other" / "bios-192k.bin").write_bytes(bios[-196608:])  # 3 x 64 KiB
    code = (bookworm / "OVMF" / "OVMF_CODE.fd").read_bytes()
    _write(variants / "grown" / "OVMF_CODE.fd", code, len(code) + 65536)  # same pow2, 1.9 MiB
    variables = (bookworm / "OVMF" / "OVMF_VARS.fd").read_bytes()
    _write(variants / "grown" / "OVMF_VARS.fd", variables, len(variables) + 4096, b"\0")
    boot = (bookworm / "qemu" / "linuxboot_dma.bin").read_bytes()  # 1536: one page
    _write(variants / "padded" / "linuxboot_dma.bin", boot, 3000, b"\0")  # the same page
    _write(variants / "grown" / "linuxboot_dma.bin", boot, 5000, b"\0")  # two pages
    (variants / "filler.fd").write_bytes(bytes(65536))
    return root


def _write(path: Path, data: bytes, size: int, fill: bytes = b"\xff") -> None:
    path.write_bytes(data + fill * (size - len(data)))


@pytest.fixture(scope="module")
def trixie() -> Root:
    require_tool("mmdebstrap", "unshare", "qemu-system-x86_64")
    try:
        return ensure_root(RootSpec("trixie", ("qemu-system-x86",)))
    except RuntimeError as error:
        _cannot(str(error))


#: (id, machine, source file, destination file) relative to the files fixture.
CASES = [
    ("option-rom-same", MODERN, "bookworm/usr/share/seabios/vgabios-stdvga.bin",
     "bookworm/usr/share/seabios/vgabios-stdvga.bin"),
    ("option-rom-bookworm-trixie", MODERN, "bookworm/usr/share/seabios/vgabios-stdvga.bin",
     "trixie/usr/share/seabios/vgabios-stdvga.bin"),
    ("option-rom-next-bucket", MODERN, "bookworm/usr/share/seabios/vgabios-stdvga.bin",
     "variants/grown/vgabios-stdvga.bin"),
    ("option-rom-padded", MODERN, "bookworm/usr/share/seabios/vgabios-stdvga.bin",
     "variants/padded/vgabios-stdvga.bin"),
    ("bios-ovmf-bookworm-trixie", MODERN, "bookworm/usr/share/ovmf/OVMF.fd",
     "trixie/usr/share/ovmf/OVMF.fd"),
    ("bios-ovmf-same", MODERN, "bookworm/usr/share/ovmf/OVMF.fd",
     "bookworm/usr/share/ovmf/OVMF.fd"),
    ("bios-exact-not-bucket", MODERN, "variants/other/bios-192k.bin",
     "bookworm/usr/share/seabios/bios-256k.bin"),
    ("bios-seabios-bookworm-trixie", MODERN, "bookworm/usr/share/seabios/bios-256k.bin",
     "trixie/usr/share/seabios/bios-256k.bin"),
    ("pflash-code-grown", MODERN, "bookworm/usr/share/OVMF/OVMF_CODE.fd",
     "variants/grown/OVMF_CODE.fd"),
    ("pflash-vars-grown", MODERN, "bookworm/usr/share/OVMF/OVMF_VARS.fd",
     "variants/grown/OVMF_VARS.fd"),
    ("pflash-code-4m-bookworm-trixie", MODERN, "bookworm/usr/share/OVMF/OVMF_CODE_4M.fd",
     "trixie/usr/share/OVMF/OVMF_CODE_4M.fd"),
    ("genrom-modern-larger-into-smaller", MODERN, "variants/grown/linuxboot_dma.bin",
     "bookworm/usr/share/qemu/linuxboot_dma.bin"),
    ("genrom-legacy-same-page", LEGACY, "bookworm/usr/share/qemu/linuxboot_dma.bin",
     "variants/padded/linuxboot_dma.bin"),
    ("genrom-legacy-smaller-into-larger", LEGACY, "bookworm/usr/share/qemu/linuxboot_dma.bin",
     "variants/grown/linuxboot_dma.bin"),
    ("genrom-legacy-larger-into-smaller", LEGACY, "variants/grown/linuxboot_dma.bin",
     "bookworm/usr/share/qemu/linuxboot_dma.bin"),
]
#: Cases run again into trixie's QEMU 10.0 (which has no pc-i440fx-1.7).
ACROSS = [case for case in CASES if case[1] == MODERN]


def ramblocks(qemu: Sequence[str], workdir: Path, args: Sequence[str]) -> dict[str, int]:
    """``info ramblock``: block name -> used length."""
    with Qemu(qemu, workdir, "blocks", list(args)) as running:
        text = running.command("human-monitor-command", **{"command-line": "info ramblock"})
    return {name: int(used, 16) for name, used, _ in _RAMBLOCK.findall(text)}


def expected_block(kind: FileClass, path: Path, machine: str) -> tuple[str, int] | None:
    """The block core/firmware.py says the file becomes on ``machine`` (None: no block); an
    option ROM's name is the rule ``ADDR/TYPE.rom``, its device filling it in."""
    if kind is FileClass.GENROM and machine != LEGACY:
        return None
    name = block_rule(kind, path.name, flash_unit(path.name))
    size = block_size(kind, path.stat().st_size)
    assert name is not None and size is not None
    return name, size


def _load(files: Path, relative: str) -> Load:
    path = files / relative
    return Load(classify(path.name), path, files / "variants" / "filler.fd")


def _prove(source_qemu: Sequence[str], target_qemu: Sequence[str], files: Path, workdir: Path,
           machine: str, source: str, destination: str) -> None:
    src, dst = _load(files, source), _load(files, destination)
    assert src.kind is dst.kind is not FileClass.OTHER
    kind = src.kind
    # the block each end allocates is the one core/firmware.py names and sizes
    blocks = {}
    for end, load, qemu in (("source", src, source_qemu), ("destination", dst, target_qemu)):
        found = ramblocks(qemu, workdir, ["-machine", machine, *load.args()])
        want = expected_block(kind, load.path, machine)
        if want is None:  # a fw_cfg ROM off pc-i440fx-1.7: no block at all
            assert not [name for name in found if name.endswith("/" + load.path.name)], found
        elif kind is FileClass.OPTION_ROM:  # the name holds the device's PCI address
            (name, size), = ((n, s) for n, s in found.items() if block_class(n) is kind)
            assert want[0] == OPTION_ROM_BLOCK, want
            assert name.endswith("/vga.rom") and size == want[1], (end, found)
        else:
            assert block_class(want[0]) is kind
            assert found.get(want[0]) == want[1], (end, found)
        blocks[end] = want
    outcome = migrate_paused(source_qemu, target_qemu, workdir,
                             ["-machine", machine, *src.args()], ["-machine", machine, *dst.args()])
    source_block, target_block = blocks["source"], blocks["destination"]
    predicted = (source_block is None or target_block is None
                 or migrates(kind, source_block[1], target_block[1]))
    assert (outcome.status == "completed") == predicted, outcome
    if not predicted:
        refused = _REFUSED.search(outcome.error or "")
        assert refused, outcome
        assert int(refused["source"], 16) == source_block[1]
        assert int(refused["destination"], 16) == target_block[1]
        if kind is not FileClass.OPTION_ROM:
            assert refused["block"] == source_block[0]


@pytest.mark.parametrize(("machine", "source", "destination"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_rule_on_qemu_7_2(machine: str, source: str, destination: str, files: Path,
                          tmp_path: Path) -> None:
    require_tool("qemu-system-x86_64")
    _prove(QEMU, QEMU, files, tmp_path, machine, source, destination)


@pytest.mark.parametrize(("machine", "source", "destination"), [c[1:] for c in ACROSS],
                         ids=[c[0] for c in ACROSS])
def test_rule_from_7_2_to_trixies_10_0(machine: str, source: str, destination: str,
                                        files: Path, trixie: Root, tmp_path: Path) -> None:
    target = trixie.command(QEMU, [tmp_path, files])
    with Qemu(target, tmp_path, "version", []) as running:
        assert version(running).startswith("10.0.")
    _prove(QEMU, target, files, tmp_path, machine, source, destination)
