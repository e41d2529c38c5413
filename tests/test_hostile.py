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
    Case("traversal-only-rom", gen()(lambda d: write(d / "t.deb", deb_with_data(tar_with(
        [member("./../../evil/efi-a.rom", ROM)], {"./../../evil/efi-a.rom": ROM})))), 2,
        "no *.rom files"),
    Case("traversal-dotdot-inside", gen()(lambda d: write(d / "t.deb", deb_with_data(tar_with(
        [member("./usr/share/qemu/../../../../../efi-b.rom", ROM)],
        {"./usr/share/qemu/../../../../../efi-b.rom": ROM})))), 2, "no *.rom files"),
    Case("symlink-relative-escape", gen()(lambda d: write(d / "s.deb", deb_files(
        {"usr/share/qemu/efi-virtio.rom": ROM, **DOC},
        {"usr/share/qemu/efi-e1000.rom": "../../../../../etc/shadow"}))), 2,
        "efi-e1000.rom points outside the package"),
    Case("symlink-absolute-host-file", gen()(lambda d: write(d / "s.deb", deb_files(
        {"usr/share/qemu/efi-virtio.rom": ROM, **DOC},
        {"usr/share/qemu/efi-e1000.rom": "/etc/shadow"}))), 2, "does not resolve"),
    Case("symlink-loop", gen()(lambda d: write(d / "s.deb", deb_files(
        {**DOC}, {"usr/share/qemu/efi-a.rom": "efi-b.rom",
                  "usr/share/qemu/efi-b.rom": "efi-a.rom"}))), 2, "too many levels"),
    Case("symlink-dir-escape", gen()(lambda d: write(d / "s.deb", deb_files(
        {**DOC}, {"usr/share/qemu/efi-a.rom": "../x/efi-a.rom", "usr/share/x": "../../../.."}))),
        2, "points outside the package"),
    Case("hardlink-to-host-file", gen()(lambda d: write(d / "h.deb", deb_with_data(tar_with(
        [member("./usr/share/qemu/efi-a.rom", kind=tarfile.LNKTYPE, link="/etc/shadow")])))), 2,
        "no *.rom files"),
    Case("fifo-and-device", gen()(lambda d: write(d / "f.deb", deb_with_data(tar_with(
        [member("./usr/share/qemu/efi-a.rom", kind=tarfile.FIFOTYPE),
         member("./usr/share/qemu/efi-b.rom", kind=tarfile.CHRTYPE)])))), 2, "no *.rom files"),
    Case("rom-over-16mib", gen()(lambda d: write(d / "b.deb", deb_files(
        {"usr/share/qemu/efi-a.rom": BIG_ZERO_ROM, **DOC}))), 2, "no option ROM is that large"),
    Case("text-as-deb", gen()(lambda d: write(d / "t.deb", b"Package: ipxe-qemu\nhello\n")), 2,
         "not a readable Debian binary package"),
    Case("empty-deb", gen()(lambda d: write(d / "e.deb", b"")), 2,
         "not a readable Debian binary package"),
    Case("ar-without-data", gen()(lambda d: write(d / "a.deb", factory.ar_archive(
        [("debian-binary", b"2.0\n"), ("control.tar.gz", b"")]))), 2,
        "not a readable Debian binary package"),
    Case("ar-without-control", gen()(lambda d: write(d / "a.deb", factory.ar_archive(
        [("debian-binary", b"2.0\n"), ("data.tar.xz", factory.compress(b"", "xz"))]))), 2,
        "not a readable Debian binary package"),
    Case("corrupt-xz", gen()(lambda d: write(d / "c.deb", corrupt(deb_files(
        {"usr/share/qemu/efi-a.rom": NOISE[:4096], **DOC}), 0.6))), 2, "corrupt data member"),
    Case("corrupt-gz", gen()(lambda d: write(d / "c.deb", corrupt(deb_files(
        {"usr/share/qemu/efi-a.rom": NOISE[:4096], **DOC}, compression="gz"), 0.6))), 2,
        "corrupt data member"),
    Case("corrupt-zst", gen()(lambda d: write(d / "c.deb", corrupt(deb_files(
        {"usr/share/qemu/efi-a.rom": NOISE[:4096], **DOC}, compression="zst"), 0.6))), 2,
        "corrupt data member"),
    Case("truncated-deb", gen()(lambda d: write(d / "t.deb", deb_files(
        {"usr/share/qemu/efi-a.rom": NOISE, **DOC})[:-3000])), 2,
        "corrupt data member data.tar.xz: Compressed file ended before the end-of-stream marker"),
    Case("control-version-injection", gen()(lambda d: write(d / "v.deb", deb_files(
        {"usr/share/qemu/efi-a.rom": ROM, **DOC},
        control="Package: ipxe-qemu\nVersion: 1.0-1 ) evil\nArchitecture: all\n"))), 2,
        "Version field"),
    Case("control-bad-package-name", gen()(lambda d: write(d / "p.deb", deb_files(
        {"usr/share/qemu/efi-a.rom": ROM, **DOC},
        control="Package: Evil_Name\nVersion: 1.0-1\nArchitecture: all\n"))), 2, "Package field"),
    Case("rom-name-with-space", gen()(lambda d: write(d / "n.deb", deb_files(
        {"usr/share/qemu/efi-a b.rom": ROM, **DOC}))), 2, "ROM file name 'efi-a b.rom'"),
    # --- ROM input
    Case("rom-zero-image-length", rom_file(ROM[:factory.PCIR_AT + 0x10] + b"\0\0"
                                           + ROM[factory.PCIR_AT + 0x12:]), 1, "image length is 0"),
    Case("rom-pcir-outside", rom_file(ROM[:0x18] + b"\xf0\xff" + ROM[0x1A:]), 1, "outside the file"),
    Case("rom-truncated", rom_file(ROM[:1500]), 1, "runs past the end"),
    Case("rom-no-last-image", rom_file(factory.legacy_image() + factory.efi_image(last=False)), 1,
         "chain does not end"),
    Case("rom-no-signature", rom_file(b"MZ" + ROM[2:]), 1, "no option ROM signature"),
    Case("rom-random-bytes", rom_file(bytes((i * 7919) % 251 for i in range(4096))), 1,
         "offset 0x0"),
    Case("rom-empty", rom_file(b""), 1, "empty file"),
    # --- field input
    Case("maintainer-newline", gen("--maintainer", "A <a@b.org>\nDepends: evil")(good_deb), 2,
         "maintainer"),
    Case("maintainer-two-people", gen("--maintainer", "A <a@b.org>, B <c@d.org>")(good_deb), 2,
         "maintainer"),
    Case("distribution-field", gen("--distribution", "unstable\nUrgency: high")(good_deb), 2,
         "distribution"),
    Case("urgency-unknown", gen("--urgency", "now")(good_deb), 2, "urgency"),
    Case("source-name-uppercase", gen("--source-name", "Evil")(good_deb), 2, "source name"),
    Case("package-name-newline", gen("--package-name", "a\nb")(good_deb), 2, "package name"),
    Case("prefix-slash", gen("--prefix", "../")(good_deb), 2, "prefix"),
    Case("prefix-space", gen("--prefix", "a b-")(good_deb), 2, "prefix"),
    Case("install-dir-dotdot", gen("--install-dir", "/usr/share/../../etc")(good_deb), 2,
         "install dir"),
    Case("message-newline", gen("--message", "ok\nDepends: evil")(good_deb), 2, "changelog entry"),
    Case("version-space", gen("--newversion", "1:2.0 -1")(good_deb), 2, "version"),
    Case("origin-version-injection", lambda d: ["generate", write(d / "efi-x.rom", ROM), "-o",
                                                "out", "--origin-source", "ipxe",
                                                "--origin-version", "1.0-1)\nX: y"], 2,
         "origin version"),
    Case("size-not-pow2", gen("--size", "300k")(good_deb), 2, "not a power of two"),
    Case("size-too-large", gen("--size", "32M")(good_deb), 2, "larger than"),
    Case("date-bogus", gen("--date", "yesterday")(good_deb), 2, "date"),
    # --- output
    Case("output-is-a-file", _out_is_file, 2, "not a directory"),
    Case("output-exists", _existing, 2, "--force"),
    Case("changelog-garbage", _changelog_garbage, 2, "changelog"),
]


