"""What one QEMU build is: its version, machine types and PCI NIC models, asked over QMP.

The NIC models come from ``-device help`` ("Network devices", bus PCI). Each is hot-added to ONE
paused pc machine and asked ``qom-get romfile`` (the default is visible only on an instantiated
device; ``device-list-properties`` on other device types can kill QEMU 7.2, so it is never
used); a model that cannot be added here (pvrdma needs RDMA hardware) is left out. The QOM
parents and abstract types come from ``qom-list-types``, from which :mod:`..core.families` picks
each family's most general type. One QEMU process answers everything (~1 s). The PCI display
models come from the same listing ("Display devices"); they cannot be hot-added, so their
default ROMs are core/devices.py's table.

This module is also the one boundary between what a QEMU command prints and the rest of the code:
``-device help`` bytes and every QMP answer (any JSON, or ``null``) pass through one of the
functions below, which return typed values or raise :class:`~.qmp.QmpError` naming the command
and what was expected. So whatever a QEMU (or a wrapper, or a hostile program given as --qemu)
says is an exit 2, never a TypeError. Names that reach generated text (NIC models, QOM types,
machine types, default romfiles) must have the syntax QEMU's own have: no quote, comma, space or
control character can get into a -global line, libvirt XML or C.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
from collections.abc import Sequence
from dataclasses import dataclass

from ..core.devices import NicTable
from ..errors import IpxeCompatError, UsageError
from .qmp import Qemu, QmpError, device_help, private_dir

__all__ = ["MigrationInfo", "QemuFacts", "incoming_port", "machines", "migration_info",
           "pci_display_models", "pci_nic_models", "probe_qemu", "qemu_version", "qom_text",
           "qom_types", "romfile", "run_state"]

#: A section of ``-device help`` ("Network devices:", "Display devices:") up to the blank line.
_SECTION = r"^{title}:\n(.*?)(?:\n\n|\Z)"
_PCI_DEVICE = re.compile(r'^name "([^"\n]*)", bus PCI\b', re.MULTILINE)
#: QOM type and machine names as QEMU 7.2-11.1 spell all of theirs (753 types in 7.2).
_QOM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:+-]*")
#: A default romfile: a bare file name, as QEMU's are (efi-virtio.rom), or none.
_ROMFILE = re.compile(r"(?:[A-Za-z0-9][A-Za-z0-9_.+-]*)?")
#: Version numbers QEMU reports (7.2.22); bounded, so a hostile number stays short.
_MAX_VERSION_PART = 99999
#: How much of an unexpected answer an error quotes.
_EXCERPT = 60


@dataclass(frozen=True)
class QemuFacts:
    """One QEMU build as a migration end sees it."""

    command: tuple[str, ...]
    version: str
    default_machine: str  # versioned: pc-i440fx-7.2, not its alias pc
    machines: dict[str, str]  # every name and alias -> the versioned name
    nics: NicTable
    sees_tmpdir: bool = True  # sees this machine's TMPDIR (not so: a chroot, container, ssh)
    displays: tuple[str, ...] = ()  # its PCI display models (VGA, cirrus-vga, ...)

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


# --- the boundary -------------------------------------------------------------------------------

def _name(value: object, what: str, pattern: re.Pattern[str] = _QOM_NAME) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise QmpError(f"{what} is {_excerpt(value)}, not a name QEMU gives")
    return value


def _excerpt(value: object) -> str:
    """The answer as QEMU sent it (JSON), cut short."""
    text = json.dumps(value)
    return text if len(text) <= _EXCERPT else f"{text[:_EXCERPT]}..."


def _object(value: object, what: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise QmpError(f"{what} answered {_excerpt(value)}, not a JSON object")
    return value


def _objects(value: object, what: str) -> list[dict[str, object]]:
    if not isinstance(value, list):
        raise QmpError(f"{what} answered {_excerpt(value)}, not a JSON list")
    return [_object(item, f"{what} (an element)") for item in value]


def _flag(value: object, what: str) -> bool:
    if value is not None and not isinstance(value, bool):
        raise QmpError(f"{what} is {_excerpt(value)}, not true or false")
    return bool(value)


def pci_nic_models(help_text: bytes | str) -> list[str]:
    """The PCI network device models in ``-device help`` output, in its order. Bytes that are
    not UTF-8 elsewhere do not matter; a model name QEMU would not give is an error."""
    return _pci_models(help_text, "Network devices")


def pci_display_models(help_text: bytes | str) -> list[str]:
    """The PCI display device models in ``-device help`` output (VGA, cirrus-vga, ...)."""
    return _pci_models(help_text, "Display devices")


def _pci_models(help_text: bytes | str, title: str) -> list[str]:
    text = help_text.decode("utf-8", "replace") if isinstance(help_text, bytes) else help_text
    section = re.search(_SECTION.format(title=title), text, re.DOTALL | re.MULTILINE)
    found = _PCI_DEVICE.findall(section.group(1)) if section else []
    return [_name(model, "a model in -device help") for model in found]


def qemu_version(answer: object) -> str:
    """``7.2.22`` from query-version's ``{"qemu": {"major", "minor", "micro"}}``."""
    number = _object(_object(answer, "query-version").get("qemu"), "query-version's qemu")
    parts = [number.get(key) for key in ("major", "minor", "micro")]
    for part in parts:
        if isinstance(part, bool) or not isinstance(part, int) or not (
                0 <= part <= _MAX_VERSION_PART):
            raise QmpError(f"query-version gave {_excerpt(number)}, not three version numbers")
    return ".".join(str(part) for part in parts)


