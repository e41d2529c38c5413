"""Which QEMU NIC models load which ROM file by default.

Read from QEMU 7.2 with ``qom-get /machine/peripheral/<id> romfile`` (background.md). The eepro100
family loads ``pxe-eepro100.rom``, so ``efi-eepro100.rom`` replaces no default.
"""

from __future__ import annotations

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


def devices_for(rom_name: str) -> tuple[str, ...]:
    """The device models whose default romfile is ``rom_name`` (may be empty)."""
    return tuple(model for model, rom in DEFAULT_ROMFILE.items() if rom == rom_name)
