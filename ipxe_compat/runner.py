"""Every external program ipxe-compat runs starts here, in a session of its own, and ends as a
group: on timeout, on error, at exit, on SIGINT/SIGTERM/SIGHUP, and when ipxe-compat dies.

A command (QEMU, dpkg-source, apt-get, zstd, a user's wrapper script around QEMU) may start
processes of its own: a wrapper without ``exec``, a background child, a hung helper. Killing the
direct child leaves those running, and waiting for end-of-file on its pipes waits for them. So:

- each command runs under a small bash supervisor started with ``setsid``: the supervisor leads a
  new session and process group that holds the command and all it starts. The terminal's Ctrl-C
  never reaches them; ipxe-compat alone decides when they end.
- the supervisor watches a *lifeline*, a pipe whose only write end ipxe-compat holds
  (close-on-exec): when ipxe-compat dies, by SIGKILL too, the pipe ends and the supervisor kills
  the whole group.
- ipxe-compat waits for the process, never for end-of-file: :func:`run` reads output in a loop
  that also watches the leader's pidfd and stops once it has exited; the leader is reaped only
  after its group has been killed, so the group id cannot pass to another process meanwhile.
- every :class:`Child` ends in :meth:`Child.kill` (SIGTERM to the group, a grace period, SIGKILL
  to the group, reap), and :func:`kill_all` kills whatever still runs when ipxe-compat exits.
- a process that leaves the group (``setsid``, a daemon) would escape that. So each command's
  environment carries a mark (:data:`MARK`: this run's random nonce and the command's number,
  unique even against another ipxe-compat with our pid in a container) that everything it
  starts inherits, setsid or not. When ipxe-compat ends (:func:`kill_all`: however it ends but
  SIGKILL) every process with a mark of this run is found in ``/proc`` (among those started
  since its command) and killed, round after round, until none is left (:func:`_sweep`); each
  through a pidfd after its mark is read again, so a pid that passed to another process
  meanwhile is never hit. Not when each command ends: a detached helper one command started may
  serve others still running (ssh's ControlPersist master under parallel ``--to-qemu`` twins).
  What no command started (libvirt's ssh, the session daemon libvirt starts) is never touched.
  A process that clears its environment and leaves the session still escapes, as does
  everything detached when ipxe-compat dies by SIGKILL. ipxe-compat is no child subreaper: it
  would then inherit every orphan below it, and the daemons libvirt starts for a
  ``qemu:///session`` URI wait for their own daemonized QEMUs to vanish, which as our unreaped
  zombies they never do.

bash is Debian's (Essential: yes); dash cannot redirect a file descriptor above 9. Without bash,
a command starts directly in its own session: all of the above holds but the SIGKILL case.
A leaf beside errors: input/, package/ and qemu/ all run their programs through it.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import select
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from .core.tools import TOOLS, install_hint
from .errors import ToolError

__all__ = ["DEVNULL", "PIPE", "Child", "Completed", "RunError", "ToolMissing", "kill_all",
           "resolve", "run"]

DEVNULL = subprocess.DEVNULL
PIPE = subprocess.PIPE
BASH = "/bin/bash"
#: ``$1`` is the lifeline's file descriptor, the rest the command. The command's stdin is given
#: explicitly (an asynchronous list would read /dev/null) and it inherits neither the lifeline nor
#: the copy. ``trap '' TERM`` comes after both children started: a SIGTERM to the group ends the
#: command, and the supervisor waits for it and exits with its status.
SUPERVISOR = r"""lifeline=$1; shift
exec {input}<&0
"$@" <&"$input" {input}<&- {lifeline}<&- &
child=$!
exec {input}<&-
{ read -r -u "$lifeline" _; kill -KILL 0; } </dev/null >/dev/null 2>&1 &
watcher=$!
exec {lifeline}<&-
trap '' TERM
wait "$child"; status=$?
kill "$watcher" 2>/dev/null
exit "$status"
"""
#: After SIGTERM, how long a group may take to end before SIGKILL.
GRACE = 2.0
#: What :func:`run` keeps of stderr: its end, where a tool says why it failed.
MAX_STDERR = 64 << 10
#: Without pidfd (Linux < 5.3), how often the leader is polled.
_POLL = 0.01
#: The environment variable whose value (:attr:`Child.token`) marks a command's processes.
MARK = "IPXE_COMPAT_CHILD"


class RunError(ToolError):
    """A command could not be started, did not finish in time, or printed more than allowed
    (exit 1, as a failed tool); a caller whose input it was turns it into its own kind (an apt:
    source's SourceError, a QEMU probe's UsageError)."""


class ToolMissing(RunError):
    """The program is not on PATH (or cannot be executed)."""


@dataclass(frozen=True)
class Completed:
    """A finished command: its exit status (128 + N when signal N ended it, as a shell says),
    its stdout and the end of its stderr."""

    argv: tuple[str, ...]
    status: int
    stdout: bytes
    stderr: bytes

    def last_line(self) -> str:
        """The last non-blank line of stderr (else stdout), for an error line: why it failed."""
        for stream in (self.stderr, self.stdout):
            lines = stream.decode(errors="replace").strip().splitlines()
            if lines:
                return lines[-1].strip()[-300:]
        return f"exit status {self.status}"


def resolve(program: str) -> str:
    """``program`` as an absolute path (a relative ``./wrapper`` must survive another working
    directory); a missing one of ours (core/tools.py) names the package that has it."""
    found = shutil.which(program)
    if found is None:
        known = any(tool.program == program for tool in TOOLS)
        hint = f" ({install_hint(program)})" if known else ""
        raise ToolMissing(f"cannot run {program}{hint}: command not found")
    return os.path.abspath(found)


_live: set[Child] = set()
_live_lock = threading.Lock()
#: Every command's mark this run, with its leader's start time (:func:`kill_all` sweeps them).
_marks: dict[str, int] = {}
_marks_lock: threading.Lock
_run: str  # this run's random nonce, in every mark
_tokens: itertools.count[int]


def _new_run() -> None:
    """A run's own nonce and no marks: at start, and in a forked child (another run)."""
    global _run, _tokens, _marks_lock  # per process
    _run, _tokens, _marks_lock = os.urandom(8).hex(), itertools.count(1), threading.Lock()
    _marks.clear()


