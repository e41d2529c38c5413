"""Firmware set sources: a ``.deb``, a directory, a host's root, single files,
``apt:NAME[=VERSION]`` (docs/cli.md, "ROM set sources" and "Every firmware QEMU migrates").

A source yields :class:`RomFile` objects named by file name (``efi-virtio.rom``, ``OVMF.fd``),
which is a file's identity across sets, each tagged with the :class:`Origin` it came from so the
generated package can name it (Built-Using, the manifest, debian/copyright). Only files QEMU
loads into a guest are read: those :func:`~ipxe_compat.core.firmware.classify` gives a class
(option ROMs, -bios images, pflash images, fw_cfg ROMs); descriptors, keys and other
architectures' images are left alone. An ``apt:`` source is resolved to a verified .deb by
:mod:`.apt` first, then read as any .deb. A directory holding no firmware itself but QEMU's
firmware directories below it (``/``, a chroot, packages unpacked into one tree) is read as a
host: each name from the first directory of QEMU's search order that has it, as QEMU finds it.
A source tree that ``generate`` wrote is neither: its ``usr/`` holds the origin's files, unpadded,
so reading it as a host would compare the originals with themselves. It is read as the compat
files its build made (``compat-roms/``, each as its manifest lists it), and refused before a build.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import posixpath
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from ..core.compat import (
    MAX_KEPT,
    MAX_RECIPE,
    MAX_ROM_FILE,
    MAX_ROMS,
    TREE_BUILD_DIR,
    TREE_MANIFEST,
    TREE_RECIPE,
)
from ..core.firmware import FileClass, classify
from ..core.names import rom_name
from ..core.rom import not_empty
from ..errors import SourceError, UsageError, shown
from .debpkg import FIRMWARE_DIRS
from .files import open_regular, read_text_file

__all__ = ["FirmwareFile", "Origin", "RomFile", "RomSet", "read_source", "read_sources"]

#: What a single file given as SOURCE may be called: the firmware QEMU loads.
_FILE_SUFFIXES = (".rom", ".bin", ".fd")

_SOURCE_FIELD = re.compile(r"(?P<name>\S+)(?:\s+\((?P<version>[^)]+)\))?")
#: The first three fields of a manifest line: the compat file's name, size and sha256.
_MANIFEST_LINE = re.compile(r"(?P<name>\S+)\s+(?P<size>[0-9]{1,12})\s+"
                            r"(?P<sha256>[0-9a-f]{64})(?:\s.*)?")
#: How many wrong files a message names.
_NAMED = 3


@dataclass(frozen=True)
class Origin:
    """Where a ROM set came from. Package fields are known only for .deb sources."""

    kind: str  # "deb", "dir", "root" or "rom"
    spec: str  # the SOURCE argument as given
    package: str | None = None
    version: str | None = None
    source_package: str | None = None
    source_version: str | None = None
    copyright: str | None = None
    architecture: str | None = None
    sha256: str = ""  # of the .deb or .rom file; of the "name sha256" listing for a directory

    @property
    def input_name(self) -> str:
        """How a recipe names this input: a package by its canonical file name, however it was
        obtained (a file of any name, or apt:), else the file or directory name."""
        if self.kind == "deb" and self.package and self.version:
            plain = self.version.split(":", 1)[-1]
            return f"{self.package}_{plain}_{self.architecture or 'all'}.deb"
        return os.path.basename(os.path.normpath(self.spec))

    @property
    def label(self) -> str:
        """How tables and messages name it: ``ipxe-qemu 1.0.0-5.1`` or the path."""
        if self.package and self.version:
            return f"{self.package} {self.version}"
        return self.spec


@dataclass(frozen=True)
class RomFile:
    """One firmware file of a set (an option ROM, a -bios or pflash image, a fw_cfg ROM): its
    name, bytes, mtime and where it came from. The name keeps its history: it was ROMs first."""

    name: str
    data: bytes
    mtime: int
    path: str  # inside the package (usr/lib/ipxe/qemu/efi-virtio.rom) or the file name
    origin: Origin
    #: where the package installs it, for a file whose origin does not say (a generated tree's
    #: build: its debian/*.install does)
    installed_at: str | None = None

    @property
    def size(self) -> int:
        return len(self.data)

    @cached_property
    def kind(self) -> FileClass:
        """What QEMU makes of it (core/firmware.py), by its name."""
        return classify(self.name)

    @property
    def installed(self) -> str | None:
        """Its absolute path on a host that has the package (or the root) installed."""
        if self.installed_at is not None:
            return self.installed_at
        if self.origin.kind in ("deb", "root"):
            return "/" + self.path
        return None

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def location(self) -> str:
        """How messages name this ROM: ``pkg.deb:usr/share/qemu/x.rom``, ``dir/x.rom``,
        ``x.rom``."""
        if self.origin.kind == "deb":
            return f"{self.origin.spec}:{self.path}"
        if self.origin.kind == "dir":
            return f"{self.origin.spec.rstrip('/')}/{self.name}"
        if self.origin.kind == "root":
            return f"{self.origin.spec.rstrip('/')}/{self.path}"
        return self.origin.spec


#: The older name, for what a set holds now.
FirmwareFile = RomFile


@dataclass(frozen=True)
class RomSet:
    """Firmware files from one or more sources, unique by name, sorted by name."""

    roms: tuple[RomFile, ...]
    origins: tuple[Origin, ...]

    def by_name(self) -> dict[str, RomFile]:
        return {rom.name: rom for rom in self.roms}


class _Budget:
    """What one set may still hold: a .deb's own limits (core/compat.py), applied alike to a
    directory and to the .rom files of one command, by the files' sizes before any is read."""

    def __init__(self, what: str):
        self.what = what
        self.files = MAX_ROMS
        self.bytes = MAX_KEPT

    def take(self, size: int, path: str) -> None:
        self.files -= 1
        self.bytes -= size
        if self.files < 0:
            raise SourceError(f"{self.what}: more than {MAX_ROMS} firmware files", path=path)
        if self.bytes < 0:
            raise SourceError(f"{self.what}: the firmware files together exceed "
                              f"{MAX_KEPT >> 20} MiB (by their sizes, before any is read)",
                              path=path)


