"""Run a QEMU given as a command (a path, or a root's ``chroot ... qemu-system-x86_64`` prefix).

Test-side ground truth, kept independent of ipxe-compat's own QEMU code so the tests can hold
that code against real QEMU builds. Every QEMU is paused (``-S``), TCG, without defaults, with
its QMP socket in ``workdir`` (which a QEMU inside a root must share). ``migrate_paused`` moves
one paused guest between two QEMUs over a unix socket and returns QEMU's own verdict.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

BASE_ARGS = ("-m", "64", "-nodefaults", "-display", "none", "-S", "-serial", "none",
             "-monitor", "none", "-accel", "tcg")


class QmpFailure(RuntimeError):
    """QEMU exited, did not answer, or answered with an error."""


class Qemu:
    """A paused QEMU process; ``extra`` holds the machine and device options."""

    def __init__(self, command: Sequence[str], workdir: Path, name: str, extra: Sequence[str],
                 timeout: float = 30.0, cwd: Path | None = None):
        self.qmp_path = workdir / f"{name}.qmp"
        self.stderr_path = workdir / f"{name}.stderr"
        self.argv = [*command, *BASE_ARGS, "-qmp", f"unix:{self.qmp_path},server=on,wait=off",
                     *extra]
        self.timeout = timeout
        self.cwd = cwd or workdir  # QEMU reads a bare romfile name from its cwd first
        self._proc: subprocess.Popen[bytes] | None = None
        self._file: Any = None
        self._sock: socket.socket | None = None

    def __enter__(self) -> Self:
        with open(self.stderr_path, "wb") as err:
            self._proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stderr=err,
                                          stdout=subprocess.DEVNULL, cwd=self.cwd)
        try:
            self._connect()
            self.command("qmp_capabilities")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()

    def wait(self, timeout: float) -> int | None:
        assert self._proc is not None
        try:
            return self._proc.wait(timeout=timeout) if timeout else self._proc.poll()
        except subprocess.TimeoutExpired:
            return None

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def error_line(self) -> str | None:
        """The first error QEMU printed, without its program-name prefix."""
        for line in self.stderr().splitlines():
            text = line.split(": ", 1)[1] if line.startswith("qemu-system") else line
            if text.strip() and not text.startswith(("warning:", "info:")):
                return text.strip()
        return None

    def _connect(self) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise QmpFailure(f"QEMU exited at start: {self.stderr().strip()}")
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(str(self.qmp_path))
            except (FileNotFoundError, ConnectionRefusedError):
                sock.close()
                if time.monotonic() > deadline:
                    raise QmpFailure(f"no QMP socket after {self.timeout} s") from None
                time.sleep(0.02)
                continue
            sock.settimeout(self.timeout)
            self._sock = sock
            self._file = sock.makefile("rb")
            self._receive()  # greeting
            return

    def _receive(self) -> dict[str, Any]:
        try:
            line = self._file.readline()
        except OSError:
            line = b""
        if not line:
            self.wait(5)
            raise QmpFailure(f"QEMU closed QMP: {self.error_line()}")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def command(self, name: str, **arguments: Any) -> Any:
        assert self._sock is not None
        self._sock.sendall(json.dumps({"execute": name, "arguments": arguments}).encode() + b"\n")
        while True:
            reply = self._receive()
            if "error" in reply:
                raise QmpFailure(f"{name}: {reply['error']['desc']}")
            if "return" in reply:
                return reply["return"]


def version(qemu: Qemu) -> str:
    v = qemu.command("query-version")["qemu"]
    return f"{v['major']}.{v['minor']}.{v['micro']}"


@dataclass(frozen=True)
class Outcome:
    status: str  # "completed", "failed" or "blocked" (the source refused to migrate)
    error: str | None  # the destination's first error line
    seconds: float
    romfiles: dict[str, str] = field(default_factory=dict)  # the destination's, after arrival


def migrate_paused(source_cmd: Sequence[str], target_cmd: Sequence[str], workdir: Path,
                   source_args: Sequence[str], target_args: Sequence[str],
                   ids: Sequence[str] = (), timeout: float = 60.0) -> Outcome:
    """Start both QEMUs paused, migrate source -> target over a unix socket in ``workdir``.

    On success the romfile of each device ``id`` in ``ids`` is read off the destination.
    """
    sock = workdir / "migration.sock"
    sock.unlink(missing_ok=True)
    start = time.monotonic()
    with Qemu(target_cmd, workdir, "to", [*target_args, "-incoming", f"unix:{sock}"],
              timeout) as target, \
            Qemu(source_cmd, workdir, "from", source_args, timeout) as source:
        try:
            source.command("migrate", uri=f"unix:{sock}")
        except QmpFailure as refused:  # e.g. "State blocked by non-migratable device"
            return Outcome("blocked", str(refused).removeprefix("migrate: "), 0.0)
        while time.monotonic() - start < timeout:
            info = source.command("query-migrate")
            if info.get("status") == "completed" and _arrived(target):
                seconds = time.monotonic() - start
                return Outcome("completed", None, seconds, {
                    i: target.command("qom-get", path=f"/machine/peripheral/{i}",
                                      property="romfile") for i in ids})
            if info.get("status") in ("failed", "cancelled") or target.wait(0) is not None:
                target.wait(10)
                return Outcome("failed", target.error_line() or info.get("error-desc"),
                               time.monotonic() - start)
            time.sleep(0.01)
        raise QmpFailure(f"migration not finished after {timeout} s")


def _arrived(target: Qemu) -> bool:
    """The destination has loaded the whole state: it left ``inmigrate`` and stayed up."""
    try:
        return bool(target.command("query-status")["status"] != "inmigrate")
    except (QmpFailure, OSError):
        return False
