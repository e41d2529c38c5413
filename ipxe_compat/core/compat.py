"""The contract of ipxe-compat: every default, name rule, format, limit and the one date rule.

Each fact is written here once; the command line's option defaults, :class:`~ipxe_compat.package.
Request`, the package naming, ``qemu-config`` and the readers all take it from here (docs/cli.md
is the user-facing form of the same contract). Pure.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping

from ..errors import UsageError
from . import fields
from .sizes import parse_size, size_label

__all__ = [
    "DEFAULT_DISTRIBUTION", "DEFAULT_GLOBS", "DEFAULT_INSTALL_DIR", "DEFAULT_ORIGIN",
    "DEFAULT_PAD_BYTE", "DEFAULT_QEMU", "DEFAULT_SIZE", "DEFAULT_TIMEOUT", "DEFAULT_URGENCY",
    "FORMATS", "MAX_COMPAT_SIZE", "MAX_KEPT", "MAX_OPTION_FILE", "MAX_RECIPE", "MAX_ROMS",
    "MAX_ROM_FILE", "MAX_TIMEOUT", "MAX_XML", "MAX_XML_DEPTH", "TREE_BUILD_DIR", "TREE_MANIFEST",
    "TREE_RECIPE",
    "check_timeout", "default_prefix", "is_compat_set", "label_of", "package_names",
    "package_of_prefix", "source_date_epoch", "split_compat_name",
]

# --- generate's defaults ---------------------------------------------------------------------

#: The QEMU bucket a compat ROM keeps: Debian's iPXE ROMs before the 300 KB ones (bug #881263).
DEFAULT_SIZE = "256k"
#: Padding after the last image: what flash erases to, and what Debian's own ROMs use.
DEFAULT_PAD_BYTE = "0xff"
#: Where the compat package installs the ROMs: on QEMU's firmware path in every Debian release.
DEFAULT_INSTALL_DIR = "/usr/share/qemu"
#: The suite a new package goes to; it also picks the lintian target (package/targets.py).
DEFAULT_DISTRIBUTION = "unstable"
DEFAULT_URGENCY = "medium"
#: The ROMs a compat package carries: the EFI ROMs, the ones that crossed 256 KiB.
DEFAULT_GLOBS = ("efi-*.rom",)
#: The package whose files a compat set keeps, when the set does not say (ROM files, a directory).
DEFAULT_ORIGIN = "ipxe-qemu"

# --- the source tree generate writes (docs/generated-package.md) -----------------------------

#: Lists every compat file the build makes (name, size, sha256, ...); debian/verify-roms checks it.
TREE_MANIFEST = "debian/compat-roms.manifest"
#: What made the tree, so that generate --recipe can make it again.
TREE_RECIPE = "debian/ipxe-compat.recipe"
#: Where debian/rules makes the compat files, from the origin's files under usr/ (which stay the
#: originals, unpadded); removed by dh_clean.
TREE_BUILD_DIR = "compat-roms"

# --- qemu-config and verify-migration --------------------------------------------------------

#: ``qemu-config --format``: -global flags, libvirt XML, C compat entries, a quilt patch.
FORMATS = ("args", "libvirt", "c", "patch")
DEFAULT_QEMU = "qemu-system-x86_64"
#: One paused-guest migration takes well under a second; an hour is past any real wait.
DEFAULT_TIMEOUT = 30.0
MAX_TIMEOUT = 3600.0

# --- limits ----------------------------------------------------------------------------------

#: No firmware file comes near this: a larger ROM member or file is refused before it is read.
MAX_ROM_FILE = 16 << 20
#: Firmware files one set (a package, a directory, the files of one command) may hold: ipxe-qemu
#: has 16 (plus links to them), qemu-system-data about 10.
MAX_ROMS = 256
#: Bytes one set may hold in memory, by the files' sizes before any is read (a package's
#: firmware, copyrights and symlink names; a directory's files): ipxe-qemu needs about 4 MB,
#: ovmf about 16 MB.
MAX_KEPT = 64 << 20
#: The largest bucket a compat ROM may be padded to: well below the read limit.
MAX_COMPAT_SIZE = MAX_ROM_FILE // 2
#: A text file an option names (changelog, copyright), read whole: Debian's longest changelogs
#: and copyright files are a few MB (dpkg's changelog is 0.75 MB).
MAX_OPTION_FILE = 16 << 20
#: A recipe is a few KB.
MAX_RECIPE = 1 << 20
#: A domain XML (``qemu-config --apply``, preflight), in bytes as UTF-8: a few KB, a big one with
#: metadata ~100 KB.
MAX_XML = 4 << 20
#: Elements nested in a domain XML: libvirt (libxml2 without XML_PARSE_HUGE) refuses a document
#: deeper than 256 levels, so one it holds is never refused here.
MAX_XML_DEPTH = 512


# --- names -----------------------------------------------------------------------------------

def label_of(size: int) -> str:
    """The bucket as it appears in prefixes and package names: lower case, as Debian package
    names must be (262144 -> ``256k``, 2 MiB -> ``2m``)."""
    return size_label(size).lower()


def default_prefix(size: int) -> str:
    """``256k-``: the prefix of each compat file when --prefix is not given."""
    return f"{label_of(size)}-"


def package_names(label: str, origin: str = DEFAULT_ORIGIN) -> tuple[str, str]:
    """The source and binary package of a compat set of ``origin``'s files in bucket ``label``.

    ``ipxe-qemu`` keeps the names Ubuntu gave its package (``ipxe-qemu-256k-compat``, binary
    ``ipxe-qemu-256k-compat-efi-roms``), so a host that had Ubuntu's sees the same package.
    """
    source = f"{origin}-{label}-compat"
    return source, f"{source}-efi-roms" if origin == DEFAULT_ORIGIN else source


#: A bucket label inside a prefix: ``256k-``, ``compat-256k-`` (Ubuntu's), ``2m-``.
_LABEL_IN_PREFIX = re.compile(r"(?:^|-)(?P<label>[0-9]+[kKmMgG])-$")


def package_of_prefix(prefix: str, origin: str = DEFAULT_ORIGIN) -> str:
    """The binary package that installs files named ``PREFIX<original>``: the inverse of
    :func:`default_prefix` and :func:`package_names`, so ``qemu-config --control-patch`` names
    the package ``generate`` makes, whatever the prefix's decoration (``compat-256k-``)."""
    match = _LABEL_IN_PREFIX.search(prefix)
    if match is None:
        raise UsageError(f"prefix {fields.excerpt(prefix)} names no bucket (e.g. 256k-): give "
                         "the compat package's .deb, which names itself")
    label = label_of(parse_size(match["label"]))
    return package_names(label, origin)[1]


