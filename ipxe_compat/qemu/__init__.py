"""QEMU: put the compat ROMs to use and prove they migrate, with real QEMU builds.

``discover`` asks a QEMU build for its version, machine types and NIC models (default romfile,
QOM family); ``config`` writes -global flags, libvirt XML, C compat entries or (with ``patch``)
a quilt patch for QEMU's source; ``migration`` migrates paused guests between two QEMU builds
and ROM sets; ``firmware`` maps a firmware compat set onto the files it stands in for;
``paused`` starts one QEMU with given arguments and reads its version or RAM blocks
(preflight's ``--to-qemu`` twins); ``qmp`` is the only module that starts QEMU processes.
"""

from __future__ import annotations

from .config import (
    ConfigRequest,
    PatchRequest,
    compat_package,
    mappings,
    qemu_config,
    qemu_config_text,
)
from .discover import QemuFacts, probe_qemu, short_command
from .firmware import FirmwareMapping, firmware_mappings
from .libvirt_apply import Applied, CompatPaths, apply_xml, combine, compat_paths
from .migration import MigrationRequest, verify_migration
from .patch import read_qemu_source
from .paused import paused_ram_blocks, paused_version
from .qmp import find_qemu

__all__ = ["Applied", "CompatPaths", "ConfigRequest", "FirmwareMapping", "MigrationRequest",
           "PatchRequest", "QemuFacts", "apply_xml", "combine", "compat_package", "compat_paths",
           "find_qemu", "firmware_mappings", "mappings", "paused_ram_blocks", "paused_version",
           "probe_qemu", "qemu_config", "qemu_config_text", "read_qemu_source", "short_command",
           "verify_migration"]
