"""The typed, frozen description of the package to generate. Pure.

Everything the templates may use is a field here, and every field is validated text (see
:mod:`ipxe_compat.fields`) or a number: templates never see raw user input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from . import __version__, fields
from .copyright import Statement, gather
from .errors import UsageError
from .naming import OriginCopyright, PackageOptions, built_from, orig_top, package_identity
from .plan import CompatRom, PlanOptions, used_origins
from .qemu_devices import devices_for
from .recipe import InputRecord, Recipe
from .sizes import size_label
from .sources import Origin, RomSet
from .targets import Target, target_of

#: Where debian/rules makes the compat ROMs from the pristine ones (removed by dh_clean).
BUILD_DIR = "compat-roms"

HOMEPAGE = "https://ipxe.org/"


@dataclass(frozen=True)
class ManifestEntry:
    """One line of debian/compat-roms.manifest; no field holds white space."""

    name: str
    size: int
    sha256: str
    pad_byte: str  # "0xff", or "none" when copied
    origin_size: int
    origin_sha256: str
    origin_package: str  # binary package, or "-" for a directory or file source
    origin_version: str
    origin_path: str
    devices: tuple[str, ...]

    @property
    def padding(self) -> int:
        """Bytes appended to the original: 0 when it already had the size (carried unchanged)."""
        return self.size - self.origin_size


@dataclass(frozen=True)
class PristineRom:
    """A ROM of the orig tarball: exactly the origin's file, at its path there."""

    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class OriginInfo:
    """An input as README.source names it, so anyone can fetch it again and compare."""

    label: str  # "ipxe-qemu 1.0.0+git-20190125.36a4c85-5.1", or the path given
    file_name: str  # ipxe-qemu_1.0.0+git-20190125.36a4c85-5.1_all.deb
    kind: str  # deb, dir or rom
    sha256: str
    package: str | None
    version: str | None
    source: str  # the source package the ROMs were built from, and its version
    source_version: str


@dataclass(frozen=True)
class PackageContext:
    """All a template may use."""

    source: str
    package: str
    version: str
    upstream_version: str
    maintainer: str
    distribution: str
    urgency: str
    date: str  # RFC 2822, UTC
    epoch: int
    size: int
    size_label: str
    prefix: str
    padded: bool
    pad_byte: str
    install_dir: str
    built_using: str
    origin_labels: tuple[str, ...]
    roms: tuple[ManifestEntry, ...]
    changes: tuple[str, ...]
    copyright: Statement
    recipe: Recipe
    target: Target
    origins: tuple[OriginInfo, ...]
    pristine: tuple[PristineRom, ...]
    orig_top: str
    build_dir: str = BUILD_DIR
    tool_version: str = __version__
    homepage: str = HOMEPAGE
    globs: tuple[str, ...] = field(default=())

    @property
    def deb_file_name_too_long(self) -> bool:
        """Whether lintian's package-has-long-file-name fires on the .deb: it measures the
        name as if the architecture were "kfreebsd-amd64" (14 characters) against 80."""
        name = f"{self.package}_{self.version.split(':', 1)[-1]}_all.deb"
        return len(name) - len("all") + len("kfreebsd-amd64") > 80

    @property
    def rom_glob(self) -> str:
        """The pattern matching every ROM the binary package installs."""
        return f"{self.prefix}*.rom"

    @property
    def pristine_globs(self) -> tuple[str, ...]:
        """DEP-5 patterns matching exactly the ROMs of the source (``usr/lib/ipxe/qemu/*.rom``)."""
        dirs = dict.fromkeys(rom.path.rpartition("/")[0] for rom in self.pristine)
        return tuple(f"{d}/*.rom" if d else "*.rom" for d in dirs)

    @property
    def pad_octal(self) -> str:
        """The pad byte as tr(1) spells it after a backslash: ``377`` for 0xff."""
        return f"{self.recipe.pad_byte:03o}"

    @property
    def standards_version(self) -> str:
        return self.target.standards_version

    @property
    def padded_roms(self) -> tuple[ManifestEntry, ...]:
        return tuple(rom for rom in self.roms if rom.padding)

    @property
    def unchanged_roms(self) -> tuple[ManifestEntry, ...]:
        return tuple(rom for rom in self.roms if not rom.padding)


