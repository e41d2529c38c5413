"""debian/ipxe-compat.recipe: what produced a generated package, so it can be made again.

The recipe records every input (its name, kind, package, version and sha256), every effective
option (after defaults, so a later default cannot change the result), the changelog date and the
tool version, as deb822 paragraphs written and read with python-debian. It is written from the
:class:`~.spec.PackageSpec` and read back into a :class:`~.spec.Request` of text, which
:func:`~.spec.specify` validates exactly as it validates the command line's options.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from debian.deb822 import Deb822

from ..core.compat import TREE_RECIPE
from ..errors import SourceError
from .spec import PackageSpec, Request

__all__ = ["FORMAT", "PATH", "InputRecord", "Recipe", "parse_recipe", "render"]

FORMAT = "ipxe-compat-recipe/1"
PATH = TREE_RECIPE


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
    """A recipe as read: the request it repeats, the inputs it needs, and how it was made."""

    request: Request
    inputs: tuple[InputRecord, ...]
    tool_version: str
    continued: bool
    origin_copyright_sha256: str | None


def render(spec: PackageSpec) -> str:
    head = Deb822()
    head["Format"] = FORMAT
    head["Tool-Version"] = spec.tool_version
    head["Date"] = f"@{spec.epoch}"
    head["Size"] = str(spec.size)
    head["Roms"] = _lines(spec.globs)
    head["Prefix"] = spec.prefix
    head["Mode"] = "pad" if spec.pad else "copy"
    head["Pad-Byte"] = f"{spec.pad_byte:#04x}"
    if spec.install_dir is not None:  # else: each file in its origin's directory
        head["Install-Dir"] = spec.install_dir
    head["Source-Name"] = spec.source
    head["Package-Name"] = spec.package
    head["Version"] = spec.version
    head["Distribution"] = spec.distribution
    head["Urgency"] = spec.urgency
    head["Maintainer"] = spec.maintainer
    head["Changes"] = _lines(spec.changes)
    head["Changelog-Continued"] = "yes" if spec.continued else "no"
    for field, value in (("Origin-Source", spec.origin_source),
                         ("Origin-Version", spec.origin_version),
                         ("Origin-Copyright-SHA256", spec.origin_copyright_sha256)):
        if value:
            head[field] = value
    paragraphs = [head]
    for origin in spec.inputs:
        paragraph = Deb822()
        paragraph["Input"] = origin.input_name
        paragraph["Kind"] = origin.kind
        if origin.package:
            paragraph["Package"] = origin.package
        if origin.version:
            paragraph["Version"] = origin.version
        paragraph["SHA256"] = origin.sha256
        paragraphs.append(paragraph)
    return "\n".join(p.dump() or "" for p in paragraphs)


def _lines(values: Sequence[str]) -> str:
    """A multi-line deb822 value: one item per continuation line."""
    return "".join(f"\n {value}" for value in values)


def _items(value: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in value.splitlines() if line.strip())


_CONTINUED = {"yes": True, "no": False}


def parse_recipe(text: str, path: str) -> Recipe:
    """Read a recipe's fields as text; a missing field is an error naming the file. The values
    themselves are validated by :func:`~.spec.specify`, as the command line's are."""
    paragraphs = list(Deb822.iter_paragraphs(text.splitlines(keepends=True)))
    if not paragraphs or paragraphs[0].get("Format") != FORMAT:
        raise SourceError(f"not an ipxe-compat recipe (expected Format: {FORMAT})", path=path)
    head = paragraphs[0]
    try:
        inputs = tuple(
            InputRecord(p["Input"], p["Kind"], p["SHA256"], p.get("Package"), p.get("Version"))
            for p in paragraphs[1:])
        continued = _CONTINUED.get(head["Changelog-Continued"])
        if continued is None:
            raise SourceError(f"Changelog-Continued {head['Changelog-Continued']!r} is not yes "
                              "or no", path=path)
        request = Request(
            maintainer=head["Maintainer"],
            date=head["Date"],
            size=head["Size"],
            roms=_items(head["Roms"]),
            prefix=head["Prefix"],
            mode=head["Mode"],
            pad_byte=head["Pad-Byte"],
            install_dir=head.get("Install-Dir"),
            source_name=head["Source-Name"],
            package_name=head["Package-Name"],
            version=head["Version"],
            distribution=head["Distribution"],
            urgency=head["Urgency"],
            messages=_items(head["Changes"]),
            origin_source=head.get("Origin-Source"),
            origin_version=head.get("Origin-Version"),
        )
        return Recipe(request, inputs, head["Tool-Version"], continued,
                      head.get("Origin-Copyright-SHA256"))
    except KeyError as error:
        raise SourceError(f"recipe lacks the field {error.args[0]}", path=path) from error