def run_case(case: Case, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    work = tmp_path / "work"
    work.mkdir()
    argv = case.build(work)
    result = subprocess.run([sys.executable, "-m", "ipxe_compat", *argv], cwd=work, text=True,
                            capture_output=True, env={**os.environ, **ENV, "TMPDIR": str(work)},
                            check=False)
    return result, work


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input_is_refused_cleanly(case: Case, tmp_path: Path) -> None:
    before = {p.name for p in tmp_path.parent.iterdir()}
    result, work = run_case(case, tmp_path)
    assert result.returncode == case.code, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ipxe-compat: error: "), result.stderr
    assert case.fragment in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    out = work / "out"
    if case.id == "output-exists":  # left as it was: no partial output, no staging directory
        left = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
        assert left == ["ipxe-qemu-256k-compat-1.0", "ipxe-qemu-256k-compat-1.0/mine"]
    else:  # a refusal creates nothing, not even OUTDIR
        assert not out.is_dir()
    assert {p.name for p in tmp_path.parent.iterdir()} == before  # nothing beside our dir
    assert not (tmp_path / "evil").exists() and not (tmp_path.parent / "efi-b.rom").exists()


def test_cases_are_distinct_and_readme_counts_them() -> None:
    """README tells users how many hostile cases run: that number must be this table's."""
    assert len({case.id for case in CASES}) == len(CASES)
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
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
    assert code == 2 and "no option ROM is that large" in stderr
    assert peak < 300
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_two_gib_other_member_streams_in_flat_memory(big_debs: dict[str, Path],
                                                     tmp_path: Path) -> None:
    code, peak, seconds, stderr = measured(["inspect", str(big_debs["other"])], tmp_path)
    print(f"2 GiB non-ROM member: exit {code}, peak {peak} MiB, {seconds} s")
    assert code == 0, stderr
    assert peak < 300
