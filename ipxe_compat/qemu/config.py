"""``qemu-config``: tell QEMU to use the compat ROMs, as -global flags, libvirt XML, C compat
entries or a quilt patch for QEMU's source. Pure.

A compat ROM replaces a device's default only where the default is exactly the original ROM
(``256k-efi-virtio.rom`` for the virtio-net-pci family, whose default is ``efi-virtio.rom``);
mapping a ROM onto a device that loads another file by default would itself change that
device's bucket. Flags and compat entries name each family's most general QOM type
(``virtio-net-pci-base``), which reaches every model of it; libvirt names concrete models, so
its snippet lists one ``<interface>`` per model.

A firmware compat set (``2m-OVMF.fd``, ``2m-OVMF_CODE.fd``) is chosen per guest, by path, not per
device model: ``args`` gives the ``-bios`` or pflash ``-drive`` option for each image, ``libvirt``
the ``<loader>`` (and ``<nvram template>`` for a variables image), both from
:func:`~ipxe_compat.qemu.firmware.firmware_mappings`. QEMU has no compat property for them, so
``c`` and ``patch`` take option ROMs only.
"""

from __future__ import annotations

import posixpath
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from ..core import compat, fields
from ..core.devices import BUILTIN, NicTable, libvirt_model
from ..core.firmware import FileClass
from ..core.names import ambiguous, original_of
from ..errors import UsageError
from ..input import RomSet
from .firmware import FirmwareMapping, firmware_mappings
from .patch import PatchHeader, QemuSource, RomfileEntry, control_patch, quilt_patch

__all__ = ["ConfigRequest", "PatchRequest", "RomMapping", "compat_package", "mappings",
           "qemu_config", "qemu_config_text", "render"]


@dataclass(frozen=True)
class ConfigRequest:
    """The options of ``qemu-config``, validated together: each rule is checked here only."""

    fmt: str
    machine_compat: str | None
    install_dir: str | None
    control_patch: bool = False

    @classmethod
    def of(cls, fmt: str, machine_compat: str | None, install_dir: str | None,
           qemu_source: bool, control_patch: bool) -> ConfigRequest:
        if fmt not in compat.FORMATS:
            raise UsageError(f"format {fmt!r} is not one of {', '.join(compat.FORMATS)}")
        if machine_compat is not None:
            fields.machine_compat(machine_compat)
        if install_dir is not None:
            install_dir = fields.install_dir(install_dir)
        if fmt == "patch" and (machine_compat is None or not qemu_source):
            raise UsageError("--format patch needs --machine-compat X_Y and --qemu-source DIR")
        if fmt != "patch" and (qemu_source or control_patch):
            raise UsageError("--qemu-source and --control-patch go with --format patch")
        return cls(fmt, machine_compat, install_dir, control_patch)


@dataclass(frozen=True)
class RomMapping:
    """QOM type ``driver`` (covering ``models``) should load ``rom`` (installed as ``path``)
    instead of its default ``default``."""

    driver: str
    models: tuple[str, ...]
    rom: str
    path: str
    default: str


@dataclass(frozen=True)
class PatchRequest:
    """What ``--format patch`` needs besides the mapping: the QEMU tree and the DEP-3 fields."""

    source: QemuSource
    author: str
    last_update: str | None  # YYYY-MM-DD, from SOURCE_DATE_EPOCH; None leaves the field out


def qemu_config_text(romset: RomSet, request: ConfigRequest, table: NicTable = BUILTIN,
                     patch: PatchRequest | None = None) -> tuple[str, str | None]:
    """``qemu-config``: the compat ROMs of ``romset`` as QEMU or libvirt configuration, and with
    ``request.control_patch`` the debian/control change of the QEMU source (None if it has no
    debian/control)."""
    firmware = list(firmware_mappings(romset, request.install_dir, FIRMWARE_KINDS).values())
    if firmware and request.fmt not in ("args", "libvirt"):
        raise UsageError(f"{', '.join(m.name for m in firmware)}: a -bios or pflash image is "
                         f"chosen per guest by path, QEMU has no compat property for it: "
                         f"--format {request.fmt} takes option ROMs only (use args or libvirt)")
    maps = mappings(romset, table, request.install_dir, required=not firmware)
    if request.fmt != "patch":
        text = render(maps, request.fmt, request.machine_compat) if maps else ""
        return text + render_firmware(firmware, request.fmt), None
    if request.machine_compat is None or patch is None:
        raise UsageError("--format patch needs --machine-compat X_Y and --qemu-source DIR")
    text = format_patch(maps, request.machine_compat, patch)
    control = None
    if request.control_patch and patch.source.control is not None:
        control = control_patch(patch.source.control, compat_package(maps, romset))
    return text, control


