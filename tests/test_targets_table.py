"""The target table: every suite has one row, and the row decides the control fields. Pure."""

from __future__ import annotations

import pytest

from ipxe_compat.errors import UsageError
from ipxe_compat.package.copyright import Statement
from ipxe_compat.package.targets import TARGETS, target_of


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
