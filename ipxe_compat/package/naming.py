"""What the package and its outputs are called, and which version it gets. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..core import compat, fields
from ..errors import UsageError, shown
from ..input import Origin
from .targets import revision_suffix

__all__ = ["Layout", "built_from", "check_buildable", "default_version", "package_names"]

#: The longest file name Linux file systems take (NAME_MAX), in bytes.
NAME_MAX = 255
#: The longest path (PATH_MAX, with its NUL), less room for where the package is built
#: (sbuild's /build/reproducible-path/..., a home directory).
PATH_BUDGET = 4096 - 1024
#: The longest Debian architecture name in a .buildinfo or .changes name (hurd-amd64; kfreebsd's
#: were longer): dpkg-buildpackage writes <source>_<version>_<arch>.buildinfo.
_ARCH_ROOM = "x" * 16
#: What debhelper and dpkg-buildpackage add to the binary package's name in debian/.
_PACKAGE_FILES = ("{p}.install", "{p}.docs", "{p}.lintian-overrides", "{p}.substvars",
                  "{p}.debhelper.log")


def package_names(label: str, source: str | None, package: str | None,
                  origin: str = compat.DEFAULT_ORIGIN) -> tuple[str, str]:
    """Source and binary package names, as given or by the contract's rule from the bucket and
    the origin package (:func:`~ipxe_compat.core.compat.package_names`:
    ``ipxe-qemu-256k-compat``, ``ovmf-2m-compat``)."""
    default_source, default_package = compat.package_names(label, origin)
    return (fields.package_name(source or default_source, "source name"),
            fields.package_name(package or default_package, "package name"))


def built_from(origin: Origin, origin_source: str | None,
               origin_version: str | None) -> tuple[str, str]:
    """The source package and version a ROM set was built from: a .deb says so itself, other
    sources need --origin-source and --origin-version (for Built-Using and the version)."""
    if origin.source_package and origin.source_version:
        return origin.source_package, origin.source_version
    if origin_source and origin_version:
        return origin_source, origin_version
    raise UsageError(
        f"{shown(origin.spec)} is not a package: give --origin-source and --origin-version "
        "(the ipxe source package the ROMs were built from, for Built-Using)"
    )


def check_buildable(source: str, package: str, version: str, upstream: str, install_dir: str,
                    rom_names: Sequence[str]) -> None:
    """Refuse (exit 2) names that generate could write but the build could not: every file name
    that generate, dpkg-source and dpkg-buildpackage make must fit NAME_MAX, and the installed
    ROM's path the path budget. Checked before anything is written."""
    plain = version.split(":", 1)[-1]
    layout = Layout.of(source, version, upstream)
    made = {
        **dict.fromkeys([layout.orig_tarball, layout.tree, *layout.built], "an output"),
        f"{package}_{plain}_all.deb": "the binary package",
        f"{source}_{plain}_{_ARCH_ROOM}.buildinfo": "dpkg-buildpackage's .buildinfo",
        **{form.format(p=package): "a debian/ file" for form in _PACKAGE_FILES},
        **dict.fromkeys(install_dir.strip("/").split("/"), "a part of --install-dir"),
        **dict.fromkeys(rom_names, "a compat ROM (--prefix and the ROM's name)"),
    }
    for name, what in made.items():
        length = len(name.encode())
        if length > NAME_MAX:
            raise UsageError(f"{what} would be named {fields.excerpt(name)}: {length} bytes, more "
                             f"than a file name may have ({NAME_MAX}); the package could not be "
                             "built: shorten it")
    for name in rom_names:
        path = f"{layout.tree}/debian/{package}{install_dir}/{name}"
        if len(path.encode()) > PATH_BUDGET:
            raise UsageError(f"the installed ROM {fields.excerpt(name)} would be built at a path "
                             f"of {len(path.encode())} bytes (at most {PATH_BUDGET}): shorten "
                             "--install-dir, --package-name or --source-name")


def default_version(built: Sequence[tuple[str, str]], distribution: str) -> str:
    """The origin's upstream version with revision 1 and the suffix of the suite it goes to
    (:func:`.targets.revision_suffix`): ``1.0.0+git-20190125.36a4c85-1`` for unstable,
    ``...-1+deb12u1`` for bookworm."""
    upstreams = {fields.any_version(version).upstream_version for _, version in built}
    if len(upstreams) != 1:
        raise UsageError("the ROMs come from several upstream versions: give --newversion")
    upstream = upstreams.pop() or ""
    if ":" in upstream:
        raise UsageError(f"the origin's upstream version {upstream!r} holds a colon, which the "
                         "compat package's version and file names cannot carry: give --newversion")
    return f"{upstream}-1{revision_suffix(distribution)}"


@dataclass(frozen=True)
class Layout:
    """Names of the outputs, from the source name and version (docs/cli.md, "generate")."""

    orig_tarball: str
    tree: str
    dsc: str
    debian_tarball: str
    changes: str
    #: the version as file names carry it (no epoch)
    plain_version: str

    @classmethod
    def of(cls, source: str, version: str, upstream_version: str) -> Layout:
        plain = version.split(":", 1)[-1]  # file names carry no epoch
        return cls(
            orig_tarball=f"{source}_{upstream_version}.orig.tar.xz",
            tree=f"{source}-{upstream_version}",
            dsc=f"{source}_{plain}.dsc",
            debian_tarball=f"{source}_{plain}.debian.tar.xz",
            changes=f"{source}_{plain}_source.changes",
            plain_version=plain,
        )

    @property
    def built(self) -> list[str]:
        """What --build-source adds: dpkg-source's and dpkg-genchanges's outputs."""
        return [self.dsc, self.debian_tarball, self.changes]

    def names(self, build_source: bool) -> list[str]:
        return [self.orig_tarball, self.tree, *(self.built if build_source else [])]

    def binary_globs(self, package: str) -> list[str]:
        """What dpkg-buildpackage makes of this version beside the tree: the .deb, the
        .buildinfo and the .changes of a binary build."""
        stem = self.dsc.removesuffix(".dsc")  # SOURCE_VERSION
        return [f"{package}_{self.plain_version}_*.deb", f"{stem}_*.buildinfo",
                f"{stem}_*.changes"]
