"""debian/changelog, written with python-debian's changelog API. Pure."""

from __future__ import annotations

import textwrap

from debian.changelog import Changelog, ChangelogParseError
from debian.debian_support import Version

from .context import PackageContext
from .errors import UsageError


def render_changelog(ctx: PackageContext, previous: str | None = None,
                     previous_path: str = "changelog") -> str:
    """A new entry for ``ctx``, on top of ``previous`` (an existing changelog) if given."""
    if previous is None:
        changelog = Changelog()
    else:
        try:
            changelog = Changelog(previous, strict=True)
        except ChangelogParseError as error:
            raise UsageError(f"not a Debian changelog: {error}") from error
        if len(changelog) and changelog.package != ctx.source:
            raise UsageError(f"the changelog is {changelog.package}'s, not {ctx.source}'s",
                             path=previous_path)
        if len(changelog) and Version(ctx.version) <= changelog.version:
            raise UsageError(
                f"version {ctx.version} is not greater than the last entry's {changelog.version}",
                path=previous_path,
            )
    changes = [""]
    for change in ctx.changes:
        changes.extend(textwrap.wrap(change, width=78, initial_indent="  * ",
                                     subsequent_indent="    ", break_on_hyphens=False))
    changes.append("")
    changelog.new_block(
        package=ctx.source,
        version=ctx.version,
        distributions=ctx.distribution,
        urgency=ctx.urgency,
        author=ctx.maintainer,
        date=ctx.date,
        changes=changes,
    )
    return str(changelog)
