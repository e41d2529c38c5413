"""``ipxe-compat generate``: the co-installable compat source package, from old ROM sets."""

from __future__ import annotations

import os
import shlex
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..core import compat
from ..core.sizes import parse_size
from ..errors import OutputLeftError, UsageError, shown
from .common import CONTEXT, default_maintainer, emit_json, globs, read_option_file, warn

if TYPE_CHECKING:
    from ..package import GenerateResult

__all__ = ["generate"]

#: The options a recipe fixes: with --recipe only these may be given.
_RECIPE_OPTIONS = frozenset({"sources", "outdir", "recipe", "build_source", "force", "as_json",
                             "origin_copyright"})


#: The default names by core/compat.py's rule, for the help: an ipxe-qemu and an ovmf source.
_IPXE = compat.package_names(compat.label_of(parse_size(compat.DEFAULT_SIZE)))
_OVMF = compat.package_names(compat.label_of(2 << 20), "ovmf")


def _outdir(_ctx: click.Context, _param: click.Parameter, value: str) -> Path:
    """-o '' is no directory (Path('') would be the current one)."""
    if not value.strip():
        raise UsageError("-o names no directory (give -o . for the current one)")
    return Path(value)


def _default_date() -> str:
    """``@$SOURCE_DATE_EPOCH``, else the clock: the one place generate reads the time."""
    epoch = compat.source_date_epoch(os.environ)
    return f"@{int(time.time()) if epoch is None else epoch}"


@click.command(context_settings=CONTEXT,
               short_help="Generate the co-installable compat source package from old ROMs.")
@click.argument("sources", nargs=-1, metavar="SOURCE...")
@click.option("-o", "--output", "outdir", required=True, callback=_outdir, metavar="OUTDIR",
              help="Directory to write into (created if missing).")
@click.option("--recipe", type=click.Path(dir_okay=False, path_type=Path),
              help="Make again the package that this debian/ipxe-compat.recipe describes; SOURCE "
              "must have the recorded sha256 (default: fetch the packages again with apt).")
@click.option(
    "--size",
    default=compat.DEFAULT_SIZE,
    show_default=True,
    metavar="SIZE",
    help="QEMU bucket the compat ROMs must fit: 256k, 512k, 1M, or bytes (a power of two).",
)
@click.option("--roms", "patterns", multiple=True, metavar="GLOB", callback=globs,
              help="Which files to carry, by file name (repeatable).  [default: "
              f"{', '.join(compat.DEFAULT_GLOBS)}; for a set without them (seabios, ovmf), "
              "every -bios and pflash image of at most --size]")
@click.option("--prefix", metavar="TEXT",
              help="Prefix of each installed ROM name; it ends in - (compat-256k-: Ubuntu's "
              "names).  [default: <size>-, e.g. 256k-]")
@click.option("--pad/--copy", default=True, show_default=True,
              help="Pad each ROM to exactly SIZE, or copy it unchanged (it must still fit SIZE).")
@click.option("--pad-byte", default=compat.DEFAULT_PAD_BYTE, show_default=True, metavar="BYTE",
              help="The padding byte, 0..255 in decimal, hex or octal: 0xff, 255, 0o377, 0.")
@click.option("--install-dir", metavar="PATH",
              help="Where the binary package installs the files.  [default: "
              f"{compat.DEFAULT_INSTALL_DIR} (QEMU's firmware path) for option ROMs; -bios and "
              "pflash images in their origin's directory, e.g. /usr/share/OVMF]")
@click.option("--source-name", metavar="NAME",
              help="Source package name.  [default: <origin>-<size>-compat, <origin> the first "
              f".deb SOURCE's package ({compat.DEFAULT_ORIGIN} for DIR and files), e.g. "
              f"{_IPXE[0]}, {_OVMF[0]}]")
@click.option("--package-name", metavar="NAME",
              help=f"Binary package name.  [default: the source name; {_IPXE[1]} for "
              f"{compat.DEFAULT_ORIGIN}, as Ubuntu names it]")
@click.option("--newversion", metavar="VERSION",
              help="Debian version of the new package, with a revision (dch calls it so; "
              "--version is the tool's own).  [default: <origin upstream version>-1 and the "
              "suite's suffix: +deb12u1 for bookworm, ~bpo12+1 for bookworm-backports]")
@click.option("--distribution", default=compat.DEFAULT_DISTRIBUTION, show_default=True,
              metavar="DIST", help="Changelog distribution (suite), e.g. unstable, bookworm, "
              "bookworm-backports; picks the target's lintian, Standards-Version and debhelper.")
@click.option("--urgency", default=compat.DEFAULT_URGENCY, show_default=True, metavar="URGENCY",
              help="Changelog urgency: low, medium, high, emergency or critical.")
@click.option("--maintainer", metavar="'NAME <EMAIL>'",
              help="The package's maintainer.  [default: $DEBFULLNAME <$DEBEMAIL>, or $DEBEMAIL "
              "if it has the form 'Name <email>']")
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
              "/usr/share/doc/ipxe-qemu/copyright; for a .deb, used instead of its own (seabios' "
              "is not DEP-5).")
