"""Which QEMU NIC models load which ROM file by default: facts about QEMU, pure.

Read from QEMU 7.2 with ``qom-get /machine/peripheral/<id> romfile`` (background.md); a running
QEMU can be asked the same with ``qemu-config --qemu``. The eepro100 family loads
``pxe-eepro100.rom``, so ``efi-eepro100.rom`` replaces no default. Both the generated package
(its manifest and README.Debian) and the QEMU commands read this table.
"""

from __future__ import annotations

import re

from .names import original_of

__all__ = ["DEFAULT_ROMFILE", "devices_driven_by", "devices_for", "libvirt_model"]

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

_KIND = re.compile(r"^(?:efi|pxe)-|\.rom$")


def devices_for(rom_name: str, table: dict[str, str] = DEFAULT_ROMFILE) -> tuple[str, ...]:
    """The device models whose default romfile is exactly ``rom_name`` (may be empty)."""
    return tuple(model for model, rom in table.items() if rom == rom_name)


def devices_driven_by(rom_name: str, table: dict[str, str] = DEFAULT_ROMFILE) -> tuple[str, ...]:
    """Device models a ROM is built for, default or not: ``efi-eepro100.rom`` and
    ``256k-efi-eepro100.rom`` drive the eepro100 family, whose default is ``pxe-eepro100.rom``."""
    stems = {_stem(rom) for rom in table.values()}
    builds = {f"{kind}-{stem}.rom" for stem in stems for kind in ("efi", "pxe")}
    original = rom_name if rom_name in builds else original_of(rom_name, builds)
    if original is None:
        return ()
    return tuple(model for model, rom in table.items() if _stem(rom) == _stem(original))


def libvirt_model(device: str) -> str:
    return LIBVIRT_MODEL.get(device, device)


def _stem(rom_name: str) -> str:
    """``efi-eepro100.rom`` and ``pxe-eepro100.rom`` -> ``eepro100``: the NIC a ROM drives."""
    return _KIND.sub("", rom_name)
