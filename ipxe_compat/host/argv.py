"""A domain's twin as QEMU arguments, for a destination given as a QEMU command. Pure.

libvirt cannot say this for us: ``domainXMLToNative`` (libvirt 9.0) opens /dev/net/tun for a
user-mode NIC. The arguments are built from the twin's XML (:mod:`.twin`) with the same
allowlist, narrowed to what decides the RAM blocks a file fixes (docs/cli.md, "Every firmware
QEMU migrates"):

- the machine type (``<os><type machine>``), exactly as libvirt wrote it;
- the firmware: ``<loader type='rom'>`` (libvirt's default type) is ``-bios``, ``<loader
  type='pflash'>`` the code image on pflash unit 0, read-only (the guest's NVRAM file is its own
  and moves with it: never opened, see :data:`.twin.NVRAM_BLOCK`);
- the PCI bridges and root ports (``<controller type='pci'>``) with their libvirt ids
  (``pci.N``) and addresses, so every device lands at the PCI path its block is named by
  (``0000:00:02.1:00.0/virtio-net-pci.rom``);
- each NIC as a bare ``-device`` (model, MAC, PCI address, ``romfile``/``rombar`` from
  ``<rom>``), with no ``netdev``: nothing is attached;
- each video device (its option ROM is ``vgabios-*.bin``);
- the ``-global`` pairs of ``qemu:commandline`` (they may set a romfile).

Nothing else: no disk, no network backend, no memory backend (the caller's small ``-m``), no
kernel. The result is what libvirt would pass for those devices (libvirt 11.3 writes them as
JSON; key=value works on every QEMU).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator

from ..core.devices import LIBVIRT_MODEL
from ..core.domxml import parse
from ..errors import SourceError
from .twin import QEMU_NS

__all__ = ["twin_argv"]

#: libvirt's NIC model -> QEMU's device, where they differ (core/devices.py has the inverse).
NIC_DRIVER = {libvirt: qemu for qemu, libvirt in LIBVIRT_MODEL.items()}
#: libvirt's default NIC model on x86 (qemu/libvirt_apply.py reads it the same way).
DEFAULT_NIC = "rtl8139"
#: libvirt's video model -> QEMU's device (primary, secondary); None: no PCI device of its own.
VIDEO_DRIVER: dict[str, tuple[str, str] | None] = {
    "vga": ("VGA", "VGA"), "cirrus": ("cirrus-vga", "cirrus-vga"),
    "vmvga": ("vmware-svga", "vmware-svga"), "qxl": ("qxl-vga", "qxl"),
    "virtio": ("virtio-vga", "virtio-gpu-pci"), "bochs": ("bochs-display", "bochs-display"),
    "none": None, "ramfb": None,  # ramfb's ROM is fw_cfg data (vgaroms/): no block
}
#: PCI controllers (libvirt's ``<model name>``, i.e. QEMU's device) and the ``<target>``
#: attributes each takes, as QEMU's property names.
BRIDGES: dict[str, dict[str, str]] = {
    "pcie-root-port": {"chassis": "chassis", "port": "port"},
    "ioh3420": {"chassis": "chassis", "port": "port"},
    "pci-bridge": {"chassisNr": "chassis_nr"},
    "pcie-pci-bridge": {},
    "i82801b11-bridge": {},
    "x3130-upstream": {},
    "xio3130-downstream": {"chassis": "chassis", "port": "port"},
}
#: libvirt's controller model -> its default ``<model name>`` (dumpxml always writes one).
BRIDGE_OF_MODEL = {"pcie-root-port": "pcie-root-port", "pci-bridge": "pci-bridge",
                   "pcie-to-pci-bridge": "pcie-pci-bridge", "dmi-to-pci-bridge": "i82801b11-bridge",
                   "pcie-switch-upstream-port": "x3130-upstream",
                   "pcie-switch-downstream-port": "xio3130-downstream"}
#: The root bus of each machine family (controller index 0).
ROOT_BUS = {"pcie-root": "pcie.0", "pci-root": "pci.0"}


def twin_argv(xml: str, name: str) -> list[str]:
    """QEMU arguments (after the command and its base options) for the twin ``xml``; exit 2
    (SourceError) for what this module cannot express, naming it."""
    domain = parse(xml, name)
    root = domain.root
    machine = root.find("os/type")
    if machine is None or not machine.get("machine"):
        raise SourceError(f"{name}: its XML names no machine type (<os><type machine=...>)")
    args = ["-name", name, "-machine", _value(machine.get("machine", ""))]
    args += _firmware(root, name)
    devices = root.find("devices")
    if devices is not None:
        buses = _buses(devices, machine.get("machine", ""))
        args += _controllers(devices, buses, name)
        args += _nics(devices, buses)
        args += _videos(devices, buses)
    args += _globals(root)
    return args


def _value(text: str) -> str:
    """A QEMU option value: a comma is doubled (``romfile=/a,,b``)."""
    return text.replace(",", ",,")


def _firmware(root: ET.Element, name: str) -> list[str]:
    loader = root.find("os/loader")
    path = (loader.text or "").strip() if loader is not None else ""
    if loader is None or not path:
        return []  # the machine's default (a twin has no unresolved <os firmware>: twin.py)
    kind = loader.get("type", "rom")
    if kind == "rom":
        return ["-bios", path]
    if kind == "pflash":
        return ["-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={_value(path)}"]
    raise SourceError(f"{name}: <loader type={kind!r}> is not rom or pflash")


def _buses(devices: ET.Element, machine: str) -> dict[str, str]:
    """libvirt's bus number (``0x01``, as in ``<address bus=...>``) -> QEMU's bus id."""
    buses = {"0": "pcie.0" if "q35" in machine else "pci.0"}
    for controller in devices.iter("controller"):
        index = _number(controller.get("index", ""))
        if controller.get("type") != "pci":
            continue
        if index == "0":
            buses[index] = ROOT_BUS.get(controller.get("model", ""), buses[index])
        else:
            buses[index] = f"pci.{index}"
    return buses


def _number(text: str) -> str:
    """``0x01`` and ``1`` are the same bus."""
    try:
        return str(int(text, 0))
    except ValueError:
        return text


def _address(element: ET.Element, buses: dict[str, str]) -> str:
    """``,bus=ID,addr=SLOT.FUNCTION[,multifunction=on]`` for a PCI ``<address>``, else ''."""
    address = element.find("address")
    if address is None or address.get("type") != "pci":
        return ""
    bus = buses.get(_number(address.get("bus", "0")))
    if bus is None:
        raise SourceError(f"PCI bus {address.get('bus')} has no <controller type='pci'>")
    slot = int(address.get("slot", "0"), 0)
    function = int(address.get("function", "0"), 0)
    text = f",bus={bus},addr={slot:#x}" + (f".{function:#x}" if function else "")
    if address.get("multifunction") == "on":
        text += ",multifunction=on"
    return text


def _controllers(devices: ET.Element, buses: dict[str, str], name: str) -> list[str]:
    args = []
    for controller in devices.iter("controller"):
        if controller.get("type") != "pci" or _number(controller.get("index", "")) == "0":
            continue
        model_element = controller.find("model")
        driver = (model_element.get("name") if model_element is not None else None) \
            or BRIDGE_OF_MODEL.get(controller.get("model", ""))
        if driver not in BRIDGES:
            raise SourceError(f"{name}: PCI controller {controller.get('model')!r} "
                              f"({driver or 'no <model name>'}) is not one a twin can build")
        target = controller.find("target")
        props = "".join(f",{prop}={_number(target.get(attr, ''))}"
                        for attr, prop in BRIDGES[driver].items()
                        if target is not None and target.get(attr) is not None)
        args += ["-device", f"{driver},id=pci.{_number(controller.get('index', ''))}{props}"
                 f"{_address(controller, buses)}"]
    return args


def _nics(devices: ET.Element, buses: dict[str, str]) -> list[str]:
    args = []
    for index, interface in enumerate(devices.iter("interface")):
        model_element = interface.find("model")
        model = model_element.get("type") if model_element is not None else None
        driver = NIC_DRIVER.get(model or DEFAULT_NIC, model or DEFAULT_NIC)
        options = f"{driver},id=net{index}"
        mac = interface.find("mac")
        if mac is not None and mac.get("address"):
            options += f",mac={mac.get('address')}"
        options += _address(interface, buses)
        rom = interface.find("rom")
        if rom is not None:
            if rom.get("enabled") == "no":
                options += ",romfile="
            elif rom.get("file"):
                options += f",romfile={_value(rom.get('file', ''))}"
            if rom.get("bar") == "off":
                options += ",rombar=0"
        args += ["-device", options]
    return args


def _videos(devices: ET.Element, buses: dict[str, str]) -> list[str]:
    args = []
    for index, video in enumerate(devices.iter("video")):
        model_element = video.find("model")
        model = model_element.get("type", "vga") if model_element is not None else "vga"
        if model not in VIDEO_DRIVER:
            raise SourceError(f"video model {model!r} is not one a twin can build")
        drivers = VIDEO_DRIVER[model]
        if drivers is None:
            continue
        # libvirt lists the primary video first
        args += ["-device", f"{drivers[0] if index == 0 else drivers[1]},id=video{index}"
                 f"{_address(video, buses)}"]
    return args


def _globals(root: ET.Element) -> Iterator[str]:
    commandline = root.find(f"{{{QEMU_NS}}}commandline")
    if commandline is None:
        return
    values = [arg.get("value", "") for arg in commandline if arg.tag == f"{{{QEMU_NS}}}arg"]
    for flag, value in zip(values[::2], values[1::2], strict=False):
        if flag == "-global":  # the twin keeps only -global pairs (twin.py)
            yield from ("-global", value)