def machines(answer: object) -> tuple[dict[str, str], str]:
    """query-machines: every name and alias -> the versioned name, and the default one."""
    names: dict[str, str] = {}
    default = ""
    for machine in _objects(answer, "query-machines"):
        name = _name(machine.get("name"), "a machine type")
        names[name] = name
        if machine.get("alias") is not None:
            names[_name(machine["alias"], "a machine alias")] = name
        if _flag(machine.get("is-default"), "is-default"):
            default = name
    return names, default


def qom_types(answer: object) -> tuple[dict[str, str | None], frozenset[str]]:
    """qom-list-types: each type's parent, and the abstract ones."""
    parents: dict[str, str | None] = {}
    abstract = set()
    for entry in _objects(answer, "qom-list-types"):
        name = _name(entry.get("name"), "a QOM type")
        parent = entry.get("parent")
        parents[name] = None if parent is None else _name(parent, "a QOM parent type")
        if _flag(entry.get("abstract"), "abstract"):
            abstract.add(name)
    return parents, frozenset(abstract)


def romfile(answer: object, model: str) -> str:
    """qom-get romfile: a bare file name or empty (the model loads no ROM)."""
    return _name(answer, f"{model}'s romfile", _ROMFILE)


def qom_text(answer: object, what: str) -> str:
    """A qom-get answer that is text of any kind (a romfile we set ourselves, a path)."""
    if not isinstance(answer, str):
        raise QmpError(f"{what} is {_excerpt(answer)}, not text")
    return answer


def run_state(answer: object) -> str:
    """query-status's ``status``: ``inmigrate``, ``prelaunch``, ``running``, ..."""
    return _name(_object(answer, "query-status").get("status"), "query-status's status")


@dataclass(frozen=True)
class MigrationInfo:
    """query-migrate: the status (None before any migration) and QEMU's error, if any."""

    status: str | None
    error: str | None


def migration_info(answer: object) -> MigrationInfo:
    info = _object(answer, "query-migrate")
    status, error = info.get("status"), info.get("error-desc")
    if status is not None:
        status = _name(status, "query-migrate's status")
    if error is not None and not isinstance(error, str):
        raise QmpError(f"query-migrate's error-desc is {_excerpt(error)}, not text")
    return MigrationInfo(status, error)


def incoming_port(answer: object) -> int:
    """The TCP port a destination listens on after ``migrate-incoming tcp:HOST:0``: query-migrate's
    ``socket-address`` (QEMU >= 4.0), ``[{"type": "inet", "host": ..., "port": "37761"}]``."""
    for address in _objects(_object(answer, "query-migrate").get("socket-address"),
                            "query-migrate's socket-address"):
        port = address.get("port")
        if address.get("type") == "inet" and isinstance(port, str) and port.isascii() \
                and port.isdigit() and 0 < int(port) < 1 << 16:
            return int(port)
    raise QmpError(f"query-migrate names no TCP port it listens on: {_excerpt(answer)}")


# --- the probe ----------------------------------------------------------------------------------


def probe_qemu(command: Sequence[str], timeout: float = 30.0) -> QemuFacts:
    """Ask the QEMU ``command`` for its version, machine types and NIC models. Every way that
    can fail (it cannot be run, hangs, dies, says something of the wrong shape, lists no NIC) is
    one UsageError (exit 2), which ``--fallback-builtin`` catches."""
    label = short_command(command)
    try:
        workdir = private_dir()
    except OSError as error:
        raise UsageError(f"cannot ask QEMU {label!r}: no private directory in TMPDIR: "
                         f"{error.strerror}") from error
    try:
        listing = device_help(command, timeout)
        models, displays = pci_nic_models(listing), pci_display_models(listing)
        if not models:
            raise UsageError(f"QEMU {label!r} lists no PCI network device in -device help")
        with Qemu(command, workdir, "probe", ["-machine", "pc"], timeout) as qemu:
            found = qemu_version(qemu.command("query-version"))
            names, default = machines(qemu.command("query-machines"))
            parents, abstract = qom_types(qemu.command("qom-list-types", abstract=True))
            defaults = {}
            for index, model in enumerate(models):
                try:
                    qemu.command("device_add", driver=model, id=f"nic{index}")
                except QmpError:
                    if qemu.exited() is not None:
                        raise  # QEMU died: no model after this one could be asked
                    continue  # cannot exist on this host (pvrdma): no guest can have it either
                defaults[model] = romfile(qemu.command(
                    "qom-get", path=f"/machine/peripheral/nic{index}", property="romfile"), model)
            sees = qemu.sees_workdir()
    except UsageError:
        raise
    except IpxeCompatError as error:  # QmpError, and the runner's errors
        raise UsageError(f"cannot ask QEMU {label!r}: {error.message}") from error
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    table = NicTable.build(defaults, parents, abstract, origin=f"QEMU {found} ({label})",
                           version=found)
    return QemuFacts(tuple(command), found, default, names, table, sees, tuple(displays))
