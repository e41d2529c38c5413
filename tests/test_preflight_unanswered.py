"""preflight against libvirt hosts that do not answer, and inputs libvirt cannot take.

A host that accepts the connection and then says nothing (a real listening socket, over TCP and
as a session socket), and a real libvirtd stopped with SIGSTOP: each libvirt call is bounded by
--timeout (exit 2, one line naming the host and the call), and SIGINT, SIGTERM and SIGHUP end
the run at once (exit 130, ``interrupted``). With a real (session) libvirtd: a FIFO given as
--saved is refused before libvirt opens it (its open would wait for a writer for ever), and a
save image whose XML is not UTF-8 is exit 2 naming the file. Short timeouts keep these quick.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import _cannot, require_tool
from tests.libvirt_session import PrivateLibvirt

pytestmark = [pytest.mark.integration]

ERROR = "ipxe-compat: error: "


def _binding() -> None:
    try:
        import libvirt  # noqa: F401 (preflight's binding, in the venv through .[libvirt])
    except ImportError:
        _cannot("libvirt-python is missing (.ci/setup installs the libvirt extra)")


class Silent:
    """A listening socket that accepts every connection and never says a word."""

    def __init__(self, family: int, address: str | tuple[str, int]):
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind(address)
        self.sock.listen(16)
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                self.accepted.append(self.sock.accept()[0])
            except OSError:  # closed
                return

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture(params=["tcp", "unix"])
def silent_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Silent]]:
    """A libvirt URI whose host never answers: qemu+tcp:// or a session socket."""
    _binding()
    if request.param == "tcp":
        listener = Silent(socket.AF_INET, ("127.0.0.1", 0))
        uri = f"qemu+tcp://127.0.0.1:{listener.sock.getsockname()[1]}/system"
    else:
        path = tmp_path / "libvirt-sock"
        listener = Silent(socket.AF_UNIX, str(path))
        uri = f"qemu:///session?socket={path}"
    try:
        yield uri, listener
    finally:
        listener.close()


_STARTED: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def _none_left() -> Iterator[None]:
    """A preflight that hangs (the bug) is killed when its test ends."""
    yield
    while _STARTED:
        proc = _STARTED.pop()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def _preflight(*args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-m", "ipxe_compat", "preflight", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _STARTED.append(proc)
    return proc


def test_a_host_that_never_answers_is_exit_2_naming_it_and_the_call(
        silent_uri: tuple[str, Silent]) -> None:
    uri, _ = silent_uri
    proc = _preflight("-c", uri, "--to-uri", "test:///default", "--timeout", "1")
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == 2, err
    assert err == f"{ERROR}source {uri}: no answer to connect within 1 s (--timeout)\n"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_ends_a_run_waiting_on_a_silent_host(silent_uri: tuple[str, Silent],
                                                      sig: signal.Signals) -> None:
    uri, listener = silent_uri
    proc = _preflight("-c", uri, "--to-uri", "test:///default", "--timeout", "60")
    deadline = time.monotonic() + 20
    while not listener.accepted and time.monotonic() < deadline:
        time.sleep(0.05)
    assert listener.accepted, "preflight never connected"
    time.sleep(0.3)  # well inside libvirt's call
    sent = time.monotonic()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=15)
    took = time.monotonic() - sent
    assert proc.returncode == 130, err
    assert err == f"{ERROR}interrupted\n"
    assert took < 3, f"{took:.1f} s from {sig.name} to the exit"


@pytest.fixture(scope="module")
def session() -> Iterator[PrivateLibvirt]:
    """Debian's libvirtd in session mode, as nobody, with nothing defined."""
    _binding()
    require_tool("libvirtd", "virsh")
    with PrivateLibvirt() as lv:
        (lv.top / "files").mkdir(mode=0o755)
        os.chown(lv.top / "files", lv.account.pw_uid, lv.account.pw_gid)
        yield lv


def _uri(lv: PrivateLibvirt) -> str:
    return f"qemu:///session?socket={lv.socket}"


def test_a_stopped_libvirtd_is_exit_2_and_a_signal_still_ends_the_run(
        session: PrivateLibvirt) -> None:
    uri = _uri(session)
    assert session._daemon is not None
    pid = session._daemon.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        proc = _preflight("-c", uri, "--to-uri", "test:///default", "--timeout", "1")
        _, err = proc.communicate(timeout=15)
        assert proc.returncode == 2, err
        assert err == f"{ERROR}source {uri}: no answer to connect within 1 s (--timeout)\n"

        proc = _preflight("-c", uri, "--to-uri", "test:///default", "--timeout", "60")
        time.sleep(1.5)  # Python started, libvirt's connect waits on the stopped daemon
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
        assert proc.returncode == 130, err
        assert err == f"{ERROR}interrupted\n"
        assert time.monotonic() - sent < 3
    finally:
        os.kill(pid, signal.SIGCONT)
    assert session.virsh("version", check=False).returncode == 0


def test_saved_fifo_is_refused_before_libvirt_opens_it(session: PrivateLibvirt) -> None:
    uri = _uri(session)
    fifo = session.top / "files" / "guest.save"
    os.mkfifo(fifo, 0o666)
    try:
        proc = _preflight("-c", uri, "--to-uri", uri, "--saved", str(fifo), "--timeout", "5")
        _, err = proc.communicate(timeout=15)
        assert proc.returncode == 2, err
        assert err == f"{ERROR}--saved {fifo}: not a regular file\n"
    finally:
        # a libvirtd that did open it (the check missing) waits for a writer: be one
        with contextlib.suppress(OSError):
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        fifo.unlink()


def test_a_save_image_whose_xml_is_not_utf8_is_exit_2_naming_it(session: PrivateLibvirt) -> None:
    """libvirt's error message echoes the XML's bytes, which its Python binding cannot decode
    (a SystemError out of the binding, once exit 3)."""
    uri = _uri(session)
    xml = b"<domain type='qemu'><name>\xff\xfe</name>" + b"\0" * 7
    image = session.top / "files" / "bad-xml.save"
    image.write_bytes(b"LibvirtQemudSave" + struct.pack("<5I", 2, len(xml), 1, 0, 0)
                      + b"\0" * 56 + xml + b"QEVM\0\0\0\x03" + b"\0" * 64)
    image.chmod(0o644)
    proc = _preflight("-c", uri, "--to-uri", uri, "--saved", str(image), "--timeout", "10")
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == 2, err
    assert err.startswith(f"{ERROR}--saved {image}: source {uri} cannot read it as a save "
                          "image: "), err
    assert err.count("\n") == 1, err
    print(err)
