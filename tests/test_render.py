"""Golden tests: every rendered file of debian/ for fixed synthetic inputs, exact text, in two
configurations (the defaults; --copy with Ubuntu's prefix, one ROM and a Closes: line).

After an intended change, regenerate with IPXE_COMPAT_UPDATE_GOLDEN=1: the run rewrites the
goldens and FAILS, so that nothing passes in that mode; read ``git diff tests/golden``, then run
again without it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from ipxe_compat.errors import UsageError
from ipxe_compat.input import read_sources
from ipxe_compat.package import InputFile, PackageSpec, Request
from ipxe_compat.package.context import context_of
from ipxe_compat.package.render import render_debian
from ipxe_compat.package.spec import specify
from tests import factory

GOLDEN = Path(__file__).parent / "golden"
EPOCH = 1700000000
MAINTAINER = "Test Maintainer <test@example.org>"
CONFIGURATIONS = {
    "pad-256k": {},
    "copy-compat": {"mode": "copy", "prefix": "compat-256k-", "roms": ("efi-e1000.rom",),
                    "messages": ("Keep the ROMs of ipxe 1.0 for live migration. Closes: #881263",)},
}


def spec(tmp_path: Path, **overrides: object) -> PackageSpec:
    deb = tmp_path / "ipxe-qemu_1.0+git1-2_all.deb"
    deb.write_bytes(factory.ipxe_qemu_deb(
        {"efi-virtio.rom": factory.efi_rom(1024, 1024),
         "efi-e1000.rom": factory.efi_rom(1536, 1024, vendor=0x8086, device=0x100E),
         "pxe-virtio.rom": factory.legacy_image(last=True)},
        version="1.0+git1-2"))
    request = Request(**{"maintainer": MAINTAINER, "date": f"@{EPOCH}", **overrides})  # type: ignore[arg-type]
    return specify(request, lambda: read_sources([str(deb)]))


def render(tmp_path: Path, **overrides: object) -> dict[str, bytes]:
    return {path: file.data
            for path, file in render_debian(context_of(spec(tmp_path, **overrides))).items()}


@pytest.mark.parametrize("name", CONFIGURATIONS)
def test_every_rendered_file_matches_golden(tmp_path: Path, name: str) -> None:
    rendered = render(tmp_path, **CONFIGURATIONS[name])
    golden = GOLDEN / name
    if os.environ.get("IPXE_COMPAT_UPDATE_GOLDEN"):
        for stale in golden.rglob("*"):
            if stale.is_file() and str(stale.relative_to(golden)) not in rendered:
                stale.unlink()
        for path, data in rendered.items():
            (golden / path).parent.mkdir(parents=True, exist_ok=True)
            (golden / path).write_bytes(data)
        pytest.fail(f"rewrote {golden}: review 'git diff {golden}', then rerun without "
                    "IPXE_COMPAT_UPDATE_GOLDEN")
    expected = {str(p.relative_to(golden)) for p in golden.rglob("*") if p.is_file()}
    assert set(rendered) == expected
    for path, data in rendered.items():
        assert data.decode() == (golden / path).read_text(), path


def test_modes_and_what_the_configurations_differ_in(tmp_path: Path) -> None:
    files = render_debian(context_of(spec(tmp_path)))
    assert files["debian/rules"].mode == 0o755
    assert files["debian/control"].mode == 0o644
    copied = render(tmp_path, **CONFIGURATIONS["copy-compat"])
    readme = copied["debian/README.Debian"].decode()
    assert "romfile=compat-256k-efi-e1000.rom" in readme and "efi-virtio" not in readme
    assert "<model type='e1000'/>" in readme
    assert "padded" not in copied["debian/copyright"].decode()
    assert "padded" not in copied["debian/control"].decode()
    assert "debian/ipxe-qemu-256k-compat-efi-roms.lintian-overrides" not in copied  # Closes:


def test_spec_defaults_come_from_the_origin(tmp_path: Path) -> None:
    made = spec(tmp_path)
    assert (made.source, made.package) == (
        "ipxe-qemu-256k-compat",
        "ipxe-qemu-256k-compat-efi-roms",
    )
    assert (made.version, made.upstream_version) == ("1.0+git1-1", "1.0+git1")
    assert made.built_using == "ipxe (= 1.0+git1-2)"
    assert [rom.name for rom in made.roms] == ["256k-efi-e1000.rom", "256k-efi-virtio.rom"]
    assert context_of(made).date == "Tue, 14 Nov 2023 22:13:20 +0000"


def test_continued_changelog_keeps_history_and_needs_a_greater_version(tmp_path: Path) -> None:
    first = render(tmp_path)["debian/changelog"].decode()
    previous = InputFile("old/changelog", first)
    second = render(tmp_path, version="1.0+git1-2", messages=("Rebuild.",), changelog_from=previous)
    text = second["debian/changelog"].decode()
    assert text.startswith(
        "ipxe-qemu-256k-compat (1.0+git1-2) unstable; urgency=medium\n\n  * Rebuild.\n"
    )
    assert text.endswith(first)
    assert "Changelog-Continued: yes" in second["debian/ipxe-compat.recipe"].decode()
    assert "debian/ipxe-qemu-256k-compat-efi-roms.lintian-overrides" not in second
    with pytest.raises(UsageError, match="not greater") as caught:
        spec(tmp_path, changelog_from=previous)
    assert caught.value.path == "old/changelog"


def test_an_install_dir_with_a_trailing_slash_is_the_directory() -> None:
    """``--install-dir /usr/share/qemu/`` (as a shell completes it) names /usr/share/qemu, in
    generate and in qemu-config alike."""
    from ipxe_compat.core import fields
    from ipxe_compat.qemu import ConfigRequest

    assert fields.install_dir("/usr/share/qemu/") == "/usr/share/qemu"
    request = ConfigRequest.of("args", None, "/usr/share/qemu//", False, False)
    assert request.install_dir == "/usr/share/qemu"
    with pytest.raises(UsageError, match="is not an absolute, normalized path"):
        fields.install_dir("/")


MAINTAINER_FORM = "is not of the form 'Full Name <user@example.org>'"


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [("maintainer", "Evil <e@x.org>\nDepends: evil", MAINTAINER_FORM),
     ("maintainer", "no email", MAINTAINER_FORM),
     ("distribution", "unstable\n", "is not a suite name"),
     ("version", "1.0", "has no Debian revision"),
     ("version", "1.0-1 evil", "is not a Debian version"),
     ("source_name", "Bad_Name", "is not a Debian package name"),
     ("install_dir", "/usr/../etc", "is not an absolute, normalized path"),
     ("install_dir", "relative", "is not an absolute, normalized path"),
     ("messages", ("line\nDepends: x",), "must be one non-empty line"),
     ("mode", "banana", "is not pad or copy"), ("pad_byte", "0x1ff", "is not a byte value"),
     ("roms", (), "no --roms GLOB"), ("roms", ("efi-*\n",), "must be a non-empty pattern"),
     ("date", "@-1", "is not a number of seconds from 1970"),
     ("size", "32M", "is larger than any option ROM")],
    ids=["maintainer-injection", "maintainer-no-email", "distribution-newline", "version-native",
         "version-space", "source-name", "install-dir-dotdot", "install-dir-relative",
         "message-newline", "mode", "pad-byte", "no-globs", "glob-newline", "date-negative",
         "size-too-large"],
)
def test_field_values_are_validated_before_inputs_are_read(field: str, value: object,
                                                          error: str) -> None:
    def inputs() -> None:
        raise AssertionError("inputs read before every option was valid")

    fields: dict[str, object] = {"maintainer": MAINTAINER, "date": f"@{EPOCH}", field: value}
    request = Request(**fields)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match=re.escape(error)):
        specify(request, inputs)  # type: ignore[arg-type]


def tree(top: Path, files: dict[str, str]) -> Path:
    for path, text in files.items():
        (top / path).parent.mkdir(parents=True, exist_ok=True)
        (top / path).write_text(text)
    top.mkdir(exist_ok=True)
    return top


@pytest.mark.parametrize(("templates", "skeleton", "clash"), [
    ({"debian/rules.j2": "x"}, {"debian/rules": "y"}, "debian/rules"),
    ({"debian/changelog.j2": "x"}, {}, "debian/changelog"),
    ({}, {"debian/copyright": "y"}, "debian/copyright"),
    ({"debian/PACKAGE.docs.j2": "x"}, {"debian/ipxe-qemu-256k-compat-efi-roms.docs": "y"},
     "debian/ipxe-qemu-256k-compat-efi-roms.docs"),
], ids=["template-vs-skeleton", "template-vs-changelog", "skeleton-vs-copyright", "package-name"])
def test_two_makers_of_one_path_are_refused(tmp_path: Path, templates: dict[str, str],
                                            skeleton: dict[str, str], clash: str) -> None:
    ctx = context_of(spec(tmp_path))
    with pytest.raises(RuntimeError, match=f"both write {clash}$"):
        render_debian(ctx, tree(tmp_path / "t", templates), tree(tmp_path / "s", skeleton))
