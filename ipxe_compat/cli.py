"""The ``ipxe-compat`` command: parse options, call one library function, map errors to exits.

Each command calls into one subsystem's face (``check``, ``package``, ``qemu``) after reading its
sources through ``input``; their modules (and jinja2, python-debian) are imported inside the
commands that need them, so ``--help`` stays fast. Every error is printed as one line
``ipxe-compat: error: ...`` in :func:`main`, the one place that maps exceptions to exit codes
(cli.md): 1 = a problem was found, 2 = bad usage or unusable input, 3 = an internal error (a bug).
``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from . import __version__
from .core.sizes import bucket, size_label
from .errors import IpxeCompatError, SourceError, UsageError, signals_as_exceptions

if TYPE_CHECKING:
    from .core.outcome import Outcome
    from .package import GenerateResult, InputFile

__all__ = ["main"]

PROG = "ipxe-compat"
#: An unexpected exception: a bug, not a problem of the input (cli.md).
EXIT_INTERNAL = 3
_debug = False


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"{PROG}: error: {message}", err=True)
    sys.exit(code)


def main(argv: list[str] | None = None, prog_name: str = PROG) -> None:
    """Console entry point; never shows a traceback unless --debug is given."""
    try:
        code = cli.main(args=argv, prog_name=prog_name, standalone_mode=False)
    except IpxeCompatError as error:
        if _debug:
            raise
        _fail(str(error), error.exit_code)
    except click.exceptions.UsageError as error:
        _fail(error.format_message().replace("\n", " "), 2)
    except click.exceptions.Abort:
        _fail("interrupted", 130)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except OSError as error:
        if _debug:
            raise
        where = f"{error.filename}: " if error.filename else ""
        _fail(f"{where}{error.strerror or error}", 2)
    except Exception as error:  # a bug: still one line, its own status, and a way to see more
        if _debug:
            raise
        _fail(f"internal error: {type(error).__name__}: {error} (run with --debug for details)",
              EXIT_INTERNAL)
    sys.exit(code if isinstance(code, int) else 0)


def _outdir(_ctx: click.Context, _param: click.Parameter, value: str) -> Path:
    """-o '' is no directory (Path('') would be the current one)."""
    if not value.strip():
        raise UsageError("-o names no directory (give -o . for the current one)")
    return Path(value)


def _globs(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    """--roms patterns are one line each (the recipe records them)."""
    from .core.fields import glob

    return tuple(glob(value) for value in values)


# A fixed width, so help reads the same in a terminal, a pipe and a man page
@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100,
                               "terminal_width": 100})
@click.version_option(__version__, prog_name=PROG)
@click.option("--debug", is_flag=True, help="Show a Python traceback on errors.")
def cli(debug: bool) -> None:
    """Keep old iPXE option ROMs so QEMU live migration survives ipxe updates.

    QEMU sizes a NIC option ROM's memory block to the next power of two of the ROM file; a
    migration between hosts whose ROMs fall in different buckets fails with "Size mismatch".
    ipxe-compat reads old ROM sets (a .deb, a directory, .rom files), validates every ROM, and
    generates a co-installable Debian source package that keeps them as 256k-*.rom.

    \b
    SOURCE is where a ROM set comes from:
      PATH.deb                 a binary package such as ipxe-qemu_*.deb (its ROMs under
                               usr/lib/ipxe/qemu/ and usr/share/qemu/)
      DIR                      every *.rom file directly in DIR
      PATH.rom                 one ROM file
      apt:NAME[=VERSION]       downloaded with apt-get and checked against apt's index,
                               e.g. apt:ipxe-qemu=1.0.0+git-20190125.36a4c85-5.1

    SIZE is a power of two: 256k, 256K, 262144, 1M. Run "ipxe-compat COMMAND --help" for a
    command's options and examples.

    Exit status: 0 success, 1 a problem was found (invalid or oversized ROM),
    2 bad usage or unusable input, 3 an internal error (a bug: --debug shows its traceback).
    """
    global _debug
    _debug = debug


def _emit_json(data: Any) -> None:
    import json  # only for --json: keeps start-up light

    click.echo(json.dumps(data, indent=2, sort_keys=False))


def _report(outcome: Outcome, as_json: bool) -> None:
    """Print the outcome as JSON or text, then each problem as an error line; exit 1 if any."""
    if as_json:
        _emit_json(outcome.data)
    else:
        click.echo(outcome.text, nl=False)
    for problem in outcome.problems:
        click.echo(f"{PROG}: error: {problem}", err=True)
    if outcome.problems:
        sys.exit(1)


@cli.command(short_help="Show each ROM's images, ids, checksums and padding; validate it.")
@click.argument("sources", nargs=-1, required=True, metavar="SOURCE...")
@click.option("--roms", "globs", multiple=True, metavar="GLOB", callback=_globs,
              help="Only ROMs whose file name matches GLOB (repeatable). Default: all.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def inspect(sources: tuple[str, ...], globs: tuple[str, ...], as_json: bool) -> None:
    """Show the structure of every ROM: images, ids, checksums, EFI headers, padding.

    Exit 1 if any ROM is structurally invalid (each named on stderr with its byte offset).

    SOURCE is PATH.deb, DIR, PATH.rom or apt:NAME[=VERSION] (see ipxe-compat --help).

    \b
    Example:
      ipxe-compat inspect ipxe-qemu_1.0.0+git-20190125.36a4c85-5.1_all.deb --roms 'efi-*'
    """
    from .check import inspect_roms
    from .input import read_sources

    _report(inspect_roms(read_sources(sources), globs), as_json)


@cli.command(short_help="Find ROM size changes that break live migration (also a build guard).")
@click.argument("sources", nargs=-1, required=True, metavar="OLD NEW | SOURCE")
@click.option("--expect", "expectations", multiple=True, metavar="GLOB=SIZE",
              help="Guard mode: every ROM matching GLOB must be in bucket SIZE (repeatable).")
@click.option("--at-most", is_flag=True, help="Guard mode: SIZE or a smaller bucket is fine too.")
@click.option("--roms", "globs", multiple=True, metavar="GLOB", callback=_globs,
              help="Compare mode: only ROMs whose name matches GLOB (repeatable). Default: all.")
@click.option("--romsize", metavar="SIZE",
              help="Assume QEMU's romsize= property pins every ROM block to SIZE (e.g. 256k).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def check(sources: tuple[str, ...], expectations: tuple[str, ...], at_most: bool,
          globs: tuple[str, ...], romsize: str | None, as_json: bool) -> None:
    """Catch ROM size changes that break QEMU live migration.

    \b
    Compare mode:  ipxe-compat check OLD NEW
      Pairs ROMs by file name (a compat name such as 256k-efi-virtio.rom pairs with
      efi-virtio.rom) and gives each a verdict: ok (same QEMU bucket), breaks-migration,
      only-old or only-new. Exit 1 if any ROM breaks migration or is invalid.

    \b
    Guard mode:  ipxe-compat check --expect 'efi-*.rom=256k' SOURCE
      For debian/rules: every ROM matching GLOB must be in bucket SIZE (or smaller with
      --at-most). Exit 1 on any mismatch or invalid ROM, 2 if a GLOB matches nothing.

    The bucket is QEMU's: pow2ceil(file size), so 262144 bytes is 256k and 262145 is 512k.

    SOURCE is PATH.deb, DIR, PATH.rom or apt:NAME[=VERSION] (see ipxe-compat --help).
    """
    from .check import compare_roms, guard_roms, parse_expectation
    from .core.sizes import parse_size
    from .input import read_sources

    pinned = parse_size(romsize) if romsize is not None else None
    if expectations:
        if len(sources) != 1 or globs:
            raise UsageError("guard mode (--expect) takes one SOURCE and no --roms")
        wanted = [parse_expectation(text) for text in expectations]  # before reading SOURCE
        _report(guard_roms(read_sources(sources), wanted, at_most, pinned), as_json)
        return
    if at_most:
        raise UsageError("--at-most goes with --expect")
    if len(sources) != 2:
        raise UsageError(f"compare mode takes two sources, OLD and NEW (got {len(sources)})")
    old, new = (read_sources([source]) for source in sources)
    _report(compare_roms(old, new, globs, pinned), as_json)


@cli.command("qemu-config", short_help="Print -global flags, libvirt XML, C entries or a QEMU patch for the ROMs.")
@click.argument("source", metavar="SOURCE")
@click.option("--format", "fmt", type=click.Choice(["args", "libvirt", "c", "patch"]), default="args",
              show_default=True, help="-global flags, libvirt <interface> snippets, C entries, or a "
              "DEP-3 quilt patch for QEMU's source (needs --machine-compat and --qemu-source).")
@click.option("--machine-compat", metavar="X_Y",
              help="With --format c or patch: the hw_compat_X_Y array to name (e.g. 7_2).")
@click.option("--qemu-source", metavar="DIR",
              help="With --format patch: the QEMU source tree (as dpkg-source -x leaves it) to patch.")
@click.option("--control-patch", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path),
              help="With --format patch: also write the debian/control change making "
              "qemu-system-x86 depend on the compat package to FILE (never overwritten).")
@click.option("--install-dir", metavar="PATH", help="Where the ROMs are installed.  [default: from the .deb, "
              "else /usr/share/qemu]")
@click.option("--qemu", "qemu_command", metavar="CMD",
              help="Discover the NIC models, their default romfiles and QOM families from this QEMU "
              "command instead of the built-in table.")
@click.option("--fallback-builtin", is_flag=True,
              help="With --qemu: use the built-in table if that QEMU cannot be asked.")
def qemu_config(source: str, fmt: str, machine_compat: str | None, qemu_source: str | None,
                control_patch: Path | None, install_dir: str | None, qemu_command: str | None,
                fallback_builtin: bool) -> None:
    """Tell QEMU to use the compat ROMs in SOURCE for the NIC models they replace.

    SOURCE is the compat package (.deb), its source tree or any directory of compat ROMs
    (or apt:NAME[=VERSION] of an installed-elsewhere compat package).
    A ROM replaces a model's default only where that default is the original ROM:
    256k-efi-virtio.rom for the virtio-net-pci family (default efi-virtio.rom). Flags, C entries
    and the patch name each family's most general QOM type (virtio-net-pci-base covers
    virtio-net-pci and its transitional and non-transitional variants); libvirt lists every
    concrete model.

    \b
    Examples:
      ipxe-compat qemu-config ipxe-qemu-256k-compat-efi-roms_*.deb
      ipxe-compat qemu-config ipxe-qemu-256k-compat-efi-roms_*.deb --qemu 'chroot /srv/trixie qemu-system-x86_64'
      ipxe-compat qemu-config build/ipxe-qemu-256k-compat-*/ --format patch --machine-compat 7_2 \\
          --qemu-source qemu-10.0.13+ds/ --control-patch control.diff > 256k-compat-roms.patch
    """
    from .core import fields
    from .core.devices import BUILTIN
    from .input import read_sources
    from .qemu import (
        PatchRequest,
        compat_package,
        find_qemu,
        mappings,
        probe_qemu,
        qemu_config,
        read_qemu_source,
    )
    from .qemu import control_patch as make_control

    if machine_compat is not None:
        fields.machine_compat(machine_compat)
    if install_dir is not None:
        fields.install_dir(install_dir)
    if fmt == "patch" and (machine_compat is None or qemu_source is None):
        raise UsageError("--format patch needs --machine-compat X_Y and --qemu-source DIR")
    if fmt != "patch" and (qemu_source is not None or control_patch is not None):
        raise UsageError("--qemu-source and --control-patch go with --format patch")
    if control_patch is not None and control_patch.exists():
        raise UsageError("--control-patch file exists; not overwriting it", path=str(control_patch))
    table = BUILTIN
    if qemu_command:
        try:
            table = probe_qemu(find_qemu(qemu_command)).nics
        except IpxeCompatError as error:
            if not fallback_builtin:
                raise
            click.echo(f"{PROG}: warning: {error}; using the built-in table", err=True)
    romset = read_sources([source])
    request = None
    if fmt == "patch" and qemu_source is not None:
        request = PatchRequest(read_qemu_source(qemu_source), _patch_author(), _patch_date())
    text = qemu_config(romset, fmt, machine_compat, install_dir, table, request)
    control = None
    if control_patch is not None:
        assert request is not None
        if request.source.control is None:
            raise SourceError("has no debian/control for --control-patch", path=qemu_source)
        control = make_control(request.source.control, compat_package(mappings(romset, table), romset))
    if control is not None and control_patch is not None:
        try:
            with open(control_patch, "x", encoding="utf-8") as out:
                out.write(control)
        except FileExistsError:
            raise UsageError("--control-patch file exists; not overwriting it",
                             path=str(control_patch)) from None
    click.echo(text, nl=False)


#: One paused-guest migration takes well under a second; an hour is past any real wait.
MAX_TIMEOUT = 3600.0


def _patch_author() -> str:
    """DEBFULLNAME <DEBEMAIL> as dch would write it, else the tool's name."""
    try:
        return _default_maintainer()
    except UsageError:
        return f"{PROG} {__version__}"