def read_sources(specs: Iterable[str]) -> RomSet:
    """Read every source; the same ROM name from two sources must have the same bytes. The .rom
    files given one by one are one set, under one budget."""
    specs = list(specs)
    merged: dict[str, RomFile] = {}
    origins: list[Origin] = []
    before = _Budget("the files given")
    for spec in specs:  # all of them sized before one is read, as a directory's are
        if spec.endswith(_FILE_SUFFIXES) and not spec.startswith("apt:"):
            with contextlib.suppress(OSError):  # read_source names what cannot be read
                info = os.stat(spec)
                if stat.S_ISREG(info.st_mode):
                    before.take(info.st_size, spec)
    files = _Budget("the files given")
    for spec in specs:
        origin, roms = read_source(spec, files)
        origins.append(origin)
        for rom in roms:
            other = merged.get(rom.name)
            if other is not None and other.data != rom.data:
                raise SourceError(
                    f"{rom.name} differs from the one in {shown(other.origin.spec)}: "
                    "give one of the two sources, or select with --roms",
                    path=spec,
                )
            merged.setdefault(rom.name, rom)
    if not origins:
        raise SourceError("no ROM set source given")
    return RomSet(tuple(merged[name] for name in sorted(merged)), tuple(origins))


def read_source(spec: str, budget: _Budget | None = None) -> tuple[Origin, list[RomFile]]:
    """Read one SOURCE argument: a .deb, a directory (or a host's root), or one file (under
    ``budget``, the set it belongs to, if given)."""
    if spec.startswith("apt:"):
        fetched, roms = _read_apt(spec)
        origin = dataclasses.replace(fetched, spec=spec)  # messages name what the user typed
        return origin, [dataclasses.replace(rom, origin=origin) for rom in roms]
    try:
        mode = os.stat(spec).st_mode
    except OSError as error:
        raise SourceError(f"cannot read: {error.strerror}", path=spec) from error
    if stat.S_ISDIR(mode):
        return _read_dir(spec)
    if spec.endswith((".deb", ".udeb")):
        return _read_deb(spec)
    if spec.endswith(_FILE_SUFFIXES):
        rom = _read_rom_file(spec, Origin("rom", spec), budget or _Budget("a file"))
        origin = Origin("rom", spec, sha256=rom.sha256)
        return origin, [dataclasses.replace(rom, origin=origin)]
    raise SourceError(
        "not a firmware set source: expected a .deb, a directory or a .rom, .bin or .fd file",
        path=spec,
    )


