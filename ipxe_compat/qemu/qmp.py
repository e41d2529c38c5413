"""Run QEMU and talk QMP to it: the only module that starts QEMU.

Every QEMU is started paused (``-S``), with TCG, no defaults, no display, no disk and no network,
in a private temporary directory, which is also its working directory: QEMU looks for a bare
romfile name in its cwd before its data directories, so a stray ``*.rom`` in the user's directory
is never picked up. QEMU is a command, not only a path: ``chroot /srv/trixie qemu-system-x86_64``
runs another distribution's build, ``ssh HOST qemu-system-x86_64`` another machine's. Such a
QEMU need not see this machine's /tmp (docs/cli.md, "QEMU commands anywhere"): QMP goes over its
own stdin and stdout; only files given to it by path (FROM/TO ROM copies) need the private
directory, and :meth:`Qemu.sees_workdir` tells whether it has it.

Each QEMU runs through :mod:`ipxe_compat.runner`, in a session of its own: a wrapper script
without ``exec``, or anything the command starts, ends with it. :class:`Qemu` is a context
manager that always ends it: QMP ``quit`` first (it reaches a QEMU behind any wrapper), then the
group is killed, also on timeouts, errors, Ctrl-C and SIGTERM.

QMP travels over a :class:`Channel`: :class:`Stdio` (QEMU's stdin and stdout, ``-chardev
stdio``) reaches QEMU through any wrapper that passes stdio on (chroot, unshare, a container
runtime, ssh), so QMP needs nothing of this machine's /tmp. Whatever arrives is bytes until
:mod:`.discover`'s boundary has checked its shape: :meth:`Qemu.command` returns ``object``.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shlex
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Protocol, Self

from ..core.compat import DEFAULT_QEMU
from ..core.tools import install_hint
from ..errors import ToolError, UsageError
from ..runner import DEVNULL, PIPE, Child, RunError, ToolMissing, resolve, run

__all__ = ["Channel", "Qemu", "QmpError", "Stdio", "device_help", "find_qemu",
           "private_dir"]

BASE_ARGS = ("-accel", "tcg", "-m", "64", "-nodefaults", "-display", "none",
             "-S", "-serial", "none", "-monitor", "none")

#: QMP answers are one line each; the largest (query-qmp-schema) is about 200 KB.
MAX_QMP_LINE = 4 << 20
#: What is kept of QEMU's stderr: its start, where its first error is.
MAX_STDERR = 64 << 10
#: ``-device help`` is about 30 KB.
MAX_DEVICE_HELP = 4 << 20
#: How long a QEMU asked to ``quit`` may take before its group is killed.
QUIT_GRACE = 2.0
_CHUNK = 1 << 16


class QmpError(ToolError):
    """QEMU could not be run, did not answer, or answered a QMP command with an error."""


def find_qemu(command: str) -> list[str]:
    """``command`` split as a shell would (``chroot /srv/trixie qemu-system-x86_64``), its program
    made absolute (a relative ``./wrapper`` must work from QEMU's private directory); exit 2 if
    the program is missing (apt-get install qemu-system-x86)."""
    try:
        argv = shlex.split(command)
    except ValueError as error:
        raise UsageError(f"QEMU command {command!r}: {error}") from None
    if not argv:
        raise UsageError("the QEMU command is empty")
    try:
        return [resolve(argv[0]), *argv[1:]]
    except ToolMissing:
        raise UsageError(f"QEMU command {argv[0]!r} not found "
                         f"({install_hint(DEFAULT_QEMU)})") from None


def device_help(command: Sequence[str], timeout: float) -> bytes:
    """``QEMU -device help``, as bytes (:func:`.discover.pci_nic_models` reads them): waited for
    as a process, so a background child holding its stdout costs nothing, and a hung one is
    killed with all it started."""
    try:
        result = run([*command, "-device", "help"], timeout=timeout, cwd=tempfile.gettempdir(),
                     max_stdout=MAX_DEVICE_HELP)
    except RunError as error:
        raise QmpError(f"{shlex.join(command)} -device help: {error.message}") from error
    if result.status != 0:
        raise QmpError(f"{shlex.join(command)} -device help failed: {result.last_line()}")
    return result.stdout


class Channel(Protocol):
    """How QMP reaches one QEMU: the options that open it on QEMU's side, then lines both ways.
    ``stdio`` says whether it needs QEMU's stdin and stdout as pipes."""

    stdio: bool

    def qemu_args(self) -> list[str]: ...

    def connect(self, qemu: Qemu, deadline: float) -> None: ...

    def send(self, data: bytes) -> None: ...

    def receive(self, timeout: float) -> bytes:
        """Some bytes; b"" when QEMU closed its end."""
        ...

    def close(self) -> None: ...


class Stdio:
    """QMP on QEMU's own stdin and stdout (``-chardev stdio`` as a control monitor): no file,
    no socket, so it reaches a QEMU in a chroot or container or behind ssh as surely as a local
    one. ``signal=off``: a byte on stdin never stops QEMU. QEMU prints nothing else on stdout
    (``-serial none -monitor none -display none``); its messages go to stderr."""

    stdio = True

    def __init__(self) -> None:
        self._child: Child | None = None

    def qemu_args(self) -> list[str]:
        return ["-chardev", "stdio,id=ipxe-compat-qmp,signal=off",
                "-mon", "chardev=ipxe-compat-qmp,mode=control"]

    def connect(self, qemu: Qemu, deadline: float) -> None:
        del deadline  # the pipes exist as soon as the process does; the greeting is awaited
        self._child = qemu.child

    def send(self, data: bytes) -> None:
        assert self._child is not None
        assert self._child.stdin is not None
        try:
            self._child.stdin.write(data)
            self._child.stdin.flush()
        except (OSError, ValueError) as error:  # EPIPE: QEMU is gone; ValueError: closed
            raise QmpError(f"QMP write failed: {getattr(error, 'strerror', None) or error}"
                           ) from error

    def receive(self, timeout: float) -> bytes:
        assert self._child is not None
        try:
            return self._child.read(_CHUNK, max(timeout, 0.001))
        except RunError as error:
            raise QmpError(f"QEMU did not answer within {timeout:g} s") from error
        except OSError as error:
            raise QmpError(f"QMP read failed: {error.strerror or error}") from error

    def close(self) -> None:
        if self._child is not None and self._child.stdin is not None:
            with contextlib.suppress(OSError, ValueError):
                self._child.stdin.close()
        self._child = None


class _Head:
    """The first MAX_STDERR bytes of a pipe, read by a thread that drains the rest from its own
    copy of the descriptor, until end-of-file or :meth:`stop` (a grandchild may hold the pipe
    open for ever: nothing waits for its end)."""

    def __init__(self, stream: IO[bytes]):
        self.data = b""
        self._fd = os.dup(stream.fileno())
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        try:
            while True:
                if not select.select([self._fd], [], [], 0.1)[0]:
                    if self._stopped.is_set():
                        return
                    continue
                chunk = os.read(self._fd, _CHUNK)
                if not chunk:
                    return
                if len(self.data) < MAX_STDERR:
                    self.data += chunk[:MAX_STDERR - len(self.data)]
        except OSError:
            return
        finally:
            os.close(self._fd)

    def text(self, wait: float = 0.0) -> str:
        self._thread.join(wait)
        return self.data.decode(errors="replace")

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(1.0)


class Qemu:
    """A paused QEMU in ``workdir``, asked over QMP; its stderr's start is kept for messages."""

    def __init__(self, command: Sequence[str], workdir: Path, name: str, extra: Sequence[str],
                 timeout: float, channel: Channel | None = None):
        self.workdir = workdir
        self.timeout = timeout
        self.name = name
        self.channel: Channel = channel or Stdio()
        self.argv = [*command, *BASE_ARGS, *self.channel.qemu_args(), *extra]
        self.child: Child | None = None
        self._stderr: _Head | None = None
        self._buffer = b""
        self._connected = False

    def __enter__(self) -> Self:
        stdio = PIPE if self.channel.stdio else DEVNULL
        try:
            self.child = Child(self.argv, cwd=self.workdir, stdin=stdio, stdout=stdio,
                               stderr=PIPE)
        except RunError as error:
            raise QmpError(error.message) from error
        assert self.child.stderr is not None
        self._stderr = _Head(self.child.stderr)
        try:
            self.channel.connect(self, time.monotonic() + self.timeout)
            self._read()  # the greeting
            self._connected = True
            self.command("qmp_capabilities")
        except BaseException:
            self.close()  # __exit__ does not run when __enter__ fails: end it here
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Ask QEMU to quit (reaches it behind any wrapper), then end its whole group."""
        child = self.child
        if child is None:
            return
        quitting = False
        if self._connected and child.exited() is None:
            self.timeout = min(self.timeout, QUIT_GRACE)
            with contextlib.suppress(QmpError):  # it may close the channel before it answers
                self.command("quit")  # answered, so taken: QEMU drops what a hangup cuts short
                quitting = True
        self._connected = False
        self.channel.close()
        if quitting:
            child.exited(QUIT_GRACE)
        child.kill(grace=QUIT_GRACE)
        if self._stderr is not None:
            self._stderr.stop()

    def exited(self, wait: float = 0.0) -> int | None:
        """The exit status if QEMU has ended (waiting up to ``wait`` seconds), else None."""
        assert self.child is not None
        return self.child.exited(wait)

    def stderr(self) -> str:
        """The start of QEMU's stderr: its first error is there; a flood is not kept whole."""
        if self._stderr is None:
            return ""
        return self._stderr.text(wait=0.2 if self.exited() is not None else 0.0)

    def error_line(self) -> str | None:
        """QEMU's first error on stderr, without its program-name prefix and warnings."""
        for line in self.stderr().splitlines():
            text = (
                line.split(": ", 1)[1] if line.startswith("qemu-system") and ": " in line else line
            )
            if text.strip() and not text.startswith(("warning:", "info:")):
                return text.strip()
        return None

    def sees_workdir(self) -> bool:
        """Whether this QEMU sees its private directory as this process does: asked to create a
        file there (a file chardev), it must appear here. A QEMU in a chroot or container
        without that directory, or on another host, does not; files given to it by path are
        then not the ones this process wrote."""
        marker = self.workdir / f"{self.name}.seen"
        try:
            self.command("chardev-add", id="ipxe-compat-seen",
                         backend={"type": "file", "data": {"out": str(marker)}})
        except QmpError:
            return False  # no such directory there (or not writable for it)
        seen = marker.exists()
        with contextlib.suppress(QmpError):
            self.command("chardev-remove", id="ipxe-compat-seen")
        with contextlib.suppress(OSError):
            marker.unlink()
        return seen

    def _send(self, request: dict[str, object]) -> None:
        self.channel.send(json.dumps(request).encode() + b"\n")

    def _read(self) -> dict[str, object]:
        """One QMP message: a JSON object on one line, at most MAX_QMP_LINE bytes."""
        deadline = time.monotonic() + self.timeout
        while b"\n" not in self._buffer:
            if len(self._buffer) > MAX_QMP_LINE:
                raise QmpError(f"QMP message longer than {MAX_QMP_LINE} bytes: not QEMU's QMP")
            chunk = self.channel.receive(deadline - time.monotonic())
            if not chunk:
                if not self._connected:  # stdio: end of file before the greeting
                    self.exited(QUIT_GRACE)  # its stderr is whole once it has ended
                    raise QmpError(f"QEMU exited at start: {self.error_line() or 'no message'}")
                raise QmpError(f"QEMU closed its QMP channel: {self.error_line() or 'no message'}")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        try:
            message = json.loads(line)
        except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
            raise QmpError(f"QMP answer is not JSON: {line[:60]!r}") from error
        if not isinstance(message, dict):
            raise QmpError(f"QMP answer is not a JSON object: {line[:60]!r}")
        return message

    def command(self, name: str, **arguments: object) -> object:
        """Run a QMP command and return its ``return`` value, unchecked (discover's boundary
        checks it); events are skipped, an answer without ``return`` or ``error`` is an error."""
        self._send({"execute": name, **({"arguments": arguments} if arguments else {})})
        while True:
            reply = self._read()
            if "event" in reply:
                continue
            if "error" in reply:
                error = reply["error"]
                desc = error.get("desc", error) if isinstance(error, dict) else error
                raise QmpError(f"QMP {name} failed: {str(desc)[:200]}")
            if "return" not in reply:
                raise QmpError(f"QMP {name}: an answer with neither return nor error")
            return reply["return"]


def private_dir() -> Path:
    """A fresh 0700 directory for sockets, removed by the caller."""
    path = Path(tempfile.mkdtemp(prefix="ipxe-compat-qemu-"))
    os.chmod(path, 0o700)
    return path
