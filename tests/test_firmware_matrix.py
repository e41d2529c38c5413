"""The release matrix: every firmware package QEMU loads from (ipxe-qemu, seabios, ovmf,
qemu-system-data) in bullseye, bookworm, trixie and sid, as Debian's archive serves them, checked
upgrade step by upgrade step with ``ipxe-compat check A B C D`` (the chain form), per package and
per host (the four packages of a suite unpacked into one root, read as QEMU finds the files).

The table docs/firmware.md shows is rendered here from what check says, and must be the one in
the document: ``IPXE_COMPAT_UPDATE_DOCS=1`` rewrites it (then read ``git diff docs``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests import archive
from tests.conftest import _cannot, require_tool
from tests.tools import run

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DOC = Path(__file__).resolve().parent.parent / "docs" / "firmware.md"
BEGIN, END = "<!-- release-matrix: begin -->", "<!-- release-matrix: end -->"
STEPS = [f"{a} -> {b}" for a, b in zip(archive.SUITES, archive.SUITES[1:], strict=False)]


def _debs(package: str, suite: str) -> list[Path]:
    require_tool("apt-get", "dpkg-deb")
    try:
        return archive.fetch_firmware(package, suite)
    except (RuntimeError, OSError) as error:
        _cannot(str(error))


def check_json(*sources: str | Path, cwd: Path) -> dict[str, Any]:
    result = subprocess.run([sys.executable, "-m", "ipxe_compat", "check", "--json",
                             *map(str, sources)], capture_output=True, text=True, cwd=cwd,
                            check=False)
    assert result.returncode in (0, 1), result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def _merged(package: str, suite: str, into: Path) -> Path:
    """One directory per suite: a package of several .debs (sid's ovmf) unpacked together."""
    target = into / package / suite
    if not target.exists():
        target.mkdir(parents=True)
        for deb in _debs(package, suite):
            run(["dpkg-deb", "-x", deb, target])
    return target


def cell(step: dict[str, Any]) -> str:
    """A matrix cell: ok, or what breaks (block and sizes) and what is removed."""
    parts = []
    for row in step["roms"]:
        if row["verdict"] == "breaks-migration":
            parts.append(f"**breaks** `{row['block'] or row['block_rule']}`: `{row['name']}` "
                         f"{row['old_size']} -> {row['new_size']}")
    removed = [f"`{row['name']}`" for row in step["roms"] if row["verdict"] == "removed"]
    if removed:
        parts.append("**removed** " + ", ".join(removed))
    return "; ".join(parts) or "ok"


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """Row label -> one cell per upgrade step."""
    work = tmp_path_factory.mktemp("matrix")
    rows: dict[str, list[str]] = {}
    for package in archive.FIRMWARE:
        suites = [_merged(package, suite, work) for suite in archive.SUITES]
        steps = check_json(*suites, cwd=work)["steps"]
        rows[f"`{package}`"] = [cell(step) for step in steps]
    hosts = []
    for suite in archive.SUITES:
        root = work / "host" / suite
        root.mkdir(parents=True)
        for package in archive.FIRMWARE:
            for deb in _debs(package, suite):
                run(["dpkg-deb", "-x", deb, root])
        hosts.append(root)
    rows["host: all four, as QEMU finds them"] = [
        cell(step) for step in check_json(*hosts, cwd=work)["steps"]]
    return rows


def render(rows: dict[str, list[str]]) -> str:
    header = ["package", *STEPS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join([label, *cells]) + " |" for label, cells in rows.items()]
    return "\n".join(lines)


def test_the_release_matrix(matrix: dict[str, list[str]]) -> None:
    ipxe, seabios, ovmf, data, host = matrix.values()
    assert ipxe == ["ok", "ok", "ok"]
    # seabios moved its fw_cfg ROMs to qemu-system-data: the package lost them, a host did not
    assert seabios[0].startswith("**removed** `extboot.bin`, `kvmvapic.bin`")
    assert seabios[1:] == ["ok", "ok"]
    assert ovmf[0] == "ok"
    assert ovmf[1] == ("**breaks** `pc.bios`: `OVMF.fd` 2097152 -> 4194304; **removed** "
                       "`OVMF_CODE.fd`, `OVMF_CODE.ms.fd`, `OVMF_CODE.secboot.fd`, "
                       "`OVMF_VARS.fd`, `OVMF_VARS.ms.fd`")
    assert ovmf[2] == "ok"  # sid: ovmf-generic, -amdsev, -inteltdx, the metapackage followed
    assert data == ["ok", "**removed** `bios-microvm.bin`, `sgabios.bin`",
                    "**removed** `linuxboot.bin`, `multiboot.bin`"]
    # A host sees what no package shows: microvm's bios-microvm.bin was qboot.rom (64 KiB,
    # qemu-system-data's link, first on QEMU's path) and is seabios' 128 KiB build on trixie.
    # extboot.bin and vapic.bin (a link to kvmvapic.bin): names no QEMU since 1.x loads
    assert host[0] == "**removed** `extboot.bin`, `vapic.bin`"
    assert host[1] == ("**breaks** `pc.bios`: `OVMF.fd` 2097152 -> 4194304; **breaks** "
                       "`pc.bios`: `bios-microvm.bin` 65536 -> 131072; **removed** "
                       "`OVMF_CODE.fd`, `OVMF_CODE.ms.fd`, `OVMF_CODE.secboot.fd`, "
                       "`OVMF_VARS.fd`, `OVMF_VARS.ms.fd`, `sgabios.bin`")
    assert host[2] == "**removed** `linuxboot.bin`, `multiboot.bin`"


def test_docs_show_this_matrix(matrix: dict[str, list[str]]) -> None:
    table = render(matrix)
    text = DOC.read_text()
    found = re.search(re.escape(BEGIN) + r"\n(.*?)\n" + re.escape(END), text, re.DOTALL)
    assert found, f"{DOC} has no {BEGIN} ... {END} section"
    if os.environ.get("IPXE_COMPAT_UPDATE_DOCS"):
        DOC.write_text(text[:found.start(1)] + table + text[found.end(1):])
        pytest.fail("docs/firmware.md rewritten: read git diff docs, then rerun without "
                    "IPXE_COMPAT_UPDATE_DOCS")
    assert found.group(1) == table


def test_check_against_a_healthy_trixie_host(bookworm_deb: Path, tmp_path: Path) -> None:
    """``check OLD.deb /usr/share/qemu`` on trixie (a root with qemu-system-x86 and what it
    brings): every ROM ok; qboot.rom is a -bios image and the fw_cfg ROMs are classified, not
    failed as broken option ROMs."""
    from tests.roots import RootSpec, ensure_root

    require_tool("mmdebstrap")
    try:
        root = ensure_root(RootSpec("trixie", ("qemu-system-x86",)))
    except RuntimeError as error:
        _cannot(str(error))
    result = subprocess.run([sys.executable, "-m", "ipxe_compat", "check", "--json", bookworm_deb,
                             root.path / "usr/share/qemu"], capture_output=True, text=True,
                            cwd=tmp_path, check=False)
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)["roms"]}
    assert rows["qboot.rom"]["class"] == "bios" and rows["qboot.rom"]["verdict"] == "only-new"
    assert rows["kvmvapic.bin"]["class"] == "genrom"
    assert {r["verdict"] for n, r in rows.items() if n.endswith(".rom") and n != "qboot.rom"} == {
        "ok"}
