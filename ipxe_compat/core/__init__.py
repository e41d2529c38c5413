"""Core: the rules and facts every part stands on, pure and light (no files, no processes).

``compat`` (the contract: defaults, name rules, formats, limits, the date rule), ``sizes`` (QEMU's
bucket rule, the SIZE syntax), ``firmware`` (which files become which migrated RAM blocks, and
their size rules), ``rom`` (the option ROM parser, and the one place ROM defects become errors),
``fields`` (validation of every option and control-field value), ``names`` (ROM name validity,
GLOB selection, compat pairing), ``devices`` (which NIC model loads which ROM), ``families`` (the
QOM type that covers a family of models), ``outcome`` (a command's result: JSON, text, problem
lines), ``tools`` (the external programs the commands run and the Debian packages that provide
them).

Its face is its modules: ``from ipxe_compat.core import sizes``. They are not imported here, so
that a command loads only what it uses (``--help`` stays fast). Core imports nothing of
ipxe-compat but :mod:`ipxe_compat.errors`.
"""

from __future__ import annotations

__all__ = ["compat", "devices", "families", "fields", "firmware", "names", "outcome", "rom",
           "sizes", "tools"]
