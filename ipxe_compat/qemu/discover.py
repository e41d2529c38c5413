"""What one QEMU build is: its version, machine types and PCI NIC models, asked over QMP.

The NIC models come from ``-device help`` ("Network devices", bus PCI). Each is hot-added to ONE
paused pc machine and asked ``qom-get romfile`` (the default is visible only on an instantiated
device; ``device-list-properties`` on other device types can kill QEMU 7.2, so it is never
used); a model that cannot be added here (pvrdma needs RDMA hardware) is left out. The QOM
parents and abstract types come from ``qom-list-types``, from which :mod:`..core.families` picks
each family's most general type. One QEMU process answers everything (~1 s).
"""

from __future__ import annotations

import re
import shlex
import shutil
from collections.abc import Sequence
from dataclasses import dataclass

from ..core.devices import NicTable
from ..errors import UsageError
from .qmp import Qemu, QmpError, device_help, private_dir, version

__all__ = ["QemuFacts", "pci_nic_models", "probe_qemu"]

_NET_SECTION = re.compile(r"^Network devices:\n(.*?)(?:\n\n|\Z)", re.DOTALL | re.MULTILINE)
_PCI_DEVICE = re.compile(r'^name "([^"]+)", bus PCI\b', re.MULTILINE)


@dataclass(frozen=True)
class QemuFacts:
    """One QEMU build as a migration end sees it."""

    command: tuple[str, ...]
    version: str
    default_machine: str  # versioned: pc-i440fx-7.2, not its alias pc
    machines: dict[str, str]  # every name and alias -> the versioned name
    nics: NicTable

    @property
    def label(self) -> str:
        return f"QEMU {self.version} ({short_command(self.command)})"

    def machine(self, name: str) -> str:
        """The versioned machine type ``name`` stands for; exit 2 if this QEMU lacks it."""
        if name not in self.machines:
            raise UsageError(f"machine type {name!r} is not one of {self.label}'s")
        return self.machines[name]


#: A command longer than this is shown by its first and last word.
_SHORT_COMMAND = 80


def short_command(command: Sequence[str]) -> str:
    """The command as typed, or its first and last word when it is long (a wrapper such as
    unshare/chroot around qemu-system-x86_64): for messages and the text report."""
    joined = shlex.join(command)
    if len(joined) <= _SHORT_COMMAND:
        return joined
    return f"{shlex.quote(command[0])} ... {shlex.quote(command[-1])}"


def pci_nic_models(help_text: str) -> list[str]:
    """The PCI network device models in ``-device help`` output, in its order."""
    section = _NET_SECTION.search(help_text)
    return _PCI_DEVICE.findall(section.group(1)) if section else []


def probe_qemu(command: Sequence[str], timeout: float = 30.0) -> QemuFacts:
    """Ask the QEMU ``command`` for its version, machine types and NIC models (exit 2 if it
    cannot be run or asked)."""
    label = short_command(command)
    workdir = private_dir()
    try:
        models = pci_nic_models(device_help(command, timeout))
        with Qemu(command, workdir, "probe", ["-machine", "pc"], timeout) as qemu:
            found = version(qemu)
            machines, default = _machines(qemu.command("query-machines"))
            types = qemu.command("qom-list-types", abstract=True)
            parents = {t["name"]: t.get("parent") for t in types}
            abstract = frozenset(t["name"] for t in types if t.get("abstract"))
            defaults = {}
            for index, model in enumerate(models):
                try:
                    qemu.command("device_add", driver=model, id=f"nic{index}")
                except QmpError:
                    if qemu.exited() is not None:
                        raise  # QEMU died: no model after this one could be asked
                    continue  # cannot exist on this host (pvrdma): no guest can have it either
                defaults[model] = qemu.command("qom-get", path=f"/machine/peripheral/nic{index}",
                                               property="romfile")
    except QmpError as error:
        raise UsageError(f"cannot ask QEMU {label!r}: {error.message}") from error
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if not models:
        raise UsageError(f"QEMU {label!r} lists no PCI network device in -device help")
    table = NicTable.build(defaults, parents, abstract, origin=f"QEMU {found} ({label})",
                           version=found)
    return QemuFacts(tuple(command), found, default, machines, table)


def _machines(listed: list[dict[str, object]]) -> tuple[dict[str, str], str]:
    names: dict[str, str] = {}
    default = ""
    for machine in listed:
        name = str(machine["name"])
        names[name] = name
        if machine.get("alias"):
            names[str(machine["alias"])] = name
        if machine.get("is-default"):
            default = name
    return names, default
