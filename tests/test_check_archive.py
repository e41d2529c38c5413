"""check on Debian's real ipxe-qemu packages: bookworm, trixie and sid, and bug #881263's growth."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import archive
from tests.dpkg import dpkg_roms

pytestmark = pytest.mark.integration


def check(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ipxe_compat", "check", *map(str, args)],
                          cwd=cwd, text=True, capture_output=True, check=False)


@pytest.mark.parametrize(
    ("old", "new"),
    [("bookworm_deb", "trixie_deb"), ("bookworm_deb", "sid_deb"), ("trixie_deb", "sid_deb")],
)
def test_debian_releases_keep_every_rom_in_its_bucket(old: str, new: str, tmp_path: Path,
                                                      request: pytest.FixtureRequest) -> None:
    result = check(
        request.getfixturevalue(old), request.getfixturevalue(new), "--json", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert len(data["roms"]) == 16
    assert {row["verdict"] for row in data["roms"]} == {"ok"}
    buckets = {row["name"]: row["new_bucket"] for row in data["roms"]}
    assert buckets["efi-virtio.rom"] == 262144 and buckets["pxe-virtio.rom"] == 131072


def test_seed_growth_of_efi_virtio_breaks_migration(bookworm_deb: Path, tmp_path: Path) -> None:
    """Bug #881263's case: efi-virtio.rom grows to 300544 bytes, crossing 256 KiB."""
    write_set(tmp_path / "grown", dpkg_roms(bookworm_deb), GROWN)
    result = check(bookworm_deb, "grown", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == ("ipxe-compat: error: grown/efi-virtio.rom: QEMU bucket changes from "
                             "256k to 512k, which breaks live migration\n")
    first = result.stdout.splitlines()[1].split()
    assert first[:2] == ["!!", "efi-virtio.rom"]
    assert "249344" in first and "300544" in first
    assert " ".join(first).count("256 KiB") == 1 and "512 KiB" in " ".join(first)
    data = json.loads(check(bookworm_deb, "grown", "--json", cwd=tmp_path).stdout)
    (breaking,) = [row for row in data["roms"] if row["verdict"] == "breaks-migration"]
    assert breaking == {"name": "efi-virtio.rom", "class": "option-rom", "block": None,
                        "block_rule": "ADDR/TYPE.rom", "old_size": 249344, "old_bucket": 262144,
                        "new_size": 300544, "new_bucket": 524288, "verdict": "breaks-migration",
                        "valid": True, "errors": []}


#: docs/check.md's bad/: efi-virtio.rom's signature zeroed, a byte of efi-e1000.rom's legacy
#: image changed (its checksum fails).
BROKEN = {"efi-virtio.rom": lambda d: b"\0\0" + d[2:],
          "efi-e1000.rom": lambda d: d[:100] + bytes([d[100] ^ 0x11]) + d[101:]}
#: docs/check.md's grown/: bug #881263's efi-virtio.rom of 300544 bytes.
GROWN = {"efi-virtio.rom": lambda d: d + b"\xff" * (300544 - len(d))}


def write_set(directory: Path, roms: dict[str, bytes],
              changes: dict[str, Callable[[bytes], bytes]]) -> None:
    directory.mkdir()
    for name, data in roms.items():
        (directory / name).write_bytes(changes[name](data) if name in changes else data)


def test_a_broken_rom_of_the_right_size_is_invalid_not_ok(bookworm_deb: Path,
                                                           tmp_path: Path) -> None:
    """Bookworm's EFI ROMs with efi-virtio.rom's signature zeroed and a byte of efi-e1000.rom's
    legacy image changed: exit 1, and the table and the JSON say which and why, not ok."""
    write_set(tmp_path / "bad", dpkg_roms(bookworm_deb), BROKEN)
    result = check(bookworm_deb, "bad", "--roms", "efi-*", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "ipxe-compat: error: bad/efi-e1000.rom: offset 0x0: legacy image checksum does not sum to "
        "0 mod 256",
        "ipxe-compat: error: bad/efi-virtio.rom: offset 0x0: no option ROM signature 55 aa "
        "(found 00 00)"]
    lines = result.stdout.splitlines()
    assert [line.split()[:2] + line.split()[-1:] for line in lines[1:3]] == [
        ["!!", "efi-e1000.rom", "invalid"], ["!!", "efi-virtio.rom", "invalid"]]
    assert lines[-1] == "8 ROMs: 6 ok, 0 breaks-migration, 0 removed, 0 only-old, 0 only-new, " \
                        "2 invalid"
    data = json.loads(check(bookworm_deb, "bad", "--roms", "efi-*", "--json", cwd=tmp_path).stdout)
    invalid = {row["name"]: [e["message"] for e in row["errors"]]
               for row in data["roms"] if row["verdict"] == "invalid" and not row["valid"]}
    assert invalid == {"efi-e1000.rom": ["legacy image checksum does not sum to 0 mod 256"],
                       "efi-virtio.rom": ["no option ROM signature 55 aa (found 00 00)"]}
    assert data["summary"]["invalid"] == 2 and not data["summary"]["breaks_migration"]


def test_guard_mode_on_the_sid_package(sid_deb: Path, tmp_path: Path) -> None:
    result = check(
        "--expect", "efi-*.rom=256k", "--expect", "pxe-*.rom=128k", sid_deb, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    result = check("--expect", "efi-*.rom=128k", sid_deb, cwd=tmp_path)
    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 8


DOC = Path(__file__).resolve().parent.parent / "docs" / "check.md"
#: A sample of docs/check.md: ``$ ipxe-compat inspect|check ...`` and what it prints (``...``
#: stands for lines left out). JSON samples are abridged and reflowed: not held here.
SAMPLE = re.compile(r"```\n(\$ ipxe-compat (?:inspect|check) .*?)```", re.DOTALL)


def _expected(lines: list[str]) -> re.Pattern[str]:
    parts = [r"(?:[^\n]*\n)*[^\n]*" if line.strip() == "..." else re.escape(line)
             for line in lines]
    return re.compile("\n".join(parts))


def test_check_md_samples_are_what_the_commands_print(bookworm_deb: Path, trixie_deb: Path,
                                                      sid_deb: Path, tmp_path: Path) -> None:
    """Every inspect/check sample of docs/check.md, run on the archive's packages and on the
    grown/ and bad/ sets it describes, prints what the page shows (it once lacked CLASS,
    said OLD BUCKET and counted no removed)."""
    ovmf = archive.fetch("2022.11-6+deb12u2", "ovmf")
    for deb in (bookworm_deb, trixie_deb, sid_deb, ovmf):
        (tmp_path / deb.name).symlink_to(deb)
    roms = dpkg_roms(bookworm_deb)
    write_set(tmp_path / "grown", roms, GROWN)
    write_set(tmp_path / "bad", roms, BROKEN)
    samples = [block for block in SAMPLE.findall(DOC.read_text()) if "--json" not in block]
    assert len(samples) >= 5
    for block in samples:
        runs = re.split(r"^\$ ", block, flags=re.MULTILINE)[1:]
        status = None
        for run in runs:
            command, *shown = run.rstrip("\n").split("\n")
            if command == "echo $?":
                assert shown == [str(status)], block
                continue
            result = subprocess.run([sys.executable, "-m", "ipxe_compat",
                                     *shlex.split(command)[1:]], cwd=tmp_path, text=True,
                                    capture_output=True, check=False)
            status = result.returncode
            printed = (result.stdout + result.stderr).rstrip("\n")
            assert _expected(shown).fullmatch(printed), (command, printed)