_new_run()
os.register_at_fork(after_in_child=_new_run)


def _stat(pid: int) -> tuple[bytes, int] | None:
    """``pid``'s state letter and start time (``/proc/PID/stat``, clock ticks since boot); None
    once it is gone. A command's processes all start at or after its leader: no clock of ours
    is read (a shifted one, as under libfaketime, would not match the kernel's)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rpartition(b")")[2].split()  # the name may hold anything
        return fields[0], int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def _mark(pid: int, marks: Collection[str]) -> str | None:
    """Which of ``marks`` (``MARK=token`` lines) the environment of ``pid`` carries."""
    with open(f"/proc/{pid}/environ", "rb") as environ:
        lines = set(environ.read().split(b"\0"))
    return next((mark for mark in marks if f"{MARK}={mark}".encode() in lines), None)


def _marked(marks: Mapping[str, int]) -> list[tuple[int, str]]:
    """The live processes with one of ``marks`` (token -> its leader's start): started since the
    earliest of them (a cheap read of their stat), then their environment read. Zombies are
    left to their parents (they are ended, and their environment is gone)."""
    since = min(marks.values())
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        stat = _stat(int(entry))
        if stat is None or stat[0] == b"Z" or stat[1] < since:
            continue
        try:
            mark = _mark(int(entry), marks)
        except OSError:  # gone, or not ours to read
            continue
        if mark is not None:
            found.append((int(entry), mark))
    return found


def _kill(pid: int, token: str) -> None:
    """SIGKILL ``pid`` if it is still the process with the mark: the pidfd holds the process,
    and the mark is read again through it, so a pid reused meanwhile is never signalled."""
    try:
        pidfd = os.pidfd_open(pid)
    except (OSError, AttributeError):  # gone; or no pidfd (Linux < 5.3): plain kill
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
        return
    try:
        if _mark(pid, (token,)) is not None:
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    except OSError:
        pass  # it ended meanwhile
    finally:
        os.close(pidfd)


def _sweep(marks: Mapping[str, int], deadline: float) -> bool:
    """Kill every live process with one of ``marks``, round after round (one may start another
    meanwhile). True once none is left; False at ``deadline`` (one stuck in the kernel)."""
    while marks:
        left = _marked(marks)
        if not left:
            return True
        for pid, token in left:
            _kill(pid, token)
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.001)
    return True


class Child:
    """One command in its own session under the supervisor; a context manager that always kills
    its group. ``stdin``, ``stdout`` and ``stderr`` are DEVNULL, PIPE or an open file; ``umask``
    is the command's (-1: ours)."""

    def __init__(self, argv: Sequence[str], *, cwd: str | Path | None = None,
                 env: Mapping[str, str] | None = None, stdin: int | IO[bytes] = DEVNULL,
                 stdout: int | IO[bytes] = DEVNULL, stderr: int | IO[bytes] = DEVNULL,
                 umask: int = -1) -> None:
        self.argv = (resolve(argv[0]), *argv[1:])
        self.token = f"{_run}.{next(_tokens)}"
        env = {**(os.environ if env is None else env), MARK: self.token}
        read_end, self._lifeline = os.pipe()  # both close-on-exec; read_end is passed explicitly
        supervised = os.access(BASH, os.X_OK)
        command = ([BASH, "-c", SUPERVISOR, "ipxe-compat-child", str(read_end), *self.argv]
                   if supervised else list(self.argv))
        try:
            self._proc = subprocess.Popen(command, cwd=cwd, env=env, stdin=stdin, stdout=stdout,
                                          stderr=stderr, start_new_session=True, umask=umask,
                                          pass_fds=(read_end,) if supervised else ())
        except OSError as error:
            os.close(self._lifeline)
            raise ToolMissing(f"cannot run {self.argv[0]}: {error.strerror}") from error
        finally:
            os.close(read_end)
        self.pid = self._proc.pid  # also its process group's and session's id
        with _marks_lock:  # not reaped yet: its stat is there
            _marks[self.token] = (_stat(self.pid) or (b"", 0))[1]
        self.stdin = self._proc.stdin
        self.stdout = self._proc.stdout
        self.stderr = self._proc.stderr
        self._status: int | None = None
        self._reaped = False
        self._lock = threading.Lock()  # kill_all() may end it while its own thread asks
        self.pidfd: int | None  # readable once the leader has exited; None without pidfd
        try:
            self.pidfd = os.pidfd_open(self.pid)
        except OSError:
            self.pidfd = None
        with _live_lock:
            _live.add(self)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.kill()

    def exited(self, timeout: float = 0.0) -> int | None:
        """The exit status once the leader has ended (waiting up to ``timeout`` seconds), else
        None. Never reaps: the group id stays ours until :meth:`kill`."""
        if self._status is not None:
            return self._status
        deadline = time.monotonic() + timeout
        while True:
            if self.pidfd is not None:
                left = max(0.0, deadline - time.monotonic())
                with contextlib.suppress(OSError, ValueError):  # closed by kill() meanwhile
                    if not select.select([self.pidfd], [], [], left)[0]:
                        return None
            with self._lock:
                if self._status is not None:
                    return self._status
                info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOWAIT | os.WNOHANG)
                if info is not None and info.si_pid == self.pid:
                    self._status = (info.si_status if info.si_code == os.CLD_EXITED
                                    else 128 + info.si_status)
                    return self._status
            if time.monotonic() >= deadline:
                return None
            time.sleep(_POLL)

    def read(self, size: int, timeout: float) -> bytes:
        """Up to ``size`` bytes of stdout (a PIPE), as soon as some are there; b"" at the end,
        which is end-of-file or, once the leader has exited, whatever is no longer buffered: a
        grandchild holding the pipe open is not waited for. :class:`RunError` if nothing comes
        within ``timeout`` seconds."""
        assert self.stdout is not None
        fd = self.stdout.fileno()
        deadline = time.monotonic() + timeout
        while True:
            if self.exited() is not None:
                self.signal(signal.SIGKILL)  # nothing more will come from the group
                os.set_blocking(fd, False)
                try:
                    return os.read(fd, size)
                except BlockingIOError:
                    return b""
            left = deadline - time.monotonic()
            if left <= 0:
                raise RunError(f"{self.argv[0]} wrote nothing for {timeout:g} s")
            watched = [fd] if self.pidfd is None else [fd, self.pidfd]
            if fd in select.select(watched, [], [], min(left, _POLL) if self.pidfd is None
                                   else left)[0]:
                return os.read(fd, size)

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the whole group (nothing once it is reaped: its id is free)."""
        if self._reaped:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signum)

    def kill(self, grace: float = GRACE) -> int:
        """End the whole group: SIGTERM, up to ``grace`` seconds for the leader, SIGKILL; then
        reap (what left the group goes at :func:`kill_all`). Idempotent; returns the
        leader's status (128 + N if signal N ended it)."""
        if grace > 0 and self.exited() is None:
            self.signal(signal.SIGTERM)
            self.exited(grace)
        with self._lock:
            if self._reaped:
                assert self._status is not None
                return self._status
            self.signal(signal.SIGKILL)  # the leader's zombie keeps the group id ours
            status = self._proc.wait()
            self._reaped = True
            if self._status is None:
                self._status = status if status >= 0 else 128 - status
            os.close(self._lifeline)
            if self.pidfd is not None:
                os.close(self.pidfd)
            for stream in (self.stdin, self.stdout, self.stderr):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
        with _live_lock:
            _live.discard(self)
        return self._status


