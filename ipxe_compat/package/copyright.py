"""Derive a clean DEP-5 debian/copyright from the origin package's copyright. Pure.

Copying the origin's file verbatim fails lintian: its Files patterns name ipxe source paths that
this package does not contain (superfluous-file-pattern), and old origins are not clean DEP-5
(docs/background.md, "Lintian notes"). The ROMs are built from all of that source, so their
paragraph carries every copyright holder and every license expression of the origin
(python-debian's ``debian.copyright`` parses and writes the format); license texts become
standalone paragraphs.

A choice stays a choice: the origin's ``BSD-3-clause or GPL-2`` must not dissolve into a list of
licenses that all apply. DEP-5 (copyright-format 1.0, "License specification") gives ``and``
precedence over ``or`` unless preceded by a comma, so each expression with an ``or`` is appended
whole after ``, and``: ``GPL-2+ and Expat, and BSD-3-clause or GPL-2`` reads (GPL-2+ and Expat)
and (BSD-3-clause or GPL-2), a form lintian's DEP-5 check also reads.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from debian.copyright import (
    Copyright,
    FilesParagraph,
    License,
    LicenseParagraph,
    NotMachineReadableError,
)

from ..errors import SourceError

__all__ = ["CopyrightFile", "Statement", "gather", "render"]

FORMAT = "https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
#: The license of debian/*, as of ipxe's own packaging: its text must come from the origin too.
#: An origin without it (ovmf: BSD-2-clause) licenses debian/* as its own ``Files: *``.
DEBIAN_LICENSE = "GPL-2+"
_NO_COPYRIGHT = re.compile(r"\*?\s*no copyright\s*\*?", re.IGNORECASE)
_LICENSE_SPLIT = re.compile(r",?\s+(?:and|or)\s+|,\s*", re.IGNORECASE)
_OR = re.compile(r"\s+or\s+", re.IGNORECASE)


@dataclass(frozen=True)
class CopyrightFile:
    """An origin's copyright file: whose it is, its text, and where it came from (for errors)."""

    label: str  # e.g. "ipxe-qemu 1.0.0+git-20190125.36a4c85-5.1"
    text: str
    path: str


@dataclass(frozen=True)
class Statement:
    """Holders and licenses gathered from the origins, in first-seen order."""

    upstream_name: str
    source: str
    holders: tuple[str, ...]
    license_names: tuple[str, ...]
    license_texts: dict[str, str]
    #: every License expression of the origin, white space normalised, in first-seen order
    expressions: tuple[str, ...] = ()
    debian_license: str = DEBIAN_LICENSE

    @property
    def license_line(self) -> str:
        """One DEP-5 License value that means all expressions at once (see the module doc)."""
        plain = [e for e in self.expressions if not _OR.search(e)]
        names = dict.fromkeys(name for e in plain for name in _LICENSE_SPLIT.split(e))
        choices = [e for e in self.expressions if _OR.search(e)]
        return ", and ".join([" and ".join(names), *choices] if names else choices)


def gather(origins: Sequence[CopyrightFile], own_license: bool = False) -> Statement:
    """Collect holders, license names and license texts from every origin copyright file. With
    ``own_license`` (an origin other than ipxe, whose packaging is GPL-2+), debian/* takes the
    origin's first license when the origin has no GPL-2+ text."""
    holders: dict[str, None] = {}
    names: dict[str, None] = {}
    expressions: dict[str, None] = {}
    texts: dict[str, str] = {}
    upstream_name = source = ""
    for origin in origins:
        parsed = _parse(origin)
        upstream_name = upstream_name or (parsed.header.upstream_name or "")
        source = source or (parsed.header.source or "")
        anonymous = 0
        for paragraph in parsed.all_files_paragraphs():
            for raw in (paragraph.copyright or "").splitlines():
                line = raw.strip()
                if line and not _NO_COPYRIGHT.fullmatch(line):
                    holders.setdefault(line)
            lic = paragraph.license
            if lic is None:
                continue
            synopsis = lic.synopsis.strip()
            if not synopsis:
                # a license given only as text: name it so the ROM paragraph can refer to it
                anonymous += 1
                synopsis = f"LicenseRef-{upstream_name or 'origin'}-{anonymous}"
            expressions.setdefault(" ".join(synopsis.split()))
            for name in _LICENSE_SPLIT.split(synopsis):
                names.setdefault(name)
            if lic.text.strip():
                texts.setdefault(synopsis, lic.text)
        for paragraph in parsed.all_license_paragraphs():
            texts.setdefault(paragraph.license.synopsis.strip(), paragraph.license.text)
    debian = (next(iter(names)) if own_license and names and DEBIAN_LICENSE not in texts
              else DEBIAN_LICENSE)
    missing = [name for name in dict.fromkeys([*names, debian]) if name not in texts]
    if missing:
        raise SourceError(f"origin copyright has no license text for {', '.join(missing)} "
                          "(give --origin-copyright FILE, a DEP-5 file with them, instead)",
                          path=origins[0].path)
    return Statement(upstream_name or "ipxe", source, tuple(holders), tuple(names), texts,
                     tuple(expressions), debian)


def render(statement: Statement, rom_files: Sequence[str], origin_labels: Sequence[str],
           debian_holder: str) -> str:
    """The DEP-5 text: one paragraph for the ROMs of the source (``rom_files``: their patterns,
    the ROMs as the origin ships them), one for debian/*, then the license texts."""
    document = Copyright()
    header = document.header
    header.format = FORMAT
    header.upstream_name = statement.upstream_name
    if statement.source:
        header.source = statement.source
    header.comment = _continued([
        "The firmware images are the unmodified binaries of the Debian package(s)"
        if any(not f.endswith(".rom") for f in rom_files) else
        "The ROM images are the unmodified binaries of the Debian package(s)",
        *(f"  {label}" for label in origin_labels),
        "built from the source package named in Built-Using (see debian/README.source).",
        "The copyright holders and licenses below are those of that source's",
        "debian/copyright; each license expression is kept whole, choices included.",
    ])
    document.add_files_paragraph(FilesParagraph.create(
        list(rom_files), _continued(statement.holders or ["See the origin package."]),
        License(statement.license_line, ""),
    ))
    document.add_files_paragraph(FilesParagraph.create(
        ["debian/*"], debian_holder, License(statement.debian_license, ""),
    ))
    used = dict.fromkeys([*statement.license_names, statement.debian_license])
    for name in used:
        document.add_license_paragraph(
            LicenseParagraph.create(License(name, statement.license_texts[name]))
        )
    text = document.dump()
    assert text is not None
    return text


def _continued(lines: Sequence[str]) -> str:
    """A multi-line deb822 value: continuation lines start with a space."""
    return "\n ".join(lines)


def _parse(origin: CopyrightFile) -> Copyright:
    # python-debian warns (and logs) on old Format URLs such as dep.debian.net's; we rewrite them
    logger = logging.getLogger("debian.copyright")
    level = logger.level
    logger.setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return Copyright(origin.text.splitlines(keepends=True), strict=False)
        except (NotMachineReadableError, ValueError) as error:
            raise SourceError(
                f"origin copyright of {origin.label} is not machine-readable DEP-5 (give "
                f"--origin-copyright FILE, a DEP-5 file, instead): {error}",
                path=origin.path,
            ) from error
        finally:
            logger.setLevel(level)
