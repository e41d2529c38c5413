"""``generate``: old ROM sets in, a co-installable compat source package out.

One way: a request (options or a recipe) -> :func:`~.spec.specify` validates it, reads the inputs
and derives the specification -> the output names, the orig tarball and the context are derived
from it -> rendering (context -> files) -> written into a staging directory (optionally
dpkg-source) -> moved into OUTDIR. Nothing is created on disk before the specification exists.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .. import __version__
from ..core.compat import MAX_OPTION_FILE, MAX_RECIPE
from ..core.sizes import bucket, size_label
from ..errors import OutputExistsError, SourceError, UsageError
from ..input import RomSet, read_sources, read_text_file
from .changelog import parse_changelog
from .naming import Layout
from .output import Entry, check_outdir, orig_tarball, publish, write_file, write_tree
from .recipe import InputRecord, parse_recipe
from .spec import InputFile, PackageSpec, Request, specify

__all__ = ["GenerateResult", "generate_package", "regenerate_package", "write_package"]


@dataclass(frozen=True)
class GenerateResult:
    """What was written, for the caller to report."""

    outdir: Path
    spec: PackageSpec
    orig_tarball: Path
    tree: Path
    built: tuple[Path, ...]
    warnings: tuple[str, ...] = ()
    #: what of the run could not be removed from OUTDIR (``path: why``): the output is complete,
    #: but the command exits 4
    left: tuple[str, ...] = ()


def _quiet(_message: str) -> None:
    """The default ``notify``: a library caller that does not listen hears nothing."""


def generate_package(request: Request, sources: Sequence[str], outdir: Path, *,
                     force: bool = False, build_source: bool = False,
                     notify: Callable[[str], None] = _quiet) -> GenerateResult:
    """Generate the compat source package that ``request`` asks for from ``sources``."""
    spec = specify(request, lambda: read_sources(sources))
    return write_package(spec, outdir, force=force, build_source=build_source, notify=notify)


def write_package(spec: PackageSpec, outdir: Path, *, force: bool = False,
                  build_source: bool = False,
                  notify: Callable[[str], None] = _quiet) -> GenerateResult:
    """Write the package ``spec`` describes into ``outdir``: all of it, or nothing, whatever
    interrupts it (see :mod:`.output`). ``notify`` hears, as it happens, that the run waits for
    another one writing there, and what it did with what an interrupted run left."""
    layout = Layout.of(spec.source, spec.version, spec.upstream_version)
    check_outdir(outdir, layout.names(build_source), force)
    earlier = _earlier_build(outdir, layout, spec.package, build_source)
    # the upstream part: every ROM of the inputs as the origin ships it (path, bytes, mtime);
    # debian/rules makes the compat ROMs at build time, so no option reaches the orig tarball
    rom_entries = [Entry(rom.path, rom.data, 0o644, rom.mtime) for rom in spec.pristine]
    # xz dominates the run and releases the GIL: compress (single-threaded, so the bytes are
    # stable) while jinja2 loads and debian/ is rendered
    with ThreadPoolExecutor(max_workers=1) as pool:
        compressing = pool.submit(orig_tarball, spec.orig_top, rom_entries)
        from .context import context_of
        from .render import render_debian

        debian = render_debian(context_of(spec))
    debian_entries = [Entry(path, f.data, f.mode, spec.epoch) for path, f in debian.items()]
    tarball = compressing.result()  # the one xz compression, started before rendering
    with publish(outdir, layout.names(build_source), force, notify) as (stage, report):
        write_file(stage / layout.orig_tarball, tarball, 0o644,
                   max(entry.mtime for entry in rom_entries))
        write_tree(stage / layout.tree, rom_entries + debian_entries, spec.epoch)
        if build_source:
            from .build import build_source_package

            build_source_package(stage, layout.tree, layout.changes, spec.epoch,
                                 tmpdir=stage.parent / "tmp")
    return GenerateResult(
        outdir=outdir,
        spec=spec,
        orig_tarball=outdir / layout.orig_tarball,
        tree=outdir / layout.tree,
        built=tuple(outdir / name for name in (layout.built if build_source else [])),
        warnings=bucket_warnings(spec) + earlier,
        left=tuple(report.left),
    )


def _earlier_build(outdir: Path, layout: Layout, package: str,
                   build_source: bool) -> tuple[str, ...]:
    """What an earlier build of this version left in OUTDIR that the new tree would not match.
    Its source package (.dsc, .debian.tar.xz, _source.changes: what an upload sends) is refused
    unless --build-source replaces it; dpkg-buildpackage's binary outputs, which its next run
    makes again, are named in a warning."""
    if not outdir.is_dir():
        return ()
    stale = [name for name in layout.built if os.path.lexists(outdir / name)]
    if stale and not build_source:
        raise OutputExistsError(f"{', '.join(stale)} from an earlier --build-source run would not "
                                "match the new tree: give --build-source to replace them too, or "
                                "remove them", path=str(outdir))
    binary = sorted({path.name for pattern in layout.binary_globs(package)
                     for path in outdir.glob(pattern) if path.name != layout.changes})
    if not binary:
        return ()
    return (f"{outdir}: {', '.join(binary)} from an earlier build of this version do not match "
            "the new tree: build it again (dpkg-buildpackage replaces them) before using them",)


def bucket_warnings(spec: PackageSpec) -> tuple[str, ...]:
    """A compat ROM padded into a bigger bucket than its original's keeps no guest's block size:
    said, not refused (the user asked for that size)."""
    return tuple(
        f"{rom.original.name} ({rom.original.size} bytes) is in the "
        f"{size_label(bucket(rom.original.size))} bucket but {rom.name} is in the "
        f"{size_label(bucket(rom.size))} bucket: it does not keep the original's QEMU ROM size"
        for rom in spec.roms if rom.changes_bucket)


def regenerate_package(recipe_path: Path, sources: Sequence[str], outdir: Path, *,
                       force: bool = False, build_source: bool = False,
                       origin_copyright: InputFile | None = None,
                       notify: Callable[[str], None] = _quiet) -> GenerateResult:
    """Make again the package a recipe describes, from inputs whose sha256 must match.

    Without ``sources``, package inputs are fetched again as ``apt:PACKAGE=VERSION``. A recipe
    of a continued changelog takes the older entries from the changelog beside it. The recipe's
    values are validated as the command line's are; an invalid one names the recipe.
    """
    where = str(recipe_path)
    text = read_text_file(where, MAX_RECIPE, "a recipe")
    wanted = parse_recipe(text, where)
    if not sources:
        missing = [r.name for r in wanted.inputs if r.refetch_spec is None]
        if missing:
            raise SourceError(f"give the sources: {', '.join(missing)} cannot be fetched again",
                              path=where)
        sources = [r.refetch_spec for r in wanted.inputs if r.refetch_spec]
    if wanted.origin_copyright_sha256 and (
            origin_copyright is None or origin_copyright.sha256 != wanted.origin_copyright_sha256):
        raise SourceError("give --origin-copyright with the file the recipe was made with "
                          f"(sha256 {wanted.origin_copyright_sha256})", path=where)
    request = dataclasses.replace(
        wanted.request, origin_copyright=origin_copyright,
        changelog_from=_previous_changelog(recipe_path) if wanted.continued else None)

    def inputs() -> RomSet:
        romset = read_sources(sources)
        _check_inputs(wanted.inputs, romset, where)
        return romset

    try:
        spec = specify(request, inputs)
    except UsageError as error:  # a value the recipe holds
        if error.path is not None:
            raise
        raise UsageError(error.message, path=where) from error
    result = write_package(spec, outdir, force=force, build_source=build_source, notify=notify)
    if wanted.tool_version != __version__:
        note = (f"the recipe was made by ipxe-compat {wanted.tool_version}, this is {__version__}: "
                "debian/ may differ (the orig tarball does not)")
        result = dataclasses.replace(result, warnings=(*result.warnings, note))
    return result


def _check_inputs(records: Sequence[InputRecord], romset: RomSet, path: str) -> None:
    if len(romset.origins) != len(records):
        raise SourceError(f"the recipe has {len(records)} inputs, {len(romset.origins)} "
                          "were given", path=path)
    for record, origin in zip(records, romset.origins, strict=True):
        if origin.sha256 != record.sha256:
            raise SourceError(f"sha256 {origin.sha256} is not the recipe's {record.sha256} for "
                              f"{record.name}: not the same input", path=origin.spec)


def _previous_changelog(recipe_path: Path) -> InputFile:
    """The changelog beside the recipe without its newest entry (the one the recipe made)."""
    path = recipe_path.parent / "changelog"
    if not path.exists():
        raise SourceError("the recipe continues a changelog: keep debian/changelog beside it",
                          path=str(path))
    text = read_text_file(str(path), MAX_OPTION_FILE, "a changelog")
    _newest, *older = parse_changelog(text, str(path))
    if not older:
        raise SourceError("the recipe continues a changelog, but it has one entry", path=str(path))
    return InputFile(str(path), "".join(str(block) for block in older))
