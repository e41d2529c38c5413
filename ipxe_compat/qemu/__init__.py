"""QEMU: put the compat ROMs to use and prove they migrate, with real QEMU builds.

``discover`` asks a QEMU build for its version, machine types and NIC models (default romfile,
QOM family); ``config`` writes -global flags, libvirt XML, C compat entries or (with ``patch``)
a quilt patch for QEMU's source; ``migration`` migrates paused guests between two QEMU builds
and ROM sets; ``qmp`` is the only module that starts QEMU processes.
"""

from __future__ import annotations

from .config import FORMATS, PatchRequest, compat_package, control_patch, mappings, qemu_config
from .discover import QemuFacts, probe_qemu
from .migration import verify_migration
from .patch import read_qemu_source
from .qmp import DEFAULT_QEMU, find_qemu

__all__ = ["DEFAULT_QEMU", "FORMATS", "PatchRequest", "QemuFacts", "compat_package",
           "control_patch", "find_qemu", "mappings", "probe_qemu", "qemu_config",
           "read_qemu_source", "verify_migration"]
