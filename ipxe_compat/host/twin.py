"""The twin of a domain: the same machine, firmware and ROM-carrying devices, and nothing of the
guest's. Pure.

preflight starts a twin paused on a host to read which RAM blocks that host's QEMU allocates for
this very domain. So the twin keeps what decides those blocks (machine type, ``<os>`` firmware,
every PCI controller, NIC, video device and their addresses, ``-global`` lines of
``qemu:commandline``) and drops whatever would open, lock or use something of the guest's or the
host's: disks, filesystems, host devices, serial and channel sockets, TPMs, graphics listeners,
shared or huge-page memory backing, memory devices, pinning, the NVRAM file, the UUID. It is
built from an allowlist: an element this module does not know is dropped, never passed on. NICs
keep model, MAC, ROM, boot order and PCI address, and become ``type='user'``: no bridge, tap or
network is attached (and a paused guest sends nothing).

A pflash firmware keeps its code image, made ``stateless='yes'``: without it libvirt (9.0 and
11.3) would copy a variable store for the twin from its template into the host's nvram
directory and leave it there after the twin is destroyed. The guest's own variable store is not
judged (its block is the guest's NVRAM file, which moves with it). A guest whose firmware
libvirt has not resolved yet (``<os firmware='efi'>`` without a loader path: libvirt 9.0 keeps
an inactive guest so) gets no twin at all, for the same reason: libvirt can only pick such a
firmware together with a variable store.
"""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from ..core.domxml import Domain, serialize
from ..errors import SourceError

__all__ = ["NVRAM_BLOCK", "Twin", "twin_xml"]

QEMU_NS = "http://libvirt.org/schemas/domain/qemu/1.0"

#: Top-level elements a twin keeps (attributes and children as they are, unless handled below).
KEEP_TOP = frozenset({"memory", "currentMemory", "maxMemory", "vcpu", "vcpus", "iothreads",
                      "os", "features", "cpu", "clock", "on_poweroff", "on_reboot", "on_crash",
                      "pm", "devices", f"{{{QEMU_NS}}}commandline",
                      f"{{{QEMU_NS}}}capabilities", f"{{{QEMU_NS}}}override"})
#: Devices a twin keeps: those that carry ROMs or place them on the PCI buses, and harmless ones.
KEEP_DEVICES = frozenset({"emulator", "controller", "interface", "video", "input", "watchdog",
                          "panic", "memballoon", "iommu", "hub"})
#: What a NIC keeps: the device QEMU makes and where, never what it is attached to.
KEEP_NIC = frozenset({"mac", "model", "rom", "address", "boot", "acpi", "alias"})
#: ``<os>`` children that open nothing of the guest's (``<nvram>`` is its own VARS file).
KEEP_OS = frozenset({"type", "loader", "boot", "bootmenu", "bios", "kernel", "initrd", "cmdline",
                     "dtb", "acpi", "firmware", "feature", "features"})
#: The pflash block of the guest's variable store: its size is that of the guest's own NVRAM
#: file, which moves with the guest; no twin opens it, so preflight does not judge it.
NVRAM_BLOCK = "system.flash1"


@dataclass(frozen=True)
class Twin:
    """The twin's XML, its name, and what of the domain it could not carry (for the report)."""

    name: str
    xml: str
    left_out: tuple[str, ...]


def twin_xml(domain: Domain, name: str) -> Twin:
    """The twin of ``domain`` under ``name`` (a name of its own on every host)."""
    source = domain.root
    root = ET.Element("domain", {k: v for k, v in source.attrib.items() if k == "type"})
    root.text = "\n  "
    left: list[str] = []
    ET.SubElement(root, "name").text = name
    for child in source:
        if not isinstance(child.tag, str) or child.tag not in KEEP_TOP:
            continue
        kept = copy.deepcopy(child)
        if child.tag == "vcpu":
            kept.attrib.pop("cpuset", None)
        elif child.tag == "os":
            _os(kept, domain.name)
        elif child.tag == "cpu":
            for cell in kept.iter("cell"):
                for attribute in ("memAccess", "discard"):
                    cell.attrib.pop(attribute, None)
        elif child.tag == "devices":
            left += _devices(kept)
        elif child.tag == f"{{{QEMU_NS}}}commandline":
            left += _commandline(kept)
        root.append(kept)
    for element in root:
        element.tail = "\n  "
    root[-1].tail = "\n"
    twin = Domain(root, domain.namespaces, declaration=False)
    return Twin(name, serialize(twin), tuple(left))


def _os(os_: ET.Element, name: str) -> None:
    for child in list(os_):
        if child.tag not in KEEP_OS:
            os_.remove(child)  # nvram: the guest's own VARS; smbios: needs <sysinfo>
    loader = os_.find("loader")
    path = (loader.text or "").strip() if loader is not None else ""
    if loader is not None and path and loader.get("type") == "pflash":
        # the code image the guest runs, by path; no variable store made for the twin
        os_.attrib.pop("firmware", None)  # stateless cannot be auto-selected (libvirt 9, 11)
        for firmware in os_.findall("firmware"):
            os_.remove(firmware)
        loader.set("readonly", "yes")
        loader.set("stateless", "yes")
    elif not path and os_.get("firmware") == "efi":
        raise SourceError(f"{name}: firmware auto-selection (<os firmware='efi'> with no loader "
                          "path yet): libvirt would make a variable store for its twin and "
                          "leave it behind; not judged (its running XML names the firmware)")


def _devices(devices: ET.Element) -> list[str]:
    left = []
    for device in list(devices):
        if not isinstance(device.tag, str) or device.tag not in KEEP_DEVICES:
            devices.remove(device)
            if device.tag == "hostdev":
                left.append("a host device (its ROM, if any, is the host's: not judged)")
            continue
        if device.tag == "interface":
            if device.get("type") == "hostdev":
                devices.remove(device)
                left.append("an SR-IOV interface (type='hostdev': not judged)")
                continue
            device.attrib.clear()
            device.set("type", "user")
            for part in list(device):
                if part.tag not in KEEP_NIC:
                    device.remove(part)
    return left


def _commandline(commandline: ET.Element) -> list[str]:
    """Keep ``-global TYPE.PROP=VALUE`` pairs (they may set a romfile); drop every other
    argument, which may open the guest's files."""
    args = [a for a in commandline if a.tag == f"{{{QEMU_NS}}}arg"]
    keep: list[ET.Element] = []
    dropped = 0
    index = 0
    while index < len(args):
        if args[index].get("value") == "-global" and index + 1 < len(args):
            keep += args[index:index + 2]
            index += 2
        else:
            dropped += 1
            index += 1
    for child in list(commandline):
        if child not in keep:
            commandline.remove(child)
    return [f"{dropped} qemu:commandline argument(s) other than -global"] if dropped else []
