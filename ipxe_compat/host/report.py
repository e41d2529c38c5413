"""preflight's verdicts for people (one line per domain, then its fix) and for scripts (JSON,
docs/cli.md "The host side"). Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..core.outcome import Outcome
from ..core.sizes import human
from ..qemu import Applied, CompatPaths
from .blocks import BlockDiff

__all__ = ["DomainResult", "report"]

#: How the fixed XML reaches libvirt, by the guest's state (docs/admin-guide.md has the commands).
ROUTES = {
    "running": "virsh migrate --live --xml FIXED.xml --persistent-xml FIXED-INACTIVE.xml",
    "paused": "virsh migrate --xml FIXED.xml --persistent-xml FIXED-INACTIVE.xml",
    "managed-saved": "virsh managedsave-define DOMAIN FIXED.xml, and virsh define the fixed "
                     "definition",
    "inactive": "virsh define FIXED.xml",
    "saved": "virsh restore FILE --xml FIXED.xml (or save-image-define FILE FIXED.xml)",
}


@dataclass(frozen=True)
class DomainResult:
    name: str
    state: str
    source_from: str  # live, image, twin ("" when it failed before)
    diffs: tuple[BlockDiff, ...]
    error: str | None
    applied: Applied | None
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.error is None and not self.diffs


def _size(value: int | None) -> str:
    return "none" if value is None else f"{value} ({human(value)})"


def _breaks(result: DomainResult) -> str:
    if result.error is not None:
        return result.error
    return "; ".join(f"{d.block} {_size(d.source)} -> {_size(d.destination)}"
                     for d in result.diffs)


def _route(state: str) -> str:
    return ROUTES["saved" if state.startswith("saved") else state]


def fix_lines(result: DomainResult, fix: CompatPaths | None) -> list[str]:
    """What to do about this domain (empty: nothing)."""
    if fix is None:
        if result.ok:
            return []
        return ["no known fix given: judge one with --apply COMPAT-PACKAGE (ipxe-compat "
                "generate makes it from the firmware package the source runs)"]
    changed = result.applied.changed if result.applied is not None else ()
    if not result.ok and result.error is None and not changed:
        return [f"no known fix: {', '.join(fix.packages) or 'the --apply set'} changes nothing "
                "these blocks depend on"]
    if not changed:
        return []
    packages = fix.packages_of(result.applied.used if result.applied is not None else ())
    install = f"install {', '.join(packages)} on the destination; " if packages else ""
    return [f"{install}{'; '.join(changed)} (qemu-config --format libvirt --apply; then "
            f"{_route(result.state)})"]


def report(source: str, destination: str, results: Sequence[DomainResult],
           fix: CompatPaths | None) -> Outcome:
    lines = [f"source      {source}", f"destination {destination}"
             + (f", judged with {', '.join(fix.packages)} applied" if fix and fix.packages
                else ""), ""]
    domains: list[dict[str, Any]] = []
    problems = []
    for r in results:
        verdict = "ok" if r.ok else "breaks"
        lines.append(f"{r.name} ({r.state}): " + ("ok" if r.ok else f"breaks: {_breaks(r)}"))
        fixes = fix_lines(r, fix)
        lines += [f"  fix: {line}" for line in fixes]
        lines += [f"  note: {note}" for note in r.notes]
        if not r.ok:
            problems.append(f"{r.name} ({r.state}) breaks on the destination: {_breaks(r)}")
        domains.append({
            "name": r.name, "state": r.state, "verdict": verdict,
            "blocks": [{"block": d.block, "source": d.source, "destination": d.destination}
                       for d in r.diffs],
            "fix": fixes, "error": r.error, "source_sizes_from": r.source_from or None,
            "xml_changes": list(r.applied.changed) if r.applied else [],
            "left_alone": list(r.applied.left_alone) if r.applied else [],
            "notes": list(r.notes),
        })
    ok = sum(r.ok for r in results)
    lines.append(f"{len(results)} domains: {ok} ok, {len(results) - ok} break")
    data = {"source": source, "destination": destination,
            "applied": list(fix.packages) if fix else [], "domains": domains,
            "summary": {"ok": ok, "breaks": len(results) - ok}}
    return Outcome(data, "\n".join(lines) + "\n", tuple(problems))
