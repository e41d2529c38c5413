"""``generate``: old ROM sets in, a co-installable compat source package out.

The stages are pure until :func:`generate` writes: read sources -> plan -> context -> render ->
(write the orig tarball and the tree into a staging directory -> optionally dpkg-source) -> move
into OUTDIR.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .build import build_source_package
from .context import PackageContext, PackageOptions, build_context
from .output import Entry, orig_tarball, prepare_outdir, staging, write_file, write_tree
from .plan import CompatRom, PlanOptions, make_plan
from .render import render_debian
from .sources import read_sources


@dataclass(frozen=True)
class GenerateResult:
    """What was written, for the caller to report."""

    outdir: Path
    context: PackageContext
    roms: tuple[CompatRom, ...]
    orig_tarball: Path
    tree: Path
    built: tuple[Path, ...]


@dataclass(frozen=True)
class Layout:
    """Names of the outputs, from the source name and version (cli.md, "generate")."""

    orig_tarball: str
    tree: str
    dsc: str
    debian_tarball: str
    changes: str

    @classmethod
    def of(cls, ctx: PackageContext) -> Layout:
        plain = ctx.version.split(":", 1)[-1]  # file names carry no epoch
        return cls(
            orig_tarball=f"{ctx.source}_{ctx.upstream_version}.orig.tar.xz",
            tree=f"{ctx.source}-{ctx.upstream_version}",
            dsc=f"{ctx.source}_{plain}.dsc",
            debian_tarball=f"{ctx.source}_{plain}.debian.tar.xz",
            changes=f"{ctx.source}_{plain}_source.changes",
        )

    def names(self, build_source: bool) -> list[str]:
        built = [self.dsc, self.debian_tarball, self.changes] if build_source else []
        return [self.orig_tarball, self.tree, *built]


def generate(sources: Sequence[str], outdir: Path, plan_options: PlanOptions,
             options: PackageOptions, *, force: bool = False, build_source: bool = False,
             previous_changelog: str | None = None) -> GenerateResult:
    """Generate the compat source package from ``sources`` into ``outdir``."""
    romset = read_sources(sources)
    roms = make_plan(romset, plan_options)
    ctx = build_context(roms, romset, plan_options, options)
    debian = render_debian(ctx, previous_changelog)
    layout = Layout.of(ctx)
    prepare_outdir(outdir, layout.names(build_source), force)

    rom_entries = [Entry(rom.name, rom.data, 0o644, rom.original.mtime) for rom in roms]
    debian_entries = [Entry(path, f.data, f.mode, ctx.epoch) for path, f in debian.items()]
    tarball = orig_tarball(layout.tree, rom_entries)
    with staging(outdir, force) as stage:
        write_file(stage / layout.orig_tarball, tarball, 0o644,
                   max(entry.mtime for entry in rom_entries))
        write_tree(stage / layout.tree, rom_entries + debian_entries, ctx.epoch)
        if build_source:
            build_source_package(stage, layout.tree, layout.changes, ctx.epoch)
    built = [layout.dsc, layout.debian_tarball, layout.changes] if build_source else []
    return GenerateResult(
        outdir=outdir,
        context=ctx,
        roms=roms,
        orig_tarball=outdir / layout.orig_tarball,
        tree=outdir / layout.tree,
        built=tuple(outdir / name for name in built),
    )