def qemu_config(romset: RomSet, fmt: str = "args", machine_compat: str | None = None,
                install_dir: str | None = None, table: NicTable = BUILTIN,
                patch: PatchRequest | None = None) -> str:
    """The configuration text alone (the library's short form of :func:`qemu_config_text`)."""
    request = ConfigRequest.of(fmt, machine_compat, install_dir, patch is not None, False)
    return qemu_config_text(romset, request, table, patch)[0]


#: The classes qemu-config maps by path: what a guest's -bios, pflash drives or <loader> name.
FIRMWARE_KINDS = (FileClass.BIOS, FileClass.PFLASH)


def render_firmware(maps: Sequence[FirmwareMapping], fmt: str) -> str:
    """The option (``args``) or domain XML (``libvirt``) that boots each compat image instead of
    its original; each image is an alternative, for the guests that name that original."""
    lines = []
    for m in maps:
        if fmt == "args":
            lines.append(f"# guests started with {m.original}:")
            if m.kind is FileClass.BIOS:
                lines.append(f"-bios {m.path}")
            elif m.unit == 0:
                lines.append(f"-drive if=pflash,format=raw,unit=0,readonly=on,file={m.path}")
            else:  # the variables are the guest's own: a writable copy of the template
                lines[-1] += f" a writable copy of {m.path} per guest"
                lines.append(f"-drive if=pflash,format=raw,unit=1,file=GUEST-{m.name}")
        elif m.kind is FileClass.BIOS:
            lines += [f"<!-- instead of {m.original} (-bios) -->",
                      f"<loader readonly='yes' type='rom'>{m.path}</loader>"]
        elif m.unit == 0:
            lines += [f"<!-- instead of {m.original} (pflash code) -->",
                      f"<loader readonly='yes' type='pflash'>{m.path}</loader>"]
        else:
            lines += [f"<!-- instead of {m.original} (the variables template) -->",
                      f"<nvram template='{m.path}'/>"]
    return "".join(line + "\n" for line in lines)


def mappings(romset: RomSet, table: NicTable = BUILTIN,
             install_dir: str | None = None, required: bool = True) -> list[RomMapping]:
    """One entry per family whose default ROM one of the compat ROMs replaces (paired by
    :func:`~ipxe_compat.core.names.original_of`, as check and verify-migration pair). Two compat
    ROMs of one default (``256k-`` and ``compat-256k-efi-virtio.rom``) are the pairing error
    check gives, never two conflicting lines."""
    defaults = {family.rom for family in table.families}
    found = []
    replacing: dict[str, str] = {}  # default ROM -> the compat ROM replacing it
    for rom in romset.roms:
        base = original_of(rom.name, defaults)
        if base is None:
            continue  # not a compat ROM of a default: a default ROM would replace itself
        if replacing.setdefault(base, rom.name) != rom.name:
            raise ambiguous(base, [replacing[base], rom.name])
        if install_dir is not None:
            directory = install_dir
        elif rom.installed is not None:  # a package's, a root's, a built tree's
            directory = posixpath.dirname(rom.installed)
        else:
            directory = compat.DEFAULT_INSTALL_DIR
        for family in table.families:
            if family.rom == base:
                found.append(RomMapping(family.driver, family.models, rom.name,
                                        f"{directory}/{rom.name}", base))
    if not found and required:
        names = ", ".join(rom.name for rom in romset.roms)
        raise UsageError(f"no compat ROM replaces a QEMU default ROM, nor a -bios or pflash "
                         f"image (ROMs: {names})")
    return sorted(found, key=lambda m: (m.driver, m.rom))


