"""ROM names: which names are valid, which a ``GLOB`` selects, and which pair across sets. Pure.

A ROM's identity across sets is its file name (docs/cli.md). Every command selects with the same
:func:`select` (a GLOB matching nothing is a usage error: a typo must not pass silently) and pairs
with the same :func:`pair`:

1. an exact name pairs first (``efi-virtio.rom`` with ``efi-virtio.rom``);
2. then a compat name pairs with its original, the name it ends with after a prefix that ends in
   ``-`` (``256k-efi-virtio.rom`` and ``compat-256k-efi-virtio.rom`` with ``efi-virtio.rom``;
   ``vgabios.bin`` is no compat name of ``bios.bin``);
3. a name with two candidates is ambiguous: named in an error, never decided by set order.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Collection, Iterable, Sequence

from ..errors import SourceError, UsageError

__all__ = ["Pair", "ambiguous", "is_compat_of", "original_of", "pair", "rom_name", "select"]

#: Firmware files QEMU loads end in .rom (option ROMs, qboot), .bin (SeaBIOS, fw_cfg ROMs) or
#: .fd (OVMF); core/firmware.py classes them by name.
_ROM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*\.(?:rom|bin|fd)")

#: (old name, new name); None where that side has no partner.
Pair = tuple[str | None, str | None]


def rom_name(name: str, where: str) -> str:
    """Firmware file names become file names, install lines and manifest columns: no spaces
    or oddities."""
    if not _ROM_NAME.fullmatch(name):
        raise SourceError(f"ROM file name {name!r} is not [A-Za-z0-9][A-Za-z0-9._+-]* ending "
                          ".rom, .bin or .fd", path=where)
    return name


def select(names: Iterable[str], globs: Sequence[str], option: str = "--roms") -> set[str]:
    """The names matching any of ``globs`` (every name when there is none); a glob that matches
    no name is a usage error, whatever the command."""
    names = sorted(set(names))
    if not globs:
        return set(names)
    chosen: set[str] = set()
    for glob in globs:
        matched = {name for name in names if fnmatch.fnmatchcase(name, glob)}
        if not matched:
            raise UsageError(f"{option} {glob!r} matches no ROM (there are: {', '.join(names)})")
        chosen |= matched
    return chosen


def is_compat_of(name: str, original: str) -> bool:
    """``256k-efi-virtio.rom`` is a compat name of ``efi-virtio.rom``: the original after a
    prefix that ends in ``-``, as every prefix ``generate --prefix`` accepts does (a bare suffix
    would make ``vgabios.bin`` a compat name of ``bios.bin``)."""
    return name.endswith("-" + original)


def original_of(name: str, originals: Collection[str]) -> str | None:
    """The one name of ``originals`` that ``name`` is a compat name of, None if there is none;
    two candidates are an error that names them."""
    found = sorted(original for original in originals if is_compat_of(name, original))
    if len(found) > 1:
        raise ambiguous(name, found)
    return found[0] if found else None


def pair(old: Iterable[str], new: Iterable[str]) -> list[Pair]:
    """Pair two sets of ROM names: exact names first, then compat names with their originals.

    Sorted by the old name (old-only and paired), then new-only names; deterministic. A name
    that could pair with two names of the other set raises :class:`SourceError`.
    """
    old_names, new_names = set(old), set(new)
    exact = old_names & new_names
    rest_old, rest_new = old_names - exact, new_names - exact
    partner: dict[str, str] = {}  # old -> new, for compat pairs
    for name in sorted(rest_old):
        # the old name is the original of a new compat name, or a compat name of a new original
        candidates = sorted(n for n in rest_new if is_compat_of(n, name) or is_compat_of(name, n))
        if len(candidates) > 1:
            raise ambiguous(name, candidates)
        if candidates:
            partner[name] = candidates[0]
    taken: dict[str, str] = {}
    for name, other in sorted(partner.items()):
        if other in taken:
            raise ambiguous(other, [taken[other], name])
        taken[other] = name
    pairs: list[Pair] = [(name, name if name in exact else partner.get(name))
                         for name in sorted(old_names)]
    pairs.extend((None, name) for name in sorted(rest_new - set(taken)))
    return pairs


def ambiguous(name: str, candidates: Sequence[str]) -> SourceError:
    """The one error for a name with two partners, whichever command pairs (check,
    verify-migration, qemu-config and its ``--apply``): named, never decided by set order."""
    return SourceError(f"{name} pairs ambiguously with {' and '.join(sorted(candidates))}: "
                       "keep one of them, so that each ROM has one partner")
