"""Examples work as printed, on the system they name: what the generated README.Debian tells an
admin to put into a libvirt domain, and what ``ipxe-compat generate --help`` tells a maintainer on
Debian 12 to run."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ipxe_compat.input import read_sources
from ipxe_compat.package import Request
from ipxe_compat.package.context import context_of
from ipxe_compat.package.render import render_debian
from ipxe_compat.package.spec import specify
from tests import factory
from tests.cli_run import run_cli
from tests.conftest import require_tool
from tests.tools import run

#: A complete domain around the example, as an admin would have one (TCG, no disk).
DOMAIN = """<domain type='qemu'>
  <name>example</name>
  <memory unit='MiB'>64</memory>
  <os><type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type></os>
  <devices>
{interface}
  </devices>
</domain>
"""


def readme_debian(tmp_path: Path, **options: object) -> str:
    deb = tmp_path / "ipxe-qemu_1.0+git1-2_all.deb"
    deb.write_bytes(factory.ipxe_qemu_deb(
        {"efi-virtio.rom": factory.efi_rom(1024, 1024),
         "efi-e1000.rom": factory.efi_rom(1536, 1024, vendor=0x8086, device=0x100E)},
        version="1.0+git1-2"))
    request = Request(**{"maintainer": "T <t@example.org>", "date": "@1700000000",  # type: ignore[arg-type]
                         **options})
    files = render_debian(context_of(specify(request, lambda: read_sources([str(deb)]))))
    return files["debian/README.Debian"].data.decode()


def valid_domain(interface: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    xml = tmp_path / "domain.xml"
    xml.write_text(DOMAIN.format(interface=textwrap.indent(interface, "    ")))
    return subprocess.run(["virt-xml-validate", str(xml), "domain"], capture_output=True,
                          text=True, check=False)


@pytest.mark.integration
@pytest.mark.parametrize("options", [{}, {"prefix": "compat-256k-", "roms": ("efi-e1000.rom",)}],
                         ids=["defaults", "one-rom-ubuntu-prefix"])
def test_readme_debians_libvirt_example_validates(options: dict[str, object],
                                                  tmp_path: Path) -> None:
    require_tool("virt-xml-validate")
    text = readme_debian(tmp_path, **options)
    example = re.search(r"^( *<interface .*?</interface>)$", text, re.MULTILINE | re.DOTALL)
    assert example is not None, text
    interface = textwrap.dedent(example[1])
    assert "<rom file='/usr/share/qemu/" in interface
    result = valid_domain(interface, tmp_path)
    assert result.returncode == 0, result.stderr
    # the validator does judge the snippet: the example as it was (no <source>) is refused
    sourceless = re.sub(r"\n *<source [^>]*/>", "", interface)
    assert sourceless != interface and valid_domain(sourceless, tmp_path).returncode != 0


def help_examples(command: str) -> list[str]:
    """The example command lines of ``ipxe-compat COMMAND --help`` as printed, continuations
    joined."""
    printed = run_cli([command, "--help"], Path.cwd()).stdout
    block = re.search(r"^  Examples?\b[^\n]*:\n((?:    .*\n)+)", printed, re.MULTILINE)
    assert block is not None, printed
    return block[1].replace("\\\n", " ").split("\n")[:-1]


#: What a maintainer's shell on Debian 12 has: the tool on PATH, a name for the changelog.
MAINTAINER_ENV = {"PATH": f"{Path(sys.executable).parent}:/usr/sbin:/usr/bin:/sbin:/bin",
                  "DEBFULLNAME": "Example Maintainer", "DEBEMAIL": "maintainer@example.org"}


@pytest.mark.integration
def test_generate_help_example_builds_on_debian_12(tmp_path: Path) -> None:
    """Run as printed, in an empty directory of this Debian 12 machine: apt-get download, generate,
    dpkg-buildpackage; then inspect's example on what was downloaded."""
    require_tool("apt-get", "dpkg-buildpackage", "dh", "fakeroot")
    lines = [" ".join(line.split()) for line in help_examples("generate")]
    assert lines[0].startswith("apt-get download ipxe-qemu=")
    run(["sh", "-ec", "\n".join(lines)], cwd=tmp_path, env=MAINTAINER_ENV)
    (deb,) = tmp_path.glob("build/ipxe-qemu-256k-compat-efi-roms_*+deb12u1_all.deb")
    (inspect_line,) = help_examples("inspect")
    inspected = run(["sh", "-ec", inspect_line], cwd=tmp_path, env=MAINTAINER_ENV)
    assert "efi-virtio.rom: 249344 bytes" in inspected.stdout
    assert deb.stat().st_size > 0


README = Path(__file__).resolve().parent.parent / "README.md"


