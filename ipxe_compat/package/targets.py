"""What each target distribution wants of the generated package: one table of lintian rows, and
the Debian revision each suite's upload carries. Pure.

An upload is judged by the lintian of the suite it goes to (unstable's today is 2.143, trixie's
2.122, bookworm's 2.116), and they disagree: a field one requires is redundant for another, a tag
one knows is an ``alien-tag`` error for another, and an override a newer lintian no longer needs is
an ``unused-override``. ``--distribution`` picks a row here; nothing else in the package code
asks which distribution it is. Each row was checked with that suite's own lintian
(``lintian --pedantic -I -E`` on the .dsc, the .deb and the .changes).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UsageError


@dataclass(frozen=True)
class Override:
    """A lintian override and the reason written above it."""

    tag: str
    reason: str
    context: str = ""

    @property
    def line(self) -> str:
        return f"{self.tag} {self.context}".rstrip()


BUILT_USING = Override(
    "built-using-field-on-arch-all-package",
    "Policy 7.8 allows Built-Using on Architecture: all packages, and these ROMs are built from "
    "the\nipxe source, which the archive must keep; lintian bug #999785 records that this tag is "
    "wrong here.",
)
NO_WATCH = Override(
    "debian-watch-file-is-missing",
    "The upstream tarball is the ROMs of a Debian binary package (see debian/README.source); "
    "there\nis no upstream release to watch.",
)
LONG_LINES = Override(
    "very-long-line-length-in-source-file",
    "Option ROMs are binary images, not text.", "* [*.rom:*]")


@dataclass(frozen=True)
class Target:
    """One row: the suites it covers and what their lintian wants."""

    name: str
    suites: tuple[str, ...]
    lintian: str  # the version the row was checked with
    standards_version: str  # the newest that lintian knows: newer is a warning, older an info
    debhelper_compat: int  # lintian's recommended level, which the suite's debhelper provides
    # dpkg >= 1.22 defaults both: sid's lintian calls the fields redundant (pedantic), older
    # lintians want Rules-Requires-Root spelt out
    priority_field: bool
    rules_requires_root_field: bool
    source_overrides: tuple[Override, ...]


TARGETS: tuple[Target, ...] = (
    Target("sid", ("unstable", "sid", "experimental", "rc-buggy", "UNRELEASED", "testing",
                   "forky"),
           "2.143.0", "4.7.4", 14, False, False, (NO_WATCH,)),
    Target("trixie", ("trixie", "trixie-backports", "trixie-backports-sloppy", "trixie-security",
                      "trixie-proposed-updates", "stable"),
           "2.122.0+deb13u1", "4.7.2", 13, True, True, (BUILT_USING, NO_WATCH, LONG_LINES)),
    Target("bookworm", ("bookworm", "bookworm-backports", "bookworm-backports-sloppy",
                        "bookworm-security", "bookworm-proposed-updates", "oldstable"),
           "2.116.3+deb12u1", "4.6.2", 13, True, True, (BUILT_USING, NO_WATCH, LONG_LINES)),
)


#: Debian's release numbers, for the version suffixes below; the aliases as the table reads them.
RELEASES = {"bookworm": 12, "oldstable": 12, "trixie": 13, "stable": 13, "forky": 14, "testing": 14}
#: Suites whose uploads carry the plain revision: unstable's (dch's UNRELEASED is unstable's too).
UNSTABLE = ("unstable", "sid", "UNRELEASED")
EXPERIMENTAL = ("experimental", "rc-buggy")


def revision_suffix(distribution: str) -> str:
    """What the default revision ``-1`` gets for an upload to ``distribution``, so that the
    packages made for two releases never share a version (an archive or a repository holds one
    file per name and version, and the changelog makes their bytes differ).

    As Debian's Developer's Reference has it (developers-reference 12.18, bookworm):
    - a release, its point-release and security suites: ``+debXuY``, X its release number, Y a
      counter from 1 (5.5.1 "uploads to the stable and oldstable distributions", 5.8.5.4, 5.11.2
      "fork the version number tree", 5.14.3 for testing): ``-1+deb12u1`` for bookworm;
    - its backports (5.15 defers to the backports team): ``~bpoX+N`` (``dch --bpo``):
      ``-1~bpo12+1``, below the release's own;
    - unstable: none; experimental: ``~exp1`` (the Developer's Reference gives no rule; it shares
      unstable's pool, and ``~`` sorts it below the unstable upload that follows).
    An upload to the same release again (``+deb12u2``) is ``--newversion``'s: the counter's history
    is the maintainer's.
    """
    target_of(distribution)  # an unknown suite is a usage error here too
    if distribution in UNSTABLE:
        return ""
    if distribution in EXPERIMENTAL:
        return "~exp1"
    release = RELEASES[distribution.split("-", 1)[0]]
    if "-backports" in distribution:
        return f"~bpo{release}+1"
    return f"+deb{release}u1"


def target_of(distribution: str) -> Target:
    """The row for a changelog distribution; an unknown one is a usage error, not a guess."""
    for target in TARGETS:
        if distribution in target.suites:
            return target
    known = ", ".join(suite for target in TARGETS for suite in target.suites)
    raise UsageError(f"distribution {distribution!r} has no lintian target here (one of: {known})")