def format_args(maps: Sequence[RomMapping]) -> str:
    return "".join(f"-global {m.driver}.romfile={m.rom}\n" for m in maps)


def format_libvirt(maps: Sequence[RomMapping]) -> str:
    """One ``<interface>`` per concrete model: libvirt's ``<model type>`` names no QOM family."""
    blocks = []
    for m in maps:
        for model in m.models:
            blocks.append(
                f"<!-- {model}: instead of {m.default} -->\n"
                "<interface type='network'>\n"
                "  <source network='default'/>\n"
                f"  <model type='{libvirt_model(model)}'/>\n"
                f"  <rom file='{m.path}'/>\n"
                "</interface>\n"
            )
    return "".join(blocks)


def entries(maps: Sequence[RomMapping]) -> list[RomfileEntry]:
    return [RomfileEntry(m.driver, m.rom) for m in maps]


def format_c(maps: Sequence[RomMapping], machine_compat_: str | None) -> str:
    array = f"hw_compat_{machine_compat_}" if machine_compat_ else "hw_compat_X_Y"
    lines = [f"/* In {array}[] (hw/core/machine.c): machine types up to and including this one",
             " * keep the ROM sizes of the iPXE they were released with (ipxe-compat). */"]
    lines += [entry.c() for entry in entries(maps)]
    return "\n".join(lines) + "\n"


def format_patch(maps: Sequence[RomMapping], machine_compat_: str, request: PatchRequest) -> str:
    version = machine_compat_.replace("_", ".")
    covers = [f"{m.driver} covers {', '.join(m.models)}." for m in maps if m.models != (m.driver,)]
    paragraphs = [
        ("A guest keeps the option ROM RAM blocks of the QEMU it was started on, sized "
        "pow2ceil(ROM size); live migration refuses a destination block of another size "
        '("Size mismatch: 0000:00:02.0/virtio-net-pci.rom: 0x40000 != 0x80000"). So machine '
        f"types up to {version} load the compat ROMs, kept at the size of the ipxe-qemu the "
        "older QEMU shipped, whatever size the default ROMs grow to."),
        "Each entry names the most general QOM type of a NIC family, which reaches every "
        "model of it" + (": " + " ".join(covers) if covers else "."),
        ("qemu-system-x86 must depend on the package that installs these ROMs: without them "
        "QEMU cannot start a guest of these machine types (failed to find romfile)."),
    ]
    body: list[str] = []
    for paragraph in paragraphs:
        body += [*([""] if body else []), *textwrap.wrap(paragraph, 78, break_on_hyphens=False)]
    header = PatchHeader(f"Keep the iPXE option ROM sizes of machine types up to {version}",
                         tuple(body), request.author, request.last_update)
    return quilt_patch(request.source, f"hw_compat_{machine_compat_}", entries(maps), header)


def render(maps: Sequence[RomMapping], fmt: str, machine_compat_: str | None = None) -> str:
    """The mapping in one of the formats that need no QEMU source (``args``, ``libvirt``, ``c``)."""
    if fmt == "args":
        return format_args(maps)
    if fmt == "libvirt":
        return format_libvirt(maps)
    return format_c(maps, machine_compat_)


def compat_package(maps: Sequence[RomMapping], romset: RomSet) -> str:
    """The binary package qemu-system-x86 must depend on: the .deb's own name, else the package
    ``generate`` makes for the compat ROMs' prefix (:func:`~ipxe_compat.core.compat.
    package_of_prefix`: ``256k-`` and Ubuntu's ``compat-256k-`` both give
    ipxe-qemu-256k-compat-efi-roms)."""
    packages = sorted({r.origin.package for r in romset.roms if r.origin.package})
    if len(packages) == 1:
        return packages[0]
    if not maps:  # firmware only: its package is named after its origin, which only a .deb says
        raise UsageError("a firmware compat set names its package only as a .deb: give the "
                         "compat package's .deb")
    prefixes = sorted({m.rom[: -len(m.default)] for m in maps})
    names = sorted({compat.package_of_prefix(prefix) for prefix in prefixes})
    if len(names) != 1:
        raise UsageError(f"the compat ROMs have prefixes of several packages ({', '.join(names)}):"
                         " give one compat set")
    return names[0]
