"""Render the debian/ directory from a PackageContext: a pure mapping path -> file.

Jinja2 templates live in ``templates/`` (strict: an unknown variable is an error, not an empty
string) and are rendered with the context; files in ``debian-skel/`` are copied verbatim. Both are
package data, found through importlib.resources, so rendering never depends on the working
directory. ``PACKAGE`` in a template's file name stands for the binary package name.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable

import jinja2

from . import recipe
from .changelog import render_changelog
from .context import PackageContext
from .copyright import render as render_copyright

TEMPLATE_SUFFIX = ".j2"
#: Files that must be executable in the tree; everything else is 0644.
EXECUTABLE = frozenset({"debian/rules"})


@dataclass(frozen=True)
class OutputFile:
    data: bytes
    mode: int


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


def _environment() -> jinja2.Environment:
    root = files("ipxe_compat.templates")
    templates = {path: entry.read_text("utf-8") for path, entry in _walk(root).items()}
    return jinja2.Environment(
        loader=jinja2.DictLoader(templates),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
        trim_blocks=False,
    )


def render_debian(ctx: PackageContext, previous_changelog: str | None = None) -> dict[str, OutputFile]:
    """Every file of debian/ (and only debian/), keyed by path relative to the source tree."""
    out: dict[str, bytes] = {}
    for path, entry in _walk(files("ipxe_compat.debian_skel")).items():
        out[path] = entry.read_bytes()
    changelog = render_changelog(ctx, previous_changelog)
    # lintian wants a first upload to close a bug (an ITP); a derived compat package has none
    initial_upload_without_bugs = previous_changelog is None and "closes:" not in changelog.lower()
    env = _environment()
    for name in sorted(env.list_templates()):
        target = name.removesuffix(TEMPLATE_SUFFIX).replace("PACKAGE", ctx.package)
        text = env.get_template(name).render(
            ctx=ctx, initial_upload_without_bugs=initial_upload_without_bugs
        )
        if text.strip():  # a template may render to nothing: then there is no such file
            out[target] = text.encode("utf-8")
    out["debian/changelog"] = changelog.encode("utf-8")
    continued = dataclasses.replace(ctx.recipe, continued=previous_changelog is not None)
    out[recipe.PATH] = recipe.render(continued).encode("utf-8")
    out["debian/copyright"] = render_copyright(
        ctx.copyright, ctx.pristine_globs, ctx.origin_labels, _debian_holder(ctx)
    ).encode("utf-8")
    return {
        path: OutputFile(data, 0o755 if path in EXECUTABLE else 0o644)
        for path, data in sorted(out.items())
    }


def _debian_holder(ctx: PackageContext) -> str:
    year = ctx.date.split()[3]  # RFC 2822: "Wed, 25 Nov 2026 19:51:44 +0000"
    return f"{year} {ctx.maintainer}"
