"""One libvirt host, through libvirt's own API (the Python binding): its domains and their
states and XML, a running guest's RAM blocks, and twins. The only module that talks to libvirt.

A running guest's blocks come from its QEMU through libvirt's monitor passthrough
(``qemuMonitorCommand``, HMP ``info ramblock``): read-only, but libvirt marks that QEMU process
tainted ("custom-monitor" in the domain's log) for the rest of its life; the taint does not
travel with a migration. A twin is created with ``VIR_DOMAIN_START_PAUSED |
VIR_DOMAIN_START_AUTODESTROY``: paused (no guest code runs) and tied to this connection, so
libvirt itself destroys it when the connection closes, however this process ends (Ctrl-C,
SIGTERM, SIGKILL, a lost network); it is also destroyed explicitly as soon as it was read.

Every call into libvirt is bounded (:class:`Calls`): a host that accepts the connection and then
never answers, or a daemon stopped mid-run, would otherwise hold the calling thread in libvirt's
C code for ever, and a main thread held there never runs Python's signal handlers (Ctrl-C,
SIGTERM, SIGHUP would do nothing). So each call runs on a daemon thread of its own and the
caller waits for it in short slices: a signal is handled at once (exit 130), and a call that
gets no answer within the timeout is exit 2 naming the host and the call. A call left behind
that way is never waited for again, and a host that stopped answering is never asked to close
(closing waits for an answer too): the process exits, the socket closes, and libvirt destroys
the twins tied to it.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ..errors import ToolError, UsageError, shown
from .binding import load

__all__ = ["Abandoned", "Calls", "Cancelled", "Failed", "Host", "Listed", "TwinError",
           "Unanswered"]

#: Seconds of silence before a remote connection counts as dead (keepalive: 5 s x 3).
KEEPALIVE = (5, 3)
#: How often a waiting thread looks up from a libvirt call (a signal is handled within it).
SLICE = 0.1
#: Once a run is cancelled (a signal, an error elsewhere), how much longer a call under way, or
#: the destroy of its twin, may take: a host that answers finishes and cleans up; one that does
#: not is left to libvirt's AUTODESTROY when the process exits (a signal is honoured within it).
GRACE = 1.0

_T = TypeVar("_T")


class TwinError(ToolError):
    """The host could not start or read a twin (its own QEMU's words)."""


class Unanswered(UsageError):
    """A libvirt call got no answer within the timeout: the host cannot be used (exit 2)."""


class Failed(Exception):
    """libvirt refused a call; ``message`` is libvirt's reason, one line. The binding's own
    failures count alike: an answer that is not UTF-8 (a save image's XML with other bytes, echoed
    in libvirt's error message) comes out of it as SystemError or UnicodeError."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class Cancelled(Exception):
    """The run was cancelled while this call waited: its outcome no longer matters."""


class Abandoned(Cancelled):
    """A call of a cancelled run still had no answer after :data:`GRACE`: its host is not asked
    anything more (not even to close)."""


class Calls:
    """The libvirt calls of one run: their timeout, and cancelling them all at once."""

    def __init__(self, timeout: float):
        self.timeout = timeout
        self._cancelled = threading.Event()
        self._since = 0.0

    def cancel(self) -> None:
        """Calls under way get :data:`GRACE` seconds more; new ones (but cleanup) none."""
        if not self._cancelled.is_set():
            self._since = time.monotonic()
            self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def run(self, errors: tuple[type[BaseException], ...], where: str, what: str,
            call: Callable[..., _T], *args: Any, cleanup: bool = False) -> _T:
        """``call(*args)`` on a thread of its own; :class:`Unanswered` after the timeout,
        :class:`Failed` for ``errors`` (the binding's), :class:`Cancelled` once cancelled."""
        if self.cancelled and not cleanup:
            raise Cancelled(what)
        outcome: list[Any] = []
        # The worker says "done" on a pipe, not a threading.Event: a timed Event.wait is a
        # semaphore wait until an absolute clock time, which a shifted clock (libfaketime, as
        # reprotest runs the tests) turns into days; select's timeout is relative.
        readable, writable = os.pipe()

        def work() -> None:
            try:
                outcome.append((True, call(*args)))
            except BaseException as error:  # handed to the waiting thread
                outcome.append((False, error))
            finally:
                with contextlib.suppress(OSError):  # the waiter gave up and closed its end
                    os.write(writable, b".")
                os.close(writable)

        try:
            threading.Thread(target=work, name=f"libvirt {what}", daemon=True).start()
            started = time.monotonic()
            deadline = started + self.timeout
            # a signal handler runs between slices (main thread)
            while not select.select([readable], [], [], SLICE)[0]:
                now = time.monotonic()
                if self.cancelled and now > max(self._since, started) + GRACE:
                    raise Abandoned(what)
                if now > deadline:
                    raise Unanswered(f"{where}: no answer to {what} within {self.timeout:g} s "
                                     "(--timeout)")
        finally:
            os.close(readable)
        ok, value = outcome[0]
        if ok:
            return value  # type: ignore[no-any-return]
        if isinstance(value, errors):
            raise Failed(_message(value)) from None
        raise value


def _message(error: BaseException) -> str:
    """libvirt's reason, one line; for an answer that is not UTF-8, the bytes it could read."""
    if hasattr(error, "get_error_message"):
        return str(error.get_error_message() or error)
    cause = error if isinstance(error, UnicodeError) else error.__context__
    if isinstance(cause, UnicodeDecodeError):
        said = bytes(cause.object).decode("utf-8", errors="replace").splitlines()
        return f"an answer that is not UTF-8 ({said[0] if said else 'empty'})"
    return f"{type(error).__name__}: {error}"


@dataclass(frozen=True)
class Listed:
    """A domain as preflight judges it."""

    name: str
    state: str  # running, paused, managed-saved, inactive
    handle: Any


def _version(number: int) -> str:
    return f"{number // 1000000}.{number // 1000 % 1000}.{number % 1000}"


class Host:
    """A libvirt connection (``None``: libvirt's default URI); exit 2 if it cannot be opened or
    stops answering. ``calls`` is shared by the run's hosts (one timeout, one cancel)."""

    def __init__(self, uri: str | None, role: str, calls: Calls):
        self._libvirt, self._qemu = load()
        self._errors: tuple[type[BaseException], ...] = (
            self._libvirt.libvirtError, SystemError, UnicodeError)
        self._calls = calls
        self._wedged = False
        self._conn: Any = None
        self.role = role
        self.uri = uri or "(libvirt's default URI)"
        try:
            self._conn = self._call("connect", self._libvirt.open, uri)
        except Failed as error:
            raise UsageError(f"{role} {shown(uri or 'default libvirt URI')}: cannot connect: "
                             f"{error.message}") from None
        try:
            self.uri = str(self._call("getURI", self._conn.getURI))
            if not self.local:
                with contextlib.suppress(Failed):  # a driver without keepalive
                    self._call("setKeepAlive", self._conn.setKeepAlive, *KEEPALIVE)
            self.versions = {
                "libvirt": _version(self._call("getLibVersion", self._conn.getLibVersion)),
                "qemu": _version(self._call("getVersion", self._conn.getVersion))}
        except Failed as error:
            self.close()
            raise UsageError(f"{role} {shown(self.uri)}: {error.message}") from None
        except BaseException:
            self._calls.cancel()  # interrupted, or no answer: closing gets GRACE at most
            self.close()
            raise

    def _call(self, what: str, call: Callable[..., _T], *args: Any,
              cleanup: bool = False) -> _T:
        if self._wedged:  # it left a call unanswered: nothing more is asked of it
            raise Abandoned(what)
        try:
            return self._calls.run(self._errors, f"{self.role} {shown(self.uri)}", what, call,
                                   *args, cleanup=cleanup)
        except (Unanswered, Abandoned):
            self._wedged = True
            raise

    @property
    def local(self) -> bool:
        """A URI without a host part (``qemu:///system``): files named to it are files here."""
        return not urllib.parse.urlsplit(self.uri).netloc

    @property
    def label(self) -> str:
        return f"{self.uri} (libvirt {self.versions['libvirt']}, QEMU {self.versions['qemu']})"

    def close(self) -> None:
        """Close the connection: libvirt destroys any twin still tied to it. A host that stopped
        answering is not asked (the connection ends with the process)."""
        conn, self._conn = self._conn, None
        if conn is not None and not self._wedged:
            with contextlib.suppress(Failed, Cancelled, Unanswered):
                self._call("close", conn.close, cleanup=True)

    def __enter__(self) -> Host:
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        if kind is not None:
            self._calls.cancel()  # interrupted or failed: calls under way get GRACE, no more
        self.close()

    def domains(self, names: tuple[str, ...] = ()) -> list[Listed]:
        """The named domains (exit 2 for a name the host does not have), else every domain,
        sorted by name."""
        if names:
            handles = []
            for name in names:
                try:
                    handles.append(self._call("lookupByName", self._conn.lookupByName, name))
                except Failed:
                    raise UsageError(f"{self.role} {shown(self.uri)} has no domain "
                                     f"{shown(name)}") from None
        else:
            try:
                handles = self._call("listAllDomains", self._conn.listAllDomains, 0)
            except Failed as error:
                raise UsageError(f"{self.role} {shown(self.uri)}: cannot list its domains: "
                                 f"{error.message}") from None
        listed = []
        for handle in handles:
            try:
                listed.append(Listed(self._call("name", handle.name), self._state(handle),
                                     handle))
            except Failed as error:
                raise UsageError(f"{self.role} {shown(self.uri)}: cannot read a domain's "
                                 f"state: {error.message}") from None
        return sorted(listed, key=lambda d: d.name)

    def _state(self, handle: Any) -> str:
        lv = self._libvirt
        if self._call("isActive", handle.isActive):
            state = self._call("state", handle.state)[0]
            return "paused" if state in (lv.VIR_DOMAIN_PAUSED, lv.VIR_DOMAIN_PMSUSPENDED) \
                else "running"
        has_image = self._call("hasManagedSaveImage", handle.hasManagedSaveImage, 0)
        return "managed-saved" if has_image else "inactive"

    def xml(self, domain: Listed) -> str:
        """The XML the guest would be recreated from: what ``migrate`` sends for a running
        one, the managed save image's for a managed-saved one, the definition otherwise."""
        lv = self._libvirt
        try:
            if domain.state in ("running", "paused"):
                return str(self._call("XMLDesc", domain.handle.XMLDesc,
                                      lv.VIR_DOMAIN_XML_MIGRATABLE))
            if domain.state == "managed-saved":
                return str(self._call("managedSaveGetXMLDesc",
                                      domain.handle.managedSaveGetXMLDesc, 0))
            return str(self._call("XMLDesc", domain.handle.XMLDesc,
                                  lv.VIR_DOMAIN_XML_INACTIVE | lv.VIR_DOMAIN_XML_MIGRATABLE))
        except Failed as error:
            raise TwinError(f"{shown(domain.name)}: cannot read its XML: {error.message}") \
                from None

    def save_image_xml(self, path: str) -> str:
        """The XML in a ``virsh save`` image, as the host's libvirt reads it (the file is the
        host's); exit 2 if it cannot."""
        try:
            return str(self._call("saveImageGetXMLDesc", self._conn.saveImageGetXMLDesc, path, 0))
        except Failed as error:
            raise UsageError(f"--saved {shown(path)}: {self.role} {shown(self.uri)} cannot read "
                             f"it as a save image: {error.message}") from None

    def live_blocks(self, domain: Listed) -> str:
        """``info ramblock`` of the domain's running QEMU (taints it: custom-monitor)."""
        try:
            return str(self._call("qemuMonitorCommand", self._qemu.qemuMonitorCommand,
                                  domain.handle, "info ramblock",
                                  self._qemu.VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP))
        except Failed as error:
            raise TwinError(f"{shown(domain.name)}: cannot ask its QEMU: {error.message}") \
                from None

    def twin_blocks(self, xml: str) -> str:
        """Start ``xml`` paused and tied to this connection, read ``info ramblock``, destroy."""
        lv = self._libvirt
        flags = lv.VIR_DOMAIN_START_PAUSED | lv.VIR_DOMAIN_START_AUTODESTROY
        try:
            twin = self._call("createXML (a twin)", self._conn.createXML, xml, flags)
        except Failed as error:
            raise TwinError(f"cannot start the guest: {error.message}") from None
        try:
            return str(self._call("qemuMonitorCommand (a twin)", self._qemu.qemuMonitorCommand,
                                  twin, "info ramblock",
                                  self._qemu.VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP))
        except Failed as error:
            raise TwinError(f"cannot read the guest's RAM blocks: {error.message}") from None
        finally:
            with contextlib.suppress(Failed, Cancelled):  # gone already; AUTODESTROY covers it
                self._call("destroy (a twin)", twin.destroy, cleanup=True)


def twin_name(index: int) -> str:
    """A name no admin gives a guest, unique per run and per domain."""
    return f"ipxe-compat-twin-{os.getpid()}-{index}"