def _patch_date() -> str | None:
    """Last-Update from SOURCE_DATE_EPOCH (never the clock: the patch is reproducible)."""
    value = os.environ.get("SOURCE_DATE_EPOCH")
    if value is None:
        return None
    if not value.isdigit():
        raise UsageError(f"SOURCE_DATE_EPOCH={value!r} is not a number of seconds")
    return time.strftime("%Y-%m-%d", time.gmtime(int(value)))


@cli.command("verify-migration", short_help="Migrate paused guests across QEMU builds and ROM sets.")
@click.argument("sets", nargs=-1, metavar="[FROM TO]")
@click.option("--qemu", "qemu_command", default="qemu-system-x86_64", show_default=True,
              metavar="CMD", help="The QEMU command at both ends (a path, or e.g. "
              "'chroot /srv/trixie qemu-system-x86_64').")
@click.option("--from-qemu", metavar="CMD", help="The source's QEMU command.  [default: --qemu]")
@click.option("--to-qemu", metavar="CMD", help="The destination's QEMU command.  [default: --qemu]")
@click.option("--machine", metavar="TYPE",
              help="Machine type at both ends.  [default: the source QEMU's default, versioned, "
              "e.g. pc-i440fx-7.2]")
@click.option("--device", "devices", multiple=True, metavar="MODEL",
              help="Only this NIC model (repeatable).  [default: every model both QEMUs have]")
