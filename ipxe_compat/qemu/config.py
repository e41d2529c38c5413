"""``qemu-config``: tell QEMU to use the compat ROMs, as -global flags, libvirt XML or C. Pure,
except :func:`probe_romfiles`, which asks a real QEMU binary for its defaults over QMP.

A compat ROM replaces a device's default only where the default is exactly the original ROM
(``256k-efi-virtio.rom`` for ``virtio-net-pci``, whose default is ``efi-virtio.rom``); mapping a
ROM onto a device that loads another file by default would itself change that device's bucket.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..core import fields
from ..core.devices import DEFAULT_ROMFILE, devices_for, libvirt_model
from ..core.names import original_of
from ..errors import UsageError
from ..input import RomSet

__all__ = ["FORMATS", "probe_romfiles", "qemu_config"]

FORMATS = ("args", "libvirt", "c")


@dataclass(frozen=True)
class RomMapping:
    """``device`` should load ``rom`` (installed as ``path``) instead of its default ``default``."""

    device: str
    rom: str
    path: str
    default: str


def qemu_config(romset: RomSet, fmt: str = "args", machine_compat: str | None = None,
                install_dir: str | None = None, table: dict[str, str] = DEFAULT_ROMFILE) -> str:
    """``qemu-config``: the compat ROMs of ``romset`` as QEMU or libvirt configuration."""
    if machine_compat is not None:
        fields.machine_compat(machine_compat)
    if install_dir is not None:
        fields.install_dir(install_dir)
    return render(mappings(romset, table, install_dir), fmt, machine_compat)


def mappings(romset: RomSet, table: dict[str, str], install_dir: str | None) -> list[RomMapping]:
    """One entry per device model whose default ROM one of the compat ROMs replaces (paired by
    :func:`~ipxe_compat.core.names.original_of`, as check and verify-migration pair)."""
    defaults = set(table.values())
    found = []
    for rom in romset.roms:
        base = original_of(rom.name, defaults)
        if base is None:
            continue  # not a compat ROM of a default: a default ROM would replace itself
        if install_dir is not None:
            directory = install_dir
        elif rom.origin.kind == "deb":
            directory = "/" + posixpath.dirname(rom.path)
        else:
            directory = "/usr/share/qemu"
        for device in devices_for(base, table):
            found.append(RomMapping(device, rom.name, f"{directory}/{rom.name}", base))
    if not found:
        names = ", ".join(rom.name for rom in romset.roms)
        raise UsageError(f"no compat ROM replaces a QEMU default ROM (ROMs: {names})")
    return sorted(found, key=lambda m: (m.device, m.rom))


def format_args(maps: Sequence[RomMapping]) -> str:
    return "".join(f"-global {m.device}.romfile={m.rom}\n" for m in maps)


def format_libvirt(maps: Sequence[RomMapping]) -> str:
    blocks = []
    for m in maps:
        blocks.append(
            f"<!-- {m.device}: instead of {m.default} -->\n"
            "<interface type='network'>\n"
            "  <source network='default'/>\n"
            f"  <model type='{libvirt_model(m.device)}'/>\n"
            f"  <rom file='{m.path}'/>\n"
            "</interface>\n"
        )
    return "".join(blocks)


def format_c(maps: Sequence[RomMapping], machine_compat: str | None) -> str:
    array = f"hw_compat_{machine_compat}" if machine_compat else "hw_compat_X_Y"
    lines = [f"/* In {array}[] (hw/core/machine.c): machine types up to and including this one",
             " * keep the ROM sizes of the iPXE they were released with (ipxe-compat). */"]
    lines += [f'    {{ "{m.device}", "romfile", "{m.rom}" }},' for m in maps]
    return "\n".join(lines) + "\n"


def render(maps: Sequence[RomMapping], fmt: str, machine_compat: str | None = None) -> str:
    if fmt == "args":
        return format_args(maps)
    if fmt == "libvirt":
        return format_libvirt(maps)
    if fmt == "c":
        return format_c(maps, machine_compat)
    raise UsageError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")


def probe_romfiles(binary: str, models: Sequence[str] = tuple(DEFAULT_ROMFILE),
                   timeout: float = 30.0) -> dict[str, str]:
    """Ask a real QEMU which romfile each NIC model loads by default (``qom-get``).

    One paused QEMU holds every model at once; a model this QEMU does not have is left out.
    """
    import shutil

    from .qmp import Qemu, QmpError, find_qemu, private_dir  # QEMU is run only when asked to

    path = find_qemu(binary)
    workdir = private_dir()
    try:
        available = _available_models(path, workdir, models, timeout)
        devices = [arg for i, m in enumerate(available) for arg in ("-device", f"{m},id=nic{i}")]
        with Qemu(path, workdir, "probe", devices, timeout) as qemu:
            return {m: qemu.command("qom-get", path=f"/machine/peripheral/nic{i}",
                                    property="romfile")
                    for i, m in enumerate(available)}
    except QmpError as error:
        raise UsageError(f"cannot read romfile defaults from {binary}: {error.message}") from error
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _available_models(binary: str, workdir: Path, models: Sequence[str], timeout: float) -> list[str]:
    from .qmp import Qemu

    with Qemu(binary, workdir, "types", [], timeout) as qemu:
        types = {t["name"] for t in qemu.command("qom-list-types", implements="pci-device")}
    return [m for m in models if m in types]
