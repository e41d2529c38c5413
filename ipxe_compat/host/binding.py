"""libvirt's Python binding, loaded only by the commands that talk to libvirt.

``python3-libvirt`` in Debian, ``libvirt-python`` on PyPI (it builds against libvirt-dev with
pkg-config; core/tools.py names both, and the Debian package Recommends the first). Missing, it
is a usage problem of this machine (exit 2) that names the package, not a traceback. libvirt
prints every error to stderr by default; here the errors reach the user once, through the
exceptions this package raises.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ..core.tools import module_hint
from ..errors import UsageError

__all__ = ["load"]


def load() -> tuple[ModuleType, ModuleType]:
    """``(libvirt, libvirt_qemu)``; exit 2 naming the package when they cannot be imported."""
    try:
        libvirt = importlib.import_module("libvirt")
        libvirt_qemu = importlib.import_module("libvirt_qemu")
    except ImportError as error:
        raise UsageError(f"libvirt's Python binding is missing ({error}): "
                         f"{module_hint('libvirt')}") from None
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    return libvirt, libvirt_qemu
