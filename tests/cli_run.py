"""Run ipxe-compat's command line in a process of its own, without paying for a new interpreter.

``run_cli`` enters :func:`ipxe_compat.cli.main`, the function the installed ``ipxe-compat``
script enters, in a child process: its own working directory, environment, locale, temporary
directory, standard streams, signal dispositions and exit status, so a test sees exactly what a
user's shell would (exit code, stdout, stderr, files left behind). The child is forked from a
multiprocessing fork server, a clean interpreter that has imported ipxe_compat and its
libraries once and never runs a test, so no state of the test process (warning filters, stale
module globals, pytest's captured streams) reaches the command. A fresh ``python -m
ipxe_compat`` spends 70-140 ms starting and importing before it reads a byte, most of what a
refusal costs; the table-driven CLI tests run hundreds of them.

Tests of the installed script itself (the wheel, the Debian package, ``python -m``) still start
a real interpreter: see tests/test_cli.py and tests/test_integration.py.
"""

from __future__ import annotations

import locale
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from multiprocessing import forkserver
from multiprocessing.context import ForkServerContext
from pathlib import Path

#: Imported once by the fork server: what the commands import lazily.
PRELOAD = ["ipxe_compat.cli", "ipxe_compat.check", "ipxe_compat.package", "ipxe_compat.qemu",
           "jinja2", "debian.changelog", "debian.copyright", "debian.deb822"]
_server: ForkServerContext | None = None


def _context() -> ForkServerContext:
    """The fork server, started on first use with ``tests`` importable wherever pytest runs
    (it does not take this process's sys.path, only its environment)."""
    global _server  # noqa: PLW0603 (one fork server per test session)
    if _server is None:
        _server = multiprocessing.get_context("forkserver")
        _server.set_forkserver_preload(PRELOAD)
        top = str(Path(__file__).resolve().parent.parent)
        saved = os.environ.get("PYTHONPATH")
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, (saved, top)))
        try:
            forkserver.ensure_running()
        finally:
            if saved is None:
                del os.environ["PYTHONPATH"]
            else:
                os.environ["PYTHONPATH"] = saved
    return _server


def _child(argv: list[str], cwd: str, env: dict[str, str], out: str, err: str) -> None:
    """In the forked child: become the command's process, then run it (multiprocessing turns
    SystemExit into the exit status as the interpreter would)."""
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    try:  # what interpreter start-up does with the environment's locale
        locale.setlocale(locale.LC_CTYPE, "")
    except locale.Error:
        locale.setlocale(locale.LC_CTYPE, "C")
    encoding = locale.getpreferredencoding(False)
    if encoding.upper() in ("ANSI_X3.4-1968", "ASCII"):  # the C locale: Python uses UTF-8
        encoding = "utf-8"
    time.tzset()  # $TZ is read again
    tempfile.tempdir = None  # $TMPDIR is read again
    for fd, path in ((1, out), (2, err)):
        target = os.open(path, os.O_WRONLY)
        os.dup2(target, fd)
        os.close(target)
    sys.stdout = open(1, "w", encoding=encoding, closefd=False)  # noqa: SIM115 (the process's)
    sys.stderr = open(2, "w", encoding=encoding, errors="backslashreplace",  # noqa: SIM115
                      closefd=False)
    from ipxe_compat.cli import main
    main(argv)


def run_cli(argv: Sequence[str | Path], cwd: Path, env: Mapping[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``ipxe-compat ARGV`` in ``cwd`` with exactly ``env`` (default: this process's), as
    ``subprocess.run(..., capture_output=True, text=True)`` would report it."""
    args = [str(arg) for arg in argv]
    with tempfile.NamedTemporaryFile() as out, tempfile.NamedTemporaryFile() as err:
        child = _context().Process(target=_child, args=(
            args, str(cwd), dict(os.environ if env is None else env), out.name, err.name))
        child.start()
        child.join(timeout)
        if child.exitcode is None:
            child.kill()
            child.join()
            raise subprocess.TimeoutExpired(["ipxe-compat", *args], timeout)
        return subprocess.CompletedProcess(
            ["ipxe-compat", *args], child.exitcode,
            Path(out.name).read_text(encoding="utf-8", errors="replace"),
            Path(err.name).read_text(encoding="utf-8", errors="replace"))
