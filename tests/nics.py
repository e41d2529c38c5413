"""Ask a real QEMU build which PCI NIC models it has and which option ROM each loads.

Independent of ipxe-compat's own tables on purpose: the tests hold those against what this finds.
The model list comes from ``-device help`` ("Network devices", bus PCI); each model is added to a
paused machine with ``device_add`` and asked for ``romfile`` (the default is only visible on an
instantiated device; ``device-list-properties`` on some other types kills QEMU 7.2). The QOM
parent of every type comes from ``qom-list-types``, which gives each model's family: the chain of
abstract types above it, up to (not including) ``pci-device`` / ``virtio-pci``.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.qemu_run import Qemu, QmpFailure

_DEVICE = re.compile(r'^name "([^"]+)", bus PCI\b', re.MULTILINE)
_FAMILY_ROOTS = {"pci-device", "virtio-pci", "device", "object"}


def pci_nic_models(qemu: Sequence[str]) -> list[str]:
    """The PCI network device models ``qemu -device help`` lists, in its order."""
    return _pci_models(qemu, "Network devices")


def pci_display_models(qemu: Sequence[str]) -> list[str]:
    """The PCI display device models ``qemu -device help`` lists, in its order."""
    return _pci_models(qemu, "Display devices")


def _pci_models(qemu: Sequence[str], title: str) -> list[str]:
    text = subprocess.run([*qemu, "-device", "help"], capture_output=True, text=True,
                          check=True, timeout=60).stdout
    section = re.search(rf"^{title}:\n(.*?)(?:\n\n|\Z)", text, re.DOTALL | re.MULTILINE)
    if section is None:
        raise RuntimeError(f"no '{title}:' section in {qemu} -device help")
    return _DEVICE.findall(section.group(1))


@dataclass(frozen=True)
class Nic:
    model: str
    romfile: str | None  # "" when the model has no ROM; None when it cannot be instantiated
    ancestors: tuple[str, ...]  # QOM parents, nearest first, up to pci-device / virtio-pci
    error: str | None = None  # why it could not be instantiated


def probe(qemu: Sequence[str], workdir: Path, models: Sequence[str],
          extra: Sequence[str] = ("-machine", "pc")) -> list[Nic]:
    """Each model's default romfile and QOM ancestry, read off a paused QEMU.

    All models are hot-added (``device_add``) to one paused i440fx machine: a QEMU per model
    would cost ~0.3 s each. A model that cannot be added is retried alone on the command line,
    whose error is kept. (q35's pcie.0 refuses hotplug: probe other machines with ``-device``.)
    """
    nics = []
    with Qemu(qemu, workdir, "probe", extra) as running:
        parents = {t["name"]: t.get("parent") for t in running.command("qom-list-types")}
        for index, model in enumerate(models):
            ancestors = []
            parent = parents.get(model)
            while parent is not None and parent not in _FAMILY_ROOTS:
                ancestors.append(parent)
                parent = parents.get(parent)
            try:
                running.command("device_add", driver=model, id=f"nic{index}")
                romfile = running.command("qom-get", path=f"/machine/peripheral/nic{index}",
                                          property="romfile")
                nics.append(Nic(model, romfile, tuple(ancestors)))
            except QmpFailure:
                romfile, error = romfile_alone(qemu, workdir, model, extra)
                nics.append(Nic(model, romfile, tuple(ancestors), error))
    return nics


def romfile_alone(qemu: Sequence[str], workdir: Path, model: str,
                  extra: Sequence[str]) -> tuple[str | None, str | None]:
    """(romfile, None) of ``-device model`` on the command line, or (None, QEMU's error)."""
    try:
        with Qemu(qemu, workdir, "alone", [*extra, "-device", f"{model},id=nic"]) as running:
            return running.command("qom-get", path="/machine/peripheral/nic",
                                   property="romfile"), None
    except QmpFailure as failure:
        return None, str(failure).strip().splitlines()[-1]

