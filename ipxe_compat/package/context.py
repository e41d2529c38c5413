"""The template context: what the templates show, derived from the specification once. Pure.

Templates see the :class:`~.spec.PackageSpec` as ``spec`` (every value validated there) and this
context as ``ctx``: the values derived from the specification for display, each computed here and
nowhere else. Nothing in it is patched later or parsed back out of rendered text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from ..core import compat, fields
from ..core.devices import BUILTIN, devices_for, libvirt_model
from ..core.firmware import block_rule, flash_unit
from .plan import CompatRom
from .spec import PackageSpec

__all__ = ["DeviceExample", "ManifestEntry", "PackageContext", "context_of"]

HOMEPAGE = "https://ipxe.org/"
#: The upstream of each firmware source package the compat files can come from.
HOMEPAGES = {"ipxe": HOMEPAGE, "edk2": "https://www.tianocore.org/",
             "seabios": "https://www.seabios.org/", "qemu": "https://www.qemu.org/"}
#: Where debian/rules makes the compat ROMs from the pristine ones (removed by dh_clean).
BUILD_DIR = compat.TREE_BUILD_DIR


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
    devices: tuple[str, ...]  # the NIC models whose default ROM it replaces
    drivers: tuple[str, ...] = ()  # the QOM types covering those models (e1000-base)
    install_dir: str = ""  # where the package installs it (not a manifest column)
    kind: str = "option-rom"  # its class (core/firmware.py; not a manifest column)
    block: str = ""  # the RAM block it becomes: pc.bios, ADDR/TYPE.rom (not a manifest column)

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
    """An input as README.source names it, so that anyone can fetch it again and compare."""

    label: str  # "ipxe-qemu 1.0.0+git-20190125.36a4c85-5.1", or the path given
    file_name: str  # ipxe-qemu_1.0.0+git-20190125.36a4c85-5.1_all.deb
    kind: str  # deb, dir or rom
    sha256: str
    package: str | None
    version: str | None
    source: str  # the source package the ROMs were built from, and its version
    source_version: str


@dataclass(frozen=True)
class DeviceExample:
    """A carried ROM and a NIC model whose default it replaces, for README.Debian's examples."""

    rom: str
    device: str
    libvirt_model: str


@dataclass(frozen=True)
class PackageContext:
    """All a template may use besides the specification."""

    spec: PackageSpec
    date: str  # the changelog date, RFC 2822 in UTC
    year: int  # of that date, for debian/copyright
    pad_byte: str  # "0xff", or "none" when copied
    rom_glob: str  # the pattern matching every ROM of the package
    roms: tuple[ManifestEntry, ...]
    example: DeviceExample | None  # None when no carried ROM is a NIC model's default
    initial_upload_without_bugs: bool
    deb_file_name_too_long: bool
    pristine: tuple[PristineRom, ...]
    origins: tuple[OriginInfo, ...]
    pristine_globs: tuple[str, ...]  # DEP-5 patterns matching exactly the ROMs of the source
    pad_octal: str  # the pad byte as tr(1) spells it after a backslash: "377" for 0xff
    padded_roms: tuple[ManifestEntry, ...]
    unchanged_roms: tuple[ManifestEntry, ...]
    standards_version: str
    build_dir: str = BUILD_DIR
    homepage: str = HOMEPAGE
    firmware: bool = False  # carries -bios/pflash/fw_cfg images, not only option ROMs
    built_from: str = "ipxe"  # the source package the files were built from
    pristine_names: tuple[str, ...] = ("*.rom",)  # find -name patterns of the orig's files


def context_of(spec: PackageSpec) -> PackageContext:
    """Derive everything the templates show from the specification."""
    roms = tuple(_manifest_entry(rom) for rom in spec.roms)
    kinds = {(rom.path.rpartition("/")[0], _extension(rom.name)) for rom in spec.pristine}
    dirs = dict.fromkeys(rom.path.rpartition("/")[0] for rom in spec.pristine)
    built_from = spec.built_using.split(" ", 1)[0]
    return PackageContext(
        spec=spec,
        date=fields.rfc2822(spec.epoch),
        year=datetime.fromtimestamp(spec.epoch, tz=UTC).year,
        pad_byte=f"{spec.pad_byte:#04x}" if spec.pad else "none",
        rom_glob=f"{spec.prefix}*" if spec.firmware else f"{spec.prefix}*.rom",
        roms=roms,
        example=_example(roms),
        # lintian wants a first upload to close a bug (an ITP); a derived compat package has none.
        # It asks only of a lone entry whose version ends in -1 (a release's +deb12u1 is not one)
        initial_upload_without_bugs=not spec.continued and spec.version.endswith("-1") and not any(
            "closes:" in change.lower() for change in spec.changes),
        deb_file_name_too_long=_deb_file_name_too_long(spec.package, spec.version),
        pristine=tuple(PristineRom(rom.path, rom.size, rom.sha256) for rom in spec.pristine),
        origins=tuple(OriginInfo(o.label, o.input_name, o.kind, o.sha256, o.package, o.version,
                                 *built)
                      for o, built in zip(spec.inputs, spec.inputs_built_from, strict=True)),
        pristine_globs=tuple(f"{d}/*{e}" if d else f"*{e}" for d in dirs
                             for e in sorted(e for k, e in kinds if k == d)),
        pad_octal=f"{spec.pad_byte:03o}",
        padded_roms=tuple(rom for rom in roms if rom.padding),
        unchanged_roms=tuple(rom for rom in roms if not rom.padding),
        standards_version=spec.target.standards_version,
        homepage=HOMEPAGES.get(built_from, HOMEPAGE),
        firmware=spec.firmware,
        built_from=built_from,
        pristine_names=tuple(sorted({f"*{_extension(rom.name)}" for rom in spec.pristine})),
    )


def _extension(name: str) -> str:
    return "." + name.rsplit(".", 1)[-1]


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
        drivers=tuple(f.driver for f in BUILTIN.families if f.rom == original.name),
        install_dir=rom.install_dir,
        kind=original.kind.value,
        block=block_rule(original.kind, original.name, flash_unit(original.name)) or "",
    )


def _example(roms: tuple[ManifestEntry, ...]) -> DeviceExample | None:
    """virtio-net-pci's ROM if the package carries it (the NIC most guests have), else the
    first carried ROM that is some model's default."""
    candidates = sorted((rom for rom in roms if rom.devices),
                        key=lambda rom: "virtio-net-pci" not in rom.devices)
    if not candidates:
        return None
    rom = candidates[0]
    return DeviceExample(rom.name, rom.devices[0], libvirt_model(rom.devices[0]))


#: lintian's package-has-long-file-name limit.
_LINTIAN_MAX_FILE_NAME = 80


def _deb_file_name_too_long(package: str, version: str) -> bool:
    """Whether lintian's package-has-long-file-name fires on the .deb: it measures the name as
    if the architecture were "kfreebsd-amd64" (14 characters) against 80."""
    name = f"{package}_{version.split(':', 1)[-1]}_all.deb"
    return len(name) - len("all") + len("kfreebsd-amd64") > _LINTIAN_MAX_FILE_NAME
