"""Which QEMU NIC models load which ROM file by default, and how compat names map back.

Read from QEMU 7.2 with ``qom-get /machine/peripheral/<id> romfile`` (background.md); a running
QEMU can be asked the same with ``qemu-config --qemu``. The eepro100 family loads
``pxe-eepro100.rom``, so ``efi-eepro100.rom`` replaces no default.
"""

from __future__ import annotations

import re

EEPRO100_FAMILY = (
    "i82550", "i82551", "i82557a", "i82557b", "i82557c", "i82558a", "i82558b",
    "i82559a", "i82559b", "i82559c", "i82559er", "i82562", "i82801",
)  # fmt: skip

DEFAULT_ROMFILE: dict[str, str] = {
    "e1000": "efi-e1000.rom",
    "e1000-82544gc": "efi-e1000.rom",
    "e1000-82545em": "efi-e1000.rom",
    "e1000e": "efi-e1000e.rom",
    "ne2k_pci": "efi-ne2k_pci.rom",
    "pcnet": "efi-pcnet.rom",
    "rtl8139": "efi-rtl8139.rom",
    "virtio-net-pci": "efi-virtio.rom",
    "vmxnet3": "efi-vmxnet3.rom",
    **{model: "pxe-eepro100.rom" for model in EEPRO100_FAMILY},
}

#: libvirt's <model type=.../> for a QEMU device model, where the two differ.
LIBVIRT_MODEL = {"virtio-net-pci": "virtio"}

_COMPAT_NAME = re.compile(r"(?P<prefix>.*?)(?P<base>(?:efi|pxe)-[^/]+\.rom)")


def devices_for(rom_name: str, table: dict[str, str] = DEFAULT_ROMFILE) -> tuple[str, ...]:
    """The device models whose default romfile is exactly ``rom_name`` (may be empty)."""
    return tuple(model for model, rom in table.items() if rom == rom_name)


def split_compat_name(name: str) -> tuple[str, str]:
    """``256k-efi-virtio.rom`` -> (``256k-``, ``efi-virtio.rom``); a plain name has prefix ''."""
    match = _COMPAT_NAME.fullmatch(name)
    return (match["prefix"], match["base"]) if match else ("", name)


def stem(rom_name: str) -> str:
    """``efi-eepro100.rom`` and ``pxe-eepro100.rom`` -> ``eepro100``: the NIC a ROM drives."""
    base = split_compat_name(rom_name)[1]
    return re.sub(r"^(?:efi|pxe)-|\.rom$", "", base)


def devices_driven_by(rom_name: str, table: dict[str, str] = DEFAULT_ROMFILE) -> tuple[str, ...]:
    """Device models a ROM is built for, default or not (efi-eepro100.rom -> the eepro100 family)."""
    return tuple(model for model, rom in table.items() if stem(rom) == stem(rom_name))


def libvirt_model(device: str) -> str:
    return LIBVIRT_MODEL.get(device, device)