def build_context(plan: Sequence[CompatRom], romset: RomSet, plan_options: PlanOptions,
                  options: PackageOptions) -> PackageContext:
    """Validate the options and derive every default (names, version, Built-Using)."""
    label = size_label(plan_options.size)
    origins = used_origins(plan)
    built_using = _built_using(origins, options)
    identity = package_identity(origins, plan_options, options)
    source, package, version = identity.source, identity.package, identity.version
    copyrights = _copyrights(origins, options)
    pad = f"{plan_options.pad_byte:#04x}" if plan_options.pad else "none"
    labels = tuple(dict.fromkeys(o.label for o in origins))
    roms = tuple(_manifest_entry(rom) for rom in plan)
    changes = tuple(fields.text_line(m, "changelog entry") for m in options.messages) or (
        _default_change(roms, labels, plan_options, options.install_dir, label))
    maintainer = fields.maintainer(options.maintainer)
    distribution = fields.distribution(options.distribution)
    urgency = fields.urgency(options.urgency)
    target = target_of(distribution)
    install_dir = fields.install_dir(options.install_dir)
    prefix = fields.prefix(plan_options.effective_prefix)
    recipe = Recipe(
        tool_version=__version__,
        epoch=options.epoch,
        size=plan_options.size,
        globs=plan_options.globs,
        prefix=prefix,
        pad=plan_options.pad,
        pad_byte=plan_options.pad_byte,
        install_dir=install_dir,
        source_name=source,
        package_name=package,
        version=version,
        distribution=distribution,
        urgency=urgency,
        maintainer=maintainer,
        changes=changes,
        continued=False,  # set by the renderer, which knows the previous changelog
        origin_source=options.origin_source,
        origin_version=options.origin_version,
        origin_copyright_sha256=options.origin_copyright.sha256 if options.origin_copyright else None,
        inputs=tuple(InputRecord(o.input_name, o.kind, o.sha256, o.package, o.version)
                     for o in romset.origins),
    )
    return PackageContext(
        source=source,
        package=package,
        version=version,
        upstream_version=identity.upstream_version,
        maintainer=maintainer,
        distribution=distribution,
        urgency=urgency,
        date=fields.rfc2822(options.epoch),
        epoch=options.epoch,
        size=plan_options.size,
        size_label=label,
        prefix=prefix,
        padded=plan_options.pad,
        pad_byte=pad,
        install_dir=install_dir,
        built_using=built_using,
        origin_labels=labels,
        roms=roms,
        changes=changes,
        copyright=gather(copyrights),
        recipe=recipe,
        target=target,
        origins=tuple(_origin_info(o, options) for o in romset.origins),
        pristine=tuple(PristineRom(rom.path, rom.size, rom.sha256) for rom in romset.roms),
        orig_top=orig_top(romset.origins, options, identity.upstream_version),
        globs=plan_options.globs,
    )


def _origin_info(origin: Origin, options: PackageOptions) -> OriginInfo:
    source, source_version = built_from(origin, options)
    return OriginInfo(origin.label, origin.input_name, origin.kind, origin.sha256, origin.package,
                      origin.version, source, source_version)


def _built_using(origins: Sequence[Origin], options: PackageOptions) -> str:
    """``ipxe (= 1.0.0+git-20190125.36a4c85-5.1)``: the source the ROMs were built from."""
    refs = dict.fromkeys("{} (= {})".format(*built_from(origin, options)) for origin in origins)
    return ", ".join(refs)


def _copyrights(origins: Sequence[Origin], options: PackageOptions) -> list[OriginCopyright]:
    found = [OriginCopyright(o.label, o.copyright, o.spec) for o in origins if o.copyright]
    if options.origin_copyright is not None:
        found.append(options.origin_copyright)
    if not found:
        raise UsageError(
            "no origin copyright: the sources are not packages, so give --origin-copyright FILE "
            "(e.g. /usr/share/doc/ipxe-qemu/copyright)"
        )
    return found


def _manifest_entry(rom: CompatRom) -> ManifestEntry:
    original = rom.original
    return ManifestEntry(
        name=rom.name,
        size=rom.size,
        sha256=rom.sha256,
        pad_byte=f"{rom.pad_byte:#04x}" if rom.pad_byte is not None else "none",
        origin_size=original.size,
        origin_sha256=original.sha256,
        origin_package=original.origin.package or "-",
        origin_version=original.origin.version or original.origin.source_version or "-",
        origin_path=original.path,
        devices=devices_for(original.name),
    )


def _default_change(roms: Sequence[ManifestEntry], labels: Sequence[str], plan_options: PlanOptions,
                    install_dir: str, label: str) -> tuple[str, ...]:
    """The first entry's words, per ROM what was done to its bytes (README.Debian says the same)."""
    lines = [(f"Keep {len(roms)} ROMs of {', '.join(labels)} ({', '.join(plan_options.globs)}) "
              f"as {install_dir}/{plan_options.effective_prefix}*.rom for QEMU live migration "
              "from hosts that still run them; the orig tarball holds that package's ROMs "
              "unchanged.")]
    padded = [rom for rom in roms if rom.padding]
    unchanged = [rom for rom in roms if not rom.padding]
    if padded:
        lines.append(f"debian/rules pads to {label} ({plan_options.size} bytes) with "
                     f"{plan_options.pad_byte:#04x}: "
                     + ", ".join(f"{rom.name} (+{rom.padding} bytes)" for rom in padded) + ".")
    if unchanged:
        why = "already" if plan_options.pad else "--copy, unpadded:"
        sizes = sorted({rom.size for rom in unchanged})
        lines.append(f"Carried unchanged ({why} {' or '.join(map(str, sizes))} bytes): "
                     + ", ".join(rom.name for rom in unchanged) + ".")
    return tuple(lines)
