"""Run QEMU and talk QMP to it: the only module that starts processes of QEMU.

Every QEMU is started paused (``-S``), with TCG, no defaults, no display, no disk and no network,
and its QMP socket in a private temporary directory, which is also its working directory: QEMU
looks for a bare romfile name in its cwd before its data directories, so a stray ``*.rom`` in
the user's directory is never picked up. QEMU is a command, not only a path
(``chroot /srv/trixie qemu-system-x86_64`` runs another distribution's build; such a QEMU must see
the private directory, e.g. through TMPDIR on a bind-mounted directory). :class:`Qemu` is a
context manager that always reaps its process (terminate, then kill), also on timeouts, errors
and Ctrl-C.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from ..core.compat import DEFAULT_QEMU
from ..core.tools import install_hint
from ..errors import ToolError, UsageError

__all__ = ["Qemu", "QmpError", "device_help", "find_qemu", "private_dir", "version"]

BASE_ARGS = ("-accel", "tcg", "-m", "64", "-nodefaults", "-display", "none",
             "-S", "-serial", "none", "-monitor", "none")


#: QMP answers are one line each; the largest (query-qmp-schema) is about 200 KB.
MAX_QMP_LINE = 4 << 20
MAX_STDERR = 64 << 10


class QmpError(ToolError):
    """QEMU did not answer, or answered a QMP command with an error."""


def find_qemu(command: str) -> list[str]:
    """``command`` split as a shell would (``chroot /srv/trixie qemu-system-x86_64``); exit 2 if
    its program is missing (apt-get install qemu-system-x86)."""
    try:
        argv = shlex.split(command)
    except ValueError as error:
        raise UsageError(f"QEMU command {command!r}: {error}") from None
    if not argv:
        raise UsageError("the QEMU command is empty")
    path = shutil.which(argv[0])
    if path is None:
        raise UsageError(f"QEMU command {argv[0]!r} not found ({install_hint(DEFAULT_QEMU)})")
    return [path, *argv[1:]]


def device_help(command: Sequence[str], timeout: float) -> str:
    """``QEMU -device help``: the device models this QEMU has, by category."""
    try:
        result = subprocess.run([*command, "-device", "help"], capture_output=True, text=True,
                                check=False, timeout=timeout, stdin=subprocess.DEVNULL,
                                cwd=tempfile.gettempdir())
    except subprocess.TimeoutExpired:
        raise QmpError(f"{shlex.join(command)} -device help took over {timeout} s") from None
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or [f"exit {result.returncode}"])[-1]
        raise QmpError(f"{shlex.join(command)} -device help failed: {last.strip()[:300]}")
    return result.stdout


class Qemu:
    """A paused QEMU with a QMP socket in ``workdir``; stderr is kept for error messages."""

    def __init__(self, command: Sequence[str], workdir: Path, name: str, extra: Sequence[str],
                 timeout: float):
        self.qmp_path = workdir / f"{name}.qmp"
        self.stderr_path = workdir / f"{name}.stderr"
        self.workdir = workdir
        self.timeout = timeout
        self.argv = [*command, *BASE_ARGS, "-qmp", f"unix:{self.qmp_path},server=on,wait=off",
                     *extra]
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._buffer = b""

    def __enter__(self) -> Self:
        with open(self.stderr_path, "wb") as err:
            self._proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, cwd=self.workdir,
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
        """The start of QEMU's stderr: its first error is there; a flood is not read whole."""
        with open(self.stderr_path, "rb") as err:
            return err.read(MAX_STDERR).decode(errors="replace")

    def error_line(self) -> str | None:
        """QEMU's first error on stderr, without its program-name prefix and warnings."""
        for line in self.stderr().splitlines():
            text = (
                line.split(": ", 1)[1] if line.startswith("qemu-system") and ": " in line else line
            )
            if text.strip() and not text.startswith(("warning:", "info:")):
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
                    raise QmpError(
                        f"QEMU's QMP socket did not appear within {self.timeout} s"
                    ) from None
                time.sleep(0.01)

    def _read(self) -> dict[str, Any]:
        """One QMP message: a JSON object on one line, at most MAX_QMP_LINE bytes."""
        assert self._sock is not None
        while b"\n" not in self._buffer:
            if len(self._buffer) > MAX_QMP_LINE:
                raise QmpError(f"QMP message longer than {MAX_QMP_LINE} bytes: not QEMU's QMP")
            try:
                chunk = self._sock.recv(65536)
            except OSError as error:
                raise QmpError(f"QMP read failed: {error}") from error
            if not chunk:
                raise QmpError(f"QEMU closed its QMP socket: {self.error_line() or 'no message'}")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        try:
            message = json.loads(line)
        except (ValueError, RecursionError) as error:
            raise QmpError(f"QMP answer is not JSON: {line[:60]!r}") from error
        if not isinstance(message, dict):
            raise QmpError(f"QMP answer is not a JSON object: {line[:60]!r}")
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
                error = reply["error"]
                desc = error.get("desc", error) if isinstance(error, dict) else error
                raise QmpError(f"QMP {name} failed: {str(desc)[:200]}")
            return reply.get("return")


def private_dir() -> Path:
    """A fresh 0700 directory for sockets, removed by the caller."""
    path = Path(tempfile.mkdtemp(prefix="ipxe-compat-qemu-"))
    os.chmod(path, 0o700)
    return path


def version(qemu: Qemu) -> str:
    """``7.2.22``: the version QEMU reports (query-version)."""
    number = qemu.command("query-version")["qemu"]
    return f"{number['major']}.{number['minor']}.{number['micro']}"
