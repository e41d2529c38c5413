"""Which QEMU NIC models load which ROM file by default, and which QOM type names their family:
facts about QEMU, pure.

Read from QEMU 7.2, 10.0 and 11.1 with ``qom-get /machine/peripheral/<id> romfile`` and
``qom-list-types`` (tests/test_qemu_versions.py holds this table against all three); a running
QEMU can be asked the same with ``qemu-config --qemu CMD``. The eepro100 family loads
``pxe-eepro100.rom``, so ``efi-eepro100.rom`` replaces no default. A ``-global TYPE.romfile=``
(or a ``hw_compat`` entry) reaches every subtype of TYPE, so the mapping names each family's most
general type (:mod:`.families`): ``virtio-net-pci-base`` reaches virtio-net-pci and its
transitional and non-transitional variants, which ``virtio-net-pci`` alone does not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from .families import Family, families
from .names import original_of

__all__ = ["BUILTIN", "DEFAULT_ROMFILE", "DISPLAY_ROMFILE", "NicTable", "devices_driven_by",
           "devices_for", "displays_driven_by", "libvirt_model"]

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
    "virtio-net-pci-non-transitional": "efi-virtio.rom",
    "virtio-net-pci-transitional": "efi-virtio.rom",
    "vmxnet3": "efi-vmxnet3.rom",
    **dict.fromkeys(EEPRO100_FAMILY, "pxe-eepro100.rom"),
}

#: The PCI display models that load a VGA option ROM (``vgabios-*.bin``, core/firmware.py), and the
#: file each loads by default: the same in QEMU 7.2 and 10.0, read with ``qom-get romfile`` on a
#: device given on the command line (display devices cannot be hot-added, so QEMU is not asked
#: on each run; tests/test_qemu_versions.py holds this table against both QEMUs). qxl-vga
#: exists only where QEMU has spice (trixie: qemu-system-modules-spice); secondary-vga,
#: virtio-gpu-pci and qxl load no ROM; isa-vga and ramfb load theirs through fw_cfg.
DISPLAY_ROMFILE: dict[str, str] = {
    "VGA": "vgabios-stdvga.bin",
    "ati-vga": "vgabios-ati.bin",
    "bochs-display": "vgabios-bochs-display.bin",
    "cirrus-vga": "vgabios-cirrus.bin",
    "qxl-vga": "vgabios-qxl.bin",
    "virtio-vga": "vgabios-virtio.bin",
    "vmware-svga": "vgabios-vmware.bin",
}

#: The abstract QOM parents of the models above (every other model's parent is pci-device, which
#: covers all PCI devices and so names no family).
BUILTIN_PARENTS: dict[str, str | None] = {
    "virtio-net-pci": "virtio-net-pci-base",
    "virtio-net-pci-transitional": "virtio-net-pci-base",
    "virtio-net-pci-non-transitional": "virtio-net-pci-base",
    "virtio-net-pci-base": None,
    "e1000": "e1000-base",
    "e1000-82544gc": "e1000-base",
    "e1000-82545em": "e1000-base",
    "e1000-base": None,
}

#: libvirt's <model type=.../> for a QEMU device model, where the two differ.
LIBVIRT_MODEL = {"virtio-net-pci": "virtio", "virtio-net-pci-transitional": "virtio-transitional",
                 "virtio-net-pci-non-transitional": "virtio-non-transitional"}

_KIND = re.compile(r"^(?:efi|pxe)-|\.rom$")


@dataclass(frozen=True)
class NicTable:
    """The NIC models of one QEMU (or the built-in facts): each model's default romfile (models
    without a ROM left out) and the family types that cover them."""

    defaults: Mapping[str, str]
    families: tuple[Family, ...]
    origin: str = "built-in table"
    version: str | None = None  # QEMU's version when read from a QEMU
    _by_model: dict[str, Family] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_model", {m: f for f in self.families for m in f.models})

    @classmethod
    def build(cls, defaults: Mapping[str, str], parents: Mapping[str, str | None],
              abstract: frozenset[str], origin: str = "built-in table",
              version: str | None = None) -> NicTable:
        kept = {model: rom for model, rom in sorted(defaults.items()) if rom}
        return cls(kept, tuple(families(kept, parents, abstract)), origin, version)

    def family_of(self, model: str) -> Family:
        return self._by_model[model]


BUILTIN = NicTable.build(DEFAULT_ROMFILE, BUILTIN_PARENTS,
                         frozenset({"virtio-net-pci-base", "e1000-base"}))


def devices_for(rom_name: str, table: Mapping[str, str] = DEFAULT_ROMFILE) -> tuple[str, ...]:
    """The device models whose default romfile is exactly ``rom_name`` (may be empty)."""
    return tuple(model for model, rom in table.items() if rom == rom_name)


def devices_driven_by(rom_name: str,
                      table: Mapping[str, str] = DEFAULT_ROMFILE) -> tuple[str, ...]:
    """Device models a ROM is built for, default or not: ``efi-eepro100.rom`` and
    ``256k-efi-eepro100.rom`` drive the eepro100 family, whose default is ``pxe-eepro100.rom``."""
    stems = {_stem(rom) for rom in table.values()}
    builds = {f"{kind}-{stem}.rom" for stem in stems for kind in ("efi", "pxe")}
    original = rom_name if rom_name in builds else original_of(rom_name, builds)
    if original is None:
        return ()
    return tuple(model for model, rom in table.items() if _stem(rom) == _stem(original))


def displays_driven_by(rom_name: str) -> tuple[str, ...]:
    """The display models whose default ROM is ``rom_name``, or the original of that compat name
    (``64k-vgabios-stdvga.bin``: VGA)."""
    originals = set(DISPLAY_ROMFILE.values())
    original = rom_name if rom_name in originals else original_of(rom_name, originals)
    return tuple(model for model, rom in DISPLAY_ROMFILE.items() if rom == original)


def libvirt_model(device: str) -> str:
    return LIBVIRT_MODEL.get(device, device)


def _stem(rom_name: str) -> str:
    """``efi-eepro100.rom`` and ``pxe-eepro100.rom`` -> ``eepro100``: the NIC a ROM drives."""
    return _KIND.sub("", rom_name)
