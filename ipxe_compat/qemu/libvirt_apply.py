"""``qemu-config --format libvirt --apply``: put the compat files into a domain XML, as structure.

Each ``<interface>`` whose model loads, by default, an original ROM that the compat set
replaces gets ``<rom file='COMPAT PATH'/>`` (or that ``file`` on its ``<rom>`` element); a
``<loader>`` that names an original firmware file names the compat file instead, and so does an
``<nvram template>`` that names an original variables image (the template libvirt copies when
the guest has no variable store yet: it must match the code image). The XML is
edited as a tree (:mod:`..core.domxml`), so the layout does not matter (an ``<interface>`` on
one line is found as surely as one over five), and applying it to its own output changes
nothing. An interface that already names another ROM file, or that has its ROM disabled, is
left as it is and reported; so is a ``<rom file>`` added where a ``-global TYPE.romfile=`` of
``<qemu:commandline>`` named the interface's ROM (the device's own file wins). Pure.
"""

from __future__ import annotations

import itertools
import posixpath
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..core import compat
from ..core.devices import BUILTIN, BUILTIN_PARENTS, LIBVIRT_MODEL, NicTable, libvirt_model
from ..core.domxml import Domain, parse, serialize
from ..errors import UsageError
from ..input import RomSet
from .config import FIRMWARE_KINDS, RomMapping, compat_package, mappings
from .firmware import firmware_mappings

__all__ = ["Applied", "CompatPaths", "apply_xml", "combine", "compat_paths", "nic_paths"]

#: libvirt's NIC model when an x86 domain's <interface> has none (dumpxml then shows it).
DEFAULT_X86_MODEL = "rtl8139"
#: libvirt's namespace for <qemu:commandline>.
QEMU_NS = "http://libvirt.org/schemas/domain/qemu/1.0"


@dataclass(frozen=True)
class CompatPaths:
    """What a compat set changes in a domain XML, and the packages that install its files."""

    nics: Mapping[str, str]  # libvirt <model type> -> the compat ROM's installed path
    #: original firmware path -> compat file: <loader> images and <nvram template> variables
    loaders: Mapping[str, str] = field(default_factory=dict)
    packages: tuple[str, ...] = ()
    owners: Mapping[str, str] = field(default_factory=dict)  # compat path -> its package

    def packages_of(self, used: Sequence[str]) -> tuple[str, ...]:
        """The packages that install the compat files ``used`` (all of them if unknown)."""
        found = tuple(dict.fromkeys(self.owners[p] for p in used if p in self.owners))
        return found or self.packages


def compat_paths(romset: RomSet, table: NicTable = BUILTIN,
                 install_dir: str | None = None) -> CompatPaths:
    """The paths ``--apply`` writes for ``romset`` (a compat package, tree or directory)."""
    loaders = _firmware_paths(romset, install_dir)
    maps = mappings(romset, table, install_dir, required=not loaders)
    nics = nic_paths(maps)
    package = compat_package(maps, romset)
    owners = dict.fromkeys((*nics.values(), *loaders.values()), package)
    return CompatPaths(nics, loaders, (package,), owners)


def combine(sets: Sequence[CompatPaths]) -> CompatPaths:
    """Several compat sets applied together (preflight's repeated ``--apply``: the iPXE and the
    OVMF compat packages); exit 2 if two of them put different files in one place."""
    nics: dict[str, str] = {}
    loaders: dict[str, str] = {}
    for paths in sets:
        for mine, theirs, what in ((nics, paths.nics, "NIC model"),
                                   (loaders, paths.loaders, "firmware")):
            for key, path in theirs.items():
                if mine.setdefault(key, path) != path:
                    raise UsageError(f"two compat sets replace {what} {key}: with {mine[key]} "
                                     f"and with {path}")
    packages = tuple(dict.fromkeys(p for paths in sets for p in paths.packages))
    owners = {path: owner for paths in sets for path, owner in paths.owners.items()}
    return CompatPaths(nics, loaders, packages, owners)


def _firmware_paths(romset: RomSet, install_dir: str | None = None) -> dict[str, str]:
    """Original firmware path -> compat file, for ``<loader>`` (-bios and pflash code images)
    and ``<nvram template>`` (pflash variables images), from
    :func:`~.firmware.firmware_mappings`. The original is named where the compat file lies
    (generate installs each image beside where its origin had it: /usr/share/ovmf,
    /usr/share/OVMF) and in QEMU's firmware directory, where Debian's ovmf links OVMF.fd."""
    found: dict[str, str] = {}
    for m in firmware_mappings(romset, install_dir, FIRMWARE_KINDS).values():
        for directory in dict.fromkeys((posixpath.dirname(m.path), compat.DEFAULT_INSTALL_DIR)):
            found[posixpath.join(directory, m.original)] = m.path
    return found


@dataclass(frozen=True)
class Applied:
    """The edited XML, what changed, and what was left alone (each a line for people)."""

    xml: str
    changed: tuple[str, ...]
    left_alone: tuple[str, ...]
    used: tuple[str, ...] = ()  # the compat files the edited XML names anew
    #: changes that override something of the domain's own (a qemu:commandline -global romfile)
    overrides: tuple[str, ...] = ()


