"""Golden tests: every rendered file of debian/ for a fixed synthetic input, exact text.

Regenerate after an intended change with IPXE_COMPAT_UPDATE_GOLDEN=1, then read the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ipxe_compat.context import PackageContext, build_context
from ipxe_compat.errors import UsageError
from ipxe_compat.naming import PackageOptions
from ipxe_compat.plan import PlanOptions, make_plan
from ipxe_compat.render import render_debian
from ipxe_compat.sources import read_sources
from tests import factory

GOLDEN = Path(__file__).parent / "golden"
EPOCH = 1700000000


def context(tmp_path: Path, **overrides: object) -> PackageContext:
    deb = tmp_path / "ipxe-qemu_1.0+git1-2_all.deb"
    deb.write_bytes(factory.ipxe_qemu_deb(
        {"efi-virtio.rom": factory.efi_rom(1024, 1024),
         "efi-e1000.rom": factory.efi_rom(1536, 1024, vendor=0x8086, device=0x100E),
         "pxe-virtio.rom": factory.legacy_image(last=True)},
        version="1.0+git1-2"))
    romset = read_sources([str(deb)])
    plan_options = PlanOptions()
    options = PackageOptions(maintainer="Test Maintainer <test@example.org>", epoch=EPOCH)
    for key, value in overrides.items():
        options = PackageOptions(**{**options.__dict__, key: value})
    return build_context(make_plan(romset, plan_options), romset, plan_options, options)


def test_every_rendered_file_matches_golden(tmp_path: Path) -> None:
    rendered = render_debian(context(tmp_path))
    if os.environ.get("IPXE_COMPAT_UPDATE_GOLDEN"):
        for path, file in rendered.items():
            (GOLDEN / path).parent.mkdir(parents=True, exist_ok=True)
            (GOLDEN / path).write_bytes(file.data)
    expected = {str(p.relative_to(GOLDEN)) for p in GOLDEN.rglob("*") if p.is_file()}
    assert set(rendered) == expected
    for path, file in rendered.items():
        assert file.data.decode() == (GOLDEN / path).read_text(), path
    assert rendered["debian/rules"].mode == 0o755
    assert rendered["debian/control"].mode == 0o644


def test_context_defaults_come_from_the_origin(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    assert (ctx.source, ctx.package) == ("ipxe-qemu-256k-compat", "ipxe-qemu-256k-compat-efi-roms")
    assert (ctx.version, ctx.upstream_version) == ("1.0+git1-1", "1.0+git1")
    assert ctx.built_using == "ipxe (= 1.0+git1-2)"
    assert ctx.date == "Tue, 14 Nov 2023 22:13:20 +0000"
    assert [rom.name for rom in ctx.roms] == ["256k-efi-e1000.rom", "256k-efi-virtio.rom"]


def test_continued_changelog_keeps_history_and_needs_a_greater_version(tmp_path: Path) -> None:
    first = render_debian(context(tmp_path))["debian/changelog"].data.decode()
    second = render_debian(context(tmp_path, version="1.0+git1-2", messages=("Rebuild.",)),
                           previous_changelog=first)
    text = second["debian/changelog"].data.decode()
    assert text.startswith("ipxe-qemu-256k-compat (1.0+git1-2) unstable; urgency=medium\n\n  * Rebuild.\n")
    assert text.endswith(first)
    assert "debian/ipxe-qemu-256k-compat-efi-roms.lintian-overrides" not in second
    with pytest.raises(UsageError, match="not greater"):
        render_debian(context(tmp_path), previous_changelog=first)


@pytest.mark.parametrize(
    ("field", "value"),
    [("maintainer", "Evil <e@x.org>\nDepends: evil"), ("maintainer", "no email"),
     ("distribution", "unstable\n"), ("version", "1.0"), ("version", "1.0-1 evil"),
     ("source_name", "Bad_Name"), ("install_dir", "/usr/../etc"), ("install_dir", "relative"),
     ("messages", ("line\nDepends: x",))],
    ids=["maintainer-injection", "maintainer-no-email", "distribution-newline", "version-native",
         "version-space", "source-name", "install-dir-dotdot", "install-dir-relative",
         "message-newline"],
)
def test_field_values_are_validated(tmp_path: Path, field: str, value: object) -> None:
    with pytest.raises(UsageError):
        context(tmp_path, **{field: value})