def readme_blocks(section: str, kind: str) -> list[str]:
    """The ```KIND blocks of README's section ``## SECTION...``, in order."""
    part = README.read_text().split(f"\n## {section}", 1)[1].split("\n## ", 1)[0]
    blocks: list[tuple[str, list[str]]] = []
    inside = False
    for line in part.splitlines():
        if line.startswith("```"):
            if not inside:
                blocks.append((line[3:], []))
            inside = not inside
        elif inside:
            blocks[-1][1].append(line)
    return ["\n".join(lines) + "\n" for fence, lines in blocks if fence == kind]


@pytest.mark.integration
def test_readme_examples_run_as_printed_on_debian_12(tmp_path: Path) -> None:
    """The maintainer's example, then the host admin's verify-migration, in an empty directory
    of this Debian 12 machine; what README says they print, they print."""
    require_tool("apt-get", "dpkg-buildpackage", "dh", "fakeroot", "qemu-system-x86_64")
    (maintainer,) = readme_blocks("The maintainer", "sh")
    lines = maintainer.strip().splitlines()
    # one shell, as a user types them; a marker after each line parts their outputs
    shell = "set -e\n" + "".join(f"{line}\necho '--- next'\n" for line in lines)
    printed = run(["sh", "-c", shell], cwd=tmp_path, env=MAINTAINER_ENV).stdout
    *_, check, config, _ = printed.split("--- next\n")
    text = README.read_text()
    deb = re.search(r"`(build/ipxe-qemu-256k-compat-efi-roms_\S+_all\.deb)` installs", text)
    assert deb is not None and (tmp_path / deb[1]).exists()
    assert "8 ROMs: 8 ok" in check and "8 ROMs: 8 ok" in text
    (flags,) = [block for block in readme_blocks("The maintainer", "") if "-global" in block]
    assert [line for line in flags.splitlines() if line != "..."] == [
        line for line in config.splitlines() if line in flags.splitlines()]
    verify, _preflight = readme_blocks("The host admin", "sh")  # preflight: tests/test_preflight.py
    migrated = run(["sh", "-ec", verify], cwd=tmp_path, env=MAINTAINER_ENV).stdout
    (report,) = [block for block in readme_blocks("The host admin", "") if "DEVICE" in block]
    for line in report.splitlines():
        if line != "...":
            assert line in migrated.splitlines(), (line, migrated)


def test_readme_guard_is_the_one_proven_in_sbuild() -> None:
    """README's debian/rules lines are tests/data/ipxe-like's (built in sbuild by
    tests/test_build_guard.py), at ipxe-qemu's install path."""
    (snippet,) = readme_blocks("The archive's build", "make")
    shown = [line.strip() for line in snippet.splitlines() if "ipxe-compat check" in line]
    rules = (Path(__file__).parent / "data" / "ipxe-like" / "debian" / "rules").read_text()
    proven = [line.strip().replace("debian/ipxe-like-qemu/usr/lib/ipxe/qemu",
                                   "debian/ipxe-qemu/usr/share/qemu")
              for line in rules.splitlines() if "ipxe-compat check" in line]
    assert shown == proven and len(shown) == 2


@pytest.mark.integration
@pytest.mark.slow
def test_qemu_config_and_verify_migration_help_examples_run_as_printed(
        bookworm_deb: Path, compat_deb: Path, tmp_path: Path) -> None:
    """In a directory holding the old ipxe-qemu .deb, the compat .deb and trixie's QEMU source
    (as `apt-get source qemu` leaves it): every example that names no other root runs as printed.
    Those with `chroot /srv/trixie` need a root that sees $TMPDIR (docs/cli.md, "QEMU commands
    anywhere"); the `virsh dumpxml` one a libvirt host (tests/test_host.py)."""
    require_tool("qemu-system-x86_64", "dpkg-source", "quilt")
    from tests.qemu_build import TRIXIE_QEMU, fetch_source
    shutil.copy(bookworm_deb, tmp_path)
    shutil.copy(compat_deb, tmp_path)
    run(["dpkg-source", "--no-check", "-x", fetch_source(), "qemu-10.0.13+ds"], cwd=tmp_path)
    assert TRIXIE_QEMU.endswith("10.0.13+ds-0+deb13u1")
    examples = [line for command in ("qemu-config", "verify-migration")
                for line in help_examples(command)
                if "/srv/" not in line and not line.strip().startswith("virsh")]
    assert len(examples) == 4, examples
    for example in examples:
        run(["sh", "-ec", " ".join(example.split())], cwd=tmp_path, env=MAINTAINER_ENV)
    patch = (tmp_path / "256k-compat-roms.patch").read_text()
    assert '{ "virtio-net-pci-base", "romfile", "256k-efi-virtio.rom" },' in patch
    assert (tmp_path / "control.diff").read_text().startswith("--- a/debian/control")
    assert "-global virtio-net-pci-base.romfile=256k-efi-virtio.rom" in (
        tmp_path / "compat.args").read_text()
