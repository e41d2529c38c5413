"""What a reporting command found, for people and for scripts. Pure.

``inspect``, ``check`` and ``verify-migration`` each return an :class:`Outcome`: the JSON document
(``--json``), the human text (mostly an :func:`aligned` table) and one line per problem, which the
command line prints as ``ipxe-compat: error: ...`` and turns into exit status 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Outcome", "aligned"]


@dataclass(frozen=True)
class Outcome:
    """A command's result: ``data`` for --json, ``text`` for people, ``problems`` found."""

    data: dict[str, Any]
    text: str
    problems: tuple[str, ...] = ()


def aligned(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell, two spaces apart, no trailing blanks."""
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
             for line in [header, *rows]]
    return "\n".join(lines) + "\n"
