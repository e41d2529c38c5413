"""ipxe-compat: keep old iPXE option ROMs in a co-installable Debian package.

QEMU sizes a NIC option ROM's memory block to the next power of two of the file size, and live
migration refuses a block of another size; so when an ipxe update moves a ROM across a power of
two, VMs can no longer migrate from old hosts. This package turns old ROM sets into an
``ipxe-qemu-256k-compat`` source package that keeps the old ROMs under prefixed names.

The command line (:mod:`ipxe_compat.cli`) is a thin layer over the subpackages' faces: ``input``
(reading ROM sets), ``check`` (inspect, check), ``package`` (generate) and ``qemu`` (qemu-config,
verify-migration), all standing on ``core`` (pure rules and facts). README.md, "Code layout".
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
