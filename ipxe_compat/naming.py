"""What the package is called and which version it gets: light, so ``generate`` can name its
outputs (and start the xz compression of the orig tarball) before the heavy modules load. Pure.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from . import fields
from .errors import UsageError
from .plan import PlanOptions
from .sizes import size_label
from .sources import Origin

DEFAULT_INSTALL_DIR = "/usr/share/qemu"


@dataclass(frozen=True)
class OriginCopyright:
    """An origin copyright file: which package it belongs to and its text."""

    label: str  # e.g. "ipxe-qemu 1.0.0+git-20190125.36a4c85-5.1"
    text: str
    path: str  # where it came from, for error messages

    @property
    def sha256(self) -> str:
        """Recorded in the recipe: regeneration must be given the very same file."""
        return hashlib.sha256(self.text.encode()).hexdigest()


@dataclass(frozen=True)
class PackageOptions:
    """The user's choices for the Debian package; None means 'derive the default'."""

    maintainer: str
    epoch: int  # the changelog date, seconds since the epoch
    source_name: str | None = None
    package_name: str | None = None
    version: str | None = None
    distribution: str = "unstable"
    urgency: str = "medium"
    install_dir: str = DEFAULT_INSTALL_DIR
    origin_source: str | None = None  # for sources that are not .deb
    origin_version: str | None = None
    origin_copyright: OriginCopyright | None = None
    messages: tuple[str, ...] = ()


@dataclass(frozen=True)
class Identity:
    """Source and binary package names and the Debian version, validated."""

    source: str
    package: str
    version: str
    upstream_version: str

    @property
    def plain_version(self) -> str:
        """The version as file names carry it: without an epoch."""
        return self.version.split(":", 1)[-1]


def package_identity(origins: Sequence[Origin], plan_options: PlanOptions,
                     options: PackageOptions) -> Identity:
    """Names default from the bucket (``ipxe-qemu-256k-compat``), the version from the origin's
    upstream version with revision 1."""
    label = size_label(plan_options.size)
    version = fields.version(options.version or _default_version(origins, options))
    return Identity(
        source=fields.package_name(options.source_name or f"ipxe-qemu-{label}-compat",
                                   "source name"),
        package=fields.package_name(options.package_name or f"ipxe-qemu-{label}-compat-efi-roms",
                                    "package name"),
        version=str(version),
        upstream_version=version.upstream_version or "",
    )


def built_from(origin: Origin, options: PackageOptions) -> tuple[str, str]:
    """The source package and version a ROM set was built from: a .deb says so itself, other
    sources need --origin-source and --origin-version (for Built-Using and the version)."""
    if origin.source_package and origin.source_version:
        name, version = origin.source_package, origin.source_version
    elif options.origin_source and options.origin_version:
        name, version = options.origin_source, options.origin_version
    else:
        raise UsageError(
            f"{origin.spec} is not a package: give --origin-source and --origin-version "
            "(the ipxe source package the ROMs were built from, for Built-Using)"
        )
    fields.package_name(name, "origin source")
    fields.any_version(version, "origin version")
    return name, version


def orig_top(origins: Sequence[Origin], options: PackageOptions, upstream_version: str) -> str:
    """The orig tarball's top directory, named after what it holds (``ipxe-1.0.0+git-...``):
    the origin's source and upstream version, not this package's name, which --size changes."""
    return f"{built_from(origins[0], options)[0]}-{upstream_version}"


def _default_version(origins: Sequence[Origin], options: PackageOptions) -> str:
    versions = {built_from(origin, options)[1] for origin in origins}
    upstreams = {fields.any_version(v).upstream_version for v in versions}
    if len(upstreams) != 1:
        raise UsageError("the ROMs come from several upstream versions: give --newversion")
    return f"{upstreams.pop()}-1"
