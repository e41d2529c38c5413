"""The template context: what the templates show, derived from the specification once. Pure.

Templates see the :class:`~.spec.PackageSpec` as ``spec`` (every value validated there) and this
context as ``ctx``: the values derived from the specification for display, each computed here and
nowhere else. Nothing in it is patched later or parsed back out of rendered text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from ..core import fields
from ..core.devices import BUILTIN, devices_for, libvirt_model
from .plan import CompatRom
from .spec import PackageSpec

__all__ = ["DeviceExample", "ManifestEntry", "PackageContext", "context_of"]

STANDARDS_VERSION = "4.6.2"  # the newest bookworm's lintian knows; newer is a warning there
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
    devices: tuple[str, ...]  # the NIC models whose default ROM it replaces
    drivers: tuple[str, ...] = ()  # the QOM types covering those models (e1000-base)


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
    standards_version: str = STANDARDS_VERSION
    homepage: str = HOMEPAGE


def context_of(spec: PackageSpec) -> PackageContext:
    """Derive everything the templates show from the specification."""
    roms = tuple(_manifest_entry(rom) for rom in spec.roms)
    return PackageContext(
        spec=spec,
        date=fields.rfc2822(spec.epoch),
        year=datetime.fromtimestamp(spec.epoch, tz=UTC).year,
        pad_byte=f"{spec.pad_byte:#04x}" if spec.pad else "none",
        rom_glob=f"{spec.prefix}*.rom",
        roms=roms,
        example=_example(roms),
        # lintian wants a first upload to close a bug (an ITP); a derived compat package has none
        initial_upload_without_bugs=not spec.continued and not any(
            "closes:" in change.lower() for change in spec.changes),
        deb_file_name_too_long=_deb_file_name_too_long(spec.package, spec.version),
    )


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


def _deb_file_name_too_long(package: str, version: str) -> bool:
    """Whether lintian's package-has-long-file-name fires on the .deb: it measures the name as
    if the architecture were "kfreebsd-amd64" (14 characters) against 80."""
    name = f"{package}_{version.split(':', 1)[-1]}_all.deb"
    return len(name) - len("all") + len("kfreebsd-amd64") > 80
