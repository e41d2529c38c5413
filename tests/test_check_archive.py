"""check on Debian's real ipxe-qemu packages: bookworm, trixie and sid, and bug #881263's growth."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

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
    grown = tmp_path / "grown"
    grown.mkdir()
    for name, data in dpkg_roms(bookworm_deb).items():
        grow = 300544 - len(data) if name == "efi-virtio.rom" else 0
        (grown / name).write_bytes(data + b"\xff" * grow)
    result = check(bookworm_deb, grown, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == ("ipxe-compat: error: efi-virtio.rom: QEMU bucket changes from 256k to "
                             "512k, which breaks live migration\n")
    first = result.stdout.splitlines()[1].split()
    assert first[:2] == ["!!", "efi-virtio.rom"]
    assert "249344" in first and "300544" in first
    assert " ".join(first).count("256 KiB") == 1 and "512 KiB" in " ".join(first)
    data = json.loads(check(bookworm_deb, grown, "--json", cwd=tmp_path).stdout)
    (breaking,) = [row for row in data["roms"] if row["verdict"] == "breaks-migration"]
    assert breaking == {"name": "efi-virtio.rom", "class": "option-rom", "block": "*/TYPE.rom",
                        "old_size": 249344, "old_bucket": 262144, "new_size": 300544,
                        "new_bucket": 524288, "verdict": "breaks-migration"}


def test_guard_mode_on_the_sid_package(sid_deb: Path, tmp_path: Path) -> None:
    result = check(
        "--expect", "efi-*.rom=256k", "--expect", "pxe-*.rom=128k", sid_deb, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    result = check("--expect", "efi-*.rom=128k", sid_deb, cwd=tmp_path)
    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 8
