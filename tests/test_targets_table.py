"""The target table: every suite has one row, and the row decides the control fields; every suite
has the version suffix Debian's conventions give it. Pure."""

from __future__ import annotations

from pathlib import Path

import pytest
from debian.debian_support import Version

from ipxe_compat.errors import UsageError
from ipxe_compat.input import read_sources
from ipxe_compat.package import Request
from ipxe_compat.package.copyright import Statement
from ipxe_compat.package.spec import specify
from ipxe_compat.package.targets import TARGETS, revision_suffix, target_of
from tests import factory


def test_each_suite_is_in_exactly_one_row() -> None:
    suites = [suite for target in TARGETS for suite in target.suites]
    assert len(suites) == len(set(suites))


@pytest.mark.parametrize(("distribution", "row", "compat", "standards"), [
    ("unstable", "sid", 14, "4.7.4"), ("experimental", "sid", 14, "4.7.4"),
    ("trixie", "trixie", 13, "4.7.2"), ("bookworm-backports", "bookworm", 13, "4.6.2"),
])
def test_distribution_picks_its_row(distribution: str, row: str, compat: int,
                                    standards: str) -> None:
    target = target_of(distribution)
    assert (target.name, target.debhelper_compat, target.standards_version) == (
        row, compat, standards)


def test_sids_lintian_gets_no_tag_it_does_not_know() -> None:
    """sid's lintian dropped built-using-field-on-arch-all-package: overriding it is an error."""
    tags = {override.tag for override in target_of("unstable").source_overrides}
    assert "built-using-field-on-arch-all-package" not in tags
    assert "built-using-field-on-arch-all-package" in {
        override.tag for override in target_of("bookworm").source_overrides}


def test_unknown_distribution_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="no lintian target"):
        target_of("noble")


@pytest.mark.parametrize(("expressions", "line"), [
    (("GPL-2+",), "GPL-2+"),
    (("GPL-2+", "GPL-2+ and Expat", "BSD-3-clause or GPL-2"),
     "GPL-2+ and Expat, and BSD-3-clause or GPL-2"),
    (("MPL-1.1 or GPL-2",), "MPL-1.1 or GPL-2"),
    (("A or B", "C or D"), "A or B, and C or D"),
], ids=["one", "and-then-choice", "only-choice", "two-choices"])
def test_license_line_keeps_each_choice_whole(expressions: tuple[str, ...], line: str) -> None:
    statement = Statement("ipxe", "", (), (), {}, expressions)
    assert statement.license_line == line


@pytest.mark.parametrize(("distribution", "suffix"), [
    ("unstable", ""), ("sid", ""), ("UNRELEASED", ""), ("experimental", "~exp1"),
    ("forky", "+deb14u1"), ("testing", "+deb14u1"),
    ("trixie", "+deb13u1"), ("stable", "+deb13u1"), ("trixie-security", "+deb13u1"),
    ("trixie-proposed-updates", "+deb13u1"), ("trixie-backports", "~bpo13+1"),
    ("bookworm", "+deb12u1"), ("oldstable", "+deb12u1"), ("bookworm-backports", "~bpo12+1"),
    ("bookworm-backports-sloppy", "~bpo12+1"),
])
def test_each_suite_gets_debians_revision_suffix(distribution: str, suffix: str) -> None:
    assert revision_suffix(distribution) == suffix


def test_every_suite_of_the_table_has_a_suffix() -> None:
    for target in TARGETS:
        for suite in target.suites:
            assert Version(f"1.0-1{revision_suffix(suite)}")  # a valid Debian version


#: One suite per release and channel: what one archive or repository may serve side by side.
CHANNELS = ("unstable", "experimental", "forky", "trixie", "trixie-backports", "bookworm",
            "bookworm-backports")


def test_no_two_releases_or_channels_share_a_version() -> None:
    versions = [f"1.0-1{revision_suffix(suite)}" for suite in CHANNELS]
    assert len(set(versions)) == len(versions)


@pytest.mark.parametrize(("lower", "higher"), [
    ("bookworm-backports", "bookworm"), ("bookworm", "trixie"), ("trixie-backports", "trixie"),
    ("bookworm-backports", "trixie"), ("trixie", "forky"), ("experimental", "unstable"),
], ids=lambda suite: suite)
def test_upgrades_sort_upwards(lower: str, higher: str) -> None:
    """An upgrade to the next release, or from backports to the release, installs the newer
    build (unstable's plain -1 sorts below +debXu1: the next unstable revision, -2, is above
    every one of them, as in the Developer's Reference's own example, 5.11.2)."""
    assert Version(f"1.0-1{revision_suffix(lower)}") < Version(f"1.0-1{revision_suffix(higher)}")


def test_generated_packages_for_two_releases_differ_in_version(tmp_path: Path) -> None:
    """The complaint: bookworm's and trixie's packages carried 1.0+git1-1 both."""
    deb = tmp_path / "ipxe-qemu_1.0+git1-2_all.deb"
    deb.write_bytes(factory.ipxe_qemu_deb({"efi-virtio.rom": factory.efi_rom()},
                                          version="1.0+git1-2"))
    versions = {
        suite: specify(Request(maintainer="T <t@example.org>", date="@1700000000",
                               distribution=suite), lambda: read_sources([str(deb)])).version
        for suite in ("unstable", "trixie", "bookworm", "bookworm-backports")}
    assert versions == {"unstable": "1.0+git1-1", "trixie": "1.0+git1-1+deb13u1",
                        "bookworm": "1.0+git1-1+deb12u1",
                        "bookworm-backports": "1.0+git1-1~bpo12+1"}
    explicit = specify(Request(maintainer="T <t@example.org>", date="@1700000000",
                               distribution="bookworm", version="1.0+git1-3"),
                       lambda: read_sources([str(deb)])).version
    assert explicit == "1.0+git1-3"  # --newversion is taken as given
