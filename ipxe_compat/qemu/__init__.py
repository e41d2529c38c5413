"""QEMU: put the compat ROMs to use and prove they migrate, with a real QEMU.

``config`` writes -global flags, libvirt XML or C compat entries for the ROMs (and can read the
default ROM of each NIC model from a QEMU binary); ``migration`` migrates paused guests between
two ROM sets; ``qmp`` is the only module that starts QEMU processes.
"""

from __future__ import annotations

from .config import FORMATS, probe_romfiles, qemu_config
from .migration import verify_migration

__all__ = ["FORMATS", "probe_romfiles", "qemu_config", "verify_migration"]
