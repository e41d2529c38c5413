"""Run QEMU and talk QMP to it: the only module that starts processes of QEMU.

Every QEMU is started paused (``-S``), with TCG, no defaults, no display, no disk and no network,
and its QMP socket in a private temporary directory. :class:`Qemu` is a context manager that
always reaps its process (terminate, then kill), also on timeouts, errors and Ctrl-C.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from ..errors import ToolError, UsageError

__all__ = ["DEFAULT_QEMU", "Qemu", "QmpError", "find_qemu", "private_dir"]

DEFAULT_QEMU = "qemu-system-x86_64"
BASE_ARGS = ("-machine", "pc,accel=tcg", "-m", "64", "-nodefaults", "-display", "none",
             "-S", "-serial", "none", "-monitor", "none")


class QmpError(ToolError):
    """QEMU did not answer, or answered a QMP command with an error."""


def find_qemu(binary: str) -> str:
    """The path of ``binary``; exit 2 if it is missing (apt-get install qemu-system-x86)."""
    path = shutil.which(binary)
    if path is None:
        raise UsageError(f"QEMU binary {binary!r} not found (apt-get install qemu-system-x86)")
    return path


class Qemu:
    """A paused QEMU with a QMP socket in ``workdir``; stderr is kept for error messages."""

    def __init__(self, binary: str, workdir: Path, name: str, extra: list[str], timeout: float):
        self.qmp_path = workdir / f"{name}.qmp"
        self.stderr_path = workdir / f"{name}.stderr"
        self.timeout = timeout
        self.argv = [binary, *BASE_ARGS, "-qmp", f"unix:{self.qmp_path},server=on,wait=off", *extra]
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._buffer = b""

    def __enter__(self) -> Self:
        with open(self.stderr_path, "wb") as err:
            self._proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                          stdout=subprocess.DEVNULL, stderr=err)
        try:
            self._connect()
            self.command("qmp_capabilities")
        except BaseException:
            self.close()  # __exit__ does not run when __enter__ fails: reap here
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def exited(self, wait: float = 0.0) -> int | None:
        """The exit status if QEMU has ended (waiting up to ``wait`` seconds), else None."""
        assert self._proc is not None
        try:
            return self._proc.wait(timeout=wait) if wait else self._proc.poll()
        except subprocess.TimeoutExpired:
            return None

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def error_line(self) -> str | None:
        """QEMU's first error on stderr, without its program-name prefix and warnings."""
        for line in self.stderr().splitlines():
            text = line.split(": ", 1)[1] if line.startswith("qemu-system") and ": " in line else line
            if text.strip() and not text.startswith("warning:"):
                return text.strip()
        return None

    def _connect(self) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            if self.exited() is not None:
                raise QmpError(f"QEMU exited at start: {self.error_line() or 'no message'}")
            try:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(self.timeout)
                sock.connect(str(self.qmp_path))
                self._sock = sock
                self._read()  # the greeting
                return
            except (FileNotFoundError, ConnectionRefusedError):
                sock.close()
                if time.monotonic() > deadline:
                    raise QmpError(f"QEMU's QMP socket did not appear within {self.timeout} s") from None
                time.sleep(0.01)

    def _read(self) -> dict[str, Any]:
        assert self._sock is not None
        while b"\n" not in self._buffer:
            try:
                chunk = self._sock.recv(65536)
            except OSError as error:
                raise QmpError(f"QMP read failed: {error}") from error
            if not chunk:
                raise QmpError(f"QEMU closed its QMP socket: {self.error_line() or 'no message'}")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        message: dict[str, Any] = json.loads(line)
        return message

    def command(self, name: str, **arguments: Any) -> Any:
        """Run a QMP command and return its ``return`` value; events are skipped."""
        assert self._sock is not None
        request = {"execute": name, **({"arguments": arguments} if arguments else {})}
        self._sock.sendall(json.dumps(request).encode() + b"\n")
        while True:
            reply = self._read()
            if "event" in reply:
                continue
            if "error" in reply:
                raise QmpError(f"QMP {name} failed: {reply['error'].get('desc', reply['error'])}")
            return reply.get("return")


def private_dir() -> Path:
    """A fresh 0700 directory for sockets, removed by the caller."""
    path = Path(tempfile.mkdtemp(prefix="ipxe-compat-qemu-"))
    os.chmod(path, 0o700)
    return path
