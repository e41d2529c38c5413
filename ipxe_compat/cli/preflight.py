"""``ipxe-compat preflight``: which guests of a libvirt host would break on a destination."""

from __future__ import annotations

import click

from ..core import compat
from ..core.compat import DEFAULT_TIMEOUT
from ..errors import UsageError
from .common import CONTEXT, report

__all__ = ["preflight"]


@click.command("preflight", context_settings=CONTEXT,
               short_help="Which libvirt guests would break on a destination host, and the fix.")
@click.argument("domains", nargs=-1, metavar="[DOMAIN]...")
@click.option("-c", "--connect", "uri", metavar="URI",
              help="The source host's libvirt URI.  [default: libvirt's default connection]")
@click.option("--saved", multiple=True, metavar="FILE",
              help="Also judge this virsh save image (a file of the source host; repeatable).")
@click.option("--to-uri", metavar="URI",
              help="The destination's libvirt URI (qemu+ssh://new/system): its twins run there.")
@click.option("--to-qemu", metavar="CMD",
              help="Or the destination's QEMU command ('chroot /srv/trixie qemu-system-x86_64'): "
              "its twins run as paused QEMU processes here.")
@click.option("--apply", "apply_sources", multiple=True, metavar="SOURCE",
              help="Judge each domain with this compat package applied to its XML, as "
              "qemu-config --format libvirt --apply would (repeatable).")
@click.option("-j", "--jobs", type=click.IntRange(min=1),
              help="Twins at once.  [default: 2 per CPU, at most 8]")
@click.option("--timeout", type=float, default=DEFAULT_TIMEOUT, show_default=True,
              metavar="SECONDS", help="Give up on a host after this long without an answer to "
              "one libvirt call, or on one --to-qemu twin.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def preflight(domains: tuple[str, ...], uri: str | None, saved: tuple[str, ...],
              to_uri: str | None, to_qemu: str | None, apply_sources: tuple[str, ...],
              jobs: int | None, timeout: float, as_json: bool) -> None:
    """Tell which guests of a libvirt host would fail to migrate (or restore) on a destination,
    and why, from the guests and hosts themselves.

    For every domain on the source (running, paused, managed-saved, inactive; or the DOMAINs
    named) and every --saved image, compares each RAM block a file fixes (NIC and VGA option
    ROMs, pc.bios, pflash) as the source has it with what the destination allocates for that
    very domain. The source's sizes come from the running QEMU (libvirt's monitor passthrough:
    libvirt then logs the domain as tainted, custom-monitor), from the save image's own stream,
    or from a twin on the source; the destination's from a twin of the domain started paused
    there: no disk opened, no network attached, no host device, shared or huge-page memory,
    under a name of its own, destroyed in every outcome. Source domains are only read.

    With --to-qemu the destination is a QEMU command instead of a libvirt host: each twin is
    the same machine, firmware (-bios, pflash code), PCI bridges, NICs (their models, PCI
    addresses and ROM files, no network backend) and video devices as QEMU arguments, started
    paused and ended at once. Files the XML names (a <rom file>, the loader) are looked up by
    that QEMU, e.g. inside its chroot.

    \b
    Examples:
      ipxe-compat preflight --to-uri qemu+ssh://new-host/system
      ipxe-compat preflight web1 db1 -c qemu:///system --saved /srv/save/web2.save \\
          --to-uri qemu+ssh://new-host/system --apply ipxe-qemu-256k-compat-efi-roms_*.deb
      ipxe-compat preflight --to-qemu 'chroot /srv/trixie qemu-system-x86_64'

    Each guest's verdict is ok, breaks, or error (it could not be judged: a twin that would
    not start, a host call that failed). Exit 0 when every guest is ok, 1 when any breaks or
    could not be judged, 2 for bad usage or a host that cannot be reached or stops answering
    (--timeout), 130 on SIGINT, SIGTERM or SIGHUP. Needs libvirt's Python binding
    (python3-libvirt). docs/admin-guide.md has the commands that move each kind of guest with
    the fix.
    """
    from ..host import PreflightRequest, default_jobs
    from ..host import preflight as run
    from ..input import read_sources
    from ..qemu import combine, compat_paths

    if (to_uri is None) == (to_qemu is None):
        raise UsageError("preflight needs one destination: --to-uri URI or --to-qemu CMD")
    compat.check_timeout(timeout)
    fix = combine([compat_paths(read_sources([source])) for source in apply_sources]) \
        if apply_sources else None
    request = PreflightRequest(domains, uri, saved, to_uri, fix, jobs or default_jobs(),
                               to_qemu=to_qemu, timeout=timeout)
    report(run(request), as_json)