def _read_apt(spec: str) -> tuple[Origin, list[RomFile]]:
    """Download (or take from the cache) and read, verifying apt's sha256 on the bytes parsed;
    a cached file that no longer matches is removed and downloaded again, once."""
    from .apt import fetch
    from .debpkg import DigestMismatch

    path, expected, cached = fetch(spec)
    try:
        return _read_deb(str(path), expected)
    except DigestMismatch:
        if not cached:
            raise
    path.unlink(missing_ok=True)
    path, expected, _ = fetch(spec)
    return _read_deb(str(path), expected)


def _read_deb(spec: str, expected_sha256: str | None = None) -> tuple[Origin, list[RomFile]]:
    # python-debian is imported only when a package is read: inspect/check of ROM files stay light
    from ..core import fields
    from .debpkg import read_deb

    contents = read_deb(spec, expected_sha256)
    control = contents.control
    package: str = control["Package"]  # read_deb ensures it
    version = control.get("Version")
    if not version:
        raise SourceError("control member has no Version field", path=spec)
    match = _SOURCE_FIELD.fullmatch(control.get("Source", package).strip())
    if not match:
        raise SourceError(f"malformed Source field {control.get('Source')!r}", path=spec)
    try:  # these reach debian/control and the changelog: only policy-conformant values
        fields.package_name(package, "Package field")
        fields.any_version(version, "Version field")
        fields.package_name(match["name"], "Source field")
        fields.any_version(match["version"] or version, "Source field's version")
        if control.get("Architecture"):
            fields.package_name(control["Architecture"], "Architecture field")
    except UsageError as error:
        raise SourceError(f"unusable control member: {error.message}", path=spec) from error
    origin = Origin(
        kind="deb",
        spec=spec,
        sha256=contents.sha256,
        package=package,
        version=version,
        source_package=match["name"],
        source_version=match["version"] or version,
        copyright=contents.copyright,
        architecture=control.get("Architecture"),
    )
    roms: dict[str, RomFile] = {}
    # a regular file before the links to it: its path is where the package installs it
    for member in sorted(contents.roms, key=lambda m: bool(m.target)):
        name = rom_name(member.path.rsplit("/", 1)[-1], spec)
        not_empty(member.data, f"{spec}:{member.path}")
        rom = RomFile(name, member.data, member.mtime, member.path, origin)
        other = roms.get(name)
        if other is not None and other.data != rom.data:
            raise SourceError(f"{other.path} and {rom.path} differ", path=spec)
        roms.setdefault(name, rom)
    if not roms:
        depends = control.get("Depends", "").strip()
        hint = (f" (a metapackage? it depends on {fields.excerpt(depends)}: give those)"
                if depends else "")
        raise SourceError(
            f"no firmware files under {', '.join(d + '/' for d in FIRMWARE_DIRS)}: not a QEMU "
            f"firmware package (ipxe-qemu, seabios, ovmf, qemu-system-data){hint}",
            path=spec,
        )
    return origin, list(roms.values())


