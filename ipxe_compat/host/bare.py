"""A destination given as a QEMU command (``--to-qemu``) instead of a libvirt URI.

Each twin is the twin's XML turned into QEMU arguments (:mod:`.argv`) and started paused by
the project's QEMU layer, which ends it (and everything its command started) in every outcome;
its ``info ramblock`` is what a libvirt destination's twin would answer. The command is run
once first, with no machine, for its version: a command that is not a usable QEMU is exit 2
before any domain is judged.
"""

from __future__ import annotations

from ..core.domxml import parse
from ..errors import SourceError, ToolError, UsageError
from ..qemu import find_qemu, paused_ram_blocks, paused_version, short_command
from .argv import twin_argv
from .connection import TwinError

__all__ = ["BareQemu"]


class BareQemu:
    """The destination QEMU ``command`` (``chroot /srv/trixie qemu-system-x86_64``)."""

    role = "destination"

    def __init__(self, command: str, timeout: float):
        self.command = find_qemu(command)
        self.timeout = timeout
        try:
            version = paused_version(self.command, timeout)
        except ToolError as error:
            raise UsageError(f"--to-qemu {command!r} is not a QEMU this machine can run and "
                             f"ask: {error.message}") from None
        self.label = f"QEMU {version} ({short_command(self.command)})"

    def __enter__(self) -> BareQemu:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def twin_blocks(self, xml: str) -> str:
        """Start the twin ``xml`` as a paused QEMU, read ``info ramblock``, end it."""
        name = parse(xml, "the twin").name
        try:
            args = twin_argv(xml, name)
        except SourceError as error:
            raise TwinError(f"cannot build it as QEMU arguments: {error.message}") from None
        try:
            return paused_ram_blocks(self.command, args, self.timeout, name)
        except ToolError as error:
            raise TwinError(f"cannot start it: {error.message}") from None