#: A compat file name: a prefix that ends in a size label and ``-`` (``256k-``, ``compat-256k-``,
#: ``2m-``), then the original's name. The shortest such prefix wins. The ``-`` is what keeps
#: Debian's own names out: ``OVMF_CODE_4M.ms.fd`` is no compat name of ``ms.fd``.
_COMPAT_NAME = re.compile(r"(?P<prefix>(?:[A-Za-z0-9._+]+-)*?[0-9]+[kKmMgG]-)"
                          r"(?P<original>[A-Za-z0-9][A-Za-z0-9._+-]*\.[A-Za-z0-9]+)")


def split_compat_name(name: str) -> tuple[str, str] | None:
    """``2m-OVMF.fd`` -> ``("2m-", "OVMF.fd")``: the prefix and the original's name of a file
    named by :func:`default_prefix`'s rule (or Ubuntu's ``compat-256k-``); None for a name with
    no such prefix. A firmware compat set names no device, so this rule is how ``qemu-config``
    and ``--apply`` find the file a compat file stands in for."""
    match = _COMPAT_NAME.fullmatch(name)
    if match is None or _LABEL_IN_PREFIX.search(match["prefix"]) is None:
        return None
    return match["prefix"], match["original"]


def is_compat_set(names: Collection[str]) -> bool:
    """Whether a set of file names is a compat set (every name a compat name): it carries some
    files of its origin by design, so a file it lacks is no removal (``check``'s ``only-old``;
    ``verify-migration`` runs no case for it)."""
    return bool(names) and all(split_compat_name(name) for name in names)


def check_timeout(seconds: float) -> float:
    """A ``--timeout``: seconds in (0, :data:`MAX_TIMEOUT`] (verify-migration, preflight)."""
    if not (math.isfinite(seconds) and 0 < seconds <= MAX_TIMEOUT):
        raise UsageError(f"--timeout {seconds} is not a number of seconds in "
                         f"(0, {MAX_TIMEOUT:g}]")
    return seconds


# --- dates -----------------------------------------------------------------------------------

def source_date_epoch(environ: Mapping[str, str]) -> int | None:
    """``$SOURCE_DATE_EPOCH`` (reproducible-builds.org's spec), validated; None when unset.

    The one parser of the variable: generate's changelog date and qemu-config's patch date
    both come through here, so both refuse the same values (exit 2)."""
    value = environ.get("SOURCE_DATE_EPOCH")
    return None if value is None else fields.epoch(value, "SOURCE_DATE_EPOCH")
