"""Validation of option values and of the text that goes into Debian control files. Pure.

Everything a user types (or a recipe holds) that ends up in debian/control, debian/changelog, the
recipe or a file name passes through here first: the syntax is Debian policy's (5.6.1 Source,
5.6.7 Package, 5.6.12 Version, 5.6.2 Maintainer), so no newline, comma or stray character can add
a field or break the file. The command line and a recipe use the very same functions.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..errors import UsageError

if TYPE_CHECKING:
    from debian.debian_support import Version

__all__ = [
    "MAX_EPOCH", "MODES", "any_version", "distribution", "epoch", "excerpt", "glob", "install_dir",
    "machine_compat", "maintainer", "mode", "package_name", "pad_byte", "parse_date", "prefix",
    "rfc2822", "text_line", "urgency", "version",
]

#: ``--pad`` / ``--copy``, as a recipe's ``Mode:`` field spells them.
MODES = ("pad", "copy")

_PACKAGE = re.compile(r"[a-z0-9][a-z0-9+.-]+")
_VERSION = re.compile(r"(?:[0-9]+:)?[0-9][A-Za-z0-9.+~:-]*")
_DISTRIBUTION = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+-]*")
_URGENCY = re.compile(r"(?:low|medium|high|emergency|critical)")
_MAINTAINER = re.compile(r"(?P<name>[^<>,\"\x00-\x1f\x7f-\x9f\u2028\u2029]+?) "
                         r"<(?P<email>[^<>@\s,]+@[^<>@\s,]+)>")
#: A compat file is PREFIX + the original's name; the trailing ``-`` is how every command tells
#: a compat name from an unrelated one (core/names.is_compat_of).
_PREFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*-")
_INSTALL_DIR = re.compile(r"(?:/[A-Za-z0-9._+-]+)+")
#: C0 and C1 controls and Unicode's line and paragraph separators: str.splitlines() breaks at
#: \x85 (NEL), U+2028 and U+2029 too, and python-debian's writers split values that way.
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
#: A number option is read with int() only up to this many characters (int() is quadratic).
_MAX_NUMBER_TEXT = 12
#: An RFC 2822 date is about 31 characters; anything much longer is not one.
_MAX_DATE_TEXT = 100
_MAX_BYTE = 0xFF
#: The last second of year 9999: RFC 2822 dates and Python's datetime end there.
MAX_EPOCH = 253402300799
_EPOCH = re.compile(r"[0-9]{1,12}")


def package_name(value: str, what: str = "package name") -> str:
    if not _PACKAGE.fullmatch(value):
        raise UsageError(f"{what} {value!r} is not a Debian package name ([a-z0-9][a-z0-9+.-]+)")
    return value


def any_version(value: str, what: str = "version") -> Version:
    """Any Debian version, native or not: ``1.0``, ``1:2.0-3``."""
    from debian.debian_support import Version  # python-debian only when a version is read

    if not _VERSION.fullmatch(value):
        raise UsageError(f"{what} {value!r} is not a Debian version")
    try:
        return Version(value)
    except ValueError as error:
        raise UsageError(f"{what} {value!r} is not a Debian version: {error}") from error


def version(value: str) -> Version:
    """A Debian version with a revision (3.0 (quilt) needs one): ``1.0-1``."""
    parsed = any_version(value)
    if not parsed.debian_revision:
        raise UsageError(f"version {value!r} has no Debian revision (e.g. {value}-1)")
    return parsed


def distribution(value: str) -> str:
    if not _DISTRIBUTION.fullmatch(value):
        raise UsageError(f"distribution {value!r} is not a suite name such as unstable")
    return value


def urgency(value: str) -> str:
    if not _URGENCY.fullmatch(value):
        raise UsageError(f"urgency {value!r} is not one of low, medium, high, emergency, critical")
    return value


def maintainer(value: str) -> str:
    """``Full Name <email>`` on one line, as debian/control and debian/changelog want it."""
    if not _MAINTAINER.fullmatch(value) or not value.split("<", 1)[0].strip():
        raise UsageError(f"maintainer {value!r} is not of the form 'Full Name <user@example.org>'")
    return value


def prefix(value: str) -> str:
    if not _PREFIX.fullmatch(value):
        raise UsageError(f"prefix {value!r} may hold only letters, digits and ._+- and must end "
                         "in - (e.g. 256k-)")
    return value


def install_dir(value: str) -> str:
    """An absolute, normalized directory; a trailing slash (``/usr/share/qemu/``) is dropped."""
    if len(value) > 1:
        value = value.rstrip("/") or "/"
    if not _INSTALL_DIR.fullmatch(value) or ".." in value.split("/") or "." in value.split("/"):
        raise UsageError(f"install dir {value!r} is not an absolute, normalized path")
    return value


def machine_compat(value: str) -> str:
    """``7_2``: the X_Y of QEMU's hw_compat_X_Y arrays."""
    if not re.fullmatch(r"[0-9]+_[0-9]+", value):
        raise UsageError(f"--machine-compat {value!r} is not of the form 7_2")
    return value


