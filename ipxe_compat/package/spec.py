"""The package specification: every choice validated and every default derived, once, before
anything is written. Pure, but for reading the inputs when :func:`specify` is ready for them.

A :class:`Request` is what the user asked for, as text, from the command line or from a recipe:
both go through the very same validators here. :func:`specify` checks every option first, then
reads the inputs, plans the ROMs and derives each default (names, version, Built-Using, the
copyright statement, the changelog entry) exactly once. The recipe, the template context and the
output names are all derived from the resulting :class:`PackageSpec`, never the other way round.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .. import __version__
from ..core import compat, fields
from ..core.sizes import parse_size, size_label
from ..errors import UsageError
from ..input import Origin, RomFile, RomSet
from .changelog import read_previous
from .copyright import CopyrightFile, Statement, gather
from .naming import built_from, check_buildable, default_version, package_names
from .plan import CompatRom, exact_fitting, make_plan, used_origins
from .targets import Target, target_of

__all__ = ["InputFile", "PackageSpec", "Request", "specify"]


@dataclass(frozen=True)
class InputFile:
    """A text file the user gave (an origin copyright, a changelog to continue), read at the
    boundary so that validating it needs no I/O."""

    path: str
    text: str

    @property
    def sha256(self) -> str:
        """Recorded in the recipe: regeneration must be given the very same file."""
        return hashlib.sha256(self.text.encode()).hexdigest()


@dataclass(frozen=True)
class Request:
    """What the user asked for, as text: command-line options or a recipe's fields. None means
    'derive the default'. Nothing here is trusted until :func:`specify` has validated it."""

    maintainer: str  # "Name <email>"; the command line defaults it from DEBFULLNAME/DEBEMAIL
    date: str  # "@EPOCH" or RFC 2822; the command line defaults it from SOURCE_DATE_EPOCH
    size: str = compat.DEFAULT_SIZE
    roms: tuple[str, ...] = compat.DEFAULT_GLOBS
    prefix: str | None = None  # default "<size>-", e.g. "256k-"
    mode: str = fields.MODES[0]  # "pad" or "copy"
    pad_byte: str = compat.DEFAULT_PAD_BYTE
    install_dir: str | None = None  # default: QEMU's firmware dir; other classes their origin's
    source_name: str | None = None
    package_name: str | None = None
    version: str | None = None
    distribution: str = compat.DEFAULT_DISTRIBUTION
    urgency: str = compat.DEFAULT_URGENCY
    messages: tuple[str, ...] = ()  # default: one line naming the origin, size and pad byte
    origin_source: str | None = None  # for sources that are not .deb
    origin_version: str | None = None
    origin_copyright: InputFile | None = None
    changelog_from: InputFile | None = None


@dataclass(frozen=True)
class PackageSpec:
    """One package to generate: every value validated, every default derived, each once."""

    # what the ROMs become
    roms: tuple[CompatRom, ...]
    size: int
    globs: tuple[str, ...]
    prefix: str
    pad: bool
    pad_byte: int
    #: where every file goes (--install-dir, or QEMU's firmware directory for a set of option
    #: ROMs); None when each goes to its own origin's directory (CompatRom.install_dir)
    install_dir: str | None
    #: the upstream part of the source: every ROM of every input, byte for byte, at its path in
    #: the origin package; no option changes it, so neither does the orig tarball
    pristine: tuple[RomFile, ...]
    orig_top: str  # the orig tarball's top directory, "ipxe-1.0.0+git-20190125.36a4c85"
    # what the package is
    source: str
    package: str
    version: str
    upstream_version: str
    built_using: str
    origin_labels: tuple[str, ...]  # the packages (or paths) the carried ROMs come from
    copyright: Statement
    # its changelog entry
    maintainer: str
    distribution: str
    target: Target  # what the distribution's lintian wants (targets.py)
    urgency: str
    epoch: int  # the changelog date
    changes: tuple[str, ...]
    previous_changelog: str | None  # the older entries it continues, if any
    # what made it, for the recipe
    inputs: tuple[Origin, ...]
    inputs_built_from: tuple[tuple[str, str], ...]  # per input: its source package and version
    origin_source: str | None
    origin_version: str | None
    origin_copyright_sha256: str | None
    tool_version: str = __version__

    @property
    def continued(self) -> bool:
        return self.previous_changelog is not None

    @property
    def size_label(self) -> str:
        return size_label(self.size)

    @property
    def firmware(self) -> bool:
        """Whether the package carries firmware other than option ROMs (-bios, pflash, ...)."""
        return any(rom.parsed is None for rom in self.roms)

    @property
    def install_dirs(self) -> tuple[str, ...]:
        """Every directory the package installs files in, in plan order."""
        return tuple(dict.fromkeys(rom.install_dir for rom in self.roms))


def specify(request: Request, read_inputs: Callable[[], RomSet]) -> PackageSpec:
    """Validate every option, then read the inputs (``read_inputs``), then plan the ROMs and
    derive every default. Raises before anything is written; computes each value once."""
    size = _bucket(request.size)
    label = compat.label_of(size)
    if not request.roms:
        raise UsageError("no --roms GLOB: give at least one (the default is "
                         f"{', '.join(compat.DEFAULT_GLOBS)})")
    globs = tuple(fields.glob(glob) for glob in request.roms)
    prefix = fields.prefix(compat.default_prefix(size) if request.prefix is None
                           else request.prefix)
    pad, pad_byte = fields.mode(request.mode), fields.pad_byte(request.pad_byte)
    given_dir = None if request.install_dir is None else fields.install_dir(request.install_dir)
    for name, what in ((request.source_name, "source name"),
                       (request.package_name, "package name")):
        if name is not None:
            fields.package_name(name, what)
    wanted = None if request.version is None else fields.version(request.version)
    maintainer = fields.maintainer(request.maintainer)
    distribution = fields.distribution(request.distribution)
    target = target_of(distribution)
    urgency = fields.urgency(request.urgency)
    epoch = fields.parse_date(request.date)
    messages = tuple(fields.text_line(m, "changelog entry") for m in request.messages)
    origin_source = (None if request.origin_source is None
                     else fields.package_name(request.origin_source, "origin source"))
    origin_version = (None if request.origin_version is None
                      else str(fields.any_version(request.origin_version, "origin version")))
    romset = read_inputs()  # only now: every option is valid
    if globs == compat.DEFAULT_GLOBS and not any(
            fnmatch.fnmatchcase(rom.name, glob) for rom in romset.roms for glob in globs):
        globs = exact_fitting(romset, size)  # seabios, ovmf: the images that fit --size
        if not globs:
            raise UsageError(f"no EFI ROM (efi-*.rom), nor a -bios or pflash image of at most "
                             f"{size_label(size)}, in the sources: give --roms GLOB or --size")
    roms = make_plan(romset, size=size, globs=globs, prefix=prefix,
                     pad_byte=pad_byte if pad else None, install_dir=given_dir)
    _all_carry(romset, roms, globs)
    install_dir = given_dir
    if install_dir is None and all(rom.parsed is not None for rom in roms):
        install_dir = compat.DEFAULT_INSTALL_DIR
    origin_package = next((o.package for o in romset.origins if o.package), None)
    source, package = package_names(label, request.source_name, request.package_name,
                                    origin_package or compat.DEFAULT_ORIGIN)
    # the default source name depends on the origin package: known once the inputs are read
    previous, last = (None, None) if request.changelog_from is None else read_previous(
        request.changelog_from.text, request.changelog_from.path, source)
    origins = used_origins(roms)
    built = [built_from(origin, origin_source, origin_version) for origin in origins]
    version = wanted if wanted is not None else fields.version(default_version(built, distribution))
    if ":" in (version.upstream_version or ""):
        # 1:2:3-1 has upstream 2:3: "<upstream>-1" would read as epoch 2, file names would cut it
        raise UsageError(f"version {version}: its upstream part {version.upstream_version!r} "
                         "holds a colon, which the orig tarball's and tree's names cannot carry; "
                         "give --newversion without one")
    if last is not None and version <= last:
        raise UsageError(f"version {version} is not greater than the last entry's {last}",
                         path=request.changelog_from.path if request.changelog_from else None)
    for directory in dict.fromkeys(rom.install_dir for rom in roms):
        check_buildable(source, package, str(version), version.upstream_version or "",
                        directory, [rom.name for rom in roms if rom.install_dir == directory])
    labels = tuple(dict.fromkeys(origin.label for origin in origins))
    inputs_built = tuple(built_from(o, origin_source, origin_version) for o in romset.origins)
    return PackageSpec(
        roms=roms, size=size, globs=globs, prefix=prefix, pad=pad, pad_byte=pad_byte,
        install_dir=install_dir, pristine=romset.roms,
        orig_top=f"{inputs_built[0][0]}-{version.upstream_version or ''}",
        source=source, package=package, version=str(version),
        upstream_version=version.upstream_version or "",
        built_using=", ".join(dict.fromkeys(f"{name} (= {ver})" for name, ver in built)),
        origin_labels=labels,
        copyright=gather(_copyrights(origins, request.origin_copyright),
                         own_license=built[0][0] != "ipxe"),
        maintainer=maintainer, distribution=distribution, target=target, urgency=urgency,
        epoch=epoch, changes=messages or _default_changes(roms, labels, globs, install_dir, prefix,
                                                          size, pad_byte if pad else None),
        previous_changelog=previous, inputs=romset.origins, inputs_built_from=inputs_built,
        origin_source=origin_source, origin_version=origin_version,
        origin_copyright_sha256=request.origin_copyright.sha256 if request.origin_copyright
        else None,
    )


def _default_changes(roms: Sequence[CompatRom], labels: Sequence[str], globs: Sequence[str],
                     install_dir: str | None, prefix: str, size: int, pad_byte: int | None
                     ) -> tuple[str, ...]:
    """The changelog lines when none is given: per file what was done to its bytes (padded by
    how much, or carried unchanged), as README.Debian says too."""
    if install_dir is not None and all(rom.parsed is not None for rom in roms):
        lines = [(f"Keep {len(roms)} ROMs of {', '.join(labels)} ({', '.join(globs)}) as "
                  f"{install_dir}/{prefix}*.rom for QEMU live migration from hosts that still "
                  "run them; the orig tarball holds that package's ROMs unchanged.")]
    else:
        where = ", ".join(dict.fromkeys(f"{rom.install_dir}/{prefix}*" for rom in roms))
        lines = [(f"Keep {len(roms)} firmware files of {', '.join(labels)} ({', '.join(globs)}) "
                  f"as {where} for QEMU live migration from hosts that still run them; the orig "
                  "tarball holds that package's firmware unchanged.")]
    padded = [rom for rom in roms if rom.size != rom.original.size]
    unchanged = [rom for rom in roms if rom.size == rom.original.size]
    if padded:
        lines.append(f"debian/rules pads to {size_label(size)} ({size} bytes) with "
                     f"{pad_byte or 0:#04x}: " + ", ".join(
                         f"{rom.name} (+{rom.size - rom.original.size} bytes)" for rom in padded)
                     + ".")
    if unchanged:
        why = "already" if pad_byte is not None else "--copy, unpadded:"
        sizes = " or ".join(str(n) for n in sorted({rom.size for rom in unchanged}))
        lines.append(f"Carried unchanged ({why} {sizes} bytes): "
                     + ", ".join(rom.name for rom in unchanged) + ".")
    return tuple(lines)


def _all_carry(romset: RomSet, roms: Sequence[CompatRom], globs: Sequence[str]) -> None:
    """Every input gives the package a file: one that gives none would still put all its
    firmware into the orig tarball, without its copyright or a Built-Using entry."""
    used = used_origins(roms)
    for origin in romset.origins:
        if origin not in used:
            raise UsageError(
                f"none of the files carried comes from it (--roms {' '.join(globs)} selects "
                "none of its files, or the same files from an earlier SOURCE): leave it out, "
                "or select its files with --roms", path=origin.spec)


def _bucket(text: str) -> int:
    size = parse_size(text)
    if size > compat.MAX_COMPAT_SIZE:
        raise UsageError(f"size {size_label(size)} is larger than any option ROM (at most "
                         f"{size_label(compat.MAX_COMPAT_SIZE)}; ROM members over "
                         f"{size_label(compat.MAX_ROM_FILE)} are refused unread)")
    return size


def _copyrights(origins: Sequence[Origin], given: InputFile | None) -> list[CopyrightFile]:
    """The origin packages' copyright files, or the one given: for sources that are not
    packages, and instead of a package's that is not usable DEP-5 (seabios' is free text)."""
    if given is not None:
        return [CopyrightFile(given.path, given.text, given.path)]
    found = [CopyrightFile(o.label, o.copyright, o.spec) for o in origins if o.copyright]
    if not found:
        raise UsageError(
            "no origin copyright: the sources are not packages, so give --origin-copyright FILE "
            "(e.g. /usr/share/doc/ipxe-qemu/copyright)"
        )
    return found