@click.option("--to-config", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path),
              help="qemu-config --format args output ('-global' lines) for the destination.")
@click.option("--timeout", default=30.0, show_default=True, metavar="SECONDS",
              help="Give up on one migration after this long.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), help="Migrations at once.  [default: CPUs]")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def verify_migration(sets: tuple[str, ...], qemu_command: str, from_qemu: str | None,
                     to_qemu: str | None, machine: str | None, devices: tuple[str, ...],
                     to_config: Path | None, timeout: float, jobs: int | None,
                     as_json: bool) -> None:
    """Prove with real QEMU builds that guests migrate from one host to another.

    With FROM and TO (ROM sets: PATH.deb, DIR, PATH.rom, apt:NAME[=VERSION]): for each ROM of
    FROM that TO also has (TO's compat prefix stripped) and each NIC model it drives, a paused
    guest (TCG, no disk, no network) with the FROM ROM migrates over a unix socket to one with
    the TO ROM. Without them: each end loads its own QEMU's installed ROMs, for every NIC model
    both QEMUs have that loads a ROM, and the destination gets --to-config's -global lines.
    A migration completes only when the destination runs the guest; otherwise QEMU's own error
    is reported. Exit 1 if any fails. A QEMU run in another root must see $TMPDIR, where the
    sockets and ROM copies live.

    \b
    Examples:
      ipxe-compat verify-migration ipxe-qemu_<old>_all.deb ipxe-qemu-256k-compat-efi-roms_*.deb
      ipxe-compat qemu-config ipxe-qemu-256k-compat-efi-roms_*.deb > compat.args
      ipxe-compat verify-migration --to-qemu 'chroot /srv/trixie qemu-system-x86_64' \\
          --machine pc-q35-7.2 --to-config compat.args
    """
    from .input import read_sources
    from .qemu import verify_migration as verify

    if not (math.isfinite(timeout) and 0 < timeout <= MAX_TIMEOUT):
        raise UsageError(f"--timeout {timeout} is not a number of seconds in (0, {MAX_TIMEOUT}]")
    if len(sets) not in (0, 2):
        raise UsageError("give both FROM and TO, or neither (each end's installed ROMs)")
    old = read_sources([sets[0]]) if sets else None
    new = read_sources([sets[1]]) if sets else None
    config = _read_file(str(to_config), "--to-config") if to_config is not None else None
    with signals_as_exceptions():  # SIGTERM reaps the QEMUs as Ctrl-C does
        outcome = verify(old, new, from_qemu or qemu_command, to_qemu or qemu_command, machine,
                         devices, timeout, jobs, config.text if config is not None else None)
    _report(outcome, as_json)


