"""preflight's verdicts for people (one line per domain, then its fix) and for scripts (JSON,
docs/cli.md "The host side"). Pure."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..core.outcome import Outcome
from ..core.sizes import human
from ..errors import shown
from ..qemu import Applied, CompatPaths
from .blocks import BlockDiff

__all__ = ["DomainResult", "report"]

#: How the fixed XML reaches libvirt, by the guest's state (docs/admin-guide.md has the commands;
#: virsh refuses --persistent-xml without --persistent). DOMAIN, TO-URI and FILE are filled in.
ROUTES = {
    "running": "virsh migrate --live --persistent DOMAIN TO-URI --xml FIXED.xml "
               "--persistent-xml FIXED-INACTIVE.xml",
    "paused": "virsh migrate --persistent DOMAIN TO-URI --xml FIXED.xml "
              "--persistent-xml FIXED-INACTIVE.xml",
    "managed-saved": "virsh managedsave-define DOMAIN FIXED.xml, and virsh define the fixed "
                     "definition",
    "inactive": "virsh define FIXED.xml",
    "saved": "virsh restore FILE --xml FIXED.xml (or save-image-define FILE FIXED.xml)",
}
#: The verdicts (docs/cli.md): ``error`` is a guest that could not be judged (a twin that did not
#: start or answer, XML that could not be read): not known to be ok, so exit 1 like ``breaks``.
VERDICTS = ("ok", "breaks", "error")


@dataclass(frozen=True)
class DomainResult:
    name: str
    state: str  # running, paused, managed-saved, inactive, saved
    source_from: str  # live, image, twin ("" when it failed before)
    diffs: tuple[BlockDiff, ...]
    error: str | None
    applied: Applied | None
    notes: tuple[str, ...] = ()
    file: str | None = None  # a saved image's path
    without: tuple[BlockDiff, ...] | None = None  # with --apply: the diffs without the change

    @property
    def harmful(self) -> bool:
        """With --apply: the change breaks a guest that migrates as it is (one already started
        on the destination's files, in a mixed fleet): its XML must be left alone."""
        return (self.error is None and self.without is not None and not self.without
                and bool(self.diffs))

    @property
    def needed(self) -> bool | None:
        """With --apply and a change: whether the change is what mends a block (a block that
        differs without it and not with it); None without --apply or when not judged."""
        if self.without is None or self.error is not None:
            return None
        return bool(set(self.without) - set(self.diffs))

    @property
    def verdict(self) -> str:
        """As the guest fares done as advised: with the change, or as it is where the change
        would break it (:attr:`harmful`)."""
        if self.error is not None:
            return "error"
        return "breaks" if self.diffs and not self.harmful else "ok"

    @property
    def advised(self) -> tuple[BlockDiff, ...]:
        """The blocks that differ done as advised (none for a harmful change)."""
        return () if self.harmful else self.diffs

    @property
    def ok(self) -> bool:
        return self.verdict == "ok"

    @property
    def label(self) -> str:
        """``name (state)``, a saved image's path with its state."""
        where = f": {shown(self.file)}" if self.file is not None else ""
        return f"{shown(self.name)} ({self.state}{where})"


def _size(value: int | None) -> str:
    return "none" if value is None else f"{value} ({human(value)})"


def _blocks(diffs: Sequence[BlockDiff]) -> str:
    return "; ".join(f"{d.block} {_size(d.source)} -> {_size(d.destination)}" for d in diffs)


def _word(text: str) -> str:
    """A name as a shell word in a printed command, on one line."""
    return shlex.quote(text) if text.isprintable() else shown(text)


def _route(result: DomainResult, to_uri: str | None) -> str:
    return (ROUTES[result.state].replace("DOMAIN", _word(result.name))
            .replace("TO-URI", _word(to_uri) if to_uri else "TO-URI")
            .replace("FILE", _word(result.file or "FILE")))


def fix_lines(result: DomainResult, fix: CompatPaths | None, to_uri: str | None = None
              ) -> list[str]:
    """What to do about this domain (empty: nothing)."""
    if result.harmful:
        return [f"leave its XML as it is: the change would break it ({_blocks(result.diffs)})"]
    if result.verdict == "error" or (fix is None and result.ok):
        return []  # not judged (the error says why), or nothing to do
    if fix is None:
        return ["no known fix given: judge one with --apply COMPAT-PACKAGE (ipxe-compat "
                "generate makes it from the firmware package the source runs)"]
    changed = result.applied.changed if result.applied is not None else ()
    if not result.ok and not changed:
        return [f"no known fix: {', '.join(fix.packages) or 'the --apply set'} changes nothing "
                "these blocks depend on"]
    if not changed:
        return []
    packages = fix.packages_of(result.applied.used if result.applied is not None else ())
    install = f"install {', '.join(packages)} on the destination; " if packages else ""
    return [f"{install}{'; '.join(changed)} (qemu-config --format libvirt --apply; then "
            f"{_route(result, to_uri)})"]


def _without(result: DomainResult) -> list[str]:
    """With --apply: whether the change is needed (the guest breaks without it) or harmless."""
    if result.without is None or result.verdict == "error" or result.harmful:
        return []
    if result.needed:
        return [f"without it: breaks: {_blocks(result.without)} (the change is needed)"]
    if result.without:
        return [f"without it: breaks: {_blocks(result.without)} (the change does not help)"]
    return ["without it: ok (the change is not needed, and harmless)"]


def report(source: str, destination: str, results: Sequence[DomainResult],
           fix: CompatPaths | None, to_uri: str | None = None) -> Outcome:
    lines = [f"source      {source}", f"destination {destination}"
             + (f", judged with {', '.join(fix.packages)} applied" if fix and fix.packages
                else ""), ""]
    domains: list[dict[str, Any]] = []
    problems = []
    for r in results:
        said = {"ok": "ok", "breaks": f"breaks: {_blocks(r.advised)}",
                "error": f"error: not judged: {r.error}"}[r.verdict]
        lines.append(f"{r.label}: {said}")
        fixes = fix_lines(r, fix, to_uri)
        lines += [f"  fix: {line}" for line in fixes]
        lines += [f"  {line}" for line in _without(r)]
        lines += [f"  note: {note}" for note in r.notes]
        lines += [f"  note: {line}" for line in (r.applied.overrides if r.applied else ())]
        if r.verdict == "breaks":
            problems.append(f"{r.label} breaks on the destination: {_blocks(r.advised)}")
        elif r.verdict == "error":
            problems.append(f"{r.label} could not be judged: {r.error}")
        domains.append({
            "name": r.name, "state": r.state, "file": r.file, "verdict": r.verdict,
            "blocks": [_block(d) for d in r.advised],
            "fix": fixes, "error": r.error, "source_sizes_from": r.source_from or None,
            "xml_changes": list(r.applied.changed) if r.applied else [],
            "left_alone": list(r.applied.left_alone) if r.applied else [],
            "overrides": list(r.applied.overrides) if r.applied else [],
            "needed": r.needed,
            "blocks_without_fix": None if r.without is None else [_block(d) for d in r.without],
            "notes": list(r.notes),
        })
    count = {verdict: sum(r.verdict == verdict for r in results) for verdict in VERDICTS}
    lines.append(f"{len(results)} domains: {count['ok']} ok, {count['breaks']} break"
                 + (f", {count['error']} not judged" if count["error"] else ""))
    data = {"source": source, "destination": destination,
            "applied": list(fix.packages) if fix else [], "domains": domains,
            "summary": count}
    return Outcome(data, "\n".join(lines) + "\n", tuple(problems))


def _block(diff: BlockDiff) -> dict[str, Any]:
    return {"block": diff.block, "source": diff.source, "destination": diff.destination}
