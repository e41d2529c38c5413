"""One libvirt host, through libvirt's own API (the Python binding): its domains and their
states and XML, a running guest's RAM blocks, and twins. The only module that talks to libvirt.

A running guest's blocks come from its QEMU through libvirt's monitor passthrough
(``qemuMonitorCommand``, HMP ``info ramblock``): read-only, but libvirt marks that QEMU process
tainted ("custom-monitor" in the domain's log) for the rest of its life; the taint does not
travel with a migration. A twin is created with ``VIR_DOMAIN_START_PAUSED |
VIR_DOMAIN_START_AUTODESTROY``: paused (no guest code runs) and tied to this connection, so
libvirt itself destroys it when the connection closes, however this process ends (Ctrl-C,
SIGTERM, SIGKILL, a lost network); it is also destroyed explicitly as soon as it was read.
"""

from __future__ import annotations

import contextlib
import os
import urllib.parse
from dataclasses import dataclass
from typing import Any

from ..errors import ToolError, UsageError
from .binding import load

__all__ = ["Host", "Listed", "TwinError"]

#: Seconds of silence before a remote connection counts as dead (keepalive: 5 s x 3).
KEEPALIVE = (5, 3)


class TwinError(ToolError):
    """The host could not start or read a twin (its own QEMU's words)."""


@dataclass(frozen=True)
class Listed:
    """A domain as preflight judges it."""

    name: str
    state: str  # running, paused, managed-saved, inactive
    handle: Any


def _version(number: int) -> str:
    return f"{number // 1000000}.{number // 1000 % 1000}.{number % 1000}"


class Host:
    """A libvirt connection (``None``: libvirt's default URI); exit 2 if it cannot be opened."""

    def __init__(self, uri: str | None, role: str):
        self._libvirt, self._qemu = load()
        self.role = role
        try:
            self._conn = self._libvirt.open(uri)
        except self._libvirt.libvirtError as error:
            raise UsageError(f"{role} {uri or 'default libvirt URI'}: cannot connect: "
                             f"{error.get_error_message()}") from None
        self.uri = self._conn.getURI()
        if not self.local:
            with contextlib.suppress(self._libvirt.libvirtError):  # a driver without keepalive
                self._conn.setKeepAlive(*KEEPALIVE)
        self.versions = {"libvirt": _version(self._conn.getLibVersion()),
                         "qemu": _version(self._conn.getVersion())}

    @property
    def local(self) -> bool:
        """A URI without a host part (``qemu:///system``): files named to it are files here."""
        return not urllib.parse.urlsplit(self.uri).netloc

    @property
    def label(self) -> str:
        return f"{self.uri} (libvirt {self.versions['libvirt']}, QEMU {self.versions['qemu']})"

    def close(self) -> None:
        """Close the connection: libvirt destroys any twin still tied to it."""
        with contextlib.suppress(self._libvirt.libvirtError):
            self._conn.close()

    def __enter__(self) -> Host:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _error(self, error: Any) -> str:
        return str(error.get_error_message())

    def domains(self, names: tuple[str, ...] = ()) -> list[Listed]:
        """The named domains (exit 2 for a name the host does not have), else every domain,
        sorted by name."""
        lv = self._libvirt
        if names:
            handles = []
            for name in names:
                try:
                    handles.append(self._conn.lookupByName(name))
                except lv.libvirtError:
                    raise UsageError(f"{self.role} {self.uri} has no domain {name!r}") from None
        else:
            handles = self._conn.listAllDomains(0)
        listed = [Listed(h.name(), self._state(h), h) for h in handles]
        return sorted(listed, key=lambda d: d.name)

    def _state(self, handle: Any) -> str:
        lv = self._libvirt
        if handle.isActive():
            state = handle.state()[0]
            return "paused" if state in (lv.VIR_DOMAIN_PAUSED, lv.VIR_DOMAIN_PMSUSPENDED) \
                else "running"
        return "managed-saved" if handle.hasManagedSaveImage(0) else "inactive"

    def xml(self, domain: Listed) -> str:
        """The XML the guest would be recreated from: what ``migrate`` sends for a running
        one, the managed save image's for a managed-saved one, the definition otherwise."""
        lv = self._libvirt
        try:
            if domain.state in ("running", "paused"):
                return str(domain.handle.XMLDesc(lv.VIR_DOMAIN_XML_MIGRATABLE))
            if domain.state == "managed-saved":
                return str(domain.handle.managedSaveGetXMLDesc(0))
            return str(domain.handle.XMLDesc(lv.VIR_DOMAIN_XML_INACTIVE
                                             | lv.VIR_DOMAIN_XML_MIGRATABLE))
        except lv.libvirtError as error:
            raise TwinError(f"{domain.name}: cannot read its XML: {self._error(error)}") from None

    def save_image_xml(self, path: str) -> str:
        """The XML in a ``virsh save`` image, as the host's libvirt reads it (the file is the
        host's); exit 2 if it cannot."""
        try:
            return str(self._conn.saveImageGetXMLDesc(path, 0))
        except self._libvirt.libvirtError as error:
            raise UsageError(f"--saved {path}: {self.role} {self.uri} cannot read it as a save "
                             f"image: {self._error(error)}") from None

    def live_blocks(self, domain: Listed) -> str:
        """``info ramblock`` of the domain's running QEMU (taints it: custom-monitor)."""
        try:
            return str(self._qemu.qemuMonitorCommand(
                domain.handle, "info ramblock", self._qemu.VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP))
        except self._libvirt.libvirtError as error:
            raise TwinError(f"{domain.name}: cannot ask its QEMU: {self._error(error)}") from None

    def twin_blocks(self, xml: str) -> str:
        """Start ``xml`` paused and tied to this connection, read ``info ramblock``, destroy."""
        lv = self._libvirt
        flags = lv.VIR_DOMAIN_START_PAUSED | lv.VIR_DOMAIN_START_AUTODESTROY
        try:
            twin = self._conn.createXML(xml, flags)
        except lv.libvirtError as error:
            raise TwinError(f"cannot start it: {self._error(error)}") from None
        try:
            return str(self._qemu.qemuMonitorCommand(
                twin, "info ramblock", self._qemu.VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP))
        except lv.libvirtError as error:
            raise TwinError(f"cannot read it: {self._error(error)}") from None
        finally:
            with contextlib.suppress(lv.libvirtError):  # already gone; AUTODESTROY covers it
                twin.destroy()


def twin_name(index: int) -> str:
    """A name no admin gives a guest, unique per run and per domain."""
    return f"ipxe-compat-twin-{os.getpid()}-{index}"