def _firmware_entries(directory: str) -> list[os.DirEntry[str]]:
    """The firmware files directly in ``directory``, by name; symlinks followed, as QEMU does."""
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError as error:
        raise SourceError(f"cannot read: {error.strerror}", path=directory) from error
    return [entry for entry in entries if classify(entry.name).firmware and entry.is_file()]


def _sized(entries: list[os.DirEntry[str]], what: str, where: str) -> _Budget:
    """All of them counted and sized (the apparent size: a sparse file takes little disk but
    all its bytes in memory) before one is read; the budget to read them with."""
    before = _Budget(what)
    for entry in entries:
        try:
            size = entry.stat().st_size
        except OSError as error:
            raise SourceError(f"cannot read: {error.strerror}", path=entry.path) from error
        before.take(size, where)
    return _Budget(what)


def _read_dir(spec: str) -> tuple[Origin, list[RomFile]]:
    """Every firmware file directly in the directory, each read with a bound; a directory with
    none but QEMU's firmware directories below it is a host's root; a tree ``generate`` wrote is
    the compat files of its build."""
    if any(os.path.lexists(os.path.join(spec, mark)) for mark in (TREE_MANIFEST, TREE_RECIPE)):
        return _read_tree(spec)
    parent = os.path.dirname(os.path.abspath(spec))
    if (os.path.basename(os.path.abspath(spec)) == TREE_BUILD_DIR
            and os.path.lexists(os.path.join(parent, TREE_MANIFEST))):
        return _read_tree(parent)  # a tree's build directory: its files, where they install
    entries = _firmware_entries(spec)
    if not entries:
        roots = [d for d in FIRMWARE_DIRS if os.path.isdir(os.path.join(spec, d))]
        if roots:
            return _read_root(spec, roots)
        raise SourceError("no firmware files (*.rom, *.bin, *.fd that QEMU loads) in this "
                          "directory, nor QEMU's firmware directories below it", path=spec)
    budget = _sized(entries, "this directory", spec)
    roms = [_read_rom_file(entry.path, Origin("dir", spec), budget) for entry in entries]
    listing = "".join(f"{rom.name} {rom.sha256}\n" for rom in roms)
    origin = Origin("dir", spec, sha256=hashlib.sha256(listing.encode()).hexdigest())
    return origin, [dataclasses.replace(rom, origin=origin) for rom in roms]


def _read_tree(spec: str) -> tuple[Origin, list[RomFile]]:
    """The compat files a generated tree's build made (``compat-roms/``), each the size and
    sha256 its manifest lists, none missing or extra: a build that failed or is older than the
    tree is refused, as is a tree not built yet (its ``usr/`` holds the originals, unpadded)."""
    built = os.path.join(spec, TREE_BUILD_DIR)
    if not os.path.isdir(built):
        raise SourceError(f"a source tree made by generate, not built yet (no {TREE_BUILD_DIR}/): "
                          "its usr/ holds the origin's files unpadded, not the compat files; run "
                          "dpkg-buildpackage in it, then give the .deb it builds (or the tree "
                          "again)", path=spec)
    manifest = os.path.join(spec, TREE_MANIFEST)
    listed = _manifest(read_text_file(manifest, MAX_RECIPE, "a manifest"), manifest)
    entries = _firmware_entries(built)
    budget = _sized(entries, "this directory", built)
    roms = [_read_rom_file(entry.path, Origin("dir", built), budget) for entry in entries]
    found = {rom.name: (rom.size, rom.sha256) for rom in roms}
    wrong = sorted(name for name in found.keys() | listed.keys()
                   if found.get(name) != listed.get(name))
    if wrong:
        named = ", ".join(wrong[:_NAMED]) + (", ..." if len(wrong) > _NAMED else "")
        raise SourceError(f"{TREE_BUILD_DIR}/ does not hold the files {TREE_MANIFEST} lists "
                          f"({named}: missing, extra or different): run dpkg-buildpackage in it "
                          "again, or give the .deb it built", path=spec)
    listing = "".join(f"{rom.name} {rom.sha256}\n" for rom in roms)
    origin = Origin("dir", built, sha256=hashlib.sha256(listing.encode()).hexdigest())
    where = _install_dirs(spec)
    return origin, [dataclasses.replace(rom, origin=origin, installed_at=where.get(rom.name))
                    for rom in roms]


