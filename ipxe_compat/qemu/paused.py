"""One paused QEMU, asked one thing and ended: its version, or the RAM blocks it allocated.

preflight's ``--to-qemu`` judges each domain by a twin started with these arguments
(host/argv.py builds them): the blocks come from HMP ``info ramblock`` through QMP's
``human-monitor-command``, the same text libvirt's monitor passthrough gives on a libvirt
destination. Each QEMU runs in its own private directory and is ended (:class:`.qmp.Qemu`)
whatever happens.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence

from .discover import qemu_version, qom_text
from .qmp import Qemu, QmpError, private_dir

__all__ = ["QmpError", "paused_ram_blocks", "paused_version"]


def _ask(command: Sequence[str], args: Sequence[str], timeout: float, name: str,
         execute: str, **arguments: object) -> object:
    try:
        workdir = private_dir()
    except OSError as error:
        raise QmpError(f"no private directory in TMPDIR: {error.strerror}") from error
    qemu = Qemu(command, workdir, name, args, timeout)
    try:
        with qemu:
            return qemu.command(execute, **arguments)
    except QmpError as error:
        said = qemu.error_line()  # QEMU's own words (failed to find romfile ...) say more
        if said and said not in error.message:
            raise QmpError(f"{said} ({error.message})") from error
        raise
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def paused_version(command: Sequence[str], timeout: float) -> str:
    """``10.0.13``: the version of the QEMU ``command`` (started with no machine at all)."""
    return qemu_version(_ask(command, ["-machine", "none"], timeout, "version", "query-version"))


def paused_ram_blocks(command: Sequence[str], args: Sequence[str], timeout: float,
                      name: str = "twin") -> str:
    """``info ramblock`` of QEMU ``command`` started paused with ``args``."""
    return qom_text(_ask(command, args, timeout, name, "human-monitor-command",
                         **{"command-line": "info ramblock"}), "info ramblock")