def _default_maintainer() -> str:
    name, email = os.environ.get("DEBFULLNAME", "").strip(), os.environ.get("DEBEMAIL", "").strip()
    if "<" in email:  # DEBEMAIL="Name <user@example.org>", as dch accepts it
        return email
    if name and email:
        return f"{name} <{email}>"
    raise UsageError("no maintainer: give --maintainer 'Name <email>' or set DEBFULLNAME and DEBEMAIL")


def _default_date() -> str:
    """``@$SOURCE_DATE_EPOCH``, else the clock: the one place generate reads the time."""
    from .core.fields import epoch

    value = os.environ.get("SOURCE_DATE_EPOCH")
    if value is None:
        return f"@{int(time.time())}"
    return f"@{epoch(value, 'SOURCE_DATE_EPOCH')}"


#: Text inputs (changelog, copyright) are read whole, so at most this much: Debian's longest
#: changelogs and copyright files are a few MB (dpkg's changelog is 0.75 MB).
MAX_TEXT_FILE = 16 << 20


def _read_file(path: str | None, what: str) -> InputFile | None:
    """A file an option names, read here at the boundary: nothing below reads option files.
    Bounded, and a FIFO or device is refused before it is read."""
    from .input import read_regular_file
    from .package import InputFile

    if path is None:
        return None
    data, _ = read_regular_file(path, MAX_TEXT_FILE, what)
    try:
        return InputFile(path, data.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise SourceError(f"cannot read {what}: not UTF-8 at byte {error.start}",
                          path=path) from error


@cli.command(short_help="Generate the co-installable compat source package from old ROMs.")
@click.argument("sources", nargs=-1, metavar="SOURCE...")
@click.option("-o", "--output", "outdir", required=True, callback=_outdir, metavar="OUTDIR",
              help="Directory to write into (created if missing).")
@click.option("--recipe", type=click.Path(dir_okay=False, path_type=Path),
              help="Make again the package that this debian/ipxe-compat.recipe describes; SOURCE "
              "must have the recorded sha256 (default: fetch the packages again with apt).")
@click.option("--size", default="256k", show_default=True, metavar="SIZE",
              help="QEMU bucket the compat ROMs must fit: 256k, 512k, 1M, or bytes (a power of two).")
@click.option("--roms", "globs", multiple=True, metavar="GLOB", callback=_globs,
              help="Which ROMs to carry, by file name (repeatable).  [default: efi-*.rom]")
@click.option("--prefix", metavar="TEXT", help="Prefix of each installed ROM name.  [default: <size>-, e.g. 256k-]")
@click.option("--pad/--copy", default=True, show_default=True,
              help="Pad each ROM to exactly SIZE, or copy it unchanged (it must still fit SIZE).")
@click.option("--pad-byte", default="0xff", show_default=True, metavar="BYTE",
              help="The padding byte, 0..255 in decimal, hex or octal: 0xff, 255, 0o377, 0.")
@click.option("--install-dir", default="/usr/share/qemu", show_default=True, metavar="PATH",
              help="Where the binary package installs the ROMs (on QEMU's firmware path).")
@click.option("--source-name", metavar="NAME", help="Source package name.  [default: ipxe-qemu-<size>-compat]")
@click.option("--package-name", metavar="NAME",
              help="Binary package name.  [default: ipxe-qemu-<size>-compat-efi-roms]")
@click.option("--newversion", metavar="VERSION",
              help="Debian version of the new package, with a revision (dch calls it so; "
              "--version is the tool's own).  [default: <origin upstream version>-1]")
@click.option("--distribution", default="unstable", show_default=True, metavar="DIST",
              help="Changelog distribution (suite), e.g. unstable, bookworm-backports.")
@click.option("--urgency", default="medium", show_default=True, metavar="URGENCY",
              help="Changelog urgency: low, medium, high, emergency or critical.")
@click.option("--maintainer", metavar="'NAME <EMAIL>'",
              help="The package's maintainer.  [default: $DEBFULLNAME <$DEBEMAIL>, or $DEBEMAIL if "
              "it has the form 'Name <email>']")
@click.option("--message", "messages", multiple=True, metavar="TEXT",
              help="A changelog entry line (repeatable; may carry 'Closes: #NNN').")
@click.option("--changelog-from", type=click.Path(dir_okay=False),
              help="An existing debian/changelog to continue.")
@click.option("--date", "date", metavar="DATE",
              help="Changelog date, RFC 2822 or @EPOCH.  [default: $SOURCE_DATE_EPOCH, else now]")
@click.option("--origin-source", metavar="NAME",
              help="The ipxe source package the ROMs were built from, for Built-Using. Required "
              "for DIR and .rom sources (a .deb says it itself), e.g. ipxe.")
@click.option("--origin-version", metavar="VERSION",
              help="That source package's version. Required for DIR and .rom sources, e.g. "
              "1.0.0+git-20190125.36a4c85-5.1.")
@click.option("--origin-copyright", type=click.Path(dir_okay=False),
              help="The origin's DEP-5 copyright file. Required for DIR and .rom sources, e.g. "
              "/usr/share/doc/ipxe-qemu/copyright.")
@click.option("--build-source", is_flag=True,
              help="Also run dpkg-source and dpkg-genchanges: .dsc, .debian.tar.xz, _source.changes.")
@click.option("--force", is_flag=True, help="Replace existing outputs of the same names.")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
def generate(sources: tuple[str, ...], outdir: Path, recipe: Path | None, size: str,
             globs: tuple[str, ...],
             prefix: str | None, pad: bool, pad_byte: str, install_dir: str,
             source_name: str | None, package_name: str | None, newversion: str | None,
             distribution: str, urgency: str, maintainer: str | None, messages: tuple[str, ...],
             changelog_from: str | None, date: str | None, origin_source: str | None,
             origin_version: str | None, origin_copyright: str | None, build_source: bool,
             force: bool, as_json: bool) -> None:
    """Generate the ipxe-qemu-256k-compat source package from old ROM sets.

    Writes <source>_<upstream>.orig.tar.xz (the compat ROMs) and the unpacked tree
    <source>-<upstream>/ with debian/, ready for dpkg-buildpackage. A ROM larger than SIZE is
    refused (exit 1), never truncated; nothing is written then.

    SOURCE is PATH.deb, DIR, PATH.rom or apt:NAME[=VERSION] (see ipxe-compat --help).

    \b
    Example:
      apt-get download ipxe-qemu=1.0.0+git-20190125.36a4c85-5.1
      ipxe-compat generate ipxe-qemu_1.0.0+git-20190125.36a4c85-5.1_all.deb -o build/
      cd build/ipxe-qemu-256k-compat-1.0.0+git-20190125.36a4c85 && dpkg-buildpackage -us -uc
    """
    from .package import Request, generate_package, regenerate_package

    origin_copy = _read_file(origin_copyright, "origin copyright")
    if recipe is not None:
        context = click.get_current_context()
        allowed = {"sources", "outdir", "recipe", "build_source", "force", "as_json",
                   "origin_copyright"}
        fixed = [f"--{name.replace('_', '-')}" for name in context.params
                 if name not in allowed
                 and context.get_parameter_source(name) != click.core.ParameterSource.DEFAULT]
        if fixed:
            raise UsageError(f"the recipe fixes every option: drop {', '.join(fixed)}")
        result = regenerate_package(recipe, sources, outdir, force=force,
                                    build_source=build_source, origin_copyright=origin_copy)
        _print_generated(result, as_json)
        return
    if not sources:
        raise UsageError("give at least one SOURCE (or --recipe)")
    request = Request(
        maintainer=maintainer if maintainer is not None else _default_maintainer(),
        date=date if date is not None else _default_date(),
        size=size,
        roms=globs or Request.roms,
        prefix=prefix,
        mode="pad" if pad else "copy",
        pad_byte=pad_byte,
        install_dir=install_dir,
        source_name=source_name,
        package_name=package_name,
        version=newversion,
        distribution=distribution,
        urgency=urgency,
        messages=messages,
        origin_source=origin_source,
        origin_version=origin_version,
        origin_copyright=origin_copy,
        changelog_from=_read_file(changelog_from, "changelog"),
    )
    result = generate_package(request, sources, outdir, force=force, build_source=build_source)
    _print_generated(result, as_json)


def _print_generated(result: GenerateResult, as_json: bool) -> None:
    """What generate wrote, and what to do next."""
    spec = result.spec
    for warning in result.warnings:
        click.echo(f"{PROG}: warning: {warning}", err=True)
    for rom in spec.roms:
        if rom.changes_bucket:
            click.echo(f"{PROG}: warning: {rom.original.name} ({rom.original.size} bytes) is in the "
                       f"{size_label(bucket(rom.original.size))} bucket but {rom.name} is in the "
                       f"{size_label(bucket(rom.size))} bucket: it does not keep the original's "
                       "QEMU ROM size", err=True)
    if as_json:
        _emit_json({
            "source": spec.source,
            "package": spec.package,
            "version": spec.version,
            "built_using": spec.built_using,
            "orig_tarball": str(result.orig_tarball),
            "tree": str(result.tree),
            "built": [str(path) for path in result.built],
            "roms": [
                {"name": r.name, "size": r.size, "sha256": r.sha256, "origin": r.original.name,
                 "origin_size": r.original.size, "origin_sha256": r.original.sha256}
                for r in spec.roms
            ],
        })
        return
    padded = sum(1 for rom in spec.roms if rom.size != rom.original.size)
    click.echo(f"{spec.source} {spec.version} for {spec.distribution}: {len(spec.roms)} ROMs "
               f"({padded} padded to {spec.size_label}, {len(spec.roms) - padded} unchanged), "
               f"Built-Using: {spec.built_using}")
    for rom in spec.roms:
        grown = rom.size - rom.original.size
        how = f"+{grown} bytes of {rom.pad_byte or 0:#04x}" if grown else "unchanged"
        click.echo(f"  {spec.install_dir}/{rom.name}  {rom.size} bytes  "
                   f"(from {rom.original.path}, {rom.original.size} bytes, {how})")
    click.echo(f"wrote {result.orig_tarball}")
    click.echo(f"wrote {result.tree}/")
    for path in result.built:
        click.echo(f"wrote {path}")
    click.echo("next:")
    if result.built:
        click.echo(f"  debsign {result.built[-1]} && dput {result.built[-1]}")
    click.echo(f"  cd {result.tree} && dpkg-buildpackage -us -uc    # with {spec.distribution}'s "
               f"debhelper (compat {spec.target.debhelper_compat}), e.g. in sbuild -d "
               f"{spec.distribution}")
