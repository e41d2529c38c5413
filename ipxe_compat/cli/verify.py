"""``ipxe-compat verify-migration``: migrate paused guests between QEMU builds and ROM sets."""

from __future__ import annotations

from pathlib import Path

import click

from ..core import compat
from ..errors import UsageError, signals_as_exceptions
from .common import CONTEXT, read_option_file, report

__all__ = ["verify_migration"]


@click.command("verify-migration", context_settings=CONTEXT,
               short_help="Migrate paused guests across QEMU builds and ROM sets.")
@click.argument("sets", nargs=-1, metavar="[FROM TO]")
@click.option("--qemu", "qemu_command", default=compat.DEFAULT_QEMU, show_default=True,
              metavar="CMD", help="The QEMU command at both ends (a path, or e.g. "
              "'chroot /srv/trixie qemu-system-x86_64').")
@click.option("--from-qemu", metavar="CMD", help="The source's QEMU command.  [default: --qemu]")
@click.option("--to-qemu", metavar="CMD", help="The destination's QEMU command.  [default: --qemu]")
@click.option("--machine", metavar="TYPE",
              help="Machine type at both ends.  [default: the source QEMU's default, versioned, "
              "e.g. pc-i440fx-7.2]")
@click.option("--device", "devices", multiple=True, metavar="MODEL",
              help="Only this device (repeatable): a NIC model, with FROM TO also a display "
              "model (VGA, cirrus-vga, ...) or -bios, pflash0, pflash1.  [default: every one "
              "both QEMUs have]")
@click.option("--to-config", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path),
              help="qemu-config --format args output for the destination: its '-global' lines "
              "(a -bios or pflash line is refused: verify those images with FROM TO).")
@click.option("--timeout", type=float, default=compat.DEFAULT_TIMEOUT, show_default=True,
              metavar="SECONDS", help="Give up on one migration after this long.")
@click.option(
    "-j", "--jobs", type=click.IntRange(min=1), help="Migrations at once.  [default: CPUs]"
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def verify_migration(sets: tuple[str, ...], qemu_command: str, from_qemu: str | None,
                     to_qemu: str | None, machine: str | None, devices: tuple[str, ...],
                     to_config: Path | None, timeout: float, jobs: int | None,
                     as_json: bool) -> None:
    """Prove with real QEMU builds that guests migrate from one host to another.

    With FROM and TO (firmware sets, each a SOURCE): for each ROM of FROM that TO also has
    (TO's compat prefix stripped) and each NIC or display model (vgabios-*.bin) of both QEMUs it
    drives, a paused guest (TCG, no disk, no network) with the FROM ROM migrates to one with the
    TO ROM; for each -bios and pflash image both have, a guest booted from FROM's migrates to one
    booted from TO's. A file of FROM that TO lacks (unless TO is a compat set) is a case that
    cannot run, a failure; a file both have that no case covers (fw_cfg ROMs, which QEMU loads by
    name) is listed as not tested, with why. Without FROM and TO: each end loads its own QEMU's
    installed ROMs, for every NIC model both QEMUs have that loads a ROM, and the destination
    gets --to-config's -global lines. A migration completes only when the destination runs the
    guest; otherwise QEMU's own error is reported. Exit 1 if any fails or cannot run.

    {sources}

    A QEMU command may run anywhere (a chroot, a container, ssh HOST qemu-system-x86_64): QMP
    goes over its stdin and stdout. The migration goes over a unix socket in $TMPDIR when both
    QEMUs see that directory, else over TCP on 127.0.0.1 (both must then share one network:
    this machine's, as a chroot does, or one HOST's for two ssh commands). FROM and TO ROMs are
    handed to QEMU as files in $TMPDIR: with them, both QEMUs must see it.

    \b
    Examples:
      ipxe-compat verify-migration ipxe-qemu_1.0.0+git-20190125.36a4c85-5.1_all.deb \\
          ipxe-qemu-256k-compat-efi-roms_*.deb
      ipxe-compat qemu-config ipxe-qemu-256k-compat-efi-roms_*.deb > compat.args
      ipxe-compat verify-migration --to-qemu 'chroot /srv/trixie qemu-system-x86_64' \\
          --machine pc-q35-7.2 --to-config compat.args
    """
    from ..input import read_sources
    from ..qemu import MigrationRequest
    from ..qemu import verify_migration as verify

    if len(sets) not in (0, 2):
        raise UsageError("give both FROM and TO, or neither (each end's installed ROMs)")
    request = MigrationRequest.of(from_qemu or qemu_command, to_qemu or qemu_command, machine,
                                  devices, timeout, jobs)
    romsets = (read_sources([sets[0]]), read_sources([sets[1]])) if sets else None
    config = read_option_file(to_config, "--to-config")
    with signals_as_exceptions():  # SIGTERM reaps the QEMUs as Ctrl-C does
        outcome = verify(romsets, request, config.text if config is not None else None)
    report(outcome, as_json)
