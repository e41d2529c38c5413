"""Core: the rules and facts every part stands on, pure and light (no files, no processes).

``sizes`` (QEMU's bucket rule, the SIZE syntax), ``rom`` (the option ROM parser, and the one
place ROM defects become errors), ``fields`` (validation of every option and control-field
value), ``names`` (ROM name validity, GLOB selection, compat pairing), ``devices`` (which NIC
model loads which ROM), ``families`` (the QOM type that covers a family of models), ``outcome`` (a command's result: JSON, text, problem lines).

Its face is its modules: ``from ipxe_compat.core import sizes``. They are not imported here, so
that a command loads only what it uses (``--help`` stays fast). Core imports nothing of
ipxe-compat but :mod:`ipxe_compat.errors`.
"""

from __future__ import annotations

__all__ = ["devices", "families", "fields", "names", "outcome", "rom", "sizes"]