def nic_paths(maps: tuple[RomMapping, ...] | list[RomMapping]) -> dict[str, str]:
    """libvirt ``<model type>`` -> the compat ROM's installed path, for every mapped model."""
    return {libvirt_model(model): m.path for m in maps for model in m.models}


def apply_xml(text: str, paths: CompatPaths, what: str = "domain XML") -> Applied:
    """``text`` with the compat ROMs on its interfaces and compat firmware in its loader."""
    nics, loaders = paths.nics, paths.loaders
    domain = parse(text, what)
    changed: list[str] = []
    left: list[str] = []
    used: list[str] = []
    overrides: list[str] = []
    romfiles = _global_romfiles(domain)
    for index, interface in enumerate(domain.root.iter("interface")):
        given = _interface(domain, index, interface, nics, changed, left, used)
        if given is None:
            continue
        label, model = given
        for qom_type in _qom_types(model):
            if qom_type in romfiles:
                overrides.append(f"{label}: its <rom file> takes the place of "
                                 f"<qemu:commandline>'s -global {qom_type}.romfile="
                                 f"{romfiles[qom_type]}")
    originals = {posixpath.basename(path) for path in loaders}
    for loader in domain.root.iter("loader"):
        path = (loader.text or "").strip()
        if path in loaders and loaders[path] != path:
            loader.text = loaders[path]
            changed.append(f"<loader> {path} -> {loaders[path]}")
            used.append(loaders[path])
        elif path not in loaders and posixpath.basename(path) in originals:
            left.append(f"<loader> {path}: not where the firmware packages install "
                        f"{posixpath.basename(path)}, left alone")
    for nvram in domain.root.iter("nvram"):
        template = nvram.get("template", "")
        if template in loaders and loaders[template] != template:
            nvram.set("template", loaders[template])
            changed.append(f"<nvram template> {template} -> {loaders[template]}")
            used.append(loaders[template])
    return Applied(serialize(domain) if changed else _unchanged(text), tuple(changed), tuple(left),
                   tuple(dict.fromkeys(used)), tuple(overrides))


def _global_romfiles(domain: Domain) -> dict[str, str]:
    """QOM type -> romfile, from the ``-global TYPE.romfile=FILE`` of ``<qemu:commandline>``."""
    found: dict[str, str] = {}
    for line in domain.root.iter(f"{{{QEMU_NS}}}commandline"):
        values = [arg.get("value", "") for arg in line.iter(f"{{{QEMU_NS}}}arg")]
        for flag, value in itertools.pairwise(values):
            qom_type, _, rest = value.partition(".")
            if flag in ("-global", "--global") and rest.startswith("romfile="):
                found[qom_type] = rest.removeprefix("romfile=")
    return found


def _qom_types(model: str) -> list[str]:
    """The QOM types a ``-global TYPE.romfile=`` reaches libvirt's ``model`` through."""
    device = next((qom for qom, name in LIBVIRT_MODEL.items() if name == model), model)
    types = [device]
    while (parent := BUILTIN_PARENTS.get(types[-1])) is not None:
        types.append(parent)
    return [*types, "pci-device"]


def _unchanged(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"


def _label(domain: Domain, index: int, interface: ET.Element, model: str) -> str:
    mac = interface.find("mac")
    alias = interface.find("alias")
    who = (alias.get("name") if alias is not None else None) or (
        f"mac {mac.get('address')}" if mac is not None else f"#{index}")
    return f"interface {who} ({model})"


def _interface(domain: Domain, index: int, interface: ET.Element, nics: Mapping[str, str],
               changed: list[str], left: list[str], used: list[str]) -> tuple[str, str] | None:
    """Give ``interface`` its compat ROM; its label and model if it was given one now."""
    model_element = interface.find("model")
    model = model_element.get("type") if model_element is not None else None
    if model is None:
        arch = domain.root.find("os/type")
        if interface.get("type") == "hostdev" or (arch is not None and arch.get("arch") not in
                                                  (None, "x86_64", "i686")):
            return None
        model = DEFAULT_X86_MODEL
    path = nics.get(model)
    if path is None:
        return None  # no compat ROM replaces this model's default
    label = _label(domain, index, interface, model)
    rom = interface.find("rom")
    if rom is not None and (rom.get("enabled") == "no" or rom.get("file") is not None):
        current = rom.get("file")
        if rom.get("enabled") == "no":
            left.append(f"{label}: its ROM is disabled (<rom enabled='no'/>), left alone")
        elif current == "":
            left.append(f"{label}: its ROM is disabled (<rom file=''/>: an empty file name loads "
                        "no ROM), left alone")
        elif current != path:
            left.append(f"{label}: names another ROM file {current}, left alone")
        return None
    if rom is None:
        rom = ET.SubElement(interface, "rom")
        _indent(interface, rom)
    rom.set("file", path)
    changed.append(f"{label}: <rom file='{path}'/>")
    used.append(path)
    return label, model


def _indent(parent: ET.Element, child: ET.Element) -> None:
    """Lay the new last child out like its siblings (an interface on one line stays one)."""
    siblings = list(parent)
    if len(siblings) > 1:
        before = siblings[-2]
        child.tail = before.tail
        before.tail = (parent.text if parent.text and parent.text.strip() == "" else before.tail)
    else:
        child.tail = None