def kill_all() -> None:
    """Kill every command still running and what any command left: the last thing ipxe-compat
    does, however it ends."""
    with _live_lock:
        children = list(_live)
    for child in children:
        with contextlib.suppress(OSError):
            child.kill(grace=0)
    with _marks_lock:
        marks = dict(_marks)
    if _sweep(marks, time.monotonic() + GRACE):
        with _marks_lock:
            for token in marks:
                _marks.pop(token, None)


atexit.register(kill_all)


def run(argv: Sequence[str], *, timeout: float, cwd: str | Path | None = None,
        env: Mapping[str, str] | None = None, max_stdout: int = 16 << 20,
        umask: int = -1) -> Completed:
    """Run a command to its end, at most ``timeout`` seconds, keeping its stdout (more than
    ``max_stdout`` bytes is a :class:`RunError`) and the end of its stderr. Once it has exited,
    its group is killed, so nothing it started runs on, and nothing but the process is awaited."""
    deadline = time.monotonic() + timeout
    out, err = bytearray(), bytearray()
    with Child(argv, cwd=cwd, env=env, stdout=PIPE, stderr=PIPE, umask=umask) as child:
        assert child.stdout is not None
        assert child.stderr is not None
        streams = {child.stdout.fileno(): out, child.stderr.fileno(): err}
        for fd in streams:
            os.set_blocking(fd, False)
        waiting = [*streams, *([child.pidfd] if child.pidfd is not None else [])]
        while child.exited() is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RunError(f"{argv[0]} did not finish within {timeout:g} s")
            poll = left if child.pidfd is not None else min(left, _POLL)
            for fd in select.select(waiting, [], [], poll)[0]:
                if fd in streams and not _drain(fd, streams[fd], out is streams[fd], 1 << 20):
                    waiting.remove(fd)
            if len(out) > max_stdout:
                raise RunError(f"{argv[0]} printed more than {max_stdout} bytes")
        status = child.exited()
        assert status is not None
        child.signal(signal.SIGKILL)  # what it left behind (a background child) goes with it
        for fd, buffer in streams.items():  # what it wrote before it exited, boundedly
            _drain(fd, buffer, buffer is out, budget=max_stdout + 1)
        if len(out) > max_stdout:
            raise RunError(f"{argv[0]} printed more than {max_stdout} bytes")
        return Completed(tuple(argv), status, bytes(out), bytes(err[-MAX_STDERR:]))


def _drain(fd: int, buffer: bytearray, whole: bool, budget: int) -> bool:
    """Append what ``fd`` holds now, without blocking (at most ``budget`` bytes); False at
    end-of-file. A ``whole`` stream (stdout) is kept whole, the caller bounds it; another
    (stderr) keeps its last MAX_STDERR bytes."""
    while budget > 0:
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            return True
        if not chunk:
            return False
        budget -= len(chunk)
        buffer += chunk
        if not whole and len(buffer) > 2 * MAX_STDERR:
            del buffer[:-MAX_STDERR]
    return True
