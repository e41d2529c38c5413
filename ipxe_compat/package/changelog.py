"""debian/changelog, read and written with python-debian's changelog API. Pure."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from debian.changelog import Changelog, ChangelogParseError
from debian.debian_support import Version

from ..core.fields import excerpt
from ..errors import SourceError

__all__ = ["parse_changelog", "read_previous", "render_changelog"]


def parse_changelog(text: str, path: str) -> Changelog:
    """A whole debian/changelog, strictly parsed, every entry's version a Debian version: an
    unusable file is one error (exit 2) that quotes an excerpt of python-debian's complaint."""
    try:
        changelog = Changelog(text, strict=True)
        for block in changelog:
            str(block.version)  # python-debian parses a version only when it is asked for it
    except (ChangelogParseError, ValueError) as error:
        raise SourceError(f"not a Debian changelog: {excerpt(str(error), 160)}",
                          path=path) from error
    return changelog


def read_previous(text: str, path: str, source: str) -> tuple[str, Version | None]:
    """An existing changelog of ``source`` to continue: its entries as python-debian writes
    them, and the version of the newest (None if it has none)."""
    changelog = parse_changelog(text, path)
    if len(changelog) and changelog.package != source:
        raise SourceError(f"the changelog is {changelog.package}'s, not {source}'s", path=path)
    entries = "".join(str(block) for block in changelog)
    return entries, (changelog.version if len(changelog) else None)


def render_changelog(*, source: str, version: str, distribution: str, urgency: str,
                     maintainer: str, date: str, changes: Sequence[str],
                     previous: str | None) -> str:
    """A new entry, on top of the ``previous`` entries if the changelog is continued."""
    lines = [""]
    for change in changes:
        lines.extend(textwrap.wrap(change, width=78, initial_indent="  * ",
                                   subsequent_indent="    ", break_on_hyphens=False))
    lines.append("")
    changelog = Changelog()
    changelog.new_block(package=source, version=version, distributions=distribution,
                        urgency=urgency, author=maintainer, date=date, changes=lines)
    return str(changelog) + (previous or "")
