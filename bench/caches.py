#!/usr/bin/env python3
"""What the tests' cache holds and what each entry cost to make: what a cold cache costs.

    .venv/bin/python bench/caches.py     # the test cache (~/.cache/ipxe-compat-tests)

Every entry is keyed by what goes into it (docs/testing.md, "Caches"); the seconds are those of
the run that made it, recorded beside it (tests/roots.py's ENTRY.json, tests/qemu_build.py's
timings.json), so they say what that machine cost then. No assertion: figures only.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.archive import cache_dir  # the tests' own idea of where the cache is
from tests.roots import disk_bytes


def entries(cache: Path) -> list[tuple[str, str, float | None, int]]:
    """(kind, name, seconds to make or None, bytes) per cache entry."""
    found: list[tuple[str, str, float | None, int]] = []
    roots = cache / "roots"
    for record in sorted(roots.glob("*.json")):
        entry = record.with_suffix("")
        if entry.exists():
            cost = json.loads(record.read_text())
            kind = "chroot tarball" if entry.name.endswith(".tar.zst") else "root"
            what = f"{cost['suite']} {cost['variant']} {' '.join(cost['packages'])}".strip()
            found.append((kind, f"{entry.name} ({what})", cost["seconds"], disk_bytes(entry)))
    for entry in sorted(roots.iterdir()) if roots.is_dir() else []:
        if not entry.name.startswith(".") and entry.suffix != ".json" and \
                not entry.with_name(f"{entry.name}.json").exists():
            kind = "chroot tarball" if entry.name.endswith(".tar.zst") else "root"
            found.append((kind, f"{entry.name} (made before costs were recorded)", None,
                          disk_bytes(entry)))
    for build in sorted((cache / "qemu-builds").glob("*/timings.json")):
        seconds = sum(json.loads(build.read_text()).values())
        found.append(("QEMU build", build.parent.name, seconds, disk_bytes(build.parent)))
    debs = sorted(cache.glob("*.deb"))
    if debs:
        found.append(("archive .debs", f"{len(debs)} packages", None,
                      sum(deb.stat().st_size for deb in debs)))
    return found


def main() -> None:
    cache = cache_dir()
    rows = entries(cache)
    print(f"test cache: {cache}")
    print(f"{'kind':<16} {'made in':>9} {'size':>10}  entry")
    for kind, name, seconds, size in rows:
        made = f"{seconds:.0f} s" if seconds is not None else "-"
        print(f"{kind:<16} {made:>9} {size / 2**20:>8.0f} MiB  {name}")
    total = sum(seconds for _, _, seconds, _ in rows if seconds is not None)
    print(f"cold: {total:.0f} s of making (one after another), "
          f"{sum(size for *_, size in rows) / 2**30:.1f} GiB on disk")


if __name__ == "__main__":
    main()