def _install_dirs(spec: str) -> dict[str, str]:
    """Where the tree's binary package installs each built file (``compat-roms/NAME DIR`` lines
    of its debian/*.install): NAME -> /DIR/NAME. qemu-config names these paths, not QEMU's
    directory (an OVMF compat set installs into /usr/share/ovmf and /usr/share/OVMF)."""
    found: dict[str, str] = {}
    debian = os.path.join(spec, "debian")
    for entry in sorted(os.listdir(debian)):
        if not entry.endswith(".install"):
            continue
        path = os.path.join(debian, entry)
        for line in read_text_file(path, MAX_RECIPE, "an install file").splitlines():
            source, _, target = line.strip().partition(" ")
            if source.startswith(TREE_BUILD_DIR + "/") and target and " " not in target:
                name = source.removeprefix(TREE_BUILD_DIR + "/")
                found[name] = posixpath.join("/", target.strip("/"), name)
    return found


def _manifest(text: str, path: str) -> dict[str, tuple[int, str]]:
    """A manifest's files: name -> (size, sha256); comments and blank lines skipped."""
    listed: dict[str, tuple[int, str]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _MANIFEST_LINE.fullmatch(line.strip())
        if match is None:
            raise SourceError(f"line {number} is not 'NAME SIZE SHA256 ...'", path=path)
        listed[rom_name(match["name"], path)] = (int(match["size"]), match["sha256"])
    if not listed:
        raise SourceError("lists no file", path=path)
    return listed


def _read_root(spec: str, directories: list[str]) -> tuple[Origin, list[RomFile]]:
    """A host's firmware as QEMU finds it: a name from the first of FIRMWARE_DIRS that has it."""
    chosen: dict[str, tuple[str, os.DirEntry[str]]] = {}
    for directory in directories:
        for entry in _firmware_entries(os.path.join(spec, directory)):
            chosen.setdefault(entry.name, (directory, entry))
    if not chosen:
        raise SourceError(f"no firmware files in {', '.join(directories)}", path=spec)
    budget = _sized([entry for _, entry in chosen.values()], "this root", spec)
    roms = [dataclasses.replace(_read_rom_file(entry.path, Origin("root", spec), budget),
                                path=f"{directory}/{name}")
            for name, (directory, entry) in sorted(chosen.items())]
    listing = "".join(f"{rom.path} {rom.sha256}\n" for rom in roms)
    origin = Origin("root", spec, sha256=hashlib.sha256(listing.encode()).hexdigest())
    return origin, [dataclasses.replace(rom, origin=origin) for rom in roms]


def _read_rom_file(path: str, origin: Origin, budget: _Budget) -> RomFile:
    """One firmware file: refused by its size (a ROM's limit, then the set's budget) before it is
    read, and read no further than that size."""
    try:
        with open_regular(path) as (handle, info):
            if info.st_size > MAX_ROM_FILE:
                raise SourceError(f"larger than {MAX_ROM_FILE} bytes: too large for a firmware "
                                  "file", path=path)
            budget.take(info.st_size, path)
            data = handle.read(info.st_size + 1)
    except OSError as error:
        raise SourceError(f"cannot read: {error.strerror}", path=path) from error
    if len(data) != info.st_size:
        raise SourceError("changed while it was read", path=path)
    not_empty(data, path)
    name = rom_name(os.path.basename(path), path)
    # the path is recorded by name only, so the output does not depend on where the input lay
    return RomFile(name, data, int(info.st_mtime), name, origin)
