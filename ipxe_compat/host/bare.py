"""A destination given as a QEMU command (``--to-qemu``) instead of a libvirt URI.

Each twin is the twin's XML turned into QEMU arguments (:mod:`.argv`) and started paused by
the project's QEMU layer, which ends it (and everything its command started) in every outcome;
its ``info ramblock`` is what a libvirt destination's twin would answer. The command is run
once first, with no machine, for its version: a command that is not a usable QEMU is exit 2
before any domain is judged.
"""

from __future__ import annotations

from ..core.domxml import parse
from ..errors import SourceError, ToolError, UsageError, shown
from ..qemu import find_qemu, paused_ram_blocks, paused_version, short_command
from .argv import twin_argv
from .connection import TwinError

__all__ = ["BareQemu"]

#: Characters of a QEMU command's own words kept in an error line (a flood is cut).
MAX_MESSAGE = 1000


class BareQemu:
    """The destination QEMU ``command`` (``chroot /srv/trixie qemu-system-x86_64``)."""

    role = "destination"

    def __init__(self, command: str, timeout: float):
        try:
            self.command = find_qemu(command)
        except UsageError as error:  # it names the program with repr(): through shown() here
            said = error.message.replace(repr(command), shown(command))
            raise UsageError(_bounded(said if said.isprintable() else shown(said))) from None
        self.timeout = timeout
        try:
            version = paused_version(self.command, timeout)
        except ToolError as error:
            raise UsageError(f"--to-qemu {shown(command)} is not a QEMU this machine can run and "
                             f"ask: {_bounded(error.message)}") from None
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
            raise TwinError(f"cannot start it: {_bounded(error.message)}") from None


def _bounded(message: str) -> str:
    """A QEMU command's words (its stderr, whatever it printed) cut to one readable line: its
    beginning (what failed) and its end (QEMU's last words), the flood between them cut."""
    if len(message) <= MAX_MESSAGE:
        return message
    head, tail = MAX_MESSAGE * 2 // 5, MAX_MESSAGE * 3 // 5
    return (f"{message[:head]} ... ({len(message) - head - tail} characters cut) ... "
            f"{message[-tail:]}")
