"""The external programs ipxe-compat runs, and the Debian packages that provide them.

One list (and one of Python bindings, :data:`MODULES`) serves both the hint a user reads when a
program is missing (``apt-get install zstd``) and the Debian package's Recommends, which
debian/rules takes from :func:`substvars` (as diffoscope's ``--list-tools=debian`` does). Every
place that runs a program asks for its hint or package first, and a program missing from the
list is a KeyError there, so a new tool cannot be used without also reaching the package's
Recommends (tests/test_external_tools.py runs each place).
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


@dataclass(frozen=True)
class Module:
    """A Python binding a command imports only when it runs (the rest of the tool needs none)."""

    name: str
    package: str  # Debian's
    pypi: str
    used_for: str


MODULES = (
    Module("libvirt", "python3-libvirt", "libvirt-python", "preflight: libvirt's own API"),
)

_BY_MODULE = {module.name: module for module in MODULES}


def module_hint(name: str) -> str:
    """How to get the Python module ``name``; KeyError if it is not in :data:`MODULES`."""
    module = _BY_MODULE[name]
    return f"apt-get install {module.package} (or pip install {module.pypi})"


def package(program: str) -> str:
    """The Debian package that provides ``program``; KeyError if it is not in :data:`TOOLS`."""
    return _BY_PROGRAM[program].package


def install_hint(program: str) -> str:
    """``apt-get install PACKAGE`` for ``program``; KeyError if it is not in :data:`TOOLS`."""
    return f"apt-get install {package(program)}"


def substvars() -> str:
    """The ``ipxe-compat:Recommends`` substitution variable for debian/ipxe-compat.substvars."""
    packages = sorted({tool.package for tool in TOOLS} | {m.package for m in MODULES})
    return f"ipxe-compat:Recommends={', '.join(packages)}\n"
