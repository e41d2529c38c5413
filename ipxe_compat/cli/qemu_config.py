"""``ipxe-compat qemu-config``: tell QEMU (or libvirt) to use the compat ROMs."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .. import __version__
from ..core import compat
from ..errors import IpxeCompatError, SourceError, UsageError
from .common import CONTEXT, PROG, default_maintainer, warn

if TYPE_CHECKING:
    from ..core.devices import NicTable
    from ..input import RomSet

__all__ = ["qemu_config"]


@click.command(
    "qemu-config",
    context_settings=CONTEXT,
    short_help="Print -global flags, libvirt XML, C entries or a QEMU patch for the ROMs.",
)
@click.argument("source", metavar="SOURCE")
@click.option("--format", "fmt", type=click.Choice(compat.FORMATS), default=compat.FORMATS[0],
              show_default=True, help="-global flags, libvirt <interface> snippets, C entries, or "
              "a DEP-3 quilt patch for QEMU's source (needs --machine-compat and --qemu-source).")
@click.option("--machine-compat", metavar="X_Y",
              help="With --format c or patch: the hw_compat_X_Y array to name (e.g. 7_2).")
@click.option("--qemu-source", metavar="DIR",
              help="With --format patch: the QEMU source tree (as dpkg-source -x leaves it) to "
              "patch.")
@click.option("--control-patch", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path),
              help="With --format patch: also write the debian/control change making "
              "qemu-system-x86 depend on the compat package to FILE (never overwritten).")
@click.option("--install-dir", metavar="PATH", help="Where the ROMs are installed.  [default: "
              f"from the .deb, else {compat.DEFAULT_INSTALL_DIR}]")
@click.option("--qemu", "qemu_command", metavar="CMD",
              help="Discover the NIC models, their default romfiles and QOM families from this "
              "QEMU command instead of the built-in table.")
@click.option("--fallback-builtin", is_flag=True,
              help="With --qemu: use the built-in table if that QEMU cannot be asked.")
@click.option("--apply", "apply_to", metavar="FILE|-", multiple=True,
              help="With --format libvirt: print this domain XML (virsh dumpxml, "
              "save-image-dumpxml or managedsave-dumpxml; - for stdin) with a <rom file=...> on "
              "every interface whose model the compat ROMs map. Interfaces naming another ROM "
              "file are left alone and reported on stderr; applying it twice changes nothing. "
              "One FILE per run.")
def qemu_config(source: str, fmt: str, machine_compat: str | None, qemu_source: str | None,
                control_patch: Path | None, install_dir: str | None, qemu_command: str | None,
                fallback_builtin: bool, apply_to: tuple[str, ...]) -> None:
    """Tell QEMU to use the compat files in SOURCE: NIC ROMs for the models they replace,
    -bios and pflash images for the guests that booted their originals.

    SOURCE is the compat package (.deb), its built tree (or the tree's compat-roms/), or any
    directory of compat files (or apt:NAME[=VERSION] of an installed-elsewhere compat package).
    A ROM replaces a model's default only where that default is the original ROM:
    256k-efi-virtio.rom for the virtio-net-pci family (default efi-virtio.rom). Flags, C entries
    and the patch name each family's most general QOM type (virtio-net-pci-base covers
    virtio-net-pci and its transitional and non-transitional variants); libvirt lists every
    concrete model. A firmware compat set (2m-OVMF.fd) gives -bios and -drive if=pflash
    options, and <loader> and <nvram template> for libvirt (--apply rewrites them); the c and
    patch formats refuse it, as QEMU has no compat property for firmware.

    \b
    Examples:
      ipxe-compat qemu-config ipxe-qemu-256k-compat-efi-roms_*.deb
      virsh dumpxml --migratable web1 | ipxe-compat qemu-config \\
          ipxe-qemu-256k-compat-efi-roms_*.deb --format libvirt --apply - > web1.xml
      ipxe-compat qemu-config ipxe-qemu-256k-compat-efi-roms_*.deb \\
          --qemu 'chroot /srv/trixie qemu-system-x86_64'
      ipxe-compat qemu-config ipxe-qemu-256k-compat-efi-roms_*.deb --format patch \\
          --machine-compat 7_2 --qemu-source qemu-10.0.13+ds/ --control-patch control.diff \\
          > 256k-compat-roms.patch
    """
    from ..core.devices import BUILTIN
    from ..input import read_sources
    from ..qemu import (
        ConfigRequest,
        PatchRequest,
        find_qemu,
        probe_qemu,
        qemu_config_text,
        read_qemu_source,
    )

    request = ConfigRequest.of(fmt, machine_compat, install_dir,
                               qemu_source is not None, control_patch is not None)
    if len(apply_to) > 1:
        raise UsageError("give --apply once: it prints one domain XML (run it once per file)")
    if apply_to and fmt != "libvirt":
        raise UsageError("--apply goes with --format libvirt")
    if control_patch is not None and control_patch.exists():
        raise UsageError("--control-patch file exists; not overwriting it", path=str(control_patch))
    table = BUILTIN
    if qemu_command:
        try:
            table = probe_qemu(find_qemu(qemu_command)).nics
        except IpxeCompatError as error:
            if not fallback_builtin:
                raise
            warn(f"{error}; using the built-in table")
    romset = read_sources([source])
    if apply_to:
        _apply(romset, table, install_dir, apply_to[0])
        return
    patch = None
    if qemu_source is not None:
        patch = PatchRequest(read_qemu_source(qemu_source), _patch_author(), _patch_date())
    text, control = qemu_config_text(romset, request, table, patch)
    if control_patch is not None:
        if control is None:
            raise SourceError("has no debian/control for --control-patch", path=qemu_source)
        try:
            with open(control_patch, "x", encoding="utf-8") as out:
                out.write(control)
        except FileExistsError:
            raise UsageError("--control-patch file exists; not overwriting it",
                             path=str(control_patch)) from None
    click.echo(text, nl=False)


def _apply(romset: RomSet, table: NicTable, install_dir: str | None, path: str) -> None:
    """Print the domain XML at ``path`` with the compat files applied; report what is left."""
    from ..input import read_text_file
    from ..qemu import apply_xml, compat_paths

    what = "standard input" if path == "-" else path
    if path == "-":
        data = sys.stdin.buffer.read(compat.MAX_OPTION_FILE + 1)
        if len(data) > compat.MAX_OPTION_FILE:
            raise SourceError(f"--apply: longer than {compat.MAX_OPTION_FILE} bytes",
                              path=what)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise SourceError(f"--apply: not UTF-8 at byte {error.start}", path=what) from None
    else:
        text = read_text_file(path, compat.MAX_OPTION_FILE, "--apply")
    applied = apply_xml(text, compat_paths(romset, table, install_dir), what)
    for line in (*applied.left_alone, *applied.overrides):
        warn(f"{what}: {line}")
    click.echo(applied.xml, nl=False)


def _patch_author() -> str:
    """DEBFULLNAME <DEBEMAIL> as dch would write it, else the tool's name."""
    try:
        return default_maintainer()
    except UsageError:
        return f"{PROG} {__version__}"


def _patch_date() -> str | None:
    """Last-Update from SOURCE_DATE_EPOCH (never the clock: the patch is reproducible)."""
    epoch = compat.source_date_epoch(os.environ)
    return None if epoch is None else time.strftime("%Y-%m-%d", time.gmtime(epoch))
