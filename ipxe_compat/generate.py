"""``generate``: old ROM sets in, a co-installable compat source package out.

The stages are pure until :func:`generate` writes: read sources -> plan -> context -> render ->
(write the orig tarball and the tree into a staging directory -> optionally dpkg-source) -> move
into OUTDIR.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__
from .errors import SourceError, UsageError
from .naming import Identity, OriginCopyright, PackageOptions, orig_top, package_identity
from .output import Entry, orig_tarball, prepare_outdir, staging, write_file, write_tree
from .plan import CompatRom, PlanOptions, make_plan, used_origins
from .sources import RomSet, read_sources

if TYPE_CHECKING:
    from .context import PackageContext
    from .recipe import Recipe


@dataclass(frozen=True)
class GenerateResult:
    """What was written, for the caller to report."""

    outdir: Path
    context: PackageContext
    roms: tuple[CompatRom, ...]
    orig_tarball: Path
    tree: Path
    built: tuple[Path, ...]
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Layout:
    """Names of the outputs, from the source name and version (cli.md, "generate")."""

    orig_tarball: str
    tree: str
    dsc: str
    debian_tarball: str
    changes: str

    @classmethod
    def of(cls, ident: Identity) -> Layout:
        source, plain = ident.source, ident.plain_version
        return cls(
            orig_tarball=f"{source}_{ident.upstream_version}.orig.tar.xz",
            tree=f"{source}-{ident.upstream_version}",
            dsc=f"{source}_{plain}.dsc",
            debian_tarball=f"{source}_{plain}.debian.tar.xz",
            changes=f"{source}_{plain}_source.changes",
        )

    @property
    def built(self) -> list[str]:
        """What --build-source adds: dpkg-source's and dpkg-genchanges's outputs."""
        return [self.dsc, self.debian_tarball, self.changes]

    def names(self, build_source: bool) -> list[str]:
        return [self.orig_tarball, self.tree, *(self.built if build_source else [])]


def generate(sources: Sequence[str], outdir: Path, plan_options: PlanOptions,
             options: PackageOptions, *, force: bool = False, build_source: bool = False,
             previous_changelog: str | None = None, romset: RomSet | None = None) -> GenerateResult:
    """Generate the compat source package from ``sources`` into ``outdir``."""
    romset = romset or read_sources(sources)
    roms = make_plan(romset, plan_options)
    identity = package_identity(used_origins(roms), plan_options, options)
    layout = Layout.of(identity)
    prepare_outdir(outdir, layout.names(build_source), force)
    rom_entries = pristine_entries(romset)
    top = orig_top(romset.origins, options, identity.upstream_version)
    # xz dominates the run and releases the GIL: compress (single-threaded, so the bytes are
    # stable) while the heavy modules load and debian/ is rendered
    with ThreadPoolExecutor(max_workers=1) as pool:
        compressing = pool.submit(orig_tarball, top, rom_entries)
        from .context import build_context
        from .render import render_debian

        ctx = build_context(roms, romset, plan_options, options)
        debian = render_debian(ctx, previous_changelog)
    debian_entries = [Entry(path, f.data, f.mode, ctx.epoch) for path, f in debian.items()]
    tarball = compressing.result()  # the one xz compression, started before rendering
    with staging(outdir, force) as stage:
        write_file(stage / layout.orig_tarball, tarball, 0o644,
                   max(entry.mtime for entry in rom_entries))
        write_tree(stage / layout.tree, rom_entries + debian_entries, ctx.epoch)
        if build_source:
            from .build import build_source_package

            build_source_package(stage, layout.tree, layout.changes, ctx.epoch)
    built = layout.built if build_source else []
    return GenerateResult(
        outdir=outdir,
        context=ctx,
        roms=roms,
        orig_tarball=outdir / layout.orig_tarball,
        tree=outdir / layout.tree,
        built=tuple(outdir / name for name in built),
    )


def pristine_entries(romset: RomSet) -> list[Entry]:
    """The upstream part of the source: every ROM of every source, byte for byte, at its path in
    the origin package (``usr/lib/ipxe/qemu/efi-virtio.rom``; a directory's or a file's ROMs by
    name) with the origin's mtime. Nothing here depends on an option, so a change of --roms,
    --size, --prefix, --pad-byte or --copy, or a later revision, keeps the very orig tarball."""
    return [Entry(rom.path, rom.data, 0o644, rom.mtime) for rom in romset.roms]


def regenerate(recipe_path: Path, sources: Sequence[str], outdir: Path, *, force: bool = False,
               build_source: bool = False,
               origin_copyright: OriginCopyright | None = None) -> GenerateResult:
    """Make again the package a recipe describes, from inputs whose sha256 must match.

    Without ``sources``, package inputs are fetched again as ``apt:PACKAGE=VERSION``. A recipe
    of a continued changelog takes the older entries from the changelog beside it.
    """
    from . import recipe

    try:
        text = recipe_path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"cannot read recipe: {error}", path=str(recipe_path)) from error
    wanted = recipe.parse(text, str(recipe_path))
    if not sources:
        missing = [r.name for r in wanted.inputs if r.refetch_spec is None]
        if missing:
            raise UsageError(f"give the sources: {', '.join(missing)} cannot be fetched again",
                             path=str(recipe_path))
        sources = [r.refetch_spec for r in wanted.inputs if r.refetch_spec]
    romset = read_sources(sources)
    _check_inputs(wanted, romset, str(recipe_path))
    if wanted.origin_copyright_sha256 and (
            origin_copyright is None
            or origin_copyright.sha256 != wanted.origin_copyright_sha256):
        raise SourceError("give --origin-copyright with the file the recipe was made with "
                          f"(sha256 {wanted.origin_copyright_sha256})", path=str(recipe_path))
    previous = _previous_changelog(recipe_path) if wanted.continued else None
    plan_options = PlanOptions(size=wanted.size, prefix=wanted.prefix, pad=wanted.pad,
                               pad_byte=wanted.pad_byte, globs=wanted.globs)
    options = PackageOptions(
        maintainer=wanted.maintainer, epoch=wanted.epoch, source_name=wanted.source_name,
        package_name=wanted.package_name, version=wanted.version,
        distribution=wanted.distribution, urgency=wanted.urgency,
        install_dir=wanted.install_dir, origin_source=wanted.origin_source,
        origin_version=wanted.origin_version, origin_copyright=origin_copyright,
        messages=wanted.changes,
    )
    result = generate(sources, outdir, plan_options, options, force=force,
                      build_source=build_source, previous_changelog=previous, romset=romset)
    if wanted.tool_version != __version__:
        note = (f"the recipe was made by ipxe-compat {wanted.tool_version}, this is {__version__}: "
                "debian/ may differ (the orig tarball does not)")
        result = dataclasses.replace(result, warnings=(note,))
    return result


def _check_inputs(wanted: Recipe, romset: RomSet, path: str) -> None:
    if len(romset.origins) != len(wanted.inputs):
        raise SourceError(f"the recipe has {len(wanted.inputs)} inputs, {len(romset.origins)} "
                          "were given", path=path)
    for record, origin in zip(wanted.inputs, romset.origins):
        if origin.sha256 != record.sha256:
            raise SourceError(f"sha256 {origin.sha256} is not the recipe's {record.sha256} for "
                              f"{record.name}: not the same input", path=origin.spec)


def _previous_changelog(recipe_path: Path) -> str:
    """The changelog beside the recipe without its newest entry (the one the recipe made)."""
    from debian.changelog import Changelog

    path = recipe_path.parent / "changelog"
    try:
        blocks = list(Changelog(path.read_text("utf-8")))
    except OSError as error:
        raise UsageError("the recipe continues a changelog: keep debian/changelog beside it",
                         path=str(path)) from error
    if len(blocks) < 2:
        raise UsageError("the recipe continues a changelog, but it has one entry", path=str(path))
    return "".join(str(block) for block in blocks[1:])
