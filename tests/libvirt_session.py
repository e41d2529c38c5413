"""A private libvirtd for tests: Debian's libvirt 9.0 in session mode, owned by the test.

Run as root, libvirtd and ``qemu:///session`` always mean the machine's system instance
(/run/libvirt, /var/lib/libvirt), which a test must not touch. So the daemon runs as an
unprivileged user (``nobody``) with HOME and every XDG directory inside the test's directory:
its socket, domain configs, logs and QEMU pid files all live there and vanish with it. No
libvirt-daemon-system (systemd units, a default NAT network, dnsmasq) is needed: domains use
``<interface type='user'>``. Closing destroys every domain and stops the daemon.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from xml.sax.saxutils import quoteattr

PACKAGES = ("libvirt-daemon", "libvirt-daemon-driver-qemu", "libvirt-clients", "libxml2-utils")


def domain_xml(name: str, machine: str, interfaces: Sequence[tuple[str, str | None]],
               emulator: str = "/usr/bin/qemu-system-x86_64") -> str:
    """A complete, minimal TCG domain: one user-mode NIC per (model, rom file or None)."""
    nics = "".join(
        f"    <interface type='user'>\n      <model type={quoteattr(model)}/>\n"
        + (f"      <rom file={quoteattr(rom)}/>\n" if rom else "")
        + "    </interface>\n"
        for model, rom in interfaces)
    return (f"<domain type='qemu'>\n  <name>{name}</name>\n  <memory unit='MiB'>64</memory>\n"
            f"  <os>\n    <type arch='x86_64' machine={quoteattr(machine)}>hvm</type>\n  </os>\n"
            f"  <devices>\n    <emulator>{emulator}</emulator>\n{nics}  </devices>\n</domain>\n")


class PrivateLibvirt:
    """``with PrivateLibvirt() as lv: lv.virsh("define", xml)`` ...

    Its directory is a fresh one directly under /tmp (pytest's tmp_path lies under a 0700
    directory the daemon's user cannot enter) and is removed on close.
    """

    def __init__(self, user: str = "nobody"):
        self.top = top = Path(tempfile.mkdtemp(prefix="ipxe-compat-libvirt-"))
        self.account = pwd.getpwnam(user)
        self.env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(top),
                    "XDG_RUNTIME_DIR": str(top / "run"), "XDG_CONFIG_HOME": str(top / "config"),
                    "XDG_CACHE_HOME": str(top / "cache"), "XDG_DATA_HOME": str(top / "data")}
        self.socket = top / "run" / "libvirt" / "libvirt-sock"
        self._daemon: subprocess.Popen[bytes] | None = None

    def _as_user(self) -> dict[str, Any]:
        return {"user": self.account.pw_uid, "group": self.account.pw_gid, "extra_groups": [],
                "env": self.env, "cwd": self.top}

    def __enter__(self) -> Self:
        for sub in ("run", "config", "cache", "data"):
            (self.top / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
        # QEMU's stdout/stderr straight to a file: no virtlogd spawned that would outlive us.
        (self.top / "config" / "libvirt").mkdir(mode=0o700, exist_ok=True)
        (self.top / "config" / "libvirt" / "qemu.conf").write_text('stdio_handler = "file"\n')
        for path in (self.top, *self.top.rglob("*")):
            os.chown(path, self.account.pw_uid, self.account.pw_gid)
        with open(self.top / "libvirtd.log", "wb") as log:
            self._daemon = subprocess.Popen(["libvirtd"], stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=log, **self._as_user())
        try:
            deadline = time.monotonic() + 30
            while self.virsh("version", check=False).returncode != 0:
                if self._daemon.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"libvirtd did not start: {self.log()[-2000:]}")
                time.sleep(0.1)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def log(self) -> str:
        return (self.top / "libvirtd.log").read_text(errors="replace")

    def virsh(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(["virsh", "-c", "qemu:///session", *args], capture_output=True,
                                text=True, check=False, timeout=60, **self._as_user())
        if check and result.returncode != 0:
            raise RuntimeError(f"virsh {' '.join(args)}: {result.stderr.strip()}")
        return result

    def qmp(self, domain: str, command: str, **arguments: Any) -> Any:
        """A QMP command sent to the domain's running QEMU; its ``return`` value."""
        request = json.dumps({"execute": command, "arguments": arguments})
        reply = json.loads(self.virsh("qemu-monitor-command", domain, request).stdout)
        return reply["return"]

    def share(self, files: Sequence[Path]) -> list[Path]:
        """Copies of ``files`` the daemon's QEMU (running as the daemon's user) can read."""
        into = self.top / "files"
        into.mkdir(mode=0o755, exist_ok=True)
        copies = []
        for path in files:
            copy = into / path.name
            shutil.copyfile(path, copy)
            copy.chmod(0o644)
            copies.append(copy)
        return copies

    def close(self) -> None:
        try:
            self._stop()
        finally:
            shutil.rmtree(self.top, ignore_errors=True)

    def _stop(self) -> None:
        if self._daemon is None:
            return
        if self._daemon.poll() is None:
            listed = self.virsh("list", "--all", "--name", check=False).stdout.split()
            for domain in listed:
                self.virsh("destroy", domain, check=False)
                self.virsh("undefine", domain, check=False)
            self._daemon.terminate()
            try:
                self._daemon.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._daemon.kill()
                self._daemon.wait()
        # A session QEMU outlives its daemon: reap any the daemon could not destroy.
        for pidfile in (self.top / "run" / "libvirt" / "qemu").rglob("*.pid"):
            with contextlib.suppress(ValueError, ProcessLookupError):
                os.kill(int(pidfile.read_text().strip()), signal.SIGKILL)
        self._daemon = None



class RootLibvirt:
    """A session libvirtd as ``nobody`` inside a cached root (tests/roots.py): another
    release's libvirt and QEMU, reached from here through its socket.

    It runs in a private PID namespace whose first process is a shell that reaps (as PID 1 it
    must: libvirt daemonizes its QEMUs, and a PID 1 that does not reap leaves them zombies that
    libvirt waits 40 s for), with /sys visible (libvirt reads the online CPUs when it starts a
    domain; without it every start fails, "cause unknown"), its own host UUID (two daemons with
    one UUID refuse to migrate to each other, "the same host"), and ``top`` plus the ``shares``
    bind-mounted at the same paths. Closing kills the namespace: no QEMU survives it.
    """

    def __init__(self, root: Any, top: Path, shares: Sequence[Path] = (),
                 host_uuid: str | None = None):
        import uuid

        self.root, self.top, self.shares = root, top, tuple(shares)
        self.host_uuid = host_uuid or str(uuid.uuid4())
        self.socket = top / "run" / "libvirt" / "libvirt-sock"
        self.uri = f"qemu:///session?socket={self.socket}"
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Self:
        for sub in ("run", "config/libvirt", "cache", "data", "files"):
            (self.top / sub).mkdir(mode=0o755, parents=True, exist_ok=True)
        (self.top / "config/libvirt/qemu.conf").write_text('stdio_handler = "file"\n')
        (self.top / "config/libvirt/libvirtd.conf").write_text(
            f'host_uuid = "{self.host_uuid}"\n')
        for path in (self.top, *self.top.rglob("*")):
            os.chown(path, 65534, 65534)
        env = [f"HOME={self.top}", f"XDG_RUNTIME_DIR={self.top}/run",
               f"XDG_CONFIG_HOME={self.top}/config", f"XDG_CACHE_HOME={self.top}/cache",
               f"XDG_DATA_HOME={self.top}/data"]
        daemon = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                  "/usr/bin/env", *env, "libvirtd"]
        argv = ["unshare", "--pid", "--fork", "--kill-child", "--", "/bin/sh", "-c",
                '"$@" & wait', "reaper",
                *self.root.command(daemon, [self.top, Path("/sys"), *self.shares])]
        with open(self.top / "libvirtd.log", "wb") as log:
            self._proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                          stderr=log)
        try:
            deadline = time.monotonic() + 60
            while self.virsh("version", check=False).returncode != 0:
                if self._proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"libvirtd did not start: {self.log()[-2000:]}")
                time.sleep(0.2)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def log(self) -> str:
        return (self.top / "libvirtd.log").read_text(errors="replace")

    def virsh(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """This machine's virsh (bookworm's) speaks to the root's daemon over its socket."""
        result = subprocess.run(["virsh", "-c", self.uri, *args], capture_output=True,
                                text=True, check=False, timeout=120)
        if check and result.returncode != 0:
            raise RuntimeError(f"virsh {' '.join(args)}: {result.stderr.strip()}")
        return result

    def domain_log(self, name: str) -> str:
        return (self.top / "cache/libvirt/qemu/log" / f"{name}.log").read_text(errors="replace")

    def close(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()  # --kill-child: the namespace's PID 1 dies, and every process in it
            self._proc.wait()
        self._proc = None
