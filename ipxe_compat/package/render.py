"""Render the debian/ directory from a PackageContext: a pure function context -> files.

Jinja2 templates live in ``templates/`` (strict: an unknown variable is an error, not an empty
string) and see the specification as ``spec`` and the derived context as ``ctx``; files in
``debian-skel/`` are copied verbatim; the changelog, debian/copyright and the recipe are written
with python-debian. Templates and skeleton are package data, found through importlib.resources,
so rendering never depends on the working directory. ``PACKAGE`` in a template's file name stands
for the binary package name. Two of them writing the same path is a bug, refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable

import jinja2

from . import recipe
from .changelog import render_changelog
from .context import PackageContext
from .copyright import render as render_copyright

__all__ = ["EXECUTABLE", "OutputFile", "render_debian"]

TEMPLATE_SUFFIX = ".j2"
#: Files that must be executable in the tree; everything else is 0644.
EXECUTABLE = frozenset({"debian/rules"})


@dataclass(frozen=True)
class OutputFile:
    data: bytes
    mode: int


def render_debian(ctx: PackageContext, templates: Traversable | None = None,
                  skeleton: Traversable | None = None) -> dict[str, OutputFile]:
    """Every file of debian/ (and only debian/), keyed by path relative to the source tree.

    ``templates`` and ``skeleton`` default to the package's own; a path written twice raises.
    """
    spec = ctx.spec
    out: dict[str, bytes] = {}
    made_by: dict[str, str] = {}

    def put(path: str, data: bytes | None, maker: str) -> None:
        """Write ``path`` (None: claim it, write nothing); a path claimed twice is a bug."""
        if path in made_by:
            raise RuntimeError(f"{made_by[path]} and {maker} both write {path}")
        made_by[path] = maker
        if data is not None:
            out[path] = data

    for path, entry in _walk(skeleton or files("ipxe_compat.debian_skel")).items():
        put(path, entry.read_bytes(), f"debian-skel/{path}")
    env = _environment(templates or files("ipxe_compat.templates"))
    for name in sorted(env.list_templates()):
        text = env.get_template(name).render(spec=spec, ctx=ctx)
        target = name.removesuffix(TEMPLATE_SUFFIX).replace("PACKAGE", spec.package)
        # a template may render to nothing: then there is no such file
        put(target, text.encode("utf-8") if text.strip() else None, f"templates/{name}")
    put("debian/changelog", render_changelog(
        source=spec.source, version=spec.version, distribution=spec.distribution,
        urgency=spec.urgency, maintainer=spec.maintainer, date=ctx.date, changes=spec.changes,
        previous=spec.previous_changelog).encode("utf-8"), "the changelog")
    put(recipe.PATH, recipe.render(spec).encode("utf-8"), "the recipe")
    put("debian/copyright", render_copyright(
        spec.copyright, ctx.pristine_globs, spec.origin_labels,
        f"{ctx.year} {spec.maintainer}").encode("utf-8"), "debian/copyright")
    return {
        path: OutputFile(data, 0o755 if path in EXECUTABLE else 0o644)
        for path, data in sorted(out.items())
    }


def _walk(root: Traversable, prefix: str = "") -> dict[str, Traversable]:
    """Every file below ``root`` by relative path (no __init__ or caches)."""
    found: dict[str, Traversable] = {}
    for entry in root.iterdir():
        rel = f"{prefix}{entry.name}"
        if entry.is_dir():
            if entry.name != "__pycache__":
                found.update(_walk(entry, rel + "/"))
        elif entry.name != "__init__.py":
            found[rel] = entry
    return found


def _environment(root: Traversable) -> jinja2.Environment:
    templates = {path: entry.read_text("utf-8") for path, entry in _walk(root).items()}
    return jinja2.Environment(
        loader=jinja2.DictLoader(templates),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
        trim_blocks=False,
    )