def mode(value: str) -> bool:
    """``pad`` -> True, ``copy`` -> False: whether the compat ROMs are padded."""
    if value not in MODES:
        raise UsageError(f"mode {value!r} is not pad or copy")
    return value == "pad"


def pad_byte(text: str) -> int:
    """``0xff``, ``255`` or ``0o377`` -> 255; anything outside 0..255 is a usage error."""
    try:
        value = int(text, 0) if len(text) <= _MAX_NUMBER_TEXT else -1
    except ValueError:
        value = -1
    if not 0 <= value <= _MAX_BYTE:
        raise UsageError(f"pad byte {excerpt(text)} is not a byte value (0..255, e.g. 0xff)")
    return value


def text_line(value: str, what: str) -> str:
    """A free-text line (changelog entry, origin name): printable, one line, not empty."""
    if not value.strip() or _CONTROL_CHARS.search(value):
        raise UsageError(f"{what} {value!r} must be one non-empty line without control characters")
    return value.strip()


def glob(value: str, what: str = "--roms") -> str:
    """A ROM name pattern: one line, printable (it reaches the changelog and the recipe)."""
    if not value or _CONTROL_CHARS.search(value):
        raise UsageError(f"{what} {excerpt(value)} must be a non-empty pattern without control "
                         "characters")
    return value


def excerpt(value: str, limit: int = 60) -> str:
    """A short quotation of user input for an error line, however long the input is."""
    return repr(value) if len(value) <= limit else f"{value[:limit]!r}... ({len(value)} characters)"


def epoch(value: str, what: str) -> int:
    """Seconds since 1970 in ASCII digits, up to the end of year 9999."""
    if not _EPOCH.fullmatch(value) or int(value) > MAX_EPOCH:
        raise UsageError(f"{what} {excerpt(value)} is not a number of seconds from 1970 to the "
                         "end of year 9999")
    return int(value)


def parse_date(value: str) -> int:
    """``@EPOCH`` or an RFC 2822 date -> seconds since the epoch, from 1970 to year 9999."""
    import email.utils  # only when a date is parsed: it costs more than the rest of core

    if value.startswith("@"):
        return epoch(value[1:], "date")
    if len(value) > _MAX_DATE_TEXT:
        raise UsageError(f"date {excerpt(value)} is not an RFC 2822 date")
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError) as error:
        raise UsageError(f"date {value!r} is neither @EPOCH nor an RFC 2822 date") from error
    if parsed.tzinfo is None:
        raise UsageError(f"date {value!r} has no time zone")
    seconds = int(parsed.timestamp())
    if not 0 <= seconds <= MAX_EPOCH:
        raise UsageError(f"date {value!r} is before 1970 (a changelog date is after the epoch)")
    return seconds


def rfc2822(epoch: int) -> str:
    """The changelog date, always in UTC so the time zone of the machine never shows."""
    import email.utils
    from datetime import UTC, datetime

    return email.utils.format_datetime(datetime.fromtimestamp(epoch, tz=UTC))