@click.option(
    "--build-source",
    is_flag=True,
    help="Also run dpkg-source and dpkg-genchanges: .dsc, .debian.tar.xz, _source.changes.",
)
@click.option("--force", is_flag=True, help="Replace existing outputs of the same names.")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
def generate(sources: tuple[str, ...], outdir: Path, recipe: Path | None, size: str,
             patterns: tuple[str, ...], prefix: str | None, pad: bool, pad_byte: str,
             install_dir: str | None, source_name: str | None, package_name: str | None,
             newversion: str | None, distribution: str, urgency: str, maintainer: str | None,
             messages: tuple[str, ...], changelog_from: str | None, date: str | None,
             origin_source: str | None, origin_version: str | None,
             origin_copyright: str | None, build_source: bool, force: bool,
             as_json: bool) -> None:
    """Generate the compat source package (ipxe-qemu-256k-compat, ovmf-2m-compat, ...) from old
    firmware sets.

    Writes <source>_<upstream>.orig.tar.xz (the origin's ROMs, byte for byte) and the unpacked
    tree <source>-<upstream>/ with debian/, ready for dpkg-buildpackage. A ROM larger than SIZE
    is refused (exit 1), never truncated; nothing is written then.

    {sources}

    \b
    Example (on Debian 12: build the package for bookworm, whose debhelper it needs):
      apt-get download ipxe-qemu=1.0.0+git-20190125.36a4c85-5.1
      ipxe-compat generate ipxe-qemu_1.0.0+git-20190125.36a4c85-5.1_all.deb -o build/ \\
          --distribution bookworm
      cd build/ipxe-qemu-256k-compat-1.0.0+git-20190125.36a4c85 && dpkg-buildpackage -us -uc
    """
    from ..package import Request, generate_package, regenerate_package

    origin_copy = read_option_file(origin_copyright, "origin copyright")
    if recipe is not None:
        context = click.get_current_context()
        fixed = [f"--{name.replace('_', '-')}" for name in context.params
                 if name not in _RECIPE_OPTIONS
                 and context.get_parameter_source(name) != click.core.ParameterSource.DEFAULT]
        if fixed:
            raise UsageError(f"the recipe fixes every option: drop {', '.join(fixed)}")
        result = regenerate_package(recipe, sources, outdir, force=force,
                                    build_source=build_source, origin_copyright=origin_copy,
                                    notify=warn)
        _print_generated(result, as_json)
        return
    if not sources:
        raise UsageError("give at least one SOURCE (or --recipe)")
    request = Request(
        maintainer=maintainer if maintainer is not None else default_maintainer(),
        date=date if date is not None else _default_date(),
        size=size,
        roms=patterns or compat.DEFAULT_GLOBS,
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
        changelog_from=read_option_file(changelog_from, "changelog"),
    )
    result = generate_package(request, sources, outdir, force=force, build_source=build_source,
                              notify=warn)
    _print_generated(result, as_json)


def _print_generated(result: GenerateResult, as_json: bool) -> None:
    """What generate wrote, and what to do next; then, if something of the run could not be
    removed, that as the one error line, exit 4 (the output itself is complete)."""
    _print_report(result, as_json)
    if result.left:
        more = f" (and {len(result.left) - 1} more)" if len(result.left) > 1 else ""
        raise OutputLeftError(f"the new output is complete, but what it replaced could not all be "
                              f"removed: {result.left[0]}{more} (remove it by hand; the next "
                              "generate into this directory tries again)",
                              path=str(result.outdir))


def _shell_word(path: str) -> str:
    """A path in a command to copy: quoted for the shell (bash's $'...' if it must be)."""
    return shlex.quote(path) if path.isprintable() else shown(path)


def _print_report(result: GenerateResult, as_json: bool) -> None:
    spec = result.spec
    for warning in result.warnings:
        warn(warning)
    if as_json:
        emit_json({
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
    noun = ("file" if spec.firmware else "ROM") + ("" if len(spec.roms) == 1 else "s")
    click.echo(f"{spec.source} {spec.version} for {spec.distribution}: {len(spec.roms)} {noun} "
               f"({padded} padded to {spec.size_label}, {len(spec.roms) - padded} unchanged), "
               f"Built-Using: {spec.built_using}")
    for rom in spec.roms:
        grown = rom.size - rom.original.size
        how = f"+{grown} bytes of {rom.pad_byte or 0:#04x}" if grown else "unchanged"
        click.echo(f"  {rom.install_dir}/{rom.name}  {rom.size} bytes  "
                   f"(from {rom.original.path}, {rom.original.size} bytes, {how})")
    click.echo(f"wrote {shown(str(result.orig_tarball))}")
    click.echo(f"wrote {shown(str(result.tree))}/")
    for path in result.built:
        click.echo(f"wrote {shown(str(path))}")
    click.echo("next:")
    if result.built:
        changes = _shell_word(str(result.built[-1]))
        click.echo(f"  debsign {changes} && dput {changes}")
    tree = _shell_word(str(result.tree))
    click.echo(f"  cd {tree} && dpkg-buildpackage -us -uc    # with {spec.distribution}'s "
               f"debhelper (compat {spec.target.debhelper_compat}), e.g. in sbuild -d "
               f"{spec.distribution}")
