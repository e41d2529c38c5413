"""debian/ipxe-compat.recipe: what produced a generated package, so it can be made again.

The recipe records every input (its name, kind, package, version and sha256), every effective
option (after defaults, so a later default cannot change the result), the changelog date and the
tool version, as deb822 paragraphs written and read with python-debian. ``generate --recipe``
reads it back and refuses inputs whose sha256 differ.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from debian.deb822 import Deb822

from . import fields
from .errors import UsageError
from .sizes import parse_size

FORMAT = "ipxe-compat-recipe/1"
PATH = "debian/ipxe-compat.recipe"


@dataclass(frozen=True)
class InputRecord:
    """One SOURCE as generate saw it."""

    name: str  # a package's canonical file name, else the file or directory name
    kind: str
    sha256: str
    package: str | None = None
    version: str | None = None

    @property
    def refetch_spec(self) -> str | None:
        """How to get this input again without the file: from apt, for a package."""
        if self.kind == "deb" and self.package and self.version:
            return f"apt:{self.package}={self.version}"
        return None


@dataclass(frozen=True)
class Recipe:
    """Everything generate needs besides the input files themselves."""

    tool_version: str
    epoch: int
    size: int
    globs: tuple[str, ...]
    prefix: str
    pad: bool
    pad_byte: int
    install_dir: str
    source_name: str
    package_name: str
    version: str
    distribution: str
    urgency: str
    maintainer: str
    changes: tuple[str, ...]
    continued: bool
    origin_source: str | None
    origin_version: str | None
    origin_copyright_sha256: str | None
    inputs: tuple[InputRecord, ...]


def render(recipe: Recipe) -> str:
    head = Deb822()
    head["Format"] = FORMAT
    head["Tool-Version"] = recipe.tool_version
    head["Date"] = f"@{recipe.epoch}"
    head["Size"] = str(recipe.size)
    head["Roms"] = _lines(recipe.globs)
    head["Prefix"] = recipe.prefix
    head["Mode"] = "pad" if recipe.pad else "copy"
    head["Pad-Byte"] = f"{recipe.pad_byte:#04x}"
    head["Install-Dir"] = recipe.install_dir
    head["Source-Name"] = recipe.source_name
    head["Package-Name"] = recipe.package_name
    head["Version"] = recipe.version
    head["Distribution"] = recipe.distribution
    head["Urgency"] = recipe.urgency
    head["Maintainer"] = recipe.maintainer
    head["Changes"] = _lines(recipe.changes)
    head["Changelog-Continued"] = "yes" if recipe.continued else "no"
    for field, value in (("Origin-Source", recipe.origin_source),
                         ("Origin-Version", recipe.origin_version),
                         ("Origin-Copyright-SHA256", recipe.origin_copyright_sha256)):
        if value:
            head[field] = value
    paragraphs = [head]
    for record in recipe.inputs:
        paragraph = Deb822()
        paragraph["Input"] = record.name
        paragraph["Kind"] = record.kind
        if record.package:
            paragraph["Package"] = record.package
        if record.version:
            paragraph["Version"] = record.version
        paragraph["SHA256"] = record.sha256
        paragraphs.append(paragraph)
    return "\n".join(p.dump() or "" for p in paragraphs)


def _lines(values: Sequence[str]) -> str:
    """A multi-line deb822 value: one item per continuation line."""
    return "".join(f"\n {value}" for value in values)


def _items(value: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in value.splitlines() if line.strip())


def parse(text: str, path: str) -> Recipe:
    """Read a recipe; any missing or malformed field is a usage error naming the file."""
    paragraphs = list(Deb822.iter_paragraphs(text.splitlines(keepends=True)))
    if not paragraphs or paragraphs[0].get("Format") != FORMAT:
        raise UsageError(f"not an ipxe-compat recipe (expected Format: {FORMAT})", path=path)
    head = paragraphs[0]
    try:
        inputs = tuple(
            InputRecord(p["Input"], p["Kind"], p["SHA256"], p.get("Package"), p.get("Version"))
            for p in paragraphs[1:])
        date = head["Date"]
        if not date.startswith("@"):
            raise UsageError(f"Date {date!r} is not @EPOCH", path=path)
        epoch = fields.epoch(date[1:], "Date")
        if head["Mode"] not in ("pad", "copy"):
            raise UsageError(f"Mode {head['Mode']!r} is neither pad nor copy", path=path)
        globs = tuple(fields.glob(item, "Roms") for item in _items(head["Roms"]))
        if not globs:
            raise UsageError("Roms names no pattern", path=path)
        pad_byte = head["Pad-Byte"]
        if not re.fullmatch(r"0x[0-9a-f]{2}", pad_byte):
            raise UsageError(f"Pad-Byte {pad_byte!r} is not a byte such as 0xff", path=path)
        return Recipe(
            tool_version=head["Tool-Version"],
            epoch=epoch,
            size=parse_size(head["Size"]),
            globs=globs,
            prefix=head["Prefix"],
            pad=head["Mode"] == "pad",
            pad_byte=int(pad_byte, 16),
            install_dir=head["Install-Dir"],
            source_name=head["Source-Name"],
            package_name=head["Package-Name"],
            version=head["Version"],
            distribution=head["Distribution"],
            urgency=head["Urgency"],
            maintainer=head["Maintainer"],
            changes=_items(head["Changes"]),
            continued=head["Changelog-Continued"] == "yes",
            origin_source=head.get("Origin-Source"),
            origin_version=head.get("Origin-Version"),
            origin_copyright_sha256=head.get("Origin-Copyright-SHA256"),
            inputs=inputs,
        )
    except KeyError as error:
        raise UsageError(f"recipe lacks the field {error.args[0]}", path=path) from error
    except UsageError as error:
        raise UsageError(f"malformed recipe: {error.message}", path=path) from error
    except ValueError as error:
        raise UsageError(f"malformed recipe: {error}", path=path) from error
