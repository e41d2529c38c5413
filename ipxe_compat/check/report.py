"""``inspect``: describe every firmware file of a set for people and for scripts: its class,
the RAM block it becomes and that block's size, and for an option ROM its image chain. Pure.

Only option ROMs are parsed as PCI image chains; a -bios or pflash image is checked against
what QEMU itself refuses (a size that is not a multiple of 64 KiB or 4 KiB), a fw_cfg ROM is
only sized: none of them is judged as a PCI option ROM (``qboot.rom`` is a -bios image).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..core.firmware import (
    FileClass,
    block_name,
    block_rule,
    block_size,
    flash_unit,
    load_error,
)
from ..core.names import select
from ..core.outcome import Outcome
from ..core.rom import Image, Rom, rom_errors
from ..core.sizes import bucket, human, size_text
from ..errors import RomFormatError
from ..input import RomFile, RomSet

__all__ = ["inspect_roms"]


@dataclass(frozen=True)
class RomReport:
    """A ROM file and either its parsed structure or the first problem found in it."""

    file: RomFile
    rom: Rom | None
    errors: tuple[RomFormatError, ...]


def inspect_roms(romset: RomSet, globs: Sequence[str] = ()) -> Outcome:
    """``inspect``: every selected ROM described; each invalid one is a problem."""
    reports = inspect_romset(romset, globs)
    problems = tuple(str(error) for report in reports for error in report.errors)
    return Outcome(to_json(reports), to_text(reports), problems)


def inspect_romset(romset: RomSet, globs: Sequence[str] = ()) -> list[RomReport]:
    """Check each file (those matching ``globs``, or all) by its class; never raises for a bad
    one."""
    chosen = select((file.name for file in romset.roms), globs)
    return [_report(file) for file in romset.roms if file.name in chosen]


def _report(file: RomFile) -> RomReport:
    if file.kind is FileClass.OPTION_ROM:
        return RomReport(file, *rom_errors(file.data, file.location))
    refused = load_error(file.kind, file.size)
    errors = () if refused is None else (RomFormatError(refused, path=file.location),)
    return RomReport(file, None, errors)


def _block(file: RomFile) -> tuple[str | None, int | None]:
    return (block_name(file.kind, file.name, flash_unit(file.name)),
            block_size(file.kind, file.size) if file.size else None)


def block_fields(kind: FileClass, name: str) -> dict[str, str | None]:
    """``block`` (its name where the file fixes it, else null) and ``block_rule`` (how QEMU
    names it: ``ADDR/TYPE.rom`` for an option ROM, whose loading device names the block), as
    inspect's and check's JSON give them."""
    unit = flash_unit(name)
    return {"block": block_name(kind, name, unit), "block_rule": block_rule(kind, name, unit)}


def file_errors(file: RomFile) -> tuple[RomFormatError, ...]:
    """What is structurally wrong with ``file``, as inspect finds it: ``check`` validates what
    it compares and guards, so a broken build of the right size cannot pass."""
    return _report(file).errors


def error_dicts(errors: Sequence[RomFormatError]) -> list[dict[str, Any]]:
    """Errors as JSON: the file (as messages name it), the byte offset (or null), the message."""
    return [{"file": e.path, "offset": e.offset, "message": e.message} for e in errors]


def _image_dict(image: Image) -> dict[str, Any]:
    data: dict[str, Any] = {
        "offset": image.offset,
        "length": image.length,
        "code_type": image.code_type_name,
        "vendor_id": f"{image.vendor_id:04x}",
        "device_id": f"{image.device_id:04x}",
        "last": image.last,
    }
    if image.checksum_ok is not None:
        data["checksum_ok"] = image.checksum_ok
    if image.efi is not None:
        data["efi"] = {
            "subsystem": image.efi.subsystem_name,
            "machine": image.efi.machine_name,
            "compression": image.efi.compression_name,
        }
    return data


def to_json(reports: Sequence[RomReport]) -> dict[str, Any]:
    """The ``inspect --json`` document: one entry per ROM, with errors inline."""
    roms = []
    for report in reports:
        file = report.file
        entry: dict[str, Any] = {
            "name": file.name,
            "class": file.kind.value,
            **block_fields(file.kind, file.name),
            "block_size": _block(file)[1],
            "source": file.origin.spec,
            "path": file.path,
            "size": file.size,
            "bucket": bucket(file.size) if file.kind is FileClass.OPTION_ROM else None,
            "sha256": file.sha256,
            "valid": not report.errors,
            "errors": [{"offset": e.offset, "message": e.message} for e in report.errors],
        }
        if report.rom is not None:
            entry["images"] = [_image_dict(image) for image in report.rom.images]
            entry["padding"] = {
                "length": report.rom.padding_length,
                "byte": None
                if report.rom.padding_byte is None
                else f"{report.rom.padding_byte:#04x}",
            }
        roms.append(entry)
    return {"roms": roms}


def to_text(reports: Sequence[RomReport]) -> str:
    """A readable listing: one header line per ROM, one line per image, then the padding."""
    lines = []
    for report in reports:
        file = report.file
        block, size = _block(file)
        if file.kind is FileClass.OPTION_ROM:
            what = (f"QEMU bucket {size_text(bucket(file.size))} (block "
                    f"{block_rule(file.kind, file.name)} of the device that loads it)")
        elif block is None:
            what = file.kind.description
        else:
            what = f"{file.kind.description}, block {block}"
            if size is not None:
                what += f" of {size} bytes"
            if file.kind is FileClass.GENROM:
                what += " (migrated only on pc-i440fx-1.7; elsewhere fw_cfg data)"
        lines.append(f"{file.name}: {file.size} bytes ({human(file.size)}), {what}, "
                     f"from {file.location}")
        if report.rom is not None:
            for index, image in enumerate(report.rom.images):
                lines.append("  " + _image_line(index, image))
            padding = report.rom.padding_length
            byte = report.rom.padding_byte
            fill = (
                ""
                if not padding
                else (f" of {byte:#04x}" if byte is not None else " (mixed bytes)")
            )
            lines.append(f"  padding: {padding} bytes{fill}")
        for error in report.errors:
            lines.append(f"  INVALID: {error}")
    return "\n".join(lines) + ("\n" if lines else "")


def _image_line(index: int, image: Image) -> str:
    parts = [
        f"image {index} at {image.offset:#07x}: {image.code_type_name}",
        image.pci_id,
        f"{image.length} bytes",
    ]
    if image.checksum_ok is not None:
        parts.append("checksum ok" if image.checksum_ok else "CHECKSUM BAD")
    if image.efi is not None:
        efi = image.efi
        parts.append(f"{efi.machine_name} {efi.subsystem_name} compression={efi.compression_name}")
    if image.last:
        parts.append("last")
    return ", ".join(parts)
