"""The QEMU side of the compat ROMs: a DEP-3 quilt patch for ``hw_compat_X_Y``, and the
debian/control change that goes with it. Pure, except :func:`read_qemu_source`.

QEMU applies the compat properties of machine type X.Y from ``hw_compat_X_Y[]`` and every newer
array (hw/core/machine.c; ``machine-compat.c`` in later trees), so adding
``{ "virtio-net-pci-base", "romfile", "256k-efi-virtio.rom" }`` to ``hw_compat_7_2`` makes every
guest of a 7.2-or-older machine type load the compat ROM by default, as Ubuntu's hand-written
``pre-bionic-256k-ipxe-efi-roms.patch`` did for 2.10 (Debian bug #881263, its first point).
The patch is a plain unified diff against the tree as ``dpkg-source -x`` left it, i.e. with the
package's own series applied, so it goes at the end of ``debian/patches/series``.

Such a QEMU refuses to start an old machine type when the compat ROMs are missing ("failed to
find romfile"), so its qemu-system-x86 must Depend (not Recommend) on the compat package: the
the bug's second point, given as a second patch for debian/control.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import SourceError, UsageError

__all__ = ["COMPAT_FILES", "PatchHeader", "QemuSource", "RomfileEntry", "control_patch",
           "patched_source", "quilt_patch", "read_qemu_source"]

#: Where QEMU keeps the hw_compat arrays, newest layout last.
COMPAT_FILES = ("hw/core/machine.c", "hw/core/machine-compat.c")
BUG = "https://bugs.debian.org/881263"
QEMU_PACKAGE = "qemu-system-x86"


@dataclass(frozen=True)
class RomfileEntry:
    """``{ "DRIVER", "romfile", "ROM" }``: QOM type ``driver`` loads ``rom`` by default."""

    driver: str
    rom: str

    def c(self) -> str:
        return f'    {{ "{self.driver}", "romfile", "{self.rom}" }},'


@dataclass(frozen=True)
class PatchHeader:
    """DEP-3 fields of the patch."""

    description: str  # first line: the subject
    long_description: Sequence[str]  # wrapped lines of the body; "" is a paragraph break
    author: str
    last_update: str | None  # YYYY-MM-DD


@dataclass(frozen=True)
class QemuSource:
    """The file of a QEMU tree that holds the hw_compat arrays, and its debian/control."""

    directory: str
    path: str  # relative: hw/core/machine.c
    text: str
    control: str | None  # debian/control, when the tree is a Debian source package


def read_qemu_source(directory: str) -> QemuSource:
    """The hw_compat file of the QEMU tree ``directory`` (the newest layout that defines the
    arrays), and its debian/control if it has one."""
    top = Path(directory)
    if not top.is_dir():
        raise UsageError("--qemu-source is not a directory", path=directory)
    found = None
    for relative in reversed(COMPAT_FILES):
        candidate = top / relative
        if candidate.is_file():
            text = _read(candidate)
            if "GlobalProperty hw_compat_" in text:
                found = (relative, text)
                break
    if found is None:
        raise SourceError(f"not a QEMU source tree: no {' or '.join(COMPAT_FILES)} defines "
                          "hw_compat arrays", path=directory)
    control = top / "debian" / "control"
    return QemuSource(directory, found[0], found[1],
                      _read(control) if control.is_file() else None)


def _read(path: Path) -> str:
    try:
        return path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise SourceError(f"cannot read it: {error}", path=str(path)) from error


def _array_span(lines: Sequence[str], array: str, path: str) -> tuple[int, int]:
    """Indexes of ``GlobalProperty ARRAY[] = {`` and of its closing ``};``."""
    opening = re.compile(rf"\s*GlobalProperty\s+{re.escape(array)}\s*\[\]\s*=\s*\{{\s*")
    starts = [i for i, line in enumerate(lines) if opening.fullmatch(line.rstrip("\n"))]
    if len(starts) != 1:
        found = "is not" if not starts else "is defined more than once"
        raise UsageError(f"GlobalProperty {array}[] {found} in it", path=path)
    for end in range(starts[0] + 1, len(lines)):
        if lines[end].strip() == "};":
            return starts[0], end
    raise SourceError(f"GlobalProperty {array}[] has no closing '}};'", path=path)


def patched_source(text: str, array: str, entries: Sequence[RomfileEntry], path: str) -> str:
    """``text`` with ``entries`` appended to ``array``; an entry already there is an error."""
    if not entries:
        raise UsageError("no romfile entries to add")
    lines = text.splitlines(keepends=True)
    start, end = _array_span(lines, array, path)
    body = "".join(lines[start:end])
    present = [e.driver for e in entries
               if re.search(rf'"{re.escape(e.driver)}"\s*,\s*"romfile"', body)]
    if present:
        raise SourceError(f"{array}[] already sets the romfile of {', '.join(present)}: is the "
                          "patch applied already?", path=path)
    added = ["    /* ipxe-compat: these machine types keep the iPXE ROM sizes they were\n",
             f"     * released with (compat ROMs, {BUG}) */\n",
             *(entry.c() + "\n" for entry in entries)]
    return "".join([*lines[:end], *added, *lines[end:]])


def _diff(old: str, new: str, path: str) -> str:
    return "".join(difflib.unified_diff(old.splitlines(keepends=True),
                                        new.splitlines(keepends=True),
                                        fromfile=f"a/{path}", tofile=f"b/{path}", n=3))


def quilt_patch(source: QemuSource, array: str, entries: Sequence[RomfileEntry],
                header: PatchHeader) -> str:
    """A DEP-3 patch (``-p1``, a/ b/ prefixes) adding ``entries`` to ``array``."""
    where = f"{source.directory.rstrip('/')}/{source.path}"
    new = patched_source(source.text, array, entries, where)
    fields = [f"Description: {header.description}",
              *(f" {line}" if line else " ." for line in header.long_description),
              f"Author: {header.author}",
              f"Bug-Debian: {BUG}",
              "Forwarded: not-needed",
              *([f"Last-Update: {header.last_update}"] if header.last_update else []),
              "---"]
    return "\n".join(fields) + "\n" + _diff(source.text, new, source.path)


def control_patch(control: str, package: str, where: str = "debian/control") -> str:
    """A diff adding ``package`` to the Depends of qemu-system-x86 in ``control`` (a plain
    patch for the packaging, applied with ``patch -p1``, not a quilt patch)."""
    lines = control.splitlines(keepends=True)
    try:
        start = lines.index(f"Package: {QEMU_PACKAGE}\n")
    except ValueError:
        raise SourceError(f"no 'Package: {QEMU_PACKAGE}' paragraph", path=where) from None
    end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
    depends = next((i for i in range(start, end) if lines[i].startswith("Depends:")), None)
    if depends is None:
        raise SourceError(f"{QEMU_PACKAGE} has no Depends field", path=where)
    last = depends
    while last + 1 < end and lines[last + 1][:1] in (" ", "\t"):
        last += 1
    field = "".join(lines[depends:last + 1])
    if re.search(rf"(?:^|[\s,]){re.escape(package)}(?:[\s,(]|$)", field.split(":", 1)[1]):
        raise SourceError(f"{QEMU_PACKAGE} already depends on {package}", path=where)
    new = list(lines)
    if field.rstrip().endswith(","):
        new.insert(last + 1, f" {package},\n")
    else:
        new[last] = new[last].rstrip("\n") + ",\n"
        new.insert(last + 1, f" {package}\n")
    return _diff(control, "".join(new), "debian/control")
