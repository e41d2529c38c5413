"""Which QOM type to name for a family of NIC models that load the same ROM. Pure.

``-global TYPE.romfile=`` and a ``hw_compat`` entry reach every subtype of TYPE (QEMU applies a
global property to subclasses), so naming ``virtio-net-pci-base`` covers virtio-net-pci and its
transitional and non-transitional variants, which ``virtio-net-pci`` alone does not (measured:
their migration still fails). The most general type is the highest ancestor whose every concrete
descendant is a NIC model with that same default ROM; ``virtio-pci`` is not one (virtio-blk-pci
is below it), nor is ``pci-device``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Family", "families"]


@dataclass(frozen=True)
class Family:
    """``driver`` (a QOM type, maybe abstract) covers ``models``, which all load ``rom``."""

    driver: str
    rom: str
    models: tuple[str, ...]


def families(defaults: Mapping[str, str], parents: Mapping[str, str | None],
             abstract: frozenset[str] = frozenset()) -> list[Family]:
    """Group NIC models (``defaults``: model -> default romfile) under their most general type.

    ``parents`` is QEMU's type hierarchy (qom-list-types with abstract types: name -> parent);
    a model whose ancestry is unknown stands for itself. Sorted by driver.
    """
    children: dict[str, set[str]] = defaultdict(set)
    for name, parent in parents.items():
        if parent:
            children[parent].add(name)

    def concrete_below(name: str) -> set[str]:
        found: set[str] = set() if name in abstract else {name}
        for child in children.get(name, ()):
            found |= concrete_below(child)
        return found

    chosen: dict[str, Family] = {}
    for model in sorted(defaults):
        rom, best = defaults[model], model
        ancestor = parents.get(model)
        while ancestor:
            below = concrete_below(ancestor)
            if not below or any(defaults.get(member) != rom for member in below):
                break
            best, ancestor = ancestor, parents.get(ancestor)
        members = tuple(sorted(concrete_below(best) & set(defaults))) or (model,)
        chosen.setdefault(best, Family(best, rom, members))
    return sorted(chosen.values(), key=lambda family: family.driver)
