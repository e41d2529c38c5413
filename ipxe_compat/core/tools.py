"""The external programs ipxe-compat runs, and the Debian packages that provide them.

One list serves both the hint a user reads when a program is missing (``apt-get install zstd``)
and the Debian package's Recommends, which debian/rules takes from :func:`substvars` (as
diffoscope's ``--list-tools=debian`` does). Every place that runs a program asks for its hint
or package first, and a program missing from the list is a KeyError there, so a new tool cannot
be used without also reaching the package's Recommends (tests/test_external_tools.py runs each
place).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tool:
    program: str
    package: str
    used_for: str


TOOLS = (
    Tool("apt-cache", "apt", "apt:NAME[=VERSION] sources: the SHA256 in apt's index"),
    Tool("apt-get", "apt", "apt:NAME[=VERSION] sources: the download"),
    Tool("dpkg-source", "dpkg-dev", "generate --build-source: the .dsc"),
    Tool("dpkg-genchanges", "dpkg-dev", "generate --build-source: the _source.changes"),
    Tool("qemu-system-x86_64", "qemu-system-x86", "verify-migration, qemu-config --qemu"),
    Tool("zstd", "zstd", "reading a .deb whose data member is zstd-compressed (Ubuntu's)"),
)

_BY_PROGRAM = {tool.program: tool for tool in TOOLS}


def package(program: str) -> str:
    """The Debian package that provides ``program``; KeyError if it is not in :data:`TOOLS`."""
    return _BY_PROGRAM[program].package


def install_hint(program: str) -> str:
    """``apt-get install PACKAGE`` for ``program``; KeyError if it is not in :data:`TOOLS`."""
    return f"apt-get install {package(program)}"


def substvars() -> str:
    """The ``ipxe-compat:Recommends`` substitution variable for debian/ipxe-compat.substvars."""
    packages = sorted({tool.package for tool in TOOLS})
    return f"ipxe-compat:Recommends={', '.join(packages)}\n"
